# %% [markdown]
# # 09 · Fast decoding: what can be reused?
#
# > **4. 디코더** … 학습 시에는 정답값을 넣고, 실제 사용 시에는 앞서나온 결과를 넣는다. — from the notes
#
# *The decoder … at training the correct answer goes in; in real use, the results that came
# out before.*
#
# In training the whole target is known, so lesson 04's look-ahead mask lets every position
# be computed at once. In use (lesson 08's `greedy_decode`) the target is produced one token
# at a time, and every new token runs the whole decoder again over **all** the tokens so
# far. This lesson asks why that is slow, what of it can be kept, and proves each shortcut
# exact:
#
# 1. `KVCache`: the keys and values a decoder can keep from one step to the next;
# 2. `decode_step`: one new token through the decoder, reading and extending the cache;
# 3. `cached_greedy_decode`: lesson 08's greedy decoding, token for token, much faster;
# 4. `beam_search`: keep the $K$ best partial translations instead of one, with the
#    GNMT length penalty;
#
# then measurements: how the cost grows with the output's length, cached and uncached; how
# much beam search gains; the fused kernel and bfloat16.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import math
import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import nn

from transformer_course.checks import expect_close, expect_shape, passed
from transformer_course.data import ENGLISH_VOCAB, KOREAN_VOCAB, generate_pairs, make_splits
from transformer_course.decoding import attend, project_kv
from transformer_course.fast import use_fused_attention
from transformer_course.masking import look_ahead_mask, padding_mask
from transformer_course.model import Transformer
from transformer_course.multi_head import MultiHeadAttention
from transformer_course.training import greedy_decode, make_batch

torch.manual_seed(0)
# The models here are small: one CPU thread is fastest, and several fight over a busy machine.
torch.set_num_threads(1)

# %% [markdown]
# ## 1. Why greedy decoding is slow
#
# To produce token $t + 1$, `greedy_decode` runs `model.decode` over all $t$ tokens so far
# and keeps only the last position's logits. Producing $L$ tokens therefore pushes
# $1 + 2 + \dots + L = L(L+1)/2$ token positions through every decoder layer, and each
# self-attention compares $t$ queries with $t$ keys:
#
# $$\text{work}_{\text{uncached}} \propto \sum_{t=1}^{L} \left(t\,d_{model}^2 + t^2 d_{model}\right)
# \approx \tfrac{1}{2}L^2 d_{model}^2 + \tfrac{1}{3}L^3 d_{model}.$$
#
# But most of that work was already done. Position $i$'s vector in every layer depends only
# on tokens $0 \dots i$ (the look-ahead mask hides the rest), so adding token $t + 1$ changes
# **nothing** at positions $0 \dots t$: their keys and values $k_i = x_i W^K$,
# $v_i = x_i W^V$ are the same at every later step. And the cross-attention's keys and values,
# $\text{memory}\,W^K$ and $\text{memory}\,W^V$, depend on the encoder output alone: the same
# for the whole sentence. Keeping both, each step runs one new position:
#
# $$\text{work}_{\text{cached}} \propto \sum_{t=1}^{L} \left(d_{model}^2 + t\,d_{model}\right)
# \approx L\,d_{model}^2 + \tfrac{1}{2}L^2 d_{model}.$$
#
# Let us check the claim first: the decoder's layer inputs at the first positions do not
# change when a token is added.

# %%
torch.manual_seed(0)
demo = Transformer(20, 15, d_model=16, num_heads=2, num_layers=2, d_ff=32, dropout=0.0).eval()
src = torch.tensor([[5, 6, 7, 8, 2]])
memory = demo.encode(src, padding_mask(src, 0))  # (1, 5, 16)
seen = []
hooks = [
    layer.self_attn.w_k.register_forward_hook(lambda m, args, out: seen.append(out))
    for layer in demo.decoder.layers
]
with torch.no_grad():
    for tgt in ([1, 9, 4], [1, 9, 4, 11]):
        tgt = torch.tensor([tgt])
        demo.decode(tgt, memory, look_ahead_mask(tgt.size(1)), padding_mask(src, 0))
for hook in hooks:
    hook.remove()
for layer in range(2):
    short, longer = seen[layer], seen[2 + layer]  # (1, 3, 16) and (1, 4, 16)
    change = (longer[:, :3] - short).abs().max().item()
    print(f"layer {layer + 1}: the keys of positions 0-2 changed by {change:.1e} when a 4th token came")

# %% [markdown]
# ## 2. What to keep: `KVCache`
#
# A **KV cache** keeps, for every decoder layer $n = 1 \dots N$:
#
# - the self-attention's keys and values of the target tokens decoded so far, shape
#   $(B, h, t, d_k)$, one position longer after each step;
# - the cross-attention's keys and values of the encoder output, shape $(B, h, S, d_k)$,
#   computed at the first step and reused at every later one.
#
# Two helpers of `transformer_course.decoding` (imported in the setup cell) split a
# `MultiHeadAttention` into those pieces:
#
# - `project_kv(attn, x)` returns `attn`'s keys and values of `x`, split into heads:
#   two tensors $(B, h, T, d_k)$;
# - `attend(attn, query, k, v, mask=None)` returns what `attn(query, key, value, mask)`
#   would, from keys and values that are already projected and split: $(B, T_q, d_{model})$.
#
# **Exercise.** Write `KVCache`: `__init__` makes the four per-layer lists (`None` until
# used); `extend(layer, k, v)` appends one step's keys and values along the position axis
# and returns everything kept for that layer; `cross(layer, attn, memory)` computes
# `project_kv(attn, memory)` the first time it is asked for that layer and returns the
# kept pair afterwards; `reorder(rows)` keeps row `rows[i]` of every kept tensor as row
# $i$ (beam search needs it in section 5; `tensor.index_select(0, rows)`).

