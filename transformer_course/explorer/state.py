"""What the attention explorer shows, computed in Python: plain functions of their inputs.

The widget (``transformer_course.explorer.widget``) only renders these dictionaries; the
static figures (``figures``) draw the same ones. Three kinds:

- ``softmax_state``: one score matrix QKᵀ/τ as d_k and the divisor τ change (lesson 02);
- ``mask_state``: the padding and look-ahead masks over a sentence, and the leak test (lesson 04);
- ``select``: one layer and head (or their mean) of a model's attention maps (lessons 03, 05, 08),
  made by the runners ``transformer_maps``, ``rule_heads_maps`` and ``dictionary_maps``.
"""

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from transformer_course import attention, masking
from transformer_course.data import ENGLISH_VOCAB, KOREAN_VOCAB, Vocab, generate_pairs, make_splits, phenomena
from transformer_course.grammar import (
    ADJECTIVES,
    CATEGORIES,
    IT_OBJECT,
    IT_PLACE,
    NEGATION,
    NOT_COPULA,
    NOUNS,
    PROGRESSIVE,
    SIT_PLACE,
    STATES,
    VERBS,
    translate,
)
from transformer_course.multi_head import MultiHeadAttention

SCALINGS = {"none": lambda d_k: 1.0, "sqrt_d_k": math.sqrt, "d_k": float}  # τ for each choice
SCALING_LABELS = {"none": "QKᵀ", "sqrt_d_k": "QKᵀ/√d_k", "d_k": "QKᵀ/d_k"}
D_KS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
SOFTMAX_TOKENS = ("the", "cat", "sat", "on", "the", "mat")


def entropy(weights: torch.Tensor) -> torch.Tensor:
    """Entropy of each row of attention weights, in nats (0 · log 0 counts as 0).

    Shape:
        weights: (..., T_k), rows summing to one; output: (...).
    """
    logs = torch.where(weights > 0, weights.log(), torch.zeros_like(weights))
    return -(weights * logs).sum(-1)


def _rounded(t: torch.Tensor, digits: int = 4) -> list:
    return torch.round(t.double(), decimals=digits).tolist()


def softmax_state(
    d_k: int,
    scaling: str = "sqrt_d_k",
    tokens: Sequence[str] = SOFTMAX_TOKENS,
    softmax: Callable = attention.softmax,
    seed: int = 0,
) -> dict:
    """The scores QKᵀ/τ of random N(0, 1) queries and keys of size d_k, their softmax weights
    and each row's entropy, for τ = 1, √d_k or d_k (``scaling``: "none", "sqrt_d_k", "d_k").

    The vectors for a larger d_k extend those of a smaller one (the first d_k of 1024 features),
    so moving d_k shows one matrix growing sharper, not a new draw.

    Args:
        d_k: the size of queries and keys, 1 to 1024.
        softmax: the softmax to use (the learner's, in lesson 02).
    """
    if scaling not in SCALINGS:
        raise ValueError(f"scaling must be one of {sorted(SCALINGS)}, got {scaling!r}")
    if not 1 <= d_k <= D_KS[-1]:
        raise ValueError(f"d_k must be between 1 and {D_KS[-1]}, got {d_k}")
    generator = torch.Generator().manual_seed(seed)
    q = torch.randn(len(tokens), D_KS[-1], generator=generator, dtype=torch.float64)[:, :d_k]  # (T, d_k)
    k = torch.randn(len(tokens), D_KS[-1], generator=generator, dtype=torch.float64)[:, :d_k]  # (T, d_k)
    tau = SCALINGS[scaling](d_k)
    scores = q @ k.T / tau  # (T, d_k) @ (d_k, T) -> (T, T)
    weights = softmax(scores, dim=-1)
    row_entropy = entropy(weights)
    return {
        "tokens": list(tokens),
        "d_k": d_k,
        "scaling": scaling,
        "formula": SCALING_LABELS[scaling],
        "tau": round(tau, 4),
        "scores": _rounded(scores, 2),
        "weights": _rounded(weights),
        "entropy": _rounded(row_entropy),
        "mean_entropy": round(float(row_entropy.mean()), 4),
        "max_entropy": round(math.log(len(tokens)), 4),
        "max_weight": round(float(weights.amax(-1).mean()), 4),
    }


# Lesson 04: the masks and the leak test.

MASK_TOKENS = ("<bos>", "장미", "는", "꽃", "이다", "<eos>", "<pad>")


