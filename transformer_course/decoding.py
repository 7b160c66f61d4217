"""Lesson 09: fast decoding, a KV cache, one decoding step, cached greedy decoding, beam search.

The notes (4): "학습 시에는 정답값을 넣고, 실제 사용 시에는 앞서나온 결과를 넣는다" (at training
the answer goes in, at use the previous outputs). Lesson 08's ``greedy_decode`` runs the whole
decoder over all L tokens produced so far to get one more, so a sentence of L tokens costs
1 + 2 + … + L token passes. The keys and values of the earlier tokens never change (the
look-ahead mask keeps every position blind to what comes after it), and the cross-attention's
keys and values depend on the encoder output alone: both can be kept and reused.

Interface (the course's contract):

    KVCache(num_layers)
    decode_step(model, token, memory, src_mask, cache, position) -> logits (B, tgt_vocab)
    cached_greedy_decode(model, src, max_len, bos_id, eos_id, pad_id=0) -> LongTensor (B, L)
    beam_search(model, src, beam_size, max_len, bos_id, eos_id, length_penalty=0.0,
                pad_id=0) -> (sequences (B, L), log_probs (B,))
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from transformer_course.attention import scaled_dot_product_attention
from transformer_course.fast import FusedMultiHeadAttention
from transformer_course.masking import padding_mask
from transformer_course.multi_head import MultiHeadAttention, combine_heads, split_heads


def project_kv(attn: MultiHeadAttention, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The keys and values ``attn`` makes of ``x``, split into heads.

    Shape:
        x: (B, T, d_model); output: two tensors (B, h, T, d_k).
    """
    k = split_heads(attn.w_k(x), attn.num_heads)  # (B, h, T, d_k)
    v = split_heads(attn.w_v(x), attn.num_heads)  # (B, h, T, d_k)
    return k, v


def attend(
    attn: MultiHeadAttention,
    query: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """``attn``'s output for ``query`` over keys and values already projected and split
    (by ``project_kv``): what ``attn(query, key, value, mask)`` computes, minus W^K and W^V.

    The fused kernel is used when ``attn`` is a FusedMultiHeadAttention
    (``transformer_course.fast``), the from-scratch attention otherwise.

    Shape:
        query: (B, T_q, d_model); k, v: (B, h, T_k, d_k).
        mask: boolean, True where attention is allowed, broadcasting against (B, h, T_q, T_k).
        output: (B, T_q, d_model).
    """
    q = split_heads(attn.w_q(query), attn.num_heads)  # (B, h, T_q, d_k)
    if isinstance(attn, FusedMultiHeadAttention):
        heads = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, h, T_q, d_k)
    else:
        heads, _ = scaled_dot_product_attention(q, k, v, mask)  # (B, h, T_q, d_k)
    return attn.w_o(combine_heads(heads))  # (B, T_q, d_model)


