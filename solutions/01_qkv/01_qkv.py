# %% [markdown]
# # Lesson 01 — Queries, keys and values
#
# > **2. 어텐션의 쿼리, 키, 밸류의 행렬은 어떻게 계산하는가?** — from the notes
#
# *How are the query, key and value matrices of attention computed?*
#
# The notes answer:
#
# > 입력값을 임베딩하고, 쿼리 가중치, 키 가중치, 밸류 가중치를 내적한 것이다.
# > 각각의 가중치는 하나씩 존재하며($W^Q, W^K, W^V$), 각 단어마다 Q, K, V 벡터가 생성되는 것.
# > 행렬을 이용하면 한 번에 계산 가능!
#
# *Embed the input, then multiply it by the query weight, the key weight and the
# value weight. There is one of each ($W^Q, W^K, W^V$), and every word gets its own
# Q, K and V vector. With matrices, it is all computed at once!*
#
# Attention, the subject of the next lessons, lets every token look at the other
# tokens of the sentence. For that each token plays three roles, one vector each:
# a **query** (what this token is looking for), a **key** (what it can be found
# by), and a **value** (what it hands on to the tokens that attend to it). This
# lesson computes them, in four steps:
#
# 1. `embed`: token ids → vectors, by looking rows up in a table;
# 2. `qkv_per_token`: $q_t, k_t, v_t$ for one token at a time, as the notes say it first;
# 3. `qkv_matrix`: all tokens at once, $Q = XW^Q$, and the proof that it is the same;
# 4. `QKVProjection`: the same thing as a PyTorch module with learnable weights.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from matplotlib.patches import Rectangle
from torch import nn

from transformer_course.checks import expect_close, expect_shape, from_scratch, passed

torch.manual_seed(0)


def expect_qkv(result, expected, what, mistakes=None):
    """Compare a (q, k, v) result with the expected triple, naming swapped outputs.

    Args:
        mistakes: known wrong results per output, {"q": {message: tensor}, ...}.
    """
    if not isinstance(result, tuple | list) or len(result) != 3:
        got = type(result).__name__
        if isinstance(result, tuple | list):
            got += f" of length {len(result)}"
        raise AssertionError(f"{what}: return a tuple (q, k, v) of three tensors; got a {got}.")
    names = ("q", "k", "v")
    for name, actual, wanted in zip(names, result, expected, strict=True):
        known = {
            f"your {name} equals what {other} should be: compute {name} with w_{name}, "
            "and return (q, k, v) in that order.": expected[j]
            for j, other in enumerate(names)
            if other != name
        }
        known.update((mistakes or {}).get(name, {}))
        expect_close(actual, wanted, f"{what}, {name}", mistakes=known)


def expect_same_gradients(outputs, expected_outputs, inputs, expected_inputs, names, what):
    """Backpropagate one random weighting of both results; compare the input gradients."""
    for label, output in zip("qkv", outputs, strict=True):
        if not output.requires_grad:
            raise AssertionError(
                f"{what}: your {label} carries no gradient. Build it from the inputs with torch "
                "operations; torch.tensor(...), .tolist(), .item(), .numpy() and .detach() cut "
                "the graph."
            )
    generator = torch.Generator().manual_seed(7)
    upstream = [torch.randn(e.shape, dtype=e.dtype, generator=generator) for e in expected_outputs]
    grads = torch.autograd.grad(outputs, inputs, upstream, allow_unused=True)
    wanted = torch.autograd.grad(expected_outputs, expected_inputs, upstream)
    for name, grad, want in zip(names, grads, wanted, strict=True):
        if grad is None:
            raise AssertionError(f"{what}: no gradient reaches {name}; it must take part in the result.")
        expect_close(grad, want, f"{what}: the gradient with respect to {name}")


def load_weights(projection, w_q, w_k, w_v):
    """Copy (d_model, d_k) weight matrices into a QKVProjection's linear layers."""
    for name, w in (("w_q", w_q), ("w_k", w_k), ("w_v", w_v)):
        layer = getattr(projection, name, None)
        if not isinstance(layer, nn.Linear):
            raise AssertionError(f"QKVProjection.{name} should be an nn.Linear, got {type(layer).__name__}.")
        d_model, d_k = w.shape
        if tuple(layer.weight.shape) != (d_k, d_model):
            raise AssertionError(
                f"QKVProjection.{name}.weight has shape {tuple(layer.weight.shape)}, expected "
                f"(d_k, d_model) = {(d_k, d_model)}: nn.Linear takes (in_features, out_features), "
                "here nn.Linear(d_model, d_k)."
            )
        with torch.no_grad():
            layer.weight.copy_(w.T)  # nn.Linear keeps Wᵀ: (d_k, d_model)