def mask_state(
    tokens: Sequence[str] = MASK_TOKENS,
    padding: bool = True,
    look_ahead: bool = True,
    pad: str = "<pad>",
    padding_mask: Callable = masking.padding_mask,
    look_ahead_mask: Callable = masking.look_ahead_mask,
    d_model: int = 16,
    num_heads: int = 2,
    seed: int = 0,
) -> dict:
    """A decoder self-attention over ``tokens`` with the chosen masks, and the leak test.

    The attention is a randomly initialised ``MultiHeadAttention`` (seeded; the global random
    state is left alone). The leak test changes input token j and records which outputs i
    changed; output i may depend on inputs 0 … i only, so any change with j > i is a leak.
    Padded keys should get no weight at all: ``pad_weight`` is the most any query gives them.

    Args:
        padding, look_ahead: which masks are on.
        padding_mask, look_ahead_mask: the functions that build them (the learner's, in lesson 04).
    """
    T = len(tokens)
    vocab = list(dict.fromkeys(tokens))
    ids = torch.tensor([[vocab.index(t) for t in tokens]])  # (1, T)
    allowed = torch.ones(1, 1, T, T, dtype=torch.bool)
    if padding:
        allowed = allowed & padding_mask(ids, vocab.index(pad) if pad in vocab else -1)  # (1, 1, 1, T)
    if look_ahead:
        allowed = allowed & look_ahead_mask(T)  # (T, T)
    generator = torch.Generator().manual_seed(seed)
    table = torch.randn(
        len(vocab) + T, d_model, generator=generator
    )  # one vector per token, then per position
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        attn = MultiHeadAttention(d_model, num_heads).eval()
    x = table[ids] + table[len(vocab) :]  # (1, T, d_model): token + position

    def outputs(x):
        with torch.no_grad():
            return attn(x, x, x, allowed)  # (1, T, d_model)

    before = outputs(x)
    weights = attn.attn_weights[0].mean(0)  # (h, T, T) -> (T, T)
    changed = torch.zeros(T, T, dtype=torch.bool)
    for j in range(T):
        other = x.clone()
        other[0, j] += 1.0  # another token at position j
        changed[:, j] = (outputs(other) - before).abs().amax(-1)[0] > 1e-6
    leaks = [[i, j] for i, j in (changed & ~torch.ones(T, T, dtype=torch.bool).tril()).nonzero().tolist()]
    pad_columns = torch.tensor([t == pad for t in tokens])
    real_rows = ~pad_columns
    pad_weight = float(weights[real_rows][:, pad_columns].sum(-1).max()) if pad_columns.any() else 0.0
    return {
        "tokens": list(tokens),
        "padding": padding,
        "look_ahead": look_ahead,
        "allowed": allowed[0, 0].expand(T, T).tolist(),
        "hidden": int((~allowed[0, 0].expand(T, T)).sum()),
        "weights": _rounded(weights),
        "changed": changed.tolist(),
        "leaks": leaks,
        "leak": bool(leaks),
        "pad_weight": round(pad_weight, 4),
    }


# Lessons 03, 05, 08: a model's attention maps.

KINDS = ("encoder self-attention", "decoder self-attention", "cross-attention")


@dataclass(frozen=True)
class AttentionMaps:
    """Every attention map of one sentence. ``maps[kind]`` is (L, h, T_q, T_k); encoder
    self-attention runs over the source, decoder self-attention over the target, and
    cross-attention from the target (rows) to the source (columns)."""

    source: list[str]
    target: list[str]
    maps: dict[str, torch.Tensor]
    head_names: tuple[str, ...] = ()
    note: str = ""

    def axes(self, kind: str) -> tuple[list[str], list[str]]:
        """(row labels, column labels) of a kind's maps."""
        return {
            "encoder self-attention": (self.source, self.source),
            "decoder self-attention": (self.target, self.target),
            "cross-attention": (self.target, self.source),
        }[kind]