class KVCache:
    """What a decoder keeps between decoding steps, per decoder layer.

    Self-attention: the keys and values of every target token decoded so far, one more
    per step. Cross-attention: the keys and values of the encoder output, computed at the
    first step and reused at every later one (the encoder output does not change).

    Args:
        num_layers: N, the number of decoder layers.

    Attributes:
        self_keys, self_values: per layer, (B, h, t, d_k) for the t tokens so far, or None.
        cross_keys, cross_values: per layer, (B, h, S, d_k), or None before the first step.
    """

    def __init__(self, num_layers: int):
        self.self_keys = [None] * num_layers
        self.self_values = [None] * num_layers
        self.cross_keys = [None] * num_layers
        self.cross_values = [None] * num_layers

    @property
    def length(self) -> int:
        """t, the number of target tokens whose keys and values are kept."""
        return 0 if self.self_keys[0] is None else self.self_keys[0].size(-2)

    def extend(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append one step's self-attention keys and values to layer ``layer``'s; return all.

        Shape:
            k, v: (B, h, 1, d_k), the new token's; output: two tensors (B, h, t + 1, d_k).
        """
        if self.self_keys[layer] is not None:
            k = torch.cat([self.self_keys[layer], k], dim=-2)  # (B, h, t + 1, d_k)
            v = torch.cat([self.self_values[layer], v], dim=-2)  # (B, h, t + 1, d_k)
        self.self_keys[layer], self.self_values[layer] = k, v
        return k, v

    def cross(
        self, layer: int, attn: MultiHeadAttention, memory: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Layer ``layer``'s cross-attention keys and values of ``memory``, projected by
        ``attn`` the first time and kept.

        Shape:
            memory: (B, S, d_model); output: two tensors (B, h, S, d_k).
        """
        if self.cross_keys[layer] is None:
            self.cross_keys[layer], self.cross_values[layer] = project_kv(attn, memory)
        return self.cross_keys[layer], self.cross_values[layer]

    def reorder(self, rows: torch.Tensor) -> None:
        """Keep row ``rows[i]`` of every kept tensor as row i (beam search: each surviving
        beam takes over its parent's cache).

        Shape:
            rows: (B',), long; every kept tensor becomes (B', h, ·, d_k).
        """
        for kept in (self.self_keys, self.self_values, self.cross_keys, self.cross_values):
            for i, tensor in enumerate(kept):
                if tensor is not None:
                    kept[i] = tensor.index_select(0, rows)  # (B', h, ·, d_k)


def decode_step(
    model: nn.Module,
    token: torch.Tensor,
    memory: torch.Tensor,
    src_mask: torch.Tensor | None,
    cache: KVCache,
    position: int,
) -> torch.Tensor:
    """The next-token logits after ``token``, from the new token alone and the cache.

    The decoder stack of ``model`` (the course's Transformer) run for one new target
    position: the token is embedded with the positional encoding of ``position``; every
    layer appends its self-attention keys and values to the cache and attends over all
    of them (no mask: every cached token lies in the new one's past), then attends over
    the encoder output with the cached cross-attention keys and values.

    Args:
        model: a Transformer (tgt_embed, pe, dropout, decoder.layers, generator).
        token: the latest target token of each row.
        memory: the encoder output.
        src_mask: the source padding mask, True where attention is allowed.
        cache: the KVCache of the rows, holding ``position`` tokens; extended by one.
        position: the position of ``token`` in the target (0 for BOS).

    Shape:
        token: (B,), long; memory: (B, S, d_model); src_mask: (B, 1, 1, S).
        output: (B, tgt_vocab).
    """
    x = model.tgt_embed(token)[:, None] * math.sqrt(model.d_model)  # (B, 1, d_model)
    x = model.dropout(x + model.pe[position])  # (B, 1, d_model)
    for i, layer in enumerate(model.decoder.layers):
        k, v = cache.extend(i, *project_kv(layer.self_attn, x))  # (B, h, t + 1, d_k)
        x = layer.norm1(x + layer.dropout(attend(layer.self_attn, x, k, v)))  # (B, 1, d_model)
        k, v = cache.cross(i, layer.cross_attn, memory)  # (B, h, S, d_k)
        x = layer.norm2(x + layer.dropout(attend(layer.cross_attn, x, k, v, src_mask)))
        x = layer.norm3(x + layer.dropout(layer.ffn(x)))  # (B, 1, d_model)
    return model.generator(x[:, 0])  # (B, d_model) -> (B, tgt_vocab)


def cached_greedy_decode(
    model: nn.Module,
    src: torch.Tensor,
    max_len: int,
    bos_id: int,
    eos_id: int,
    pad_id: int = 0,
) -> torch.Tensor:
    """Lesson 08's greedy_decode, token for token, with one decode_step per new token.

    Args:
        model: the course's Transformer; run in eval mode without gradients, left in the
            mode it was in.
        src: source ids, padded with ``pad_id``.
        max_len: the most tokens in a row of the output, BOS included.
        bos_id, eos_id, pad_id: the target vocabulary's special ids.

    Shape:
        src: (B, S); output: (B, L), long, L <= max_len, first column bos_id; a row that
            has produced EOS is filled with ``pad_id``.
    """
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            src_mask = padding_mask(src, pad_id)  # (B, 1, 1, S)
            memory = model.encode(src, src_mask)  # (B, S, d_model)
            cache = KVCache(len(model.decoder.layers))
            out = torch.full((src.size(0), 1), bos_id, dtype=torch.long, device=src.device)
            done = torch.zeros(src.size(0), dtype=torch.bool, device=src.device)  # (B,)
            while out.size(1) < max_len and not done.all():
                logits = decode_step(model, out[:, -1], memory, src_mask, cache, out.size(1) - 1)
                next_id = logits.argmax(-1).masked_fill(done, pad_id)  # (B, V) -> (B,)
                out = torch.cat([out, next_id[:, None]], dim=1)  # (B, L + 1)
                done |= next_id == eos_id
            return out
    finally:
        model.train(was_training)


def length_penalty_gnmt(length: int, alpha: float) -> float:
    """GNMT's length penalty lp(Y) = ((5 + |Y|) / 6)^α; a hypothesis scores log P(Y) / lp(Y).

    α = 0 gives 1 (no penalty); a larger α favours longer hypotheses, whose log-probability,
    a sum of more negative terms, would otherwise always lose.

    Args:
        length: |Y|, the generated tokens (EOS included, BOS not).
        alpha: α.
    """
    return ((5 + length) / 6) ** alpha


def beam_search(
    model: nn.Module,
    src: torch.Tensor,
    beam_size: int,
    max_len: int,
    bos_id: int,
    eos_id: int,
    length_penalty: float = 0.0,
    pad_id: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The most likely translation of each sentence among ``beam_size`` kept hypotheses.

    Every step extends each live hypothesis (beam) of a sentence by every token and keeps
    the ``beam_size`` best extensions by total log-probability, across all the sentence's
    beams. An extension by EOS ranked among the ``beam_size`` best is finished: it is set
    apart and never extended. A sentence is done once it has ``beam_size`` finished
    hypotheses; at ``max_len`` its live beams count as finished. The answer is the finished
    hypothesis with the best log P(Y) / lp(Y), lp the GNMT length penalty
    (``length_penalty_gnmt``). With ``beam_size=1`` this is greedy decoding.

    Args:
        model: the course's Transformer; run in eval mode without gradients, left in the
            mode it was in.
        src: source ids, padded with ``pad_id``.
        beam_size: K, hypotheses kept per sentence.
        max_len: the most tokens in a hypothesis, BOS included.
        bos_id, eos_id, pad_id: the target vocabulary's special ids.
        length_penalty: α of the GNMT length penalty (0: none).

    Shape:
        src: (B, S).
        sequences: (B, L), long, the best hypothesis of each sentence: BOS first, then its
            tokens up to EOS, then ``pad_id``.
        log_probs: (B,), the memory's dtype: log P of each returned hypothesis (without the
            length penalty).
    """
    B, K = src.size(0), beam_size
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            src_mask = padding_mask(src, pad_id)  # (B, 1, 1, S)
            memory = model.encode(src, src_mask)  # (B, S, d_model)
            # Sentence b's beams are rows b·K … b·K + K − 1.
            memory = memory.repeat_interleave(K, dim=0)  # (B·K, S, d_model)
            src_mask = src_mask.repeat_interleave(K, dim=0)  # (B·K, 1, 1, S)
            cache = KVCache(len(model.decoder.layers))
            seqs = torch.full((B * K, 1), bos_id, dtype=torch.long, device=src.device)  # (B·K, 1)
            # One live beam per sentence at first; -inf keeps the K − 1 copies from being chosen.
            scores = torch.full((B, K), -math.inf, dtype=memory.dtype, device=src.device)  # (B, K)
            scores[:, 0] = 0.0
            finished = [[] for _ in range(B)]  # per sentence: (score, log P, tokens)
            for step in range(max_len - 1):
                if all(len(f) >= K for f in finished):
                    break
                logits = decode_step(model, seqs[:, -1], memory, src_mask, cache, step)  # (B·K, V)
                V = logits.size(-1)
                total = scores.view(-1, 1) + logits.log_softmax(-1)  # (B·K, V)
                # At most K of the best 2K are EOS (one per beam), so K others always remain.
                top, flat = total.view(B, K * V).topk(2 * K, dim=-1)  # (B, 2K)
                parent, token = flat // V, flat % V  # (B, 2K)
                for b in range(B):
                    for r in range(K):  # an EOS among the K best: a finished hypothesis
                        if token[b, r] == eos_id and top[b, r] > -math.inf and len(finished[b]) < K:
                            tokens = torch.cat([seqs[b * K + parent[b, r]], token[b, r, None]])  # (t + 2,)
                            score = top[b, r].item() / length_penalty_gnmt(step + 1, length_penalty)
                            finished[b].append((score, top[b, r], tokens))
                # The K best extensions that are not EOS live on, best first.
                keep = (token == eos_id).long().argsort(dim=-1, stable=True)[:, :K]  # (B, K)
                parent, token = parent.gather(1, keep), token.gather(1, keep)  # (B, K)
                scores = top.gather(1, keep)  # (B, K)
                # A done sentence's beams are dropped: none of them may finish any more.
                scores[torch.tensor([len(f) >= K for f in finished], device=src.device)] = -math.inf
                rows = (torch.arange(B, device=src.device)[:, None] * K + parent).view(-1)  # (B·K,)
                cache.reorder(rows)
                seqs = torch.cat([seqs[rows], token.view(-1, 1)], dim=1)  # (B·K, t + 1)
            for b in range(B):
                if len(finished[b]) < K:
                    for r in range(K):
                        if scores[b, r] > -math.inf:
                            lp = length_penalty_gnmt(seqs.size(1) - 1, length_penalty)
                            finished[b].append((scores[b, r].item() / lp, scores[b, r], seqs[b * K + r]))
            best = [max(f, key=lambda hypothesis: hypothesis[0]) for f in finished]
            sequences = nn.utils.rnn.pad_sequence(
                [h[2] for h in best], batch_first=True, padding_value=pad_id
            )  # (B, L)
            return sequences, torch.stack([h[1] for h in best])  # (B, L), (B,)
    finally:
        model.train(was_training)