# %% [markdown]
# ## A sentence small enough to check by hand
#
# Our running example is "the cat sat": $T = 3$ tokens from a six-word vocabulary,
# vectors of size $d_{model} = 4$, and queries, keys and values of size $d_k = 2$.
# The numbers are set by hand, small integers, so that you can check every result
# with pencil and paper; in a real model they are learned, and $d_{model} = 512$,
# $d_k = 64$ in the notes' model. The three sizes differ on purpose: a wrong
# transpose shows up as a wrong shape.

# %% nbgrader={"grade": false, "grade_id": "example", "locked": true, "schema_version": 3, "solution": false, "task": false}
VOCAB = ["<pad>", "the", "cat", "sat", "on", "mat"]  # token id -> word
TOKENS = torch.tensor([1, 2, 3])  # (T,) "the cat sat"
TABLE = torch.tensor(
    [  # (V, d_model): one row per token id
        [0.0, 0.0, 0.0, 0.0],  # <pad>
        [1.0, 0.0, 0.0, 0.0],  # the
        [0.0, 1.0, 1.0, 0.0],  # cat
        [0.0, 0.0, 1.0, 1.0],  # sat
        [1.0, 0.0, 0.0, 1.0],  # on
        [0.0, 1.0, 0.0, 1.0],  # mat
    ]
)
W_Q = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 2.0]])  # (d_model, d_k)
W_K = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # (d_model, d_k)
W_V = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, -1.0]])  # (d_model, d_k)

# %% [markdown]
# ## Step 1: embedding, a table look-up
#
# A model receives token ids, integers. The first layer turns each id into a
# vector by reading one row of an **embedding table** $E$ of shape
# $(V, d_{model})$, one row per word of the vocabulary:
#
# $$x_t = E_{\text{token}_t} \qquad\text{(row number } \text{token}_t \text{ of } E\text{)}.$$
#
# It is the same as multiplying a one-hot vector by $E$,
# $x_t = \text{onehot}(\text{token}_t)\,E$, without building the one-hot vectors.
# The table's entries are weights like any other: training adjusts them, and words
# used in similar ways tend to end up with similar rows. (`nn.Embedding` is exactly
# such a table.)
#
# Write `embed(tokens, table)` **from scratch**: plain indexing, not
# `torch.nn.functional.embedding` or `nn.Embedding`. Tokens may come with any
# number of leading batch dims, `(T,)`, `(B, T)`, ...; the result gets one more
# axis at the end, of size $d_{model}$.