# %% nbgrader={"grade": false, "grade_id": "KVCache", "locked": false, "schema_version": 3, "solution": true, "task": false}
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
        ### BEGIN SOLUTION
        self.self_values = [None] * num_layers
        self.cross_keys = [None] * num_layers
        self.cross_values = [None] * num_layers
        ### END SOLUTION

    @property
    def length(self) -> int:
        """t, the number of target tokens whose keys and values are kept."""
        return 0 if self.self_keys[0] is None else self.self_keys[0].size(-2)

    def extend(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append one step's self-attention keys and values to layer ``layer``'s; return all.

        Shape:
            k, v: (B, h, 1, d_k), the new token's; output: two tensors (B, h, t + 1, d_k).
        """
        ### BEGIN SOLUTION
        if self.self_keys[layer] is not None:
            k = torch.cat([self.self_keys[layer], k], dim=-2)  # (B, h, t + 1, d_k)
            v = torch.cat([self.self_values[layer], v], dim=-2)  # (B, h, t + 1, d_k)
        self.self_keys[layer], self.self_values[layer] = k, v
        return k, v
        ### END SOLUTION

    def cross(
        self, layer: int, attn: MultiHeadAttention, memory: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Layer ``layer``'s cross-attention keys and values of ``memory``, projected by
        ``attn`` the first time and kept.

        Shape:
            memory: (B, S, d_model); output: two tensors (B, h, S, d_k).
        """
        ### BEGIN SOLUTION
        if self.cross_keys[layer] is None:
            self.cross_keys[layer], self.cross_values[layer] = project_kv(attn, memory)
        return self.cross_keys[layer], self.cross_values[layer]
        ### END SOLUTION

    def reorder(self, rows: torch.Tensor) -> None:
        """Keep row ``rows[i]`` of every kept tensor as row i (beam search: each surviving
        beam takes over its parent's cache).

        Shape:
            rows: (B',), long; every kept tensor becomes (B', h, ·, d_k).
        """
        ### BEGIN SOLUTION
        for kept in (self.self_keys, self.self_values, self.cross_keys, self.cross_values):
            for i, tensor in enumerate(kept):
                if tensor is not None:
                    kept[i] = tensor.index_select(0, rows)  # (B', h, ·, d_k)
        ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test_KVCache_extend", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(1)
cache = KVCache(num_layers=2)
assert cache.length == 0 and cache.self_keys == [None, None], (
    "a new KVCache must hold nothing: self_keys, self_values, cross_keys and cross_values are "
    "lists with one None per layer."
)
k1, v1, k2, v2 = (torch.randn(3, 2, 1, 4) for _ in range(4))  # (B, h, 1, d_k): one step each
k, v = cache.extend(0, k1, v1)
expect_close(k, k1, "extend's keys after the first step")
k, v = cache.extend(0, k2, v2)
expect_shape(k, (3, 2, 2, 4), "extend's keys after two steps (B, h, t, d_k)")
expect_close(
    k,
    torch.cat([k1, k2], dim=-2),
    "extend's keys after two steps",
    mistakes={
        "extend returned only the newest keys: concatenate them to the kept ones and keep the result.": k2
    },
)
expect_close(v, torch.cat([v1, v2], dim=-2), "extend's values after two steps")
assert cache.length == 2, f"after two steps cache.length is {cache.length}: store what extend returns."
assert cache.self_keys[1] is None, "extend(0, ...) changed layer 1's keys: each layer keeps its own."
passed("extend appends one step along the position axis and keeps it")
### BEGIN HIDDEN TESTS
import transformer_course.decoding as reference
from transformer_course.checks import from_scratch

gen = torch.Generator().manual_seed(5)
for B, h, d_k, layers, steps in [(2, 4, 3, 3, 6), (1, 1, 5, 1, 1), (4, 2, 2, 2, 9)]:
    with from_scratch("KVCache", reference=[reference.KVCache]):
        cache = KVCache(layers)
    assert len(cache.self_keys) == len(cache.self_values) == layers, (
        f"KVCache({layers}) must keep one entry per layer in self_keys and self_values."
    )
    kept = {i: ([], []) for i in range(layers)}
    for step in range(steps):
        for layer in range(layers):
            k_new = torch.randn(B, h, 1, d_k, generator=gen, dtype=torch.float64)
            v_new = torch.randn(B, h, 1, d_k, generator=gen, dtype=torch.float64)
            kept[layer][0].append(k_new)
            kept[layer][1].append(v_new)
            with from_scratch("KVCache", reference=[reference.KVCache]):
                k, v = cache.extend(layer, k_new, v_new)
            what = f"layer {layer}'s keys after {step + 1} steps (B={B}, h={h}, {layers} layers)"
            expect_close(
                k,
                torch.cat(kept[layer][0], dim=-2),
                what,
                mistakes={
                    "the cache is not extended: extend returns only the newest keys.": k_new,
                    "extend returned the keys kept before this step, without the new one.": torch.cat(
                        kept[layer][0][:-1] or [k_new], dim=-2
                    ),
                },
            )
            expect_close(
                v,
                torch.cat(kept[layer][1], dim=-2),
                what.replace("keys", "values"),
                mistakes={
                    "the values are the keys: keep v in self_values.": torch.cat(kept[layer][0], dim=-2)
                },
            )
    for layer in range(layers):
        expect_close(
            cache.self_keys[layer],
            torch.cat(kept[layer][0], dim=-2),
            f"cache.self_keys[{layer}] after {steps} steps",
            mistakes={
                "self_keys holds the newest keys only: store the concatenation, not the new step.": kept[
                    layer
                ][0][-1]
            },
        )
        expect_close(
            cache.self_values[layer],
            torch.cat(kept[layer][1], dim=-2),
            f"cache.self_values[{layer}] after {steps} steps",
        )
    assert cache.length == steps, f"cache.length is {cache.length} after {steps} steps."
passed("extend: every layer on its own, float64, 1 to 9 steps, B = 1 and h = 1")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_KVCache_cross", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(2)
attn = MultiHeadAttention(8, num_heads=2).eval()
memory = torch.randn(3, 5, 8)  # (B, S, d_model)
cache = KVCache(num_layers=2)
k, v = cache.cross(0, attn, memory)
expect_shape(k, (3, 2, 5, 4), "cross's keys (B, h, S, d_k)")
expected_k, expected_v = project_kv(attn, memory)
expect_close(k, expected_k, "cross's keys of the encoder output")
expect_close(
    v,
    expected_v,
    "cross's values of the encoder output",
    mistakes={"cross returned the keys twice: the values are project_kv's second tensor.": expected_k},
)
passed("cross projects the encoder output")
### BEGIN HIDDEN TESTS
import transformer_course.decoding as reference
from transformer_course.checks import from_scratch

torch.manual_seed(3)
attns = [MultiHeadAttention(12, num_heads=3).double().eval() for _ in range(2)]
memory = torch.randn(2, 7, 12, dtype=torch.float64)
calls = [0, 0]
hooks = [
    a.w_k.register_forward_hook(lambda m, args, out, i=i: calls.__setitem__(i, calls[i] + 1))
    for i, a in enumerate(attns)
]
try:
    with from_scratch("KVCache", reference=[reference.KVCache]):
        cache = KVCache(2)
        results = [cache.cross(layer, attns[layer], memory) for _ in range(4) for layer in (0, 1)]
finally:
    for hook in hooks:
        hook.remove()
for layer in (0, 1):
    expected_k, expected_v = project_kv(attns[layer], memory)
    for k, v in results[layer::2]:
        expect_close(k, expected_k, f"layer {layer}'s cross-attention keys")
        expect_close(v, expected_v, f"layer {layer}'s cross-attention values")
    expect_close(cache.cross_keys[layer], expected_k, f"cache.cross_keys[{layer}]")
    expect_close(cache.cross_values[layer], expected_v, f"cache.cross_values[{layer}]")
assert calls == [1, 1], (
    f"cross was asked 4 times per layer and projected the encoder output {calls} times: compute it "
    "only when that layer's cross_keys is still None, and return the kept pair afterwards."
)
passed("cross: computed once per layer (counted), then reused")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_KVCache_reorder", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(4)
cache = KVCache(num_layers=1)
k1, v1 = torch.randn(2, 1, 1, 3), torch.randn(2, 1, 1, 3)
cache.extend(0, k1, v1)
cache.reorder(torch.tensor([1, 0]))
expect_close(cache.self_keys[0], k1.flip(0), "self_keys after reorder([1, 0]) (rows swapped)")
expect_close(cache.self_values[0], v1.flip(0), "self_values after reorder([1, 0]) (rows swapped)")
passed("reorder swaps two rows")
### BEGIN HIDDEN TESTS
import transformer_course.decoding as reference
from transformer_course.checks import from_scratch

torch.manual_seed(5)
attn = MultiHeadAttention(6, num_heads=2).double().eval()
memory = torch.randn(3, 4, 6, dtype=torch.float64)
with from_scratch("KVCache", reference=[reference.KVCache]):
    cache = KVCache(2)
    k_cross, v_cross = cache.cross(1, attn, memory)
    k0, v0 = (torch.randn(3, 2, 2, 3, dtype=torch.float64) for _ in range(2))
    cache.extend(0, k0, v0)
    rows = torch.tensor([2, 2, 0, 1])
    cache.reorder(rows)
expect_close(cache.self_keys[0], k0[rows], "self_keys after reorder([2, 2, 0, 1])")
expect_close(
    cache.self_values[0],
    v0[rows],
    "self_values after reorder([2, 2, 0, 1])",
    mistakes={"reorder moved the keys but not the values.": v0},
)
assert cache.self_keys[1] is None and cache.cross_keys[0] is None, (
    "reorder must leave entries that are still None as they are."
)
expect_close(
    cache.cross_keys[1],
    k_cross[rows],
    "cross_keys after reorder([2, 2, 0, 1])",
    mistakes={
        "reorder left the cross-attention keys alone: a beam row's cache must follow it, cross too.": k_cross
    },
)
expect_close(cache.cross_values[1], v_cross[rows], "cross_values after reorder([2, 2, 0, 1])")
with from_scratch("KVCache", reference=[reference.KVCache]):
    k, _ = cache.extend(0, *(torch.randn(4, 2, 1, 3, dtype=torch.float64) for _ in range(2)))
expect_shape(k, (4, 2, 3, 3), "extend after reorder to 4 rows")
passed("reorder: repeated rows, a new number of rows, self and cross, None kept")
### END HIDDEN TESTS

# %% [markdown]
# ## 3. One step: `decode_step`
#
# `decode_step(model, token, memory, src_mask, cache, position)` runs the decoder for one
# new target position and returns its next-token logits, $(B, V)$. It is lesson 07's
# decoder layer, written for a single query row:
#
# 1. $x = \text{Embed}(token)\cdot\sqrt{d_{model}} + PE[position]$ (then `model.dropout`),
#    shape $(B, 1, d_{model})$: the positional encoding of **this** token's position, not
#    of position 0;
# 2. in every layer `i`: the new token's self-attention keys and values go into the cache,
#    `k, v = cache.extend(i, *project_kv(layer.self_attn, x))`, and the one query attends
#    over all of them. **No look-ahead mask**: the new token is the last one, and every
#    kept key is in its past. Then $x = \text{norm1}(x + \text{dropout}(\text{attention}))$;
# 3. cross-attention over the encoder output with `cache.cross(i, layer.cross_attn, memory)`
#    and `src_mask`, then norm2; the feed-forward network, then norm3, as in
#    `DecoderLayer.forward`;
# 4. `model.generator` of the one position: $(B, d_{model}) \to (B, V)$.
#
# The model's parts: `model.tgt_embed`, `model.pe` (rows are positions), `model.d_model`,
# `model.dropout`, `model.decoder.layers` (each with `self_attn`, `cross_attn`, `ffn`,
# `norm1`, `norm2`, `norm3`, `dropout`), `model.generator`.
#
# **Exercise.** Write `decode_step`. Its logits at step $t$ must equal the last position of
# `model.generator(model.decode(tokens[:, :t+1], memory, look_ahead_mask(t+1), src_mask))`.

# %% nbgrader={"grade": false, "grade_id": "decode_step", "locked": false, "schema_version": 3, "solution": true, "task": false}
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
    ### BEGIN SOLUTION
    x = model.tgt_embed(token)[:, None] * math.sqrt(model.d_model)  # (B, 1, d_model)
    x = model.dropout(x + model.pe[position])  # (B, 1, d_model)
    for i, layer in enumerate(model.decoder.layers):
        k, v = cache.extend(i, *project_kv(layer.self_attn, x))  # (B, h, t + 1, d_k)
        x = layer.norm1(x + layer.dropout(attend(layer.self_attn, x, k, v)))  # (B, 1, d_model)
        k, v = cache.cross(i, layer.cross_attn, memory)  # (B, h, S, d_k)
        x = layer.norm2(x + layer.dropout(attend(layer.cross_attn, x, k, v, src_mask)))
        x = layer.norm3(x + layer.dropout(layer.ffn(x)))  # (B, 1, d_model)
    return model.generator(x[:, 0])  # (B, d_model) -> (B, tgt_vocab)
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test_decode_step_first", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(6)
model = Transformer(20, 15, d_model=16, num_heads=2, num_layers=2, d_ff=32, dropout=0.0).eval()
src = torch.tensor([[4, 5, 6, 2], [7, 8, 2, 0]])
src_mask = padding_mask(src, 0)
memory = model.encode(src, src_mask)  # (2, 4, 16)
bos = torch.ones(2, dtype=torch.long)  # (B,)
with torch.no_grad():
    logits = decode_step(model, bos, memory, src_mask, KVCache(2), position=0)
    expected = model.generator(model.decode(bos[:, None], memory, look_ahead_mask(1), src_mask))[:, -1]
expect_shape(logits, (2, 15), "decode_step's logits (B, tgt_vocab)")
expect_close(logits, expected, "decode_step's logits after <bos>")
passed("the first step equals the full decoder on <bos>")
### BEGIN HIDDEN TESTS
import transformer_course.decoding as reference
from transformer_course.checks import from_scratch

for seed, (d_model, h, layers, S) in enumerate([(12, 3, 1, 1), (8, 1, 3, 6), (16, 4, 2, 5)]):
    torch.manual_seed(60 + seed)
    model = Transformer(11, 9, d_model=d_model, num_heads=h, num_layers=layers, d_ff=20).double().eval()
    src = torch.randint(3, 11, (3, S))
    src[0, S // 2 + 1 :] = 0  # one padded row
    src_mask = padding_mask(src, 0)
    with torch.no_grad():
        memory = model.encode(src, src_mask)
        token = torch.tensor([1, 4, 7])
        with from_scratch("decode_step", reference=[reference.decode_step]):
            logits = decode_step(model, token, memory, src_mask, reference.KVCache(layers), 0)
        expected = model.generator(model.decode(token[:, None], memory, None, src_mask))[:, -1]
    expect_close(
        logits,
        expected,
        f"the first step's logits (float64, d_model={d_model}, h={h}, {layers} layer(s), S={S})",
        mistakes={
            "without √d_model: the embedding is multiplied by √d_model before the positional encoding is "
            "added, as in model.embed.": model.generator(
                model.decoder(model.tgt_embed(token)[:, None] + model.pe[:1], memory, None, src_mask)
            )[:, -1].detach(),
            "the source padding mask is missing: pass src_mask to the cross-attention.": model.generator(
                model.decode(token[:, None], memory, None, None)
            )[:, -1].detach(),
        },
    )
passed("the first step: float64, one to three layers, one to four heads, padded sources")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_decode_step_every_step", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(7)
model = Transformer(20, 15, d_model=16, num_heads=2, num_layers=2, d_ff=32, dropout=0.0).eval()
src = torch.tensor([[4, 5, 6, 2], [7, 8, 2, 0]])
src_mask = padding_mask(src, 0)
tgt = torch.tensor([[1, 3, 9, 4, 12], [1, 7, 7, 5, 6]])  # (B, T) a target to feed in
cache = KVCache(2)
with torch.no_grad():
    memory = model.encode(src, src_mask)
    full = model.generator(model.decode(tgt, memory, look_ahead_mask(5), src_mask))  # (B, T, V)
    for t in range(5):
        logits = decode_step(model, tgt[:, t], memory, src_mask, cache, position=t)
        expect_close(logits, full[:, t], f"decode_step's logits at position {t}")
passed("five steps equal the full decoder, position by position")
### BEGIN HIDDEN TESTS
import transformer_course.decoding as reference
from transformer_course.checks import from_scratch


def wrong_steps(model, tgt, memory, src_mask, mistake):
    """The logits of a known mistake, for the messages."""
    out = []
    for t in range(tgt.size(1)):
        prefix = tgt[:, : t + 1]
        if mistake == "pe0":
            x = model.tgt_embed(prefix) * math.sqrt(model.d_model) + model.pe[0]
        else:
            x = model.embed(prefix, model.tgt_embed)
        mask = look_ahead_mask(t + 1)
        if mistake == "first_key":
            mask = torch.zeros(t + 1, t + 1, dtype=torch.bool)
            mask[:, 0] = True
        out.append(model.generator(model.decoder(x, memory, mask, src_mask))[:, -1])
    return torch.stack(out, dim=1)  # (B, T, V)


for seed, (d_model, h, layers, S, T) in enumerate(
    [(12, 3, 2, 5, 7), (8, 1, 1, 1, 9), (16, 4, 3, 6, 3), (10, 2, 2, 4, 1)]
):
    torch.manual_seed(70 + seed)
    model = Transformer(11, 9, d_model=d_model, num_heads=h, num_layers=layers, d_ff=20).double().eval()
    B = 1 if T == 9 else 3
    src = torch.randint(3, 11, (B, S))
    if B > 1:
        src[1, 1:] = 0  # rows of different lengths
        src[2, S - 1 :] = 0
    tgt = torch.randint(1, 9, (B, T))
    src_mask = padding_mask(src, 0)
    with torch.no_grad():
        memory = model.encode(src, src_mask)
        full = model.generator(model.decode(tgt, memory, look_ahead_mask(T), src_mask))  # (B, T, V)
        wrong = {name: wrong_steps(model, tgt, memory, src_mask, name) for name in ("pe0", "first_key")}
        cache = reference.KVCache(layers)
        for t in range(T):
            with from_scratch("decode_step", reference=[reference.decode_step]):
                logits = decode_step(model, tgt[:, t], memory, src_mask, cache, t)
            expect_close(
                logits,
                full[:, t],
                f"step {t} of {T} (float64, B={B}, {layers} layer(s), h={h}, S={S})",
                mistakes={
                    "the positional encoding is PE[0] at every step: add model.pe[position], the row of "
                    "this token's position.": wrong["pe0"][:, t],
                    "the new token sees only the first cached key: a look-ahead mask row is not for the "
                    "one new query (it is the last position and sees every cached key): pass no mask to "
                    "the self-attention.": wrong["first_key"][:, t],
                },
            )
        assert cache.length == T, (
            f"after {T} steps the cache holds {cache.length} positions: every layer must extend it "
            "by one per step (cache.extend)."
        )
passed("every step equals the full decoder: float64, T = 1, 3, 7, 9, B = 1, padded sources")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_decode_step_uses_the_cache", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(8)
model = Transformer(20, 15, d_model=16, num_heads=2, num_layers=2, d_ff=32, dropout=0.0).eval()
src = torch.tensor([[4, 5, 6, 2]])
src_mask = padding_mask(src, 0)
cache = KVCache(2)
with torch.no_grad():
    memory = model.encode(src, src_mask)
    for t, token in enumerate([1, 3, 9]):
        decode_step(model, torch.tensor([token]), memory, src_mask, cache, position=t)
expect_shape(cache.self_keys[1], (1, 2, 3, 8), "the cache's keys of layer 2 after three steps (B, h, t, d_k)")
expect_shape(cache.cross_keys[0], (1, 2, 4, 8), "the cache's cross-attention keys of layer 1 (B, h, S, d_k)")
passed("three steps filled the cache of every layer")
### BEGIN HIDDEN TESTS
import transformer_course.decoding as reference
from transformer_course.checks import from_scratch

torch.manual_seed(80)
model = Transformer(11, 9, d_model=12, num_heads=3, num_layers=3, d_ff=20).double().eval()
src = torch.randint(3, 11, (2, 5))
src_mask = padding_mask(src, 0)
tgt = torch.randint(1, 9, (2, 6))
counts = {"cross": 0}
keys = {}


def count_cross(module, args, out):
    counts["cross"] += 1


def keep_keys(module, args, out, layer=None):
    keys[layer] = out


with torch.no_grad():
    memory = model.encode(src, src_mask)
    # The full decoder's keys, per layer, as the oracle.
    hooks = [
        layer.self_attn.w_k.register_forward_hook(lambda m, a, o, i=i: keep_keys(m, a, o, i))
        for i, layer in enumerate(model.decoder.layers)
    ]
    model.decode(tgt, memory, look_ahead_mask(6), src_mask)
    for hook in hooks:
        hook.remove()
    hooks = [layer.cross_attn.w_k.register_forward_hook(count_cross) for layer in model.decoder.layers]
    cache = reference.KVCache(3)
    try:
        for t in range(6):
            with from_scratch("decode_step", reference=[reference.decode_step]):
                decode_step(model, tgt[:, t], memory, src_mask, cache, t)
    finally:
        for hook in hooks:
            hook.remove()
assert counts["cross"] == 3, (
    f"over 6 steps of a 3-layer decoder the encoder output was projected to cross-attention keys "
    f"{counts['cross']} times: get them from cache.cross(i, layer.cross_attn, memory), which "
    "computes them once per layer; the keys of the cross-attention come from the encoder output, "
    "never from the decoder's state."
)
for i in range(3):
    expect_close(
        cache.self_keys[i],
        keys[i].unflatten(-1, (3, 4)).transpose(1, 2),
        f"the cached self-attention keys of layer {i + 1} after 6 steps",
    )
passed("the cross-attention keys are computed once per layer (counted); the cached keys are the decoder's")
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Cached greedy decoding: `cached_greedy_decode`
#
# Lesson 08's loop, with `decode_step` in place of the whole decoder: encode once, make a
# `KVCache(len(model.decoder.layers))`, start every row with `<bos>`, and feed **only the
# newest token** of each row at each step, at position `out.size(1) - 1`. The rest is as in
# `greedy_decode`: append the argmax, pad the rows that have produced `<eos>`, stop when
# every row has or at `max_len` columns; run in eval mode without gradients and leave the
# model in the mode it was in.
#
# **Exercise.** Write `cached_greedy_decode`. It must give `greedy_decode`'s output token
# for token.

# %% nbgrader={"grade": false, "grade_id": "cached_greedy_decode", "locked": false, "schema_version": 3, "solution": true, "task": false}
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
    ### BEGIN SOLUTION
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
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test_cached_greedy_decode_equals_greedy", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(9)
model = Transformer(20, 15, d_model=16, num_heads=2, num_layers=2, d_ff=32)
with torch.no_grad():
    model.generator.bias[2] += 1.0  # <eos> now and then
src = torch.tensor([[4, 5, 6, 2], [7, 8, 2, 0], [9, 9, 3, 2]])
expected = greedy_decode(model, src, max_len=8, bos_id=1, eos_id=2)
out = cached_greedy_decode(model, src, max_len=8, bos_id=1, eos_id=2)
assert isinstance(out, torch.Tensor) and out.dtype == torch.long, "return a long tensor of token ids."
assert out.tolist() == expected.tolist(), (
    f"cached_greedy_decode gave {out.tolist()}, greedy_decode {expected.tolist()}: feed the newest "
    "token at position out.size(1) - 1, with one KVCache for the whole sentence."
)
passed("the same tokens as greedy_decode")
### BEGIN HIDDEN TESTS
import transformer_course.decoding as reference
import transformer_course.training as training
from transformer_course.checks import from_scratch

for seed, (B, S, max_len, layers) in enumerate([(5, 8, 9, 2), (1, 3, 12, 1), (4, 6, 1, 2), (3, 5, 2, 3)]):
    torch.manual_seed(90 + seed)
    model = Transformer(20, 15, d_model=16, num_heads=4, num_layers=layers, d_ff=32, dropout=0.3).double()
    with torch.no_grad():
        model.generator.bias[2] += 1.5  # rows stop at different places
    gen = torch.Generator().manual_seed(seed)
    src = torch.randint(3, 20, (B, S), generator=gen)
    if B > 1:
        src[1, S // 2 :] = 0
    expected = greedy_decode(model, src, max_len=max_len, bos_id=1, eos_id=2)
    model.train()
    with from_scratch(
        "cached_greedy_decode",
        reference=[
            reference.cached_greedy_decode,
            training.greedy_decode,
            reference.decode_step,
            reference.KVCache,
        ],
    ):
        out = cached_greedy_decode(model, src, max_len=max_len, bos_id=1, eos_id=2)
    assert model.training, "cached_greedy_decode left the model in eval mode: restore the mode it was in."
    assert out.dtype == torch.long and out.tolist() == expected.tolist(), (
        f"B={B}, max_len={max_len}, {layers} layer(s): cached_greedy_decode gave {out.tolist()}, "
        f"greedy_decode {expected.tolist()}. Use model.eval() (dropout off), padding_mask(src) "
        "for the encoder and decode_step, one KVCache for the whole loop, the newest token at "
        "position out.size(1) - 1, pad_id after <eos>, and stop when every row has produced it."
    )
passed("token for token as greedy_decode: float64, dropout switched off, padding, B = 1, max_len 1 and 2")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_cached_greedy_decode_reuses", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(10)
model = Transformer(20, 15, d_model=16, num_heads=2, num_layers=2, d_ff=32).eval()
src = torch.tensor([[4, 5, 6, 2]])
widths = []
hook = model.decoder.layers[0].self_attn.w_q.register_forward_hook(
    lambda m, args, out: widths.append(args[0].size(1))
)
try:
    out = cached_greedy_decode(model, src, max_len=6, bos_id=1, eos_id=-1)  # -1: never stops early
finally:
    hook.remove()
assert out.shape == (1, 6), f"with no <eos> and max_len 6, expected shape (1, 6), got {tuple(out.shape)}."
assert widths == [1] * 5, (
    f"the decoder's first self-attention saw {widths} positions at its 5 steps: a cached decoder "
    "runs only the newest token, so 1 each time."
)
passed("each step runs one new position")
### BEGIN HIDDEN TESTS
import transformer_course.decoding as reference
import transformer_course.training as training
from transformer_course.checks import from_scratch

torch.manual_seed(100)
model = Transformer(20, 15, d_model=12, num_heads=3, num_layers=3, d_ff=24).double()
src = torch.randint(3, 20, (3, 7))
counts = {"encoder": 0, "cross": 0, "grad": []}
hooks = [
    model.encoder.register_forward_hook(lambda m, a, o: counts.__setitem__("encoder", counts["encoder"] + 1))
]
hooks += [
    layer.cross_attn.w_k.register_forward_hook(
        lambda m, a, o: counts.__setitem__("cross", counts["cross"] + 1)
    )
    for layer in model.decoder.layers
]
hooks.append(
    model.generator.register_forward_hook(lambda m, a, o: counts["grad"].append(torch.is_grad_enabled()))
)
try:
    with from_scratch(
        "cached_greedy_decode",
        reference=[
            reference.cached_greedy_decode,
            training.greedy_decode,
            reference.decode_step,
            reference.KVCache,
        ],
    ):
        out = cached_greedy_decode(model, src, max_len=10, bos_id=1, eos_id=-1)
finally:
    for hook in hooks:
        hook.remove()
assert out.shape == (3, 10), f"expected shape (3, 10) without <eos>, got {tuple(out.shape)}."
assert counts["encoder"] == 1, f"the encoder ran {counts['encoder']} times: run it once, before the loop."
assert counts["cross"] == 3, (
    f"9 steps of a 3-layer decoder computed the cross-attention keys {counts['cross']} times: one "
    "KVCache for the whole sentence computes them once per layer. A new KVCache at each step "
    "forgets everything."
)
assert counts["grad"] and not any(counts["grad"]), "decode under torch.no_grad()."
passed("one encoder run, cross-attention keys once per layer (counted), no gradients")
### END HIDDEN TESTS

# %% [markdown]
# ### How the cost grows
#
# Uncached and cached greedy decoding side by side on one random model (what is timed does
# not depend on training), for outputs of 8, 16, 32 and 64 tokens; `eos_id=-1` never
# occurs, so every row runs to `max_len`. Each figure is the best of two runs, taken in
# turns, so a busy machine slows both alike. A random model would often pick `<pad>`
# mid-sentence, which `greedy_decode` hides from the next step's self-attention as padding
# while the cache keeps it, so the `<pad>` logit is switched off first. Even then the two
# can differ in float32's last bits, which now and then flips a token where a random
# model's top two are nearly tied; the tests above use float64, where they agree exactly.
# `python -m transformer_course.bench --decode` measures the same up to 256 tokens.

# %%
torch.manual_seed(0)
timed = Transformer(
    len(ENGLISH_VOCAB), len(KOREAN_VOCAB), d_model=64, num_heads=4, num_layers=2, d_ff=128, dropout=0.0
).eval()
with torch.no_grad():
    timed.generator.bias[KOREAN_VOCAB.pad_id] = -1e9  # a trained model never emits <pad>
src = torch.randint(3, len(ENGLISH_VOCAB), (8, 10))  # 8 sentences of 10 tokens


def best_time(decode, max_len, repeats=2):
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        out = decode(timed, src, max_len, 1, -1)
        best = min(best, time.perf_counter() - start)
    return best, out


lengths = [8, 16, 32, 64]
seconds = {"uncached (greedy_decode)": [], "cached (cached_greedy_decode)": []}
for L in lengths:
    t_plain, plain = best_time(greedy_decode, L)
    t_cached, cached = best_time(cached_greedy_decode, L)
    same = (plain == cached).float().mean().item()
    seconds["uncached (greedy_decode)"].append(t_plain)
    seconds["cached (cached_greedy_decode)"].append(t_cached)
    print(
        f"L = {L:3d}: uncached {8 * L / t_plain:8.0f} tokens/s, cached {8 * L / t_cached:8.0f} "
        f"tokens/s, {t_plain / t_cached:4.1f}× faster; {same:.0%} of the tokens the same"
    )

fig, ax = plt.subplots(figsize=(6, 3.5))
for name, values in seconds.items():
    ax.plot(lengths, values, "o-", label=name)
ax.set_xlabel("output length L (tokens)")
ax.set_ylabel("seconds for 8 sentences")
ax.set_title("greedy decoding: the cost as the output grows")
ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# The uncached curve bends upward (its work grows as $L^2$ and more), the cached one stays
# nearly straight. At these small sizes each step also pays a fixed Python overhead, which
# hides some of the gap at short lengths.
#
# ## 5. Beam search: `beam_search`
#
# Greedy decoding takes the single most likely next token and never reconsiders. The most
# likely **sentence** may start with a token that is not the most likely one:
# $\log P(y) = \sum_t \log P(y_t \mid y_{<t}, x)$ is a sum, and a good first word can lead
# into a poor continuation.
#
# **Beam search** keeps the $K$ best partial translations (beams) of each sentence. At each
# step it extends every beam by every token, scores each extension by its total
# log-probability, and keeps the $K$ best **across all the sentence's beams** (so the
# kept beams must be re-sorted: a kept extension's parent may be any beam, whose tokens and
# cache it takes over, `cache.reorder`). An extension by `<eos>` that ranks among the $K$ best
# is **finished**: set apart, never extended. A sentence is done once it has $K$ finished
# hypotheses; at `max_len` its live beams count as finished. The answer is the finished
# hypothesis with the best
#
# $$\text{score}(Y) = \frac{\log P(Y \mid X)}{lp(Y)},\qquad lp(Y) = \left(\frac{5 + |Y|}{6}\right)^{\alpha}$$
#
# the length penalty of GNMT (Wu et al., 2016), $|Y|$ the generated tokens (`<eos>` included),
# $\alpha$ = `length_penalty`. Every extra token adds a negative term to $\log P$, so without
# a penalty ($\alpha = 0$) short hypotheses win too often; dividing by a $lp$ that grows with
# the length evens that out. With $K = 1$ this is exactly greedy decoding.
#
# A recipe that works with one batch of $B \cdot K$ rows (sentence $b$'s beams are rows
# $bK \dots bK + K - 1$):
#
# 1. encode once; repeat `memory` and `src_mask` $K$ times per sentence
#    (`repeat_interleave(K, dim=0)`); one `KVCache`; `seqs` $(BK, 1)$ of `<bos>`;
#    `scores` $(B, K)$ of log-probabilities: 0 for beam 0, $-\infty$ for the others (so
#    that the first step does not pick $K$ copies of the same extension);
# 2. each step: `decode_step` on `seqs[:, -1]`; add `log_softmax` of the logits to each
#    beam's score, $(BK, V)$; view as $(B, KV)$ and take the `topk` $2K$: entry $j$ is
#    parent beam $j \,//\, V$, token $j \bmod V$. At most $K$ of them are `<eos>` (one per
#    parent), so at least $K$ are not;
# 3. the `<eos>` entries among the first $K$ (and finite) are finished: keep
#    `(score / lp, log P, tokens)`; the first $K$ that are not `<eos>` live on: reorder the
#    cache and `seqs` to their parents' rows and append their tokens;
# 4. a done sentence's beams get $-\infty$; stop when all are done or at `max_len`.
#
# **Exercise.** Write `length_penalty_gnmt(length, alpha)` and `beam_search`. Return the
# best sequence of each sentence (`<bos>` first, padded with `pad_id` after its `<eos>`:
# `nn.utils.rnn.pad_sequence`) and its $\log P$ **without** the length penalty.

# %% nbgrader={"grade": false, "grade_id": "beam_search", "locked": false, "schema_version": 3, "solution": true, "task": false}
def length_penalty_gnmt(length: int, alpha: float) -> float:
    """GNMT's length penalty lp(Y) = ((5 + |Y|) / 6)^α; a hypothesis scores log P(Y) / lp(Y).

    α = 0 gives 1 (no penalty); a larger α favours longer hypotheses, whose log-probability,
    a sum of more negative terms, would otherwise always lose.

    Args:
        length: |Y|, the generated tokens (EOS included, BOS not).
        alpha: α.
    """
    ### BEGIN SOLUTION
    return ((5 + length) / 6) ** alpha
    ### END SOLUTION


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
    ### BEGIN SOLUTION
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
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test_beam_search_one_is_greedy", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
assert length_penalty_gnmt(7, 0.0) == 1.0 and abs(length_penalty_gnmt(7, 1.0) - 2.0) < 1e-12, (
    "length_penalty_gnmt(7, 1.0) must be (5 + 7) / 6 = 2, and any length with alpha 0 gives 1."
)
torch.manual_seed(9)  # its greedy rows run several steps before <eos>
model = Transformer(20, 15, d_model=16, num_heads=2, num_layers=2, d_ff=32)
with torch.no_grad():
    model.generator.bias[2] += 1.0
src = torch.tensor([[4, 5, 6, 2], [7, 8, 2, 0], [9, 9, 3, 2]])
expected = greedy_decode(model, src, max_len=8, bos_id=1, eos_id=2)
sequences, log_probs = beam_search(model, src, beam_size=1, max_len=8, bos_id=1, eos_id=2)
expect_shape(log_probs, (3,), "beam_search's log_probs (B,)")
assert sequences.tolist() == expected.tolist(), (
    f"beam_search with beam_size=1 gave {sequences.tolist()}, greedy_decode {expected.tolist()}: "
    "one beam is greedy decoding."
)
passed("beam 1 is greedy decoding")
### BEGIN HIDDEN TESTS
import transformer_course.decoding as reference
from transformer_course.checks import from_scratch


def teacher_forced_log_prob(model, src, seqs, eos_id=2):
    """log P of each row of seqs (<bos> ... up to its first <eos>) under the whole model."""
    model.eval()
    if seqs.size(1) == 1:  # <bos> alone: nothing generated, log P = 0
        return torch.zeros(seqs.size(0), dtype=torch.float64)
    with torch.no_grad():
        tgt = seqs[:, :-1]
        logits = model(src, tgt, padding_mask(src, 0), look_ahead_mask(tgt.size(1)))
        picked = logits.log_softmax(-1).gather(-1, seqs[:, 1:, None])[..., 0]  # (B, L - 1)
        counted = torch.ones_like(picked, dtype=torch.bool)
        for b, row in enumerate(seqs[:, 1:].tolist()):
            if eos_id in row:
                counted[b, row.index(eos_id) + 1 :] = False
        return (picked * counted).sum(-1)


for seed, (B, S, max_len, alpha) in enumerate(
    [(5, 8, 9, 0.0), (1, 3, 12, 0.0), (4, 6, 7, 1.0), (3, 5, 1, 0.0)]
):
    torch.manual_seed(110 + seed)
    model = Transformer(20, 15, d_model=16, num_heads=4, num_layers=2, d_ff=32, dropout=0.3).double()
    with torch.no_grad():
        model.generator.bias[2] += 1.5
    src = torch.randint(3, 20, (B, S))
    if B > 1:
        src[1, S // 2 :] = 0
    expected = greedy_decode(model, src, max_len=max_len, bos_id=1, eos_id=2)
    model.train()
    with from_scratch(
        "beam_search",
        reference=[
            reference.beam_search,
            reference.cached_greedy_decode,
            reference.decode_step,
            reference.KVCache,
        ],
    ):
        sequences, log_probs = beam_search(model, src, 1, max_len, 1, 2, length_penalty=alpha)
    assert model.training, "beam_search left the model in eval mode: restore the mode it was in."
    assert sequences.dtype == torch.long and sequences.tolist() == expected.tolist(), (
        f"B={B}, max_len={max_len}, length_penalty={alpha}: beam_search with one beam gave "
        f"{sequences.tolist()}, greedy decoding {expected.tolist()}."
    )
    expect_close(
        log_probs,
        teacher_forced_log_prob(model, src, sequences),
        f"the log-probabilities of one beam's sequences (B={B}, max_len={max_len}, α={alpha})",
    )
passed("beam 1 = greedy: float64, padding, B = 1, max_len 1, with a length penalty; log P of each sequence")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_beam_search_as_the_rule_says", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(12)
model = Transformer(20, 15, d_model=16, num_heads=2, num_layers=2, d_ff=32).eval()
with torch.no_grad():
    model.generator.bias[2] += 1.0
src = torch.tensor([[4, 5, 6, 2], [7, 8, 2, 0]])
sequences, log_probs = beam_search(model, src, beam_size=3, max_len=8, bos_id=1, eos_id=2)
assert sequences.dim() == 2 and sequences.size(0) == 2 and sequences.size(1) <= 8, (
    f"beam_search's sequences have shape {tuple(sequences.shape)}: expected (2, L), L <= 8."
)
assert (sequences[:, 0] == 1).all(), "every sequence starts with <bos>."
for row in sequences.tolist():
    if 2 in row:
        assert all(t == 0 for t in row[row.index(2) + 1 :]), (
            f"the sequence {row} goes on after <eos>: a finished hypothesis is set apart, never extended; "
            "pad it with pad_id."
        )
passed("three beams: shapes, <bos> first, nothing after <eos>")
### BEGIN HIDDEN TESTS
import transformer_course.decoding as reference
from transformer_course.checks import from_scratch


def oracle_beam(model, src_row, K, max_len, alpha, bos=1, eos=2):
    """The rule of the lesson, one sentence at a time, with the whole model at every step."""
    src = src_row[None]
    mask = padding_mask(src, 0)
    memory = model.encode(src, mask)
    penalty = lambda n: ((5 + n) / 6) ** alpha  # noqa: E731
    alive, finished = [(0.0, [bos])], []
    for _ in range(max_len - 1):
        if len(finished) >= K:
            break
        tgt = torch.tensor([seq for _, seq in alive])
        hidden = model.decode(tgt, memory.expand(len(alive), -1, -1), look_ahead_mask(tgt.size(1)), mask)
        logp = model.generator(hidden[:, -1]).log_softmax(-1)  # (n, V)
        extensions = sorted(
            (
                (s + logp[i, t].item(), seq + [t])
                for i, (s, seq) in enumerate(alive)
                for t in range(logp.size(-1))
            ),
            key=lambda e: -e[0],
        )
        alive = []
        for rank, (s, seq) in enumerate(extensions):
            if seq[-1] == eos:
                if rank < K and len(finished) < K:
                    finished.append((s / penalty(len(seq) - 1), s, seq))
            elif len(alive) < K:
                alive.append((s, seq))
    if len(finished) < K:
        finished += [(s / penalty(len(seq) - 1), s, seq) for s, seq in alive]
    return max(finished, key=lambda f: f[0])


cases = [(2, 0.0, 9), (4, 0.0, 9), (3, 1.0, 10), (4, 0.6, 8), (5, 2.0, 10)]
for seed, (K, alpha, max_len) in enumerate(cases):
    torch.manual_seed(120 + seed)
    model = Transformer(20, 15, d_model=16, num_heads=4, num_layers=2, d_ff=32).double().eval()
    with torch.no_grad():
        model.generator.bias[2] += 1.0 + 0.5 * seed
    src = torch.randint(3, 20, (4, 6))
    src[2, 3:] = 0
    with torch.no_grad():
        expected = [oracle_beam(model, row, K, max_len, alpha) for row in src]
    with from_scratch(
        "beam_search",
        reference=[
            reference.beam_search,
            reference.cached_greedy_decode,
            reference.decode_step,
            reference.KVCache,
        ],
    ):
        sequences, log_probs = beam_search(model, src, K, max_len, 1, 2, length_penalty=alpha)
    for b, (_, log_p, seq) in enumerate(expected):
        got = [t for t in sequences[b].tolist()]
        got = got[: got.index(2) + 1] if 2 in got else got
        assert got == seq, (
            f"beam_size={K}, length_penalty={alpha}, sentence {b}: beam_search gave {got}, expected "
            f"{seq}. Keep the K best extensions across all of a sentence's beams, re-sorted (each "
            "takes its parent's tokens and cache), set <eos> ones apart (only those among the K best), "
            "and pick the best of log P / ((5 + |Y|) / 6)^α."
        )
        expect_close(
            log_probs[b],
            torch.tensor(log_p, dtype=torch.float64),
            f"log P of sentence {b}'s best hypothesis (beam_size={K}, α={alpha}); it is "
            "returned without the length penalty",
        )
passed("the beam search rule: 2 to 5 beams, α = 0, 0.6, 1, 2, padding; sequences and log P")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_beam_search_beats_greedy", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(13)
model = Transformer(20, 15, d_model=16, num_heads=2, num_layers=2, d_ff=32).double().eval()
with torch.no_grad():
    model.generator.bias[2] += 1.0
src = torch.randint(3, 20, (6, 5))
_, greedy_log_p = beam_search(model, src, beam_size=1, max_len=10, bos_id=1, eos_id=2)
_, beam_log_p = beam_search(model, src, beam_size=4, max_len=10, bos_id=1, eos_id=2)
assert (beam_log_p >= greedy_log_p - 1e-9).all(), (
    f"4 beams found log P {beam_log_p.tolist()}, one beam {greedy_log_p.tolist()}: more beams keep "
    "the greedy hypothesis among the candidates, so they never do worse here."
)
print(f"log P, greedy: {[round(x, 2) for x in greedy_log_p.tolist()]}")
print(f"log P, 4 beams: {[round(x, 2) for x in beam_log_p.tolist()]}")
passed("4 beams are never worse than greedy on these six sentences")
### BEGIN HIDDEN TESTS
import transformer_course.decoding as reference
from transformer_course.checks import from_scratch

# A fixed model on which greedy decoding misses the most likely translation of every sentence
# (its log P, scored by the whole model, is lower than what four beams find by the rule).
torch.manual_seed(150)
model = Transformer(20, 15, d_model=16, num_heads=2, num_layers=2, d_ff=32).double().eval()
with torch.no_grad():
    model.generator.bias[2] += 1.0
src = torch.randint(3, 20, (4, 5))
with torch.no_grad():
    greedy = greedy_decode(model, src, max_len=10, bos_id=1, eos_id=2)


def forced(model, src, seqs):
    with torch.no_grad():
        tgt = seqs[:, :-1]
        logits = model(src, tgt, padding_mask(src, 0), look_ahead_mask(tgt.size(1)))
        picked = logits.log_softmax(-1).gather(-1, seqs[:, 1:, None])[..., 0]
        counted = torch.ones_like(picked, dtype=torch.bool)
        for b, row in enumerate(seqs[:, 1:].tolist()):
            if 2 in row:
                counted[b, row.index(2) + 1 :] = False
        return (picked * counted).sum(-1)


greedy_lp = forced(model, src, greedy)
with from_scratch(
    "beam_search",
    reference=[
        reference.beam_search,
        reference.cached_greedy_decode,
        reference.decode_step,
        reference.KVCache,
    ],
):
    sequences, log_probs = beam_search(model, src, 4, 10, 1, 2)
found = forced(model, src, sequences)
expect_close(
    log_probs,
    found,
    "the log P beam_search returns for its own sequences",
    mistakes={"your log_probs are probabilities: sum the log_softmax, and return log P.": found.exp()},
)
better = (found > greedy_lp + 0.5).tolist()
assert better == [True, True, True, True], (
    f"on this model greedy decoding misses the most likely translation of every sentence (log P "
    f"{[round(x, 2) for x in greedy_lp.tolist()]}), but 4 beams found only "
    f"{[round(x, 2) for x in found.tolist()]}: keep the K best extensions across all beams."
)
passed("where greedy is wrong, 4 beams find translations more probable by e^0.5 or more")
### END HIDDEN TESTS

# %% [markdown]
# ### What more beams buy
#
# On a random model, beams find sequences of higher probability than greedy decoding: the
# search works. Whether that translates better depends on the model: a well-trained one is
# so sure of each token that greedy is usually already right. The cell below compares
# both: the mean $\log P$ of 32 random-model translations, and, once you have run lesson 08's
# training cell (it saves its model in `../08_gpu_training/runs/target/checkpoint.pt`), exact
# match on 300 test sentences (skipped while grading).

# %%
torch.manual_seed(0)
src = torch.randint(3, len(ENGLISH_VOCAB), (32, 8))
for K in (1, 2, 4, 8):
    start = time.perf_counter()
    _, log_p = beam_search(timed, src, K, 16, 1, 2)
    print(f"random model, {K} beam(s): mean log P {log_p.mean():7.2f}, {time.perf_counter() - start:.2f} s")

checkpoint = Path("..") / "08_gpu_training" / "runs" / "target" / "checkpoint.pt"
if os.environ.get("NBGRADER_EXECUTION"):
    print("Being graded: the trained model's comparison is skipped.")
elif not checkpoint.exists():
    print(
        f"No {checkpoint}: run lesson 08's training cell to compare beams on a trained model, or "
        "run `python -m transformer_course.bench --decode` (it trains one)."
    )
else:
    from transformer_course.train import load_model

    trained = load_model(checkpoint)  # your own run's file: the model you trained in lesson 08
    test = make_splits(generate_pairs(20_000, seed=0)).test[:300]
    batch = make_batch(test, ENGLISH_VOCAB, KOREAN_VOCAB, "cpu")
    for K in (1, 2, 4):
        ids, _ = beam_search(trained, batch.src, K, 16, KOREAN_VOCAB.bos_id, KOREAN_VOCAB.eos_id)
        exact = sum(KOREAN_VOCAB.decode(row) == p.korean for row, p in zip(ids, test, strict=True))
        print(f"trained model, {K} beam(s): exact match {exact / len(test):.1%}")

# %% [markdown]
# ## 6. The fused kernel and bfloat16
#
# Two more ways to decode faster, neither of which changes the code of this lesson:
#
# - **the fused kernel**: `use_fused_attention(model)` (lesson 08's fast path) makes every
#   attention call `F.scaled_dot_product_attention`, which `attend` then uses too; the
#   tokens stay the same (up to float rounding);
# - **bfloat16**: under `torch.autocast(device, dtype=torch.bfloat16)` the matrix products
#   run in 16 bits, about twice as fast on a GPU; on a CPU only where it has bfloat16
#   instructions (AVX-512-BF16, AMX). Rounding may change a token where two are nearly tied.
#
# A fused kernel saves most where attention is large; at this notebook's tiny sizes (one
# query, a few dozen keys) its fixed cost per call can outweigh the gain, as the cell below
# may show. `python -m transformer_course.bench --decode` measures both beside the cache.

# %%
fused = use_fused_attention(
    Transformer(
        len(ENGLISH_VOCAB), len(KOREAN_VOCAB), d_model=64, num_heads=4, num_layers=2, d_ff=128, dropout=0.0
    ).eval()
)
fused.load_state_dict(timed.state_dict())
src = torch.randint(3, len(ENGLISH_VOCAB), (16, 10))
times = {}
for name, net in [("from scratch", timed), ("fused", fused)]:
    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        out = cached_greedy_decode(net, src, 32, 1, -1)
        best = min(best, time.perf_counter() - start)
    times[name] = (best, out)
same = (times["fused"][1] == times["from scratch"][1]).float().mean().item()
print(
    f"cached greedy, 16 × 32 tokens: from scratch {times['from scratch'][0]:.3f} s, fused "
    f"{times['fused'][0]:.3f} s ({times['from scratch'][0] / times['fused'][0]:.2f}×); {same:.0%} of "
    "the tokens the same"
)

# %% [markdown]
# ## Recap
#
# - Generation is slow because greedy decoding recomputes the whole prefix for every new
#   token; the look-ahead mask guarantees that earlier positions never change, so their
#   **keys and values can be kept** (the KV cache), and the cross-attention's keys and
#   values of the encoder output are computed **once** per sentence.
# - `decode_step` runs one position: the embedding with the positional encoding **of its
#   position**, self-attention of one query over every cached key (no mask needed),
#   cross-attention over the cached encoder keys, the FFN.
# - Cached greedy decoding equals greedy decoding token for token; each new token costs
#   attention over the cache and one position's layers, so its cost grows roughly linearly
#   in the output length while $L \ll d_{model}$, where the uncached one grows quadratically
#   and more.
# - Beam search keeps the $K$ best hypotheses across beams, re-sorted each step, sets
#   finished ones apart, and ranks them by $\log P / lp$; $K = 1$ is greedy.
