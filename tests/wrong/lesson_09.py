"""Wrong implementations of lesson 09 (KV cache, one decoding step, cached greedy decoding,
beam search).

Each is the reference code of transformer_course.decoding (the lesson's solution) with one
realistic mistake swapped in; ``_swap`` fails loudly if the reference no longer holds the
code a mistake replaces.
"""

import inspect

from transformer_course import decoding

from . import Wrong

LESSON = "09_inference"


def _swap(source: str, *changes: tuple[str, str]) -> str:
    for old, new in changes:
        assert old in source, f"the reference no longer contains {old!r}"
        source = source.replace(old, new)
    return source


_CACHE = inspect.getsource(decoding.KVCache)
_STEP = inspect.getsource(decoding.decode_step)
_GREEDY = inspect.getsource(decoding.cached_greedy_decode)
_BEAM = inspect.getsource(decoding.length_penalty_gnmt) + "\n\n" + inspect.getsource(decoding.beam_search)


def _cache(mistake: str, *changes: tuple[str, str]) -> Wrong:
    return Wrong(LESSON, "KVCache", mistake, _swap(_CACHE, *changes))


def _step(mistake: str, *changes: tuple[str, str]) -> Wrong:
    return Wrong(LESSON, "decode_step", mistake, _swap(_STEP, *changes))


def _greedy(mistake: str, *changes: tuple[str, str]) -> Wrong:
    return Wrong(LESSON, "cached_greedy_decode", mistake, _swap(_GREEDY, *changes))


def _beam(mistake: str, *changes: tuple[str, str]) -> Wrong:
    return Wrong(LESSON, "beam_search", mistake, _swap(_BEAM, *changes))


WRONG = [
    _cache(
        "cache not extended (only the first step is kept)",
        (
            "        self.self_keys[layer], self.self_values[layer] = k, v\n",
            "        if self.self_keys[layer] is None:\n"
            "            self.self_keys[layer], self.self_values[layer] = k, v\n",
        ),
    ),
    _cache(
        "concatenated along the feature axis", ("k], dim=-2)", "k], dim=-1)"), ("v], dim=-2)", "v], dim=-1)")
    ),
    _cache(
        "keys and values share one list",
        (
            "        self.self_keys = [None] * num_layers\n        self.self_values = [None] * num_layers\n",
            "        self.self_keys = self.self_values = [None] * num_layers\n",
        ),
    ),
    _cache(
        "cross-attention keys recomputed at every call",
        ("        if self.cross_keys[layer] is None:\n", "        if True:\n"),
    ),
    _cache(
        "reorder leaves the cache as it was", ("kept[i] = tensor.index_select(0, rows)", "kept[i] = tensor")
    ),
    _cache(
        "reorder forgets the cross-attention cache",
        (
            "in (self.self_keys, self.self_values, self.cross_keys, self.cross_values):",
            "in (self.self_keys, self.self_values):",
        ),
    ),
    _step("positional encoding at position 0 on every step", ("model.pe[position]", "model.pe[0]")),
    _step("positional encoding one position late", ("model.pe[position]", "model.pe[position + 1]")),
    _step(
        "look-ahead mask applied to the one-row query (its first row)",
        (
            "attend(layer.self_attn, x, k, v)",
            "attend(layer.self_attn, x, k, v, look_ahead_mask(k.size(-2)).to(x.device)[:1])",
        ),
    ),
    _step(
        "cross-attention keys and values from the decoder state",
        ("cache.cross(i, layer.cross_attn, memory)", "project_kv(layer.cross_attn, x)"),
    ),
    _step(
        "cross-attention recomputed from the encoder output at every step",
        ("cache.cross(i, layer.cross_attn, memory)", "project_kv(layer.cross_attn, memory)"),
    ),
    _step("embedding not scaled by √d_model", (" * math.sqrt(model.d_model)", "")),
    _step("source padding not masked", ("x, k, v, src_mask)", "x, k, v)")),
    _greedy(
        "a new cache at every step",
        (
            "decode_step(model, out[:, -1], memory, src_mask, cache,",
            "decode_step(model, out[:, -1], memory, src_mask, KVCache(len(model.decoder.layers)),",
        ),
    ),
    _greedy("positions counted from 1", ("cache, out.size(1) - 1)", "cache, out.size(1))")),
    _greedy("always position 0", ("cache, out.size(1) - 1)", "cache, 0)")),
    _greedy("feeds <bos> at every step", ("decode_step(model, out[:, -1]", "decode_step(model, out[:, 0]")),
    _greedy("finished rows not padded", (".masked_fill(done, pad_id)", "")),
    _greedy("model left in training mode", ("    model.eval()\n", "")),
    _beam(
        "beams not re-sorted (tokens appended to the old rows)",
        (
            "seqs = torch.cat([seqs[rows], token.view(-1, 1)], dim=1)",
            "seqs = torch.cat([seqs, token.view(-1, 1)], dim=1)",
        ),
    ),
    _beam("cache not reordered with the beams", ("                cache.reorder(rows)\n", "")),
    _beam(
        "finished beams extended (EOS is a token like any other, beams run to max_len)",
        (
            "if token[b, r] == eos_id and top[b, r] > -math.inf and len(finished[b]) < K:",
            "if False:",
        ),
        (
            "keep = (token == eos_id).long().argsort(dim=-1, stable=True)[:, :K]",
            "keep = torch.arange(K, device=src.device).expand(B, K)",
        ),
    ),
    _beam(
        "length penalty on the wrong side (multiplied)",
        ("top[b, r].item() / length_penalty_gnmt", "top[b, r].item() * length_penalty_gnmt"),
        ("scores[b, r].item() / lp", "scores[b, r].item() * lp"),
    ),
    _beam(
        "length penalty counts <bos>",
        ("length_penalty_gnmt(step + 1,", "length_penalty_gnmt(step + 2,"),
        ("length_penalty_gnmt(seqs.size(1) - 1,", "length_penalty_gnmt(seqs.size(1),"),
    ),
    _beam(
        "returns the penalised score instead of log P",
        ("torch.stack([h[1] for h in best])", "torch.tensor([h[0] for h in best], dtype=memory.dtype)"),
    ),
    _beam(
        "every beam starts live (K copies of the same hypothesis)",
        ("torch.full((B, K), -math.inf,", "torch.full((B, K), 0.0,"),
    ),
    _beam(
        "best hypothesis chosen by log P, ignoring the length penalty",
        ("key=lambda hypothesis: hypothesis[0]", "key=lambda hypothesis: hypothesis[1]"),
    ),
]