def select(maps: AttentionMaps, kind: str, layer: int = 0, head: int | str = "mean") -> dict:
    """One map to show: ``kind``, ``layer`` (from 0) and ``head`` (from 0, or "mean")."""
    if kind not in maps.maps:
        raise ValueError(f"no {kind} here: this model has {', '.join(maps.maps)}")
    stack = maps.maps[kind]  # (L, h, T_q, T_k)
    if not 0 <= layer < stack.size(0):
        raise ValueError(f"layer {layer + 1} does not exist: the model has {stack.size(0)}")
    if head != "mean" and not 0 <= int(head) < stack.size(1):
        raise ValueError(f"head {int(head) + 1} does not exist: each layer has {stack.size(1)}")
    weights = stack[layer].mean(0) if head == "mean" else stack[layer, int(head)]  # (T_q, T_k)
    rows, columns = maps.axes(kind)
    return {
        "source": maps.source,
        "target": maps.target,
        "kinds": [k for k in KINDS if k in maps.maps],
        "kind": kind,
        "layer": layer,
        "head": head,
        "layers": stack.size(0),
        "heads": stack.size(1),
        "head_names": list(maps.head_names),
        "rows": rows,
        "columns": columns,
        "weights": _rounded(weights),
        "entropy": _rounded(entropy(weights)),
        "top": weights.argmax(-1).tolist(),
        "note": maps.note,
    }


def transformer_maps(
    model: torch.nn.Module,
    english: str,
    greedy_decode: Callable,
    src_vocab: Vocab = ENGLISH_VOCAB,
    tgt_vocab: Vocab = KOREAN_VOCAB,
    max_len: int = 16,
) -> AttentionMaps:
    """Translate ``english`` greedily, then run the model teacher-forced on its own translation
    and collect every ``MultiHeadAttention``'s ``attn_weights``. Row i of the decoder's maps
    is the position that produced target token i (the last one ``<eos>``)."""
    device = next(model.parameters()).device
    src = torch.tensor([[*src_vocab.encode(english), src_vocab.eos_id]], device=device)  # (1, S)
    out = greedy_decode(model, src, max_len, tgt_vocab.bos_id, tgt_vocab.eos_id)  # (1, L)
    produced = out[:, 1:]  # (1, L - 1): what each decoder position produced
    tgt_input = out[:, :-1]  # (1, L - 1): what each position read
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            src_mask = masking.padding_mask(src, src_vocab.pad_id)  # (1, 1, 1, S)
            tgt_mask = masking.decoder_mask(tgt_input, tgt_vocab.pad_id)  # (1, 1, T, T)
            model(src, tgt_input, src_mask, tgt_mask)
    finally:
        model.train(was_training)
    stacks = {
        "encoder self-attention": [layer.self_attn for layer in model.encoder.layers],
        "decoder self-attention": [layer.self_attn for layer in model.decoder.layers],
        "cross-attention": [layer.cross_attn for layer in model.decoder.layers],
    }
    maps = {}
    for kind, modules in stacks.items():
        if any(m.attn_weights is None or m.attn_weights.dim() != 4 for m in modules):
            raise ValueError(
                "the model's attention keeps no weights (the fused path?): switch it back "
                "with transformer_course.fast.use_fused_attention(model, False)"
            )
        maps[kind] = torch.stack([m.attn_weights[0].float().cpu() for m in modules])  # (L, h, T_q, T_k)
    target = [tgt_vocab.tokens[i] for i in produced[0].tolist()]
    try:
        reference = translate(english)
        note = (
            "✓ the reference translation" if " ".join(target[:-1]) == reference else f"reference: {reference}"
        )
    except ValueError:
        note = "not a sentence of the grammar: no reference translation"
    return AttentionMaps(english.split() + ["<eos>"], target, maps, note=note)


RULE_HEADS = ("previous word", "same word", "“it” → the nouns", "next word")