# %% nbgrader={"grade": false, "grade_id": "embed", "locked": false, "schema_version": 3, "solution": true, "task": false}
def embed(tokens: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Look up each token's row of the embedding table.

    Args:
        tokens: integer token ids in [0, V), with any leading batch dims.
        table: the embedding table, one row of size d_model per token id.

    Shape:
        tokens: (..., T).
        table: (V, d_model).
        output: (..., T, d_model), the dtype and device of `table`.
    """
    ### BEGIN SOLUTION
    return table[tokens]  # (..., T, d_model)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_embed_values", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
with from_scratch("embed", torch_functions=["embedding"]):
    x = embed(TOKENS, TABLE)
expect_shape(x, (3, 4), "embed(the cat sat), a (T,) = (3,) tensor of ids and a (6, 4) table")
expect_close(x, torch.stack([TABLE[1], TABLE[2], TABLE[3]]), "embed(the cat sat)")
passed("embed(the cat sat) gives the rows of the, cat and sat")
### BEGIN HIDDEN TESTS
import transformer_course.qkv

generator = torch.Generator().manual_seed(11)
table = torch.randn(11, 5, generator=generator)
for tokens in (
    torch.tensor([3, 0, 7, 7, 2]),
    torch.tensor([10]),
    torch.randint(0, 11, (9,), generator=generator),
):
    with from_scratch("embed", torch_functions=["embedding"], reference=[transformer_course.qkv.embed]):
        x = embed(tokens, table)
    expect_close(x, F.embedding(tokens, table), f"embed of {len(tokens)} tokens from a (11, 5) table")
passed("embed matches torch.nn.functional.embedding on random tables")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_embed_batch", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
batch = torch.tensor([[1, 2, 3], [1, 5, 3]])  # (B, T): "the cat sat", "the mat sat"
with from_scratch("embed", torch_functions=["embedding"]):
    x = embed(batch, TABLE)
expect_shape(x, (2, 3, 4), "embed of a (B, T) = (2, 3) batch: (B, T, d_model)")
expect_close(x[1, 1], TABLE[5], "embed of a (2, 3) batch, sentence 1, token 1 (mat)")
passed("embed keeps the batch dims and adds d_model at the end")
### BEGIN HIDDEN TESTS
import transformer_course.qkv

generator = torch.Generator().manual_seed(12)
for shape, dtype in (((4, 1), torch.float32), ((2, 3, 5), torch.float64), ((1, 1, 1), torch.float64)):
    table = torch.randn(13, 6, dtype=dtype, generator=generator)
    tokens = torch.randint(0, 13, shape, generator=generator)
    with from_scratch("embed", torch_functions=["embedding"], reference=[transformer_course.qkv.embed]):
        x = embed(tokens, table)
    expect_close(x, F.embedding(tokens, table), f"embed of {dtype} tokens of shape {shape}")
passed("embed works with leading batch dims, T = 1 and float64")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_embed_grad", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
table = TABLE.clone().requires_grad_()
with from_scratch("embed", torch_functions=["embedding"]):
    x = embed(torch.tensor([1, 2, 2]), table)
if not x.requires_grad:
    raise AssertionError(
        "embed's result carries no gradient: index the table itself; "
        "torch.tensor(...), .tolist() and .detach() cut the graph."
    )
x.sum().backward()
expect_close(
    table.grad[:, 0],
    torch.tensor([0.0, 1.0, 2.0, 0.0, 0.0, 0.0]),
    "the gradient of embed([the, cat, cat]).sum() with respect to the table, "
    "column 0 (each row gets one 1 per use)",
)
passed("the table gets a gradient in the rows that were used, once per use")
### BEGIN HIDDEN TESTS
import transformer_course.qkv

generator = torch.Generator().manual_seed(13)
table = torch.randn(9, 4, dtype=torch.float64, generator=generator, requires_grad=True)
tokens = torch.tensor([[8, 1, 1, 0], [3, 8, 8, 8]])
with from_scratch("embed", torch_functions=["embedding"], reference=[transformer_course.qkv.embed]):
    x = embed(tokens, table)
expected = F.embedding(tokens, table)
expect_close(x, expected, "embed of a (2, 4) batch with repeated tokens")
upstream = torch.randn(expected.shape, dtype=torch.float64, generator=generator)
[grad] = torch.autograd.grad(x, table, upstream)
[want] = torch.autograd.grad(expected, table, upstream)
expect_close(grad, want, "the gradient of embed with respect to the table (repeated tokens add up)")
passed("embed's gradient matches torch.nn.functional.embedding's")
### END HIDDEN TESTS

# %% [markdown]
# The example sentence, embedded: one row per token.

# %%
X = embed(TOKENS, TABLE)  # (T, d_model)
for token, row in zip(TOKENS.tolist(), X.tolist(), strict=True):
    print(f"{VOCAB[token]:>4}: {row}")

# %% [markdown]
# ## Step 2: one token at a time
#
# Each token's vector $x_t$ (a row of size $d_{model}$) is multiplied by each of the
# three weight matrices, of shape $(d_{model}, d_k)$, as the notes write it:
#
# $$q_t = x_t W^Q, \qquad k_t = x_t W^K, \qquad v_t = x_t W^V.$$
#
# The same three matrices serve every token: a sentence of any length needs no
# more weights. By hand, for "cat", $x_{cat} = (0, 1, 1, 0)$ picks rows 1 and 2 of
# each matrix and adds them:
#
# $$q_{cat} = (0, 1) + (1, 1) = (1, 2), \quad k_{cat} = (1, 0) + (0, 1) = (1, 1),
# \quad v_{cat} = (0, 1) + (1, 0) = (1, 1).$$
#
# Write `qkv_per_token(x, w_q, w_k, w_v)` for one sentence `x` of shape
# $(T, d_{model})$: a Python loop over its tokens, one vector–matrix product per
# token and weight, the results stacked into three $(T, d_k)$ tensors.
# (`torch.stack` puts a list of equal-shaped tensors along a new first axis.)

# %% nbgrader={"grade": false, "grade_id": "qkv_per_token", "locked": false, "schema_version": 3, "solution": true, "task": false}
def qkv_per_token(
    x: torch.Tensor, w_q: torch.Tensor, w_k: torch.Tensor, w_v: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Compute q, k, v one token at a time, as the notes first describe it.

    Args:
        x: the embedded tokens of one sentence, one row per token.
        w_q, w_k, w_v: the query, key and value weights W^Q, W^K, W^V.

    Shape:
        x: (T, d_model).
        w_q, w_k, w_v: (d_model, d_k).
        output: three tensors of shape (T, d_k).
    """
    ### BEGIN SOLUTION
    qs, ks, vs = [], [], []
    for x_t in x:  # x_t: (d_model,)
        qs.append(x_t @ w_q)  # (d_k,)
        ks.append(x_t @ w_k)  # (d_k,)
        vs.append(x_t @ w_v)  # (d_k,)
    return torch.stack(qs), torch.stack(ks), torch.stack(vs)  # each (T, d_k)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_qkv_per_token_values", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
x = TABLE[TOKENS]  # (3, 4), the cat sat
result = qkv_per_token(x, W_Q, W_K, W_V)
expect_qkv(result, (x @ W_Q, x @ W_K, x @ W_V), "qkv_per_token(the cat sat)")
passed(
    "q, k, v of the cat sat: Q = [[1, 0], [1, 2], [1, 3]], K = [[0, 1], [1, 1], [1, 2]], "
    "V = [[2, 0], [1, 1], [1, -1]]"
)
### BEGIN HIDDEN TESTS
import transformer_course.qkv

generator = torch.Generator().manual_seed(21)
for T, d_model, d_k in ((5, 7, 3), (1, 4, 2), (6, 3, 3)):
    x = torch.randn(T, d_model, dtype=torch.float64, generator=generator)
    ws = [torch.randn(d_model, d_k, dtype=torch.float64, generator=generator) for _ in range(3)]
    with from_scratch(
        "qkv_per_token", reference=[transformer_course.qkv.qkv_per_token, transformer_course.qkv.qkv_matrix]
    ):
        result = qkv_per_token(x, *ws)
    expected = tuple(torch.einsum("td,dk->tk", x, w) for w in ws)
    mistakes = {
        name: {f"your {name} equals x_t @ w_{name}.T: multiply by w_{name} as given, (d_model, d_k)": x @ w.T}
        for name, w in zip("qkv", ws, strict=True)
        if d_model == d_k
    }
    expect_qkv(result, expected, f"qkv_per_token with T = {T}, d_model = {d_model}, d_k = {d_k}", mistakes)
passed("qkv_per_token matches x @ w for random float64 inputs, T = 1 included")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_qkv_per_token_rows", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
x = TABLE[TOKENS]  # (3, 4), the cat sat
changed = x.clone()
changed[2] = TABLE[5]  # "the cat mat": only the last token differs
before, after = qkv_per_token(x, W_Q, W_K, W_V), qkv_per_token(changed, W_Q, W_K, W_V)
for name, old, new in zip("qkv", before, after, strict=True):
    expect_shape(new, (3, 2), f"qkv_per_token's {name} for T = 3 tokens and d_k = 2")
    expect_close(
        new[:2],
        old[:2],
        f"the rows of {name} for the and cat when only the last token "
        "changes: a token's q, k, v depend on that token alone",
    )
passed("changing one token changes only its own q, k and v")
### BEGIN HIDDEN TESTS
import transformer_course.qkv

generator = torch.Generator().manual_seed(22)
T, d_model, d_k = 6, 5, 3
x = torch.randn(T, d_model, dtype=torch.float64, generator=generator)
ws = [torch.randn(d_model, d_k, dtype=torch.float64, generator=generator) for _ in range(3)]
with from_scratch(
    "qkv_per_token", reference=[transformer_course.qkv.qkv_per_token, transformer_course.qkv.qkv_matrix]
):
    before = qkv_per_token(x, *ws)
for t in range(T):
    changed = x.clone()
    changed[t] = torch.randn(d_model, dtype=torch.float64, generator=generator)
    with from_scratch(
        "qkv_per_token", reference=[transformer_course.qkv.qkv_per_token, transformer_course.qkv.qkv_matrix]
    ):
        after = qkv_per_token(changed, *ws)
    for name, old, new, w in zip("qkv", before, after, ws, strict=True):
        others = [i for i in range(T) if i != t]
        expect_close(new[others], old[others], f"{name} of the other tokens when token {t} of {T} changes")
        expect_close(new[t], changed[t] @ w, f"{name} of token {t} after it changed")
passed("each token's q, k, v depend on that token alone")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_qkv_per_token_grad", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
w_q, w_k, w_v = (w.clone().requires_grad_() for w in (W_Q, W_K, W_V))
q, k, v = qkv_per_token(TABLE[TOKENS], w_q, w_k, w_v)
for name, out in zip("qkv", (q, k, v), strict=True):
    if not out.requires_grad:
        raise AssertionError(
            f"qkv_per_token's {name} carries no gradient: keep the products as "
            "tensors and join them with torch.stack."
        )
passed("q, k and v carry gradients back to the weights")
### BEGIN HIDDEN TESTS
import transformer_course.qkv

generator = torch.Generator().manual_seed(23)
for T, d_model, d_k in ((4, 5, 3), (1, 2, 6)):
    x = torch.randn(T, d_model, dtype=torch.float64, generator=generator, requires_grad=True)
    ws = [
        torch.randn(d_model, d_k, dtype=torch.float64, generator=generator, requires_grad=True)
        for _ in range(3)
    ]
    with from_scratch(
        "qkv_per_token", reference=[transformer_course.qkv.qkv_per_token, transformer_course.qkv.qkv_matrix]
    ):
        result = qkv_per_token(x, *ws)
    expected = tuple(torch.einsum("td,dk->tk", x, w) for w in ws)
    expect_qkv(result, expected, f"qkv_per_token in float64 with T = {T}")
    expect_same_gradients(
        result, expected, [x, *ws], [x, *ws], ["x", "w_q", "w_k", "w_v"], f"qkv_per_token with T = {T}"
    )
passed("qkv_per_token's gradients match those of x @ w in float64")
### END HIDDEN TESTS

# %% [markdown]
# Here is what one step of the loop computes: the row of "cat" in $X$, times
# $W^Q$, is the row of "cat" in $Q$. Every other row is computed the same way, on
# its own.

# %%
q, k, v = qkv_per_token(X, W_Q, W_K, W_V)  # each (T, d_k)
words = [VOCAB[i] for i in TOKENS.tolist()]
fig, axes = plt.subplots(1, 3, figsize=(10, 3.2), gridspec_kw={"width_ratios": [4, 2, 2]})
panels = [
    (X, "$X$  (T × d_model)", words),
    (W_Q, "$W^Q$  (d_model × d_k)", None),
    (q, "$Q = XW^Q$  (T × d_k)", words),
]
for ax, (matrix, title, rows) in zip(axes, panels, strict=True):
    matrix = matrix.detach()
    ax.imshow(matrix.numpy(), cmap="coolwarm", vmin=-3, vmax=3)
    for (i, j), value in zip(
        torch.cartesian_prod(torch.arange(matrix.shape[0]), torch.arange(matrix.shape[1])).tolist(),
        matrix.flatten().tolist(),
        strict=True,
    ):
        ax.text(j, i, f"{value:g}", ha="center", va="center")
    ax.set_title(title)
    ax.set_xticks(range(matrix.shape[1]))
    ax.set_yticks(range(matrix.shape[0]))
    if rows:
        ax.set_yticklabels(rows)
for ax, width in ((axes[0], 4), (axes[2], 2)):
    ax.add_patch(Rectangle((-0.5, 0.5), width, 1, fill=False, edgecolor="black", linewidth=3))
# x_cat = (0, 1, 1, 0) picks rows 1 and 2 of W^Q.
axes[1].add_patch(Rectangle((-0.5, 0.5), 2, 2, fill=False, edgecolor="black", linewidth=2, linestyle="--"))
fig.suptitle(
    "$q_{cat} = x_{cat} W^Q$: the framed row of $X$ picks the dashed rows of $W^Q$; "
    "their sum is the framed row of $Q$"
)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Step 3: all tokens at once
#
# Stack the token vectors as the rows of a matrix $X$ of shape $(T, d_{model})$.
# Row $t$ of the product $XW^Q$ is $x_t W^Q = q_t$, so one matrix product computes
# every query at once, and likewise for keys and values:
#
# $$Q = XW^Q, \qquad K = XW^K, \qquad V = XW^V, \qquad
# (T, d_{model}) \times (d_{model}, d_k) \to (T, d_k).$$
#
# This is the "행렬을 이용하면 한 번에 계산 가능" of the notes, and it is not only
# shorter: one large product runs much faster than $T$ small ones. `@`
# (`torch.matmul`) also broadcasts over leading batch dims: a batch of
# sentences $(B, T, d_{model})$ times $(d_{model}, d_k)$ gives $(B, T, d_k)$.
#
# Write `qkv_matrix(x, w_q, w_k, w_v)` without a loop, for `x` with any number of
# leading batch dims.

# %% nbgrader={"grade": false, "grade_id": "qkv_matrix", "locked": false, "schema_version": 3, "solution": true, "task": false}
def qkv_matrix(
    x: torch.Tensor, w_q: torch.Tensor, w_k: torch.Tensor, w_v: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Compute Q = XW^Q, K = XW^K, V = XW^V for every token at once.

    Args:
        x: the embedded tokens, one row per token, with any leading batch dims.
        w_q, w_k, w_v: the query, key and value weights W^Q, W^K, W^V.

    Shape:
        x: (..., T, d_model).
        w_q, w_k, w_v: (d_model, d_k).
        output: three tensors of shape (..., T, d_k).
    """
    ### BEGIN SOLUTION
    return x @ w_q, x @ w_k, x @ w_v  # each (..., T, d_model) @ (d_model, d_k) -> (..., T, d_k)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_qkv_matrix_values", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
x = TABLE[TOKENS]  # (3, 4), the cat sat
result = qkv_matrix(x, W_Q, W_K, W_V)
expect_qkv(result, (x @ W_Q, x @ W_K, x @ W_V), "qkv_matrix(the cat sat)")
passed("qkv_matrix gives the same Q, K, V as the hand computation")
### BEGIN HIDDEN TESTS
import transformer_course.qkv

generator = torch.Generator().manual_seed(31)
for T, d_model, d_k in ((5, 7, 3), (1, 4, 2), (6, 3, 3)):
    x = torch.randn(T, d_model, dtype=torch.float64, generator=generator)
    ws = [torch.randn(d_model, d_k, dtype=torch.float64, generator=generator) for _ in range(3)]
    with from_scratch(
        "qkv_matrix", reference=[transformer_course.qkv.qkv_matrix, transformer_course.qkv.qkv_per_token]
    ):
        result = qkv_matrix(x, *ws)
    expected = tuple(torch.einsum("td,dk->tk", x, w) for w in ws)
    mistakes = {
        name: {f"your {name} equals x @ w_{name}.T: multiply by w_{name} as given, (d_model, d_k)": x @ w.T}
        for name, w in zip("qkv", ws, strict=True)
        if d_model == d_k
    }
    expect_qkv(result, expected, f"qkv_matrix with T = {T}, d_model = {d_model}, d_k = {d_k}", mistakes)
passed("qkv_matrix matches x @ w for random float64 inputs, T = 1 included")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_qkv_matrix_batch", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
batch = torch.stack([TABLE[[1, 2, 3]], TABLE[[1, 5, 3]]])  # (B, T, d_model): the cat sat / the mat sat
result = qkv_matrix(batch, W_Q, W_K, W_V)
for name, out, w in zip("qkv", result, (W_Q, W_K, W_V), strict=True):
    expect_shape(out, (2, 3, 2), f"qkv_matrix's {name} for a (B, T, d_model) = (2, 3, 4) batch")
    expect_close(out[1], batch[1] @ w, f"qkv_matrix's {name} for sentence 1 of the batch")
passed("qkv_matrix works on a batch of two sentences")
### BEGIN HIDDEN TESTS
import transformer_course.qkv

generator = torch.Generator().manual_seed(32)
for shape, d_k, dtype in (
    ((2, 5, 7), 3, torch.float64),
    ((2, 3, 4, 6), 5, torch.float64),
    ((1, 1, 1, 5), 2, torch.float32),
    ((3, 8), 4, torch.float32),
):
    x = torch.randn(shape, dtype=dtype, generator=generator)
    ws = [torch.randn(shape[-1], d_k, dtype=dtype, generator=generator) for _ in range(3)]
    with from_scratch(
        "qkv_matrix", reference=[transformer_course.qkv.qkv_matrix, transformer_course.qkv.qkv_per_token]
    ):
        result = qkv_matrix(x, *ws)
    expected = tuple(torch.einsum("...td,dk->...tk", x, w) for w in ws)
    expect_qkv(result, expected, f"qkv_matrix of {dtype} x of shape {shape}, d_k = {d_k}")
passed("qkv_matrix works with 0 to 2 leading batch dims, in float32 and float64")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_qkv_matrix_grad", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
w_q, w_k, w_v = (w.clone().requires_grad_() for w in (W_Q, W_K, W_V))
q, k, v = qkv_matrix(TABLE[TOKENS], w_q, w_k, w_v)
for name, out in zip("qkv", (q, k, v), strict=True):
    if not out.requires_grad:
        raise AssertionError(
            f"qkv_matrix's {name} carries no gradient: compute it with torch operations on the inputs."
        )
passed("Q, K and V carry gradients back to the weights")
### BEGIN HIDDEN TESTS
import transformer_course.qkv

generator = torch.Generator().manual_seed(33)
x = torch.randn(2, 3, 4, 5, dtype=torch.float64, generator=generator, requires_grad=True)
ws = [torch.randn(5, 3, dtype=torch.float64, generator=generator, requires_grad=True) for _ in range(3)]
with from_scratch(
    "qkv_matrix", reference=[transformer_course.qkv.qkv_matrix, transformer_course.qkv.qkv_per_token]
):
    result = qkv_matrix(x, *ws)
expected = tuple(torch.einsum("...td,dk->...tk", x, w) for w in ws)
expect_qkv(result, expected, "qkv_matrix in float64 with x of shape (2, 3, 4, 5)")
expect_same_gradients(
    result,
    expected,
    [x, *ws],
    [x, *ws],
    ["x", "w_q", "w_k", "w_v"],
    "qkv_matrix with x of shape (2, 3, 4, 5)",
)
passed("qkv_matrix's gradients match those of x @ w in float64")
### END HIDDEN TESTS

# %% [markdown]
# The two versions agree, and here is what the matrix form buys: a sentence of
# 512 tokens with the notes' sizes, $d_{model} = 512$ and $d_k = 64$.

# %%
def best_time(fn, repeats=5):
    """The fastest of a few runs, in milliseconds (the others include noise)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * min(times)


generator = torch.Generator().manual_seed(0)
x_long = torch.randn(512, 512, generator=generator)  # (T, d_model)
weights = [torch.randn(512, 64, generator=generator) / 512**0.5 for _ in range(3)]  # (d_model, d_k)
same = all(
    torch.allclose(a, b, atol=1e-5)
    for a, b in zip(qkv_per_token(x_long, *weights), qkv_matrix(x_long, *weights), strict=True)
)
print(f"per-token and matrix results equal: {same}")
loop_ms = best_time(lambda: qkv_per_token(x_long, *weights))
matrix_ms = best_time(lambda: qkv_matrix(x_long, *weights))
print(f"per token: {loop_ms:.2f} ms, as matrices: {matrix_ms:.2f} ms ({loop_ms / matrix_ms:.0f}× faster)")

# %% [markdown]
# ## Step 4: a module with learnable weights
#
# In a model, $W^Q, W^K, W^V$ are parameters that training updates (the notes:
# "가중치는 학습 시 업데이트가 되는 것", *the weights are updated during training*).
# PyTorch's way to hold them is `nn.Linear(d_model, d_k, bias=False)`, a layer that
# computes a product with a weight matrix, here without a bias, as in the notes'
# formula.
#
# One detail trips many people: `nn.Linear(in_features, out_features)` stores its
# weight as `(out_features, in_features)`, here $(d_k, d_{model})$, and computes
# `x @ weight.T`. So `layer.weight` is $(W^Q)^\top$, and calling the layer,
# `layer(x)`, gives $xW^Q$.
#
# Write `QKVProjection(d_model, d_k)`: three bias-free linear layers named `w_q`,
# `w_k`, `w_v`, and a `forward(x)` returning `(q, k, v)` for `x` of shape
# $(\dots, T, d_{model})$.

# %% nbgrader={"grade": false, "grade_id": "QKVProjection", "locked": false, "schema_version": 3, "solution": true, "task": false}
class QKVProjection(nn.Module):
    """The three learned projections W^Q, W^K, W^V as bias-free linear layers.

    ``nn.Linear`` keeps its weight as (out_features, in_features) = (d_k, d_model)
    and computes x @ weight.T, so ``self.w_q.weight`` is (W^Q)ᵀ.

    Args:
        d_model: size of each token's embedding.
        d_k: size of each query, key and value vector.

    Shape:
        x: (..., T, d_model).
        output: (q, k, v), each (..., T, d_k).
    """

    def __init__(self, d_model: int, d_k: int):
        super().__init__()
        ### BEGIN SOLUTION
        self.w_q = nn.Linear(d_model, d_k, bias=False)
        self.w_k = nn.Linear(d_model, d_k, bias=False)
        self.w_v = nn.Linear(d_model, d_k, bias=False)
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        ### BEGIN SOLUTION
        return self.w_q(x), self.w_k(x), self.w_v(x)  # each (..., T, d_k)
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_qkv_projection_layers", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
projection = QKVProjection(4, 2)
for name in ("w_q", "w_k", "w_v"):
    layer = getattr(projection, name, None)
    if not isinstance(layer, nn.Linear):
        raise AssertionError(
            f"QKVProjection(4, 2).{name} should be an nn.Linear, got {type(layer).__name__}."
        )
    expect_shape(
        layer.weight,
        (2, 4),
        f"QKVProjection(d_model=4, d_k=2).{name}.weight, (d_k, d_model) as nn.Linear(d_model, d_k) keeps it",
    )
    if layer.bias is not None:
        raise AssertionError(
            f"QKVProjection.{name} has a bias: the projections are plain products x W, so pass bias=False."
        )
passed("w_q, w_k, w_v are bias-free nn.Linear(d_model, d_k) layers")
### BEGIN HIDDEN TESTS
import transformer_course.qkv

with from_scratch("QKVProjection", reference=[transformer_course.qkv.QKVProjection]):
    projection = QKVProjection(7, 3)
names = sorted(name for name, _ in projection.named_parameters())
if names != ["w_k.weight", "w_q.weight", "w_v.weight"]:
    raise AssertionError(
        f"QKVProjection(7, 3) has the parameters {names}; expected exactly "
        "w_q.weight, w_k.weight and w_v.weight (no biases, nothing else)."
    )
for attribute in ("w_q", "w_k", "w_v"):
    expect_shape(
        getattr(projection, attribute).weight, (3, 7), f"QKVProjection(d_model=7, d_k=3).{attribute}.weight"
    )
passed("QKVProjection(7, 3) holds exactly three (3, 7) weights")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_qkv_projection_values", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
projection = QKVProjection(4, 2)
load_weights(projection, W_Q, W_K, W_V)  # weight = W.T, nn.Linear's layout
x = TABLE[TOKENS]  # (3, 4), the cat sat
try:
    with torch.no_grad():
        result = projection(x)
except NotImplementedError:
    raise
except RuntimeError as error:
    raise AssertionError(
        f"QKVProjection(4, 2) failed on x of shape (3, 4): {error}. nn.Linear keeps its weight as "
        "(d_k, d_model): call the layer, self.w_q(x), rather than multiplying by its weight."
    ) from None
with_bias = {
    name: {
        f"your {name} is x W plus a bias: pass bias=False to nn.Linear": x @ w
        + getattr(projection, f"w_{name}").bias.detach()
    }
    for name, w in zip("qkv", (W_Q, W_K, W_V), strict=True)
    if getattr(projection, f"w_{name}").bias is not None
}
expect_qkv(result, (x @ W_Q, x @ W_K, x @ W_V), "QKVProjection with the example's weights", with_bias)
passed("QKVProjection with W^Q, W^K, W^V loaded reproduces the hand-computed Q, K, V")
### BEGIN HIDDEN TESTS
import transformer_course.qkv

generator = torch.Generator().manual_seed(41)
for T, d_model, d_k, dtype in ((5, 7, 3, torch.float32), (1, 6, 4, torch.float64), (4, 5, 5, torch.float64)):
    x = torch.randn(T, d_model, dtype=dtype, generator=generator)
    ws = [torch.randn(d_model, d_k, dtype=dtype, generator=generator) for _ in range(3)]
    with from_scratch("QKVProjection", reference=[transformer_course.qkv.QKVProjection]):
        projection = QKVProjection(d_model, d_k).to(dtype)
        load_weights(projection, *ws)
        with torch.no_grad():
            result = projection(x)
    expected = tuple(F.linear(x, w.T) for w in ws)
    mistakes = {}
    for name, w in zip("qkv", ws, strict=True):
        bias = getattr(projection, f"w_{name}").bias
        mistakes[name] = {}
        if d_model == d_k:
            mistakes[name][
                f"your {name} equals x @ w_{name}.weight: nn.Linear keeps Wᵀ, so "
                f"call the layer, self.w_{name}(x), or use x @ weight.T"
            ] = x @ w.T
        if bias is not None:
            mistakes[name][f"your {name} includes a bias: pass bias=False to nn.Linear"] = (
                x @ w + bias.detach()
            )
    expect_qkv(result, expected, f"QKVProjection({d_model}, {d_k}) in {dtype} with T = {T}", mistakes)
passed("QKVProjection with injected weights matches x @ W in float32 and float64, T = 1 included")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_qkv_projection_batch_grad", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
projection = QKVProjection(4, 2)
batch = torch.stack([TABLE[[1, 2, 3]], TABLE[[1, 5, 3]]])  # (B, T, d_model)
q, k, v = projection(batch)
for name, out in zip("qkv", (q, k, v), strict=True):
    expect_shape(out, (2, 3, 2), f"QKVProjection(4, 2)'s {name} for a (2, 3, 4) batch")
(q.sum() + k.sum() + v.sum()).backward()
for name in ("w_q", "w_k", "w_v"):
    if getattr(projection, name).weight.grad is None:
        raise AssertionError(f"no gradient reached QKVProjection.{name}.weight: use each layer in forward.")
passed("QKVProjection works on a batch and its three weights get gradients")
### BEGIN HIDDEN TESTS
import transformer_course.qkv

generator = torch.Generator().manual_seed(42)
for shape, d_k in (((2, 3, 4, 6), 3), ((3, 1, 5), 2)):
    d_model = shape[-1]
    x = torch.randn(shape, dtype=torch.float64, generator=generator, requires_grad=True)
    ws = [torch.randn(d_model, d_k, dtype=torch.float64, generator=generator) for _ in range(3)]
    with from_scratch("QKVProjection", reference=[transformer_course.qkv.QKVProjection]):
        projection = QKVProjection(d_model, d_k).double()
        load_weights(projection, *ws)
        result = projection(x)
    oracle_weights = [w.T.clone().requires_grad_() for w in ws]  # (d_k, d_model), nn.Linear's layout
    expected = tuple(F.linear(x, w) for w in oracle_weights)
    expect_qkv(result, expected, f"QKVProjection({d_model}, {d_k}) on x of shape {shape}")
    layers = [getattr(projection, name).weight for name in ("w_q", "w_k", "w_v")]
    expect_same_gradients(
        result,
        expected,
        [x, *layers],
        [x, *oracle_weights],
        ["x", "w_q.weight", "w_k.weight", "w_v.weight"],
        f"QKVProjection({d_model}, {d_k}) on x of shape {shape}",
    )
passed("QKVProjection's gradients match in float64 with extra batch dims")
### END HIDDEN TESTS

# %% [markdown]
# The module computes the same Q as our hand computation once it holds the same
# weights, and its stored weight is the transpose of $W^Q$:

# %%
projection = QKVProjection(d_model=4, d_k=2)
load_weights(projection, W_Q, W_K, W_V)
print("w_q.weight, shape (d_k, d_model) =", tuple(projection.w_q.weight.shape))
print(projection.w_q.weight.detach())
q_module, _, _ = projection(X)
print("Q from the module equals X @ W^Q:", torch.equal(q_module.detach(), X @ W_Q))

# %% [markdown]
# ## Recap
# - Embedding is a table look-up: token id $i$ becomes row $i$ of $E$, shape
#   $(\dots, T) \to (\dots, T, d_{model})$.
# - Each token gets its own query, key and value, $q_t = x_t W^Q$, $k_t = x_t W^K$,
#   $v_t = x_t W^V$, from three weight matrices shared by all tokens; a token's
#   $q, k, v$ depend on that token alone.
# - Stacked as matrices, $Q = XW^Q$, $K = XW^K$, $V = XW^V$ compute every token at
#   once, give the same numbers, run much faster, and broadcast over batch dims.
# - In PyTorch the weights live in bias-free `nn.Linear(d_model, d_k)` layers, which
#   store $W^\top$ with shape $(d_k, d_{model})$.
#
# So far the tokens have not met: each $q_t$ knows only its own token. Lesson 02
# lets them meet: it compares every query with every key, the attention score
# $QK^\top / \sqrt{d_k}$, and mixes the values by the resulting weights.