def rule_heads_maps(
    english: str, attention_class: type = MultiHeadAttention, sharp: float = 5.0
) -> AttentionMaps:
    """Lesson 03's four hand-set heads, on any sentence, run by ``attention_class`` (the
    learner's MultiHeadAttention): each token is a one-hot of its word and of its position;
    head 1 looks at the previous position, head 2 at the same word, head 3 from "it" to the
    nouns, head 4 at the next position (``RULE_HEADS``)."""
    words = english.split()
    if not words:
        raise ValueError("type a sentence: it is empty")
    vocab = list(dict.fromkeys(words))
    T, V, h = len(words), len(vocab), len(RULE_HEADS)
    d_k = max(T, V)
    d_model = h * d_k
    x = torch.zeros(1, T, d_model)
    for t, word in enumerate(words):
        x[0, t, vocab.index(word)] = 1.0  # which word
        x[0, t, V + t] = 1.0  # which position
    w_q = torch.zeros(d_model, d_model)  # nn.Linear layout (out, in): head i owns rows i·d_k …
    w_k = torch.zeros(d_model, d_model)
    for t in range(T):
        w_q[max(t - 1, 0), V + t] = sharp  # head 1: look at position t - 1
        w_k[t, V + t] = sharp
        w_q[3 * d_k + min(t + 1, T - 1), V + t] = sharp  # head 4: look at position t + 1
        w_k[3 * d_k + t, V + t] = sharp
    nouns = {n.english for n in NOUNS} | {c.english for c in CATEGORIES}
    for w, word in enumerate(vocab):
        w_q[1 * d_k + w, w] = sharp
        w_k[1 * d_k + w, w] = sharp
        if word == "it":
            w_q[2 * d_k, w] = sharp
        if word in nouns:
            w_k[2 * d_k, w] = sharp
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        mha = attention_class(d_model, h)
    with torch.no_grad():
        mha.w_q.weight.copy_(w_q)
        mha.w_k.weight.copy_(w_k)
        mha.w_q.bias.zero_()
        mha.w_k.bias.zero_()
        mha(x, x, x)
    return AttentionMaps(
        words,
        [],
        {"encoder self-attention": mha.attn_weights.detach()[:1].clone()},
        head_names=RULE_HEADS,
        note="hand-set W^Q and W^K, as in section 4",
    )


def _lexicon() -> tuple[dict[str, str], dict[str, str]]:
    """English word → concept and Korean token → concept, from the grammar's tables."""
    english = {n.english: n.english for n in NOUNS} | {c.english: c.english for c in CATEGORIES}
    korean = {n.korean: n.english for n in NOUNS} | {c.korean: c.english for c in CATEGORIES}
    for table in (ADJECTIVES, STATES):
        english |= {a.english: a.english for a in table}
        korean |= {a.korean: a.english for a in table}
    for v in VERBS:
        english |= {form: v.base for form in (v.base, v.present, v.past, v.ing) if form}
        korean |= {v.korean_present: v.base, v.korean_past: v.base, v.stem + NEGATION[0]: v.base}
        if v.ing:
            korean[v.stem + PROGRESSIVE[0]] = v.base
    english |= {"it": "it", "not": "not", "on": "on"}
    korean |= {
        IT_OBJECT: "it",
        IT_PLACE: "it",
        NOT_COPULA: "not",
        NEGATION[1]: "not",
        NEGATION[2]: "not",
        SIT_PLACE[0]: "on",
    }
    return english, korean


def dictionary_maps(english: str, cross_attention: Callable, sharp: float = 3.0) -> AttentionMaps:
    """Lesson 05's cross-attention between a sentence of the grammar and its Korean translation,
    with vectors set by hand from the grammar's dictionary: a word's vector is a one-hot of
    its meaning (a Korean verb ending shares the English verb's), words without a counterpart
    (the, particles) are zero. W^Q = W^K = sharp·I, W^V = I; run by ``cross_attention``."""
    korean = translate(english)  # ValueError for a sentence outside the grammar
    source, target = english.split() + ["<eos>"], korean.split() + ["<eos>"]
    to_english, to_korean = _lexicon()
    concepts = sorted({to_english[w] for w in source if w in to_english})
    d = max(len(concepts), 1)

    def vectors(tokens, lexicon):
        x = torch.zeros(len(tokens), d)
        for i, token in enumerate(tokens):
            if lexicon.get(token) in concepts:
                x[i, concepts.index(lexicon[token])] = 1.0
        return x

    identity = torch.eye(d)
    _, weights = cross_attention(
        vectors(target, to_korean), vectors(source, to_english), sharp * identity, sharp * identity, identity
    )  # (T_tgt, T_src)
    return AttentionMaps(
        source,
        target,
        {"cross-attention": weights.detach()[None, None]},
        note="vectors set by hand from the grammar's dictionary",
    )


EXAMPLE_PHENOMENA = ("reordering", "particles", "it:subject", "it:object", "it:place")


@functools.cache
def example_sentences(per_phenomenon: int = 6, seed: int = 3) -> dict[str, tuple[str, ...]]:
    """Test-split sentences of the toy task (never trained on), a few per phenomenon."""
    test = make_splits(generate_pairs(3000, seed=seed)).test
    found = {tag: [] for tag in EXAMPLE_PHENOMENA}
    for pair in test:
        for tag in phenomena(pair.english) & found.keys():
            if len(found[tag]) < per_phenomenon:
                found[tag].append(pair.english)
    return {tag: tuple(sentences) for tag, sentences in found.items()}
