# %% [markdown]
# # Lesson 02 — Scaled dot-product attention
#
# > **2. 어텐션의 쿼리, 키, 밸류의 행렬은 어떻게 계산하는가?** — from the notes
# >
# > Attention Score의 계산과정은 다음과 같다. 쿼리와 키를 내적해서 $d_k$(쿼리와 키의 차원)로
# > 스케일링을 진행한다. 그 결과로 나온 값이 Attention score이며, 단어와의 연관성에 대한 점수다.
# >
# > $Attention(Q, K, V) = softmax(\dfrac{QK^T}{\sqrt{d_k}})V$
#
# *2. How are attention's query, key and value matrices computed?* — the second half of the
# answer: "The attention score is computed as follows. Take the dot product of the query and
# the key, and scale it by $d_k$ (the dimension of queries and keys). The result is the
# attention score: a score for how related the words are."
#
# Lesson 01 built $Q$, $K$ and $V$. This lesson asks **what the attention score is, and why it
# is divided by $\sqrt{d_k}$**. You will write three functions — the scores, a softmax that
# never overflows, and scaled dot-product attention with a mask — and then *measure* why the
# square root is there, instead of taking it on trust.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from transformer_course.checks import expect_close, expect_raises, expect_shape, passed
from transformer_course.plots import attention_heatmap, use_hangul_font

torch.manual_seed(0)
use_hangul_font()

# %% [markdown]
# ## 1. The attention score
#
# The score of query $i$ with key $j$ is their dot product, divided by $\sqrt{d_k}$:
#
# $$s_{ij} = \frac{q_i \cdot k_j}{\sqrt{d_k}}, \qquad S = \frac{QK^T}{\sqrt{d_k}}.$$
#
# A large score means "query $i$ finds key $j$ relevant". With one query per row of $Q$
# (shape $(T_q, d_k)$) and one key per row of $K$ (shape $(T_k, d_k)$), the matrix
# $QK^T$ holds every score at once: a row per query, a column per key, shape $(T_q, T_k)$.
#
# **Where the notes simplify.** The notes say "scale by $d_k$", but their own formula divides
# by $\sqrt{d_k}$. The formula is right; section 4 measures why the square root, and what
# dividing by $d_k$ itself would do.
#
# Write `attention_scores`. Leading batch dimensions (`(..., T, d_k)`) must pass through, so
# transpose the last two dimensions of `k` (`k.transpose(-2, -1)` or `k.mT`), not `k.T`.

# %% nbgrader={"grade": false, "grade_id": "attention_scores", "locked": false, "schema_version": 3, "solution": true, "task": false}
def attention_scores(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Scaled similarity of every query with every key, QKᵀ / √d_k.

    Shape:
        q: (..., T_q, d_k).
        k: (..., T_k, d_k).
        output: (..., T_q, T_k).
    """
    ### BEGIN SOLUTION
    d_k = q.size(-1)
    return q @ k.transpose(-2, -1) / math.sqrt(d_k)  # (..., T_q, d_k) @ (..., d_k, T_k)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_attention_scores_values", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# The 3-token example below, small enough to check by hand (d_k = 4, so √d_k = 2).
q = torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 2.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
k = torch.tensor([[2.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 1.0], [1.0, 0.0, 1.0, 0.0]])
expect_close(
    attention_scores(q, k),
    torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 1.0, 1.0]]),
    "scores of the 3-token example",
    mistakes={
        "your scores equal QKᵀ: you forgot to divide by √d_k": q @ k.T,
        "your scores equal QKᵀ/d_k: divide by √d_k, not by d_k": q @ k.T / 4,
        "your scores are transposed (KQᵀ): a row per query means Q @ Kᵀ": k @ q.T / 2,
        "you divided by √T: d_k is the size of the LAST dimension of q": q @ k.T / 3**0.5,
    },
)
passed("the 3-token example's scores are right")
### BEGIN HIDDEN TESTS
generator = torch.Generator().manual_seed(20)
for shape_q, shape_k in [((5, 8), (7, 8)), ((2, 3, 6, 16), (2, 3, 4, 16)), ((3, 64), (9, 64))]:
    q = torch.randn(shape_q, generator=generator, dtype=torch.float64)
    k = torch.randn(shape_k, generator=generator, dtype=torch.float64)
    d_k, t_q = shape_q[-1], shape_q[-2]
    raw = torch.einsum("...id,...jd->...ij", q, k)
    expect_close(
        attention_scores(q, k),
        raw / math.sqrt(d_k),
        f"scores for q of shape {shape_q} and k of shape {shape_k}",
        mistakes={
            "your scores equal QKᵀ: you forgot to divide by √d_k": raw,
            "your scores equal QKᵀ/d_k: divide by √d_k, not by d_k": raw / d_k,
            "you divided by √T_q: d_k is the size of the LAST dimension of q": raw / math.sqrt(t_q),
        },
    )
passed("scores equal QKᵀ/√d_k on random inputs")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_attention_scores_shapes", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
try:
    batched = attention_scores(torch.randn(2, 3, 5, 8), torch.randn(2, 3, 7, 8))
except NotImplementedError:
    raise
except RuntimeError as error:
    raise AssertionError(
        f"attention_scores failed for q (2, 3, 5, 8) and k (2, 3, 7, 8): {error}. "
        "Transpose only the last two dimensions of k: k.transpose(-2, -1)"
    ) from None
expect_shape(batched, (2, 3, 5, 7), "scores for q (2, 3, 5, 8) and k (2, 3, 7, 8)")
expect_shape(attention_scores(torch.randn(1, 8), torch.randn(1, 8)), (1, 1), "scores of one token")
passed("scores have shape (..., T_q, T_k)")
### BEGIN HIDDEN TESTS
generator = torch.Generator().manual_seed(21)
q = torch.randn(4, 1, 3, 5, generator=generator, dtype=torch.float64, requires_grad=True)
k = torch.randn(4, 2, 6, 5, generator=generator, dtype=torch.float64, requires_grad=True)
scores = attention_scores(q, k)
expect_shape(scores, (4, 2, 3, 6), "scores for q (4, 1, 3, 5) and k (4, 2, 6, 5), which broadcast")
expect_close(scores, (q @ k.mT / math.sqrt(5)).detach(), "float64 scores with broadcast batch dims")
upstream = torch.randn(4, 2, 3, 6, generator=generator, dtype=torch.float64)
grad_q, grad_k = torch.autograd.grad((scores * upstream).sum(), (q, k))
expect_close(
    grad_q,
    (upstream @ k / math.sqrt(5)).sum(1, keepdim=True).detach(),
    "gradient of the scores with respect to q",
)
expect_close(grad_k, (upstream.mT @ q / math.sqrt(5)).detach(), "gradient of the scores with respect to k")
passed("broadcast batch dimensions, float64 and gradients")
### END HIDDEN TESTS

# %% [markdown]
# **A worked example.** Three tokens, $d_k = 4$. Check the first row by hand:
# $q_{rose} = (1, 0, 1, 0)$ meets $k_{rose} = (2, 0, 0, 0)$, $k_{is} = (0, 1, 0, 1)$ and
# $k_{flower} = (1, 0, 1, 0)$: the dot products are $2, 0, 2$, and $\sqrt{4} = 2$ turns them
# into $1, 0, 1$. "rose" finds itself and "flower" equally relevant, "is" not at all.

# %%
tokens = ["rose", "is", "flower"]
q = torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 2.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])  # (3, 4)
k = torch.tensor([[2.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 1.0], [1.0, 0.0, 1.0, 0.0]])  # (3, 4)
example_scores = attention_scores(q, k)  # (3, 3)
for token, row in zip(tokens, example_scores.tolist(), strict=True):
    print(f"{token:>7} →", "  ".join(f"{key}: {s:+.1f}" for key, s in zip(tokens, row, strict=True)))

# %% [markdown]
# ## 2. A softmax that does not overflow
#
# The softmax turns one row of scores into weights that are positive and sum to one:
#
# $$\mathrm{softmax}(x)_i = \frac{e^{x_i}}{\sum_j e^{x_j}}.$$
#
# Written this way it breaks on large inputs: in float32, $e^{x}$ is `inf` for any
# $x > 88.7$, and $\infty / \infty$ is `nan`. The fix costs nothing, because subtracting the
# same constant $c$ from every $x_j$ does not change the result — $e^{-c}$ cancels:
#
# $$\frac{e^{x_i - c}}{\sum_j e^{x_j - c}}
#   = \frac{e^{-c}\, e^{x_i}}{e^{-c} \sum_j e^{x_j}}
#   = \frac{e^{x_i}}{\sum_j e^{x_j}}.$$
#
# Choose $c = \max_j x_j$: the largest exponent becomes $e^0 = 1$, nothing overflows, and the
# sum is at least 1, so nothing divides by zero. Take the maximum of each slice along `dim`
# (`x.amax(dim=dim, keepdim=True)`), not of the whole tensor: one maximum for all rows would
# push rows far below it to $e^{-\infty} = 0$ everywhere, and $0/0$.
#
# One more case matters for section 3: a slice that is entirely $-\infty$ (a query whose every
# key is masked). Its maximum is $-\infty$ and $-\infty - (-\infty)$ is `nan`. The course's
# rule, the same as PyTorch's `F.scaled_dot_product_attention`: such a slice gets **all-zero
# weights**. (Hint: where the maximum is not finite, subtract 0 instead; then guard the sum.)
#
# Write `softmax` with tensor arithmetic (`exp`, `sum`, `amax`, ...): `torch.softmax` and its
# relatives are what you are rebuilding, and the hidden tests refuse them.

# %% nbgrader={"grade": false, "grade_id": "softmax", "locked": false, "schema_version": 3, "solution": true, "task": false}
def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Softmax along ``dim``, stable for large inputs.

    Subtracting the maximum leaves the result unchanged (it cancels in the ratio)
    and keeps ``exp`` from overflowing. A slice that is entirely -inf (every key
    masked) gets all-zero weights rather than NaN, as PyTorch's fused attention does.

    Shape:
        x: any shape; output: the same.
    """
    ### BEGIN SOLUTION
    peak = x.amax(dim=dim, keepdim=True)
    # An all -inf slice has peak -inf; subtracting it would give nan.
    peak = torch.where(torch.isfinite(peak), peak, torch.zeros_like(peak))
    e = torch.exp(x - peak)
    # An all -inf slice sums to 0: dividing by the tiniest positive number gives 0, not nan.
    return e / e.sum(dim=dim, keepdim=True).clamp_min(torch.finfo(e.dtype).tiny)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_softmax_values", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
x = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0], [3.0, 1.0, 0.0]])
weights = softmax(x)
expect_shape(weights, (3, 3), "softmax of a (3, 3) tensor")
expect_close(
    weights,
    torch.softmax(x, dim=-1),
    "softmax of a (3, 3) tensor",
    mistakes={
        "your weights sum to one down each column: take the softmax over the "
        "last dimension (keys), or the `dim` you are given": torch.softmax(x, dim=0)
    },
)
expect_close(weights.sum(dim=-1), torch.ones(3), "sums of the rows of the weights")
passed("softmax of a small tensor, rows sum to one")
### BEGIN HIDDEN TESTS
from transformer_course import attention as reference
from transformer_course.checks import from_scratch

inf = float("inf")

generator = torch.Generator().manual_seed(22)
x = torch.randn(4, 5, 6, generator=generator, dtype=torch.float64) * 3
untouched = x.clone()
for dim in (-1, 0, 1, -2):
    with from_scratch(
        "softmax",
        reference=[reference.softmax],
        torch_functions=["softmax", "log_softmax", "special_softmax", "_softmax", "special_log_softmax"],
    ):
        weights = softmax(x, dim=dim)
    mistakes = (
        {
            f"your softmax ignores `dim`: with dim={dim}, reduce along dimension {dim}": torch.softmax(
                x, dim=-1
            )
        }
        if dim != -1
        else {}
    )
    mistakes["your weights sum to one along the wrong dimension: reduce along `dim`"] = torch.softmax(
        x, dim=-2 if dim in (-1, 2) else -1
    )
    expect_close(
        weights,
        torch.softmax(x, dim=dim),
        f"float64 softmax of a (4, 5, 6) tensor, dim={dim}",
        mistakes=mistakes,
    )
if not torch.equal(x, untouched):
    raise AssertionError("softmax changed its input: avoid in-place operations (x -= ..., x.sub_)")
x32 = torch.randn(7, 1, 9, generator=generator)
with from_scratch(
    "softmax",
    reference=[reference.softmax],
    torch_functions=["softmax", "log_softmax", "special_softmax", "_softmax", "special_log_softmax"],
):
    weights = softmax(x32, dim=-1)
    single = softmax(x32, dim=1)
expect_close(weights, torch.softmax(x32, dim=-1), "float32 softmax of a (7, 1, 9) tensor")
expect_close(single, torch.ones(7, 1, 9), "softmax over a dimension of size 1 (every weight is 1)")
passed("float64, float32, every dim, from scratch")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_softmax_stable", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
x = torch.tensor([[1000.0, 1001.0, 1002.0], [-1000.0, -1001.0, -1002.0]])
weights = softmax(x)
if not torch.isfinite(weights).all():
    raise AssertionError(
        "softmax of rows around ±1000 gave nan or inf: exp overflows (or every "
        "term underflows to 0). Subtract each slice's maximum, "
        "x.amax(dim, keepdim=True), before exp."
    )
expect_close(weights, torch.softmax(x, dim=-1), "softmax of rows around ±1000")
inf = float("inf")
masked = softmax(torch.tensor([[0.0, -inf, 1.0], [-inf, -inf, -inf]]))
if torch.isnan(masked).any():
    raise AssertionError(
        "softmax of a row that is entirely -inf gave nan: where the maximum is "
        "not finite subtract 0 instead, and keep the sum from being 0."
    )
expect_close(
    masked,
    torch.tensor([[0.2689414, 0.0, 0.7310586], [0.0, 0.0, 0.0]]),
    "softmax of [0, -inf, 1] and of an all -inf row (expected zeros)",
)
passed("large inputs and -inf entries")
### BEGIN HIDDEN TESTS
from transformer_course import attention as reference
from transformer_course.checks import from_scratch

inf = float("inf")

forbidden = dict(
    reference=[reference.softmax],
    torch_functions=["softmax", "log_softmax", "special_softmax", "_softmax", "special_log_softmax"],
)
generator = torch.Generator().manual_seed(23)
offsets = torch.tensor([-3000.0, -1000.0, 0.0, 50.0, 1000.0, 3000.0], dtype=torch.float64)
for dtype in (torch.float64, torch.float32):
    x = (torch.randn(6, 10, generator=generator, dtype=torch.float64) * 5 + offsets[:, None]).to(dtype)
    for dim, data in ((-1, x), (0, x.T.contiguous())):
        with from_scratch("softmax", **forbidden):
            weights = softmax(data, dim=dim)
        if not torch.isfinite(weights).all():
            raise AssertionError(
                f"{dtype} softmax of slices around -3000 ... 3000 gave nan or inf: "
                "subtract each slice's OWN maximum, x.amax(dim, keepdim=True)."
            )
        expect_close(
            weights,
            torch.softmax(data, dim=dim),
            f"{dtype} softmax of slices around -3000 ... 3000, dim={dim}",
        )
x = torch.randn(3, 4, 5, generator=generator, dtype=torch.float64) * 10
x = x.masked_fill(torch.rand(3, 4, 5, generator=generator) < 0.4, -inf)
x[:, :, 0] = torch.randn(3, 4, generator=generator, dtype=torch.float64)  # a finite entry per row
x[1, 2, :] = -inf  # one row entirely -inf
x[2, :, 3] = -inf  # one column entirely -inf, seen along dim=1
for dim in (-1, 1):
    with from_scratch("softmax", **forbidden):
        weights = softmax(x, dim=dim)
    expected = torch.softmax(x, dim=dim).nan_to_num(0.0)
    if torch.isnan(weights).any():
        raise AssertionError(
            f"softmax along dim={dim} of a tensor with all -inf slices gave nan: "
            "such a slice must give zeros."
        )
    expect_close(weights, expected, f"softmax along dim={dim} of a tensor with -inf entries")
passed("numerically stable: large values, per-slice maxima, -inf entries, all -inf slices")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_softmax_gradients", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
x = torch.tensor([[0.5, -1.0, 2.0], [1.0, 1.0, 0.0]], requires_grad=True)
softmax(x)[:, 0].sum().backward()
if x.grad is None:
    raise AssertionError(
        "no gradient reached the input of softmax: build it from torch "
        "operations on x (no .item(), .numpy() or torch.tensor(...) of results)"
    )
x_oracle = x.detach().clone().requires_grad_()
torch.softmax(x_oracle, dim=-1)[:, 0].sum().backward()
expect_close(x.grad, x_oracle.grad, "gradient of the first weight of each row")
passed("gradients flow through softmax")
### BEGIN HIDDEN TESTS
from transformer_course import attention as reference
from transformer_course.checks import from_scratch

inf = float("inf")

forbidden = dict(
    reference=[reference.softmax],
    torch_functions=["softmax", "log_softmax", "special_softmax", "_softmax", "special_log_softmax"],
)
generator = torch.Generator().manual_seed(24)
for dim in (-1, 1):
    x = torch.randn(2, 3, 4, generator=generator, dtype=torch.float64, requires_grad=True)
    with from_scratch("softmax", **forbidden):
        if not torch.autograd.gradcheck(
            lambda t, d=dim: softmax(t, dim=d), (x,), fast_mode=True, raise_exception=False
        ):
            raise AssertionError(
                f"softmax along dim={dim}: its autograd gradient does not match "
                "the numerical gradient. Use differentiable torch operations."
            )
x = torch.randn(4, 7, generator=generator, dtype=torch.float64) * 5 + 500
x[1, 2:] = -inf
x = x.requires_grad_()
upstream = torch.randn(4, 7, generator=generator, dtype=torch.float64)
with from_scratch("softmax", **forbidden):
    (grad,) = torch.autograd.grad((softmax(x) * upstream).sum(), x)
x_oracle = x.detach().clone().requires_grad_()
(expected,) = torch.autograd.grad((torch.softmax(x_oracle, dim=-1) * upstream).sum(), x_oracle)
expect_close(grad, expected, "float64 gradient of softmax at values around 500, with -inf entries")
passed("gradients match PyTorch's (gradcheck, large values, -inf entries)")
### END HIDDEN TESTS

# %% [markdown]
# **Yours against the textbook formula.** On the same three large numbers the formula as
# written returns `nan`; yours returns what PyTorch's own softmax returns. The weights of the
# worked example follow: "rose" splits its attention between itself and "flower".

# %%
x = torch.tensor([1000.0, 1001.0, 1002.0])
print("e^x / Σ e^x :", torch.exp(x) / torch.exp(x).sum())
print("yours       :", softmax(x))
print("torch       :", torch.softmax(x, dim=-1))
print("\nweights of the worked example:\n", softmax(example_scores).round(decimals=3))

# %% [markdown]
# ## 3. Scaled dot-product attention
#
# $$\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{QK^T}{\sqrt{d_k}}\right) V$$
#
# Row $i$ of the weights says how much query $i$ takes from each key; multiplying by $V$
# (shape $(T_k, d_v)$) mixes the value vectors with those weights, so the output has shape
# $(T_q, d_v)$. Return both: `(output, weights)`.
#
# **The mask.** A boolean `mask` is **True where attention is allowed** (PyTorch's rule in
# `F.scaled_dot_product_attention`). It broadcasts against the scores $(\dots, T_q, T_k)$: a
# $(T_q, T_k)$ mask applies to every batch element, a $(B, 1, 1, T_k)$ mask hides keys (padding)
# per batch element. Set the blocked scores to $-\infty$ **before** the softmax
# (`scores.masked_fill(~mask, float("-inf"))`): $e^{-\infty} = 0$, so blocked keys get exactly
# zero weight and the allowed ones still sum to one. The notes say the same for the decoder:
# "정보의 유출을 막기 위해 $-\infty$ 로 값 변경" (set to $-\infty$ to stop information leaking).
#
# A float mask of 0 and $-\infty$ added to the scores is a different convention; to keep the
# two from being confused, raise a `TypeError` that says so when `mask` is not boolean.

# %% nbgrader={"grade": false, "grade_id": "scaled_dot_product_attention", "locked": false, "schema_version": 3, "solution": true, "task": false}
def scaled_dot_product_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(QKᵀ / √d_k) V, with an optional boolean mask.

    Args:
        mask: boolean, True where attention is allowed; broadcasts against the
            scores (..., T_q, T_k). Masked scores become -inf before the softmax.

    Shape:
        q: (..., T_q, d_k); k: (..., T_k, d_k); v: (..., T_k, d_v).
        output: (..., T_q, d_v); weights: (..., T_q, T_k).
    """
    ### BEGIN SOLUTION
    scores = attention_scores(q, k)  # (..., T_q, T_k)
    if mask is not None:
        if mask.dtype != torch.bool:
            raise TypeError(
                f"mask must be a boolean tensor, True where attention is allowed; got {mask.dtype}. "
                "An additive float mask (0 / -inf) is a different convention: use mask == 0 to convert."
            )
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = softmax(scores, dim=-1)  # (..., T_q, T_k)
    return weights @ v, weights  # (..., T_q, T_k) @ (..., T_k, d_v) -> (..., T_q, d_v)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_scaled_dot_product_attention_values", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
generator = torch.Generator().manual_seed(30)
q, k, v = (torch.randn(2, t, d, generator=generator) for t, d in ((5, 8), (7, 8), (7, 3)))
result = scaled_dot_product_attention(q, k, v)
if not (isinstance(result, tuple) and len(result) == 2):
    raise AssertionError("scaled_dot_product_attention must return a pair: (output, weights)")
output, weights = result
if tuple(output.shape) == (2, 5, 7) and tuple(weights.shape) == (2, 5, 3):
    raise AssertionError("you returned (weights, output): return (output, weights), in that order")
expect_shape(output, (2, 5, 3), "output for q (2, 5, 8), k (2, 7, 8), v (2, 7, 3)")
expect_shape(weights, (2, 5, 7), "weights for q (2, 5, 8), k (2, 7, 8)")
raw = q @ k.mT  # (2, 5, 7)
expect_close(
    weights,
    torch.softmax(raw / 8**0.5, dim=-1),
    "weights",
    mistakes={
        "your weights sum to one down each column: take the softmax over the last "
        "dimension (keys)": torch.softmax(raw / 8**0.5, dim=-2),
        "your weights are softmax(QKᵀ): divide the scores by √d_k": torch.softmax(raw, dim=-1),
    },
)
expect_close(
    output,
    F.scaled_dot_product_attention(q, k, v),
    "output",
    mistakes={
        "your output is unscaled softmax(QKᵀ)V: divide the scores by √d_k": F.scaled_dot_product_attention(
            q, k, v, scale=1.0
        )
    },
)
passed("output and weights match F.scaled_dot_product_attention")
### BEGIN HIDDEN TESTS
from transformer_course import attention as reference
from transformer_course.checks import from_scratch

inf = float("inf")

forbidden = dict(
    reference=[reference.attention_scores, reference.softmax, reference.scaled_dot_product_attention],
    torch_functions=["scaled_dot_product_attention", "multi_head_attention_forward"],
)
generator = torch.Generator().manual_seed(31)
cases = [
    ((1, 4), (1, 4), (1, 4)),  # one token
    ((3, 6, 16), (3, 9, 16), (3, 9, 5)),  # T_q != T_k, d_v != d_k
    ((2, 3, 5, 8), (2, 3, 4, 8), (2, 3, 4, 11)),  # (B, h, T, d)
    ((2, 1, 2, 1, 32), (2, 1, 2, 7, 32), (2, 1, 2, 7, 2)),
]  # T_q = 1, more batch dims
for shape_q, shape_k, shape_v in cases:
    q, k, v = (
        torch.randn(s, generator=generator, dtype=torch.float64) * 2 for s in (shape_q, shape_k, shape_v)
    )
    d_k = shape_q[-1]
    with from_scratch("scaled_dot_product_attention", **forbidden):
        output, weights = scaled_dot_product_attention(q, k, v)
    what = f"float64 attention for q {shape_q}, k {shape_k}, v {shape_v}"
    raw = q @ k.mT
    expect_close(
        weights,
        torch.softmax(raw / math.sqrt(d_k), dim=-1),
        f"weights of the {what}",
        mistakes={
            "your weights are softmax(QKᵀ): divide the scores by √d_k": torch.softmax(raw, -1),
            "your weights are softmax(QKᵀ/d_k): divide by √d_k, not d_k": torch.softmax(raw / d_k, -1),
            "your weights sum to one down each column: take the softmax over the last "
            "dimension (keys)": torch.softmax(raw / math.sqrt(d_k), -2),
        },
    )
    expect_close(
        output,
        F.scaled_dot_product_attention(q, k, v),
        f"output of the {what}",
        mistakes={
            "your output is softmax(QKᵀ)V: divide the scores by √d_k": F.scaled_dot_product_attention(
                q, k, v, scale=1.0
            ),
            "your output is softmax(QKᵀ/d_k)V: divide by √d_k, not d_k": F.scaled_dot_product_attention(
                q, k, v, scale=1 / d_k
            ),
        },
    )
passed("float64, T=1, T_q≠T_k, d_v≠d_k, extra batch dims, from scratch")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_scaled_dot_product_attention_mask", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
generator = torch.Generator().manual_seed(32)
q, k, v = (torch.randn(4, 6, generator=generator) for _ in range(3))
causal = torch.ones(4, 4, dtype=torch.bool).tril()  # query i may look at keys 0..i
output, weights = scaled_dot_product_attention(q, k, v, mask=causal)
if (weights.tril(-1) == 0).all() and (weights.triu(1) != 0).any():
    raise AssertionError(
        "your mask works the wrong way round: True means attention is ALLOWED, "
        "so fill the scores where the mask is False (~mask) with -inf"
    )
if not (weights.triu(1) == 0).all():
    raise AssertionError(
        "masked keys (mask False) must get exactly zero weight: set their scores "
        "to -inf before the softmax, so that exp(-inf) = 0"
    )
scores = q @ k.T / 6**0.5  # (4, 4)
expect_close(
    weights,
    torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1),
    "weights with a look-ahead mask",
    mistakes={
        "your rows no longer sum to one: mask the scores (with -inf) BEFORE the "
        "softmax, not the weights after it": torch.softmax(scores, dim=-1) * causal,
        "you filled masked scores with 0, which still gets weight: fill with -inf": torch.softmax(
            scores.masked_fill(~causal, 0.0), dim=-1
        ),
    },
)
expect_close(
    output, F.scaled_dot_product_attention(q, k, v, attn_mask=causal), "output with a look-ahead mask"
)
expect_raises(
    TypeError,
    lambda: scaled_dot_product_attention(q, k, v, mask=causal.float()),
    "a float mask (check mask.dtype and raise TypeError when it is not torch.bool)",
)
passed("a look-ahead mask blocks the future; a float mask raises TypeError")
### BEGIN HIDDEN TESTS
from transformer_course import attention as reference
from transformer_course.checks import from_scratch

inf = float("inf")

forbidden = dict(
    reference=[reference.attention_scores, reference.softmax, reference.scaled_dot_product_attention],
    torch_functions=["scaled_dot_product_attention", "multi_head_attention_forward"],
)
generator = torch.Generator().manual_seed(33)


def weights_oracle(q, k, allowed, scale):
    scores = (q @ k.mT * scale).masked_fill(~allowed, -inf)
    return torch.softmax(scores, dim=-1).nan_to_num(0.0)


B, h, t_q, t_k, d_k, d_v = 3, 2, 5, 6, 8, 4
q = torch.randn(B, h, t_q, d_k, generator=generator, dtype=torch.float64) * 2
k = torch.randn(B, h, t_k, d_k, generator=generator, dtype=torch.float64) * 2
v = torch.randn(B, h, t_k, d_v, generator=generator, dtype=torch.float64)
square = torch.rand(t_q, t_k, generator=generator) < 0.6
square[:, 0] = True  # every query keeps at least one key
padding = torch.ones(B, 1, 1, t_k, dtype=torch.bool)
padding[0, ..., 4:] = False
padding[2, ..., 1:3] = False
for name, mask in (("a (T_q, T_k) mask", square), ("a (B, 1, 1, T_k) padding mask", padding)):
    with from_scratch("scaled_dot_product_attention", **forbidden):
        output, weights = scaled_dot_product_attention(q, k, v, mask=mask)
    expect_shape(weights, (B, h, t_q, t_k), f"weights with {name}")
    allowed = mask.expand(B, h, t_q, t_k)
    if not (weights[~allowed] == 0).all():
        raise AssertionError(
            f"with {name}, keys the mask blocks (False) got nonzero weight: set "
            "their scores to -inf before the softmax (True means allowed)"
        )
    scale = 1 / math.sqrt(d_k)
    unmasked = torch.softmax(q @ k.mT * scale, dim=-1)
    expect_close(
        weights,
        weights_oracle(q, k, allowed, scale),
        f"float64 weights with {name}",
        mistakes={
            "you blocked the keys where the mask is True: True means attention is "
            "ALLOWED, fill where ~mask": weights_oracle(q, k, ~allowed, scale),
            "your weights are masked after the softmax, so rows no longer sum to one: "
            "set masked scores to -inf BEFORE the softmax": unmasked * allowed,
            "you filled masked scores with 0, which still gets weight: fill with -inf": torch.softmax(
                (q @ k.mT * scale).masked_fill(~allowed, 0.0), -1
            ),
        },
    )
    expect_close(
        output, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), f"float64 output with {name}"
    )
expect_raises(
    TypeError,
    lambda: scaled_dot_product_attention(q, k, v, mask=square.long()),
    "a 0/1 integer mask (raise TypeError unless mask.dtype is torch.bool)",
)
expect_raises(
    TypeError,
    lambda: scaled_dot_product_attention(
        q, k, v, mask=torch.zeros(t_q, t_k, dtype=torch.float64).masked_fill(~square, -inf)
    ),
    "an additive float mask (raise TypeError unless mask.dtype is torch.bool)",
)
passed("broadcast masks: (T_q, T_k) and (B, 1, 1, T_k); masked keys get exactly zero weight")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_scaled_dot_product_attention_fully_masked", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
generator = torch.Generator().manual_seed(34)
q, k, v = (torch.randn(3, 5, generator=generator) for _ in range(3))
mask = torch.tensor([[True, False, True], [False, False, False], [True, True, True]])
output, weights = scaled_dot_product_attention(q, k, v, mask=mask)
if torch.isnan(weights).any():
    raise AssertionError(
        "a query whose keys are ALL masked got nan weights: its weights must be "
        "zeros (fix softmax for all -inf rows)"
    )
expect_close(
    weights[1],
    torch.zeros(3),
    "weights of a query whose keys are all masked",
    mistakes={
        "a query whose keys are all masked got uniform weights: fill masked "
        "scores with -inf (not a large negative number), and let softmax turn an "
        "all -inf row into zeros": torch.full((3,), 1 / 3)
    },
)
expect_close(
    output,
    F.scaled_dot_product_attention(q, k, v, attn_mask=mask),
    "output with one query fully masked (expected a zero row, as PyTorch gives)",
)
passed("a fully masked query gets zero weights and a zero output")
### BEGIN HIDDEN TESTS
generator = torch.Generator().manual_seed(35)
q = torch.randn(3, 2, 4, 8, generator=generator, dtype=torch.float64, requires_grad=True)
k = torch.randn(3, 2, 6, 8, generator=generator, dtype=torch.float64, requires_grad=True)
v = torch.randn(3, 2, 6, 5, generator=generator, dtype=torch.float64, requires_grad=True)
padding = torch.ones(3, 1, 1, 6, dtype=torch.bool)
padding[1] = False  # a sequence that is padding only
padding[2, ..., 3:] = False
output, weights = scaled_dot_product_attention(q, k, v, mask=padding)
if torch.isnan(weights).any() or torch.isnan(output).any():
    raise AssertionError("a sequence whose keys are all padding gave nan: its weights must be zeros")
expect_close(
    weights[1], torch.zeros(2, 4, 6, dtype=torch.float64), "float64 weights of a sequence that is all padding"
)
expect_close(
    output,
    F.scaled_dot_product_attention(q, k, v, attn_mask=padding),
    "float64 output with one sequence fully padded",
)
grads = torch.autograd.grad(output.sum(), (q, k, v))
if not all(torch.isfinite(g).all() for g in grads):
    raise AssertionError(
        "gradients are nan when a query's keys are all masked: compute the softmax "
        "without 0/0 or inf - inf anywhere"
    )
passed("fully padded sequence: zero weights, zero output, finite gradients")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_scaled_dot_product_attention_gradients", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
generator = torch.Generator().manual_seed(36)
q, k, v = (torch.randn(2, 3, 4, generator=generator, requires_grad=True) for _ in range(3))
output, _ = scaled_dot_product_attention(q, k, v)
grads = torch.autograd.grad(output.sum(), (q, k, v), allow_unused=True)
for name, grad in zip("qkv", grads, strict=True):
    if grad is None:
        raise AssertionError(f"no gradient reached {name}: compute with torch operations only")
oracle = [t.detach().clone().requires_grad_() for t in (q, k, v)]
expected = torch.autograd.grad(F.scaled_dot_product_attention(*oracle).sum(), oracle)
for name, grad, want in zip("qkv", grads, expected, strict=True):
    expect_close(grad, want, f"gradient with respect to {name}")
passed("gradients with respect to q, k and v")
### BEGIN HIDDEN TESTS
generator = torch.Generator().manual_seed(37)
q = torch.randn(2, 3, 5, 8, generator=generator, dtype=torch.float64, requires_grad=True)
k = torch.randn(2, 3, 7, 8, generator=generator, dtype=torch.float64, requires_grad=True)
v = torch.randn(2, 3, 7, 6, generator=generator, dtype=torch.float64, requires_grad=True)
mask = torch.rand(5, 7, generator=generator) < 0.5
mask[:, 2] = True
upstream = torch.randn(2, 3, 5, 6, generator=generator, dtype=torch.float64)
output, _ = scaled_dot_product_attention(q, k, v, mask=mask)
grads = torch.autograd.grad((output * upstream).sum(), (q, k, v))
oracle = [t.detach().clone().requires_grad_() for t in (q, k, v)]
expected = torch.autograd.grad(
    (F.scaled_dot_product_attention(*oracle, attn_mask=mask) * upstream).sum(), oracle
)
for name, grad, want in zip("qkv", grads, expected, strict=True):
    expect_close(grad, want, f"float64 gradient with respect to {name}, with a mask")
passed("float64 gradients with a mask match PyTorch's")
### END HIDDEN TESTS

# %% [markdown]
# **A picture.** The decoder of the notes reads "장미 는 꽃 이다" one word at a time, so each
# word may only look at itself and the words before it — a *look-ahead* mask, True on and below
# the diagonal (lesson 04 builds it properly). Left: the weights without a mask. Right: with it,
# every entry above the diagonal is exactly 0 and each row still sums to one.

# %%
words = ["장미", "는", "꽃", "이다"]
generator = torch.Generator().manual_seed(4)
q, k, v = (torch.randn(4, 8, generator=generator) * 1.5 for _ in range(3))  # each (T=4, d_k=8)
look_ahead = torch.ones(4, 4, dtype=torch.bool).tril()  # (T, T), True = allowed
_, free = scaled_dot_product_attention(q, k, v)
_, masked = scaled_dot_product_attention(q, k, v, mask=look_ahead)
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
attention_heatmap(free, words, words, ax=axes[0], title="마스크 없음 (no mask)")
attention_heatmap(masked, words, words, ax=axes[1], title="look-ahead 마스크 (masked)")
plt.tight_layout()
plt.show()
print("largest weight above the diagonal:", masked.triu(1).max().item())

# %% [markdown]
# ## 4. Why $\sqrt{d_k}$? An experiment
#
# Suppose the entries of $q$ and $k$ are independent, with mean 0 and variance 1 (the
# assumption the Transformer paper makes in its footnote on this point). The dot product is a sum of $d_k$ independent
# terms $q_i k_i$, each with mean 0 and variance $E[q_i^2]\,E[k_i^2] = 1$, so
#
# $$\operatorname{Var}(q \cdot k) = \sum_{i=1}^{d_k} \operatorname{Var}(q_i k_i) = d_k,
# \qquad \operatorname{Var}\!\left(\frac{q \cdot k}{\sqrt{d_k}}\right) = \frac{d_k}{d_k} = 1.$$
#
# Unscaled scores spread like $\sqrt{d_k}$: with $d_k = 1024$ a typical score is $\pm 32$, and
# a gap of 10 between the two largest scores already gives the best key $e^{10} \approx
# 22\,000$ times the weight of the runner-up. The softmax **saturates**: nearly all the weight lands on one key.
# That matters for learning, because the softmax's derivative is
#
# $$\frac{\partial w_i}{\partial s_j} = w_i(\delta_{ij} - w_j),$$
#
# which is 0 for every $i, j$ when $w$ is one-hot: the gradient that would teach the scores
# what to attend to never arrives. Dividing by $\sqrt{d_k}$ keeps the variance at 1 for every
# $d_k$; dividing by $d_k$, as the notes' sentence says, shrinks it to $1/d_k$.
#
# Claims like these are worth measuring. Write three small measuring functions; the cell after
# them runs the experiment. (They may use `torch.softmax`: your own has been checked already.)

# %% [markdown]
# **Spread.** `dot_product_variance(q, k)` takes $n$ pairs of vectors, row $i$ of `q` with
# row $i$ of `k`, and returns the sample variance of the $n$ dot products $q_i \cdot k_i$
# (`torch.var`'s default).

# %% nbgrader={"grade": false, "grade_id": "dot_product_variance", "locked": false, "schema_version": 3, "solution": true, "task": false}
def dot_product_variance(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Sample variance (torch.var's default) of the dot products q_i · k_i of n pairs.

    Args:
        q, k: n sampled vectors each; row i of ``q`` is paired with row i of ``k``.

    Shape:
        q: (n, d_k); k: (n, d_k).
        output: () a scalar tensor.
    """
    ### BEGIN SOLUTION
    return (q * k).sum(dim=-1).var()  # (n, d_k) -> (n,) -> ()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_dot_product_variance", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
q = torch.tensor([[1.0, 2.0], [0.0, 1.0], [2.0, 2.0]])
k = torch.tensor([[1.0, 1.0], [3.0, 0.0], [2.0, -2.0]])
expect_close(
    torch.as_tensor(dot_product_variance(q, k)).float(),
    torch.tensor(3.0),
    "variance of the dot products 3, 0, 0 (mean 1; (4 + 1 + 1) / (3 - 1) = 3)",
    mistakes={
        "you took the variance of the elementwise products: sum over d_k first "
        "(that sum is the dot product)": (q * k).var(),
        "you returned the standard deviation: return the variance": torch.tensor(3**0.5),
    },
)
generator = torch.Generator().manual_seed(40)
variance = float(
    dot_product_variance(
        torch.randn(4000, 64, generator=generator), torch.randn(4000, 64, generator=generator)
    )
)
if not 0.85 * 64 < variance < 1.15 * 64:
    raise AssertionError(f"for d_k = 64 the variance of q·k should be close to 64, got {variance:.3g}")
passed("variance of the dot products")
### BEGIN HIDDEN TESTS
generator = torch.Generator().manual_seed(41)
for n, d_k in ((2000, 5), (1500, 300)):
    q = torch.randn(n, d_k, generator=generator, dtype=torch.float64)
    k = torch.randn(n, d_k, generator=generator, dtype=torch.float64)
    dots = torch.einsum("nd,nd->n", q, k)
    expected = dots.var()
    expect_close(
        torch.as_tensor(dot_product_variance(q, k), dtype=torch.float64),
        expected,
        f"variance of {n} dot products, d_k = {d_k}",
        rtol=2e-3,
        mistakes={
            "you took the variance of the elementwise products: sum over d_k first": (q * k).var(),
            "you returned the standard deviation: return the variance": expected.sqrt(),
            "measure the raw dot products q·k, without dividing by √d_k": expected / d_k,
            "you took the variance of every pair q_i·k_j: pair row i of q with row i of k only": (
                q @ k.T
            ).var(),
        },
    )
passed("variance of float64 dot products for other n and d_k")
### END HIDDEN TESTS

# %% [markdown]
# **Saturation.** `max_weight(scores)` applies the softmax over the keys and returns each
# row's largest weight, averaged over all rows: $1/T_k$ for uniform rows, 1 when every row
# gives all its weight to one key.

# %% nbgrader={"grade": false, "grade_id": "max_weight", "locked": false, "schema_version": 3, "solution": true, "task": false}
def max_weight(scores: torch.Tensor) -> torch.Tensor:
    """How saturated the softmax is: each row's largest weight, averaged over all rows.

    1 / T_k means every row is uniform; 1 means every row gives all its weight to one key.

    Shape:
        scores: (..., T_q, T_k).
        output: () a scalar tensor.
    """
    ### BEGIN SOLUTION
    weights = torch.softmax(scores, dim=-1)  # (..., T_q, T_k)
    return weights.amax(dim=-1).mean()  # (..., T_q) -> ()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_max_weight", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
expect_close(
    torch.as_tensor(max_weight(torch.zeros(2, 3, 4))).float(),
    torch.tensor(0.25),
    "max_weight of uniform rows over 4 keys",
)
expect_close(
    torch.as_tensor(max_weight(torch.tensor([[50.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))).float(),
    torch.tensor((1 + 1 / 3) / 2),
    "max_weight of a saturated row and a uniform row",
    mistakes={"you took the largest weight overall: average the rows' largest weights": torch.tensor(1.0)},
)
passed("max_weight of uniform and saturated rows")
### BEGIN HIDDEN TESTS
generator = torch.Generator().manual_seed(42)
scores = torch.randn(3, 5, 7, generator=generator, dtype=torch.float64) * 3
weights = torch.softmax(scores, dim=-1)
expect_close(
    torch.as_tensor(max_weight(scores), dtype=torch.float64),
    weights.amax(-1).mean(),
    "max_weight of float64 (3, 5, 7) scores",
    mistakes={
        "you took each column's largest weight: take the largest weight of each row (dim=-1)": weights.amax(
            -2
        ).mean(),
        "your softmax runs down the columns: weights are a softmax over the keys (dim=-1)": torch.softmax(
            scores, -2
        )
        .amax(-1)
        .mean(),
        "you took the largest weight overall: average the rows' largest weights": weights.max(),
        "you averaged the largest scores: apply the softmax first": scores.amax(-1).mean(),
    },
)
passed("max_weight of random float64 scores")
### END HIDDEN TESTS

# %% [markdown]
# **Gradient.** `score_gradient_norm(scores, upstream)` measures how much gradient gets
# through the softmax. Let $L = \sum w \odot u$, where $w$ = softmax(scores) over the keys and
# $u$ = `upstream` stands in for the gradient arriving at the weights from the layers above.
# Return the length $\lVert \partial L / \partial s \rVert$ of each row's gradient, averaged
# over all rows. Let autograd do the calculus: detach the scores, `requires_grad_()`, then
# `torch.autograd.grad(loss, scores)`.

# %% nbgrader={"grade": false, "grade_id": "score_gradient_norm", "locked": false, "schema_version": 3, "solution": true, "task": false}
def score_gradient_norm(scores: torch.Tensor, upstream: torch.Tensor) -> torch.Tensor:
    """How much gradient reaches the scores through the softmax.

    The loss is L = Σ softmax(scores) ⊙ upstream: ``upstream`` plays the gradient that
    arrives at the weights from the layers above. Returns the length ‖∂L/∂scores‖ of
    each row's gradient, averaged over all rows.

    Shape:
        scores: (..., T_q, T_k); upstream: the same.
        output: () a scalar tensor.
    """
    ### BEGIN SOLUTION
    scores = scores.detach().requires_grad_()
    loss = (torch.softmax(scores, dim=-1) * upstream).sum()
    (grad,) = torch.autograd.grad(loss, scores)  # (..., T_q, T_k)
    return grad.norm(dim=-1).mean()  # (..., T_q) -> ()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_score_gradient_norm", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# Two equal scores: w = (1/2, 1/2); with u = (1, -1), ∂L/∂s = w ⊙ (u - w·u) = (1/2, -1/2).
norm = score_gradient_norm(torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, -1.0]]))
expect_close(
    torch.as_tensor(norm).float(),
    torch.tensor(0.5**0.5),
    "gradient norm for scores (0, 0) and upstream (1, -1)",
    mistakes={
        "your norm is the norm of upstream, the gradient with respect to the "
        "weights: differentiate with respect to the scores": torch.tensor(2**0.5),
        "your gradient is zero: the loss must weight the softmax by upstream "
        "(the weights alone always sum to one)": torch.tensor(0.0),
    },
)
saturated = float(score_gradient_norm(torch.tensor([[60.0, 0.0, 0.0]]), torch.tensor([[1.0, -1.0, 2.0]])))
if not saturated < 1e-12:
    raise AssertionError(
        f"a saturated row (scores 60, 0, 0) should pass almost no gradient, got {saturated:.3g}"
    )
passed("gradient norms of a uniform and a saturated row")
### BEGIN HIDDEN TESTS
generator = torch.Generator().manual_seed(43)
scores = torch.randn(4, 6, 9, generator=generator, dtype=torch.float64) * 3
upstream = torch.randn(4, 6, 9, generator=generator, dtype=torch.float64)
w = torch.softmax(scores, dim=-1)
grad = w * (upstream - (w * upstream).sum(-1, keepdim=True))  # the softmax's Jacobian, by hand
expect_close(
    torch.as_tensor(score_gradient_norm(scores, upstream), dtype=torch.float64),
    grad.norm(dim=-1).mean(),
    "gradient norm for float64 (4, 6, 9) scores",
    mistakes={
        "your norm is the norm of upstream: differentiate with respect to the scores": upstream.norm(
            dim=-1
        ).mean(),
        "you took the norm of the whole gradient: average the norms of the rows": grad.norm(),
        "you averaged squared norms: take each row's length, ‖g‖ = sqrt(Σ g²)": grad.pow(2).sum(-1).mean(),
        "your gradient is zero: weight the softmax by upstream in the loss": torch.tensor(
            0.0, dtype=torch.float64
        ),
    },
)
passed("gradient norm matches the softmax's Jacobian")
### END HIDDEN TESTS

# %% [markdown]
# **The experiment.** For each $d_k$ from 4 to 1024: 4096 pairs of random $q, k$ with
# N(0, 1) entries; their variance; then 256 groups of 16 queries against 16 keys, with the
# scores divided by 1 (no scaling), by $\sqrt{d_k}$ (the formula) and by $d_k$ (the notes'
# sentence). A fixed seed makes the numbers the same on every run (about a second).

# %%
D_KS = (4, 16, 64, 256, 1024)
DIVISORS = {"none": lambda d_k: 1.0, "sqrt_d_k": math.sqrt, "d_k": float}  # scores = QKᵀ / divisor
NUM_PAIRS, T_K = 4096, 16

generator = torch.Generator().manual_seed(2)
measurements = {name: {"variance": [], "max_weight": [], "gradient_norm": []} for name in DIVISORS}
for d_k in D_KS:
    q = torch.randn(NUM_PAIRS, d_k, generator=generator)  # (n, d_k)
    k = torch.randn(NUM_PAIRS, d_k, generator=generator)  # (n, d_k)
    upstream = torch.randn(NUM_PAIRS // T_K, T_K, T_K, generator=generator)  # (G, T_q, T_k)
    # (G, T_q, d_k) @ (G, d_k, T_k) -> (G, T_q, T_k)
    raw_scores = q.view(-1, T_K, d_k) @ k.view(-1, T_K, d_k).mT
    for name, divisor in DIVISORS.items():
        c = divisor(d_k)
        measurements[name]["variance"].append(float(dot_product_variance(q, k / c)))
        measurements[name]["max_weight"].append(float(max_weight(raw_scores / c)))
        measurements[name]["gradient_norm"].append(float(score_gradient_norm(raw_scores / c, upstream)))

METRICS = ("variance", "max_weight", "gradient_norm")
print(f"{'d_k':>5} | " + " | ".join(f"{metric:^29}" for metric in METRICS))
print(
    f"{'':>5} | " + " | ".join(" ".join(f"{h:>9}" for h in ("QKᵀ", "QKᵀ/√d_k", "QKᵀ/d_k")) for _ in METRICS)
)
for i, d_k in enumerate(D_KS):
    cells = [" ".join(f"{measurements[name][metric][i]:9.3g}" for name in DIVISORS) for metric in METRICS]
    print(f"{d_k:>5} | " + " | ".join(cells))

# What training sees is the gradient at q (and so at W^Q), not at the scores: the division
# by c scales it once more, ∂L/∂q = (∂L/∂s) k / c. Per query row: its median over the rows,
# and the share of rows that get almost nothing (below 1e-3).
NO_GRADIENT = 1e-3
at_q = {name: {"median": [], "share_none": []} for name in DIVISORS}
generator = torch.Generator().manual_seed(3)
for d_k in D_KS:
    q = torch.randn(NUM_PAIRS // T_K, T_K, d_k, generator=generator, requires_grad=True)  # (G, T_q, d_k)
    k = torch.randn(NUM_PAIRS // T_K, T_K, d_k, generator=generator)  # (G, T_k, d_k)
    upstream = torch.randn(NUM_PAIRS // T_K, T_K, T_K, generator=generator)  # (G, T_q, T_k)
    for name, divisor in DIVISORS.items():
        loss = (torch.softmax(q @ k.mT / divisor(d_k), dim=-1) * upstream).sum()  # (G, T_q, T_k) -> ()
        (grad_q,) = torch.autograd.grad(loss, q)  # (G, T_q, d_k)
        rows = grad_q.norm(dim=-1)  # (G, T_q)
        at_q[name]["median"].append(float(rows.median()))
        at_q[name]["share_none"].append(float((rows < NO_GRADIENT).float().mean()))
print(f"\nat q, per row: {'d_k':>5} " + " ".join(f"{h:>22}" for h in ("QKᵀ", "QKᵀ/√d_k", "QKᵀ/d_k")))
for i, d_k in enumerate(D_KS):
    cells = [f"{at_q[name]['median'][i]:9.2g} ({at_q[name]['share_none'][i]:4.0%} none)" for name in DIVISORS]
    print(f"{'':>15}{d_k:>5} " + " ".join(f"{c:>22}" for c in cells))

# %%
fig, axes = plt.subplots(1, 4, figsize=(20, 4))
labels = {"none": "$QK^T$", "sqrt_d_k": r"$QK^T/\sqrt{d_k}$", "d_k": "$QK^T/d_k$"}
panels = (
    ("variance", "점수의 분산 (variance of the scores)", "log"),
    ("max_weight", "가장 큰 가중치의 평균 (mean max weight)", "linear"),
    ("median", r"q 의 기울기, 중앙값 (median $\|\partial L/\partial q\|$ per row)", "log"),
    ("share_none", f"기울기가 거의 없는 행 (share of rows below {NO_GRADIENT:g})", "linear"),
)
for ax, (metric, title, yscale) in zip(axes, panels, strict=True):
    for name, style in zip(DIVISORS, ("o-", "s-", "^--"), strict=True):
        values = at_q[name][metric] if metric in at_q[name] else measurements[name][metric]
        ax.plot(D_KS, values, style, label=labels[name])
    ax.set_xscale("log", base=2)
    ax.set_xticks(D_KS, [str(d_k) for d_k in D_KS])
    ax.set_yscale(yscale)
    # Plain labels: matplotlib's log labels (10⁻¹) need a minus sign the Hangul font lacks.
    ax.yaxis.set_major_formatter(lambda y, _: f"{y:g}")
    ax.yaxis.set_minor_formatter(lambda y, _: "")
    ax.set_xlabel("$d_k$")
    ax.set_title(title)
axes[0].plot(D_KS, D_KS, ":", color="gray", label="$d_k$")
axes[1].axhline(1 / T_K, color="gray", linestyle=":", label="uniform $1/T_k$")
axes[0].legend(loc="upper left")
axes[1].legend(loc="center right")
axes[3].set_ylim(-0.02, 1.02)
axes[3].legend(loc="upper left")
plt.tight_layout()
plt.show()

# %% [markdown]
# **What the measurements say.**
#
# - *Variance.* The raw dot products' variance follows the gray line $d_k$; after dividing by
#   $\sqrt{d_k}$ it stays at 1 for every $d_k$; after dividing by $d_k$ it falls as $1/d_k$.
# - *Saturation.* Without scaling the largest weight climbs toward 1 as $d_k$ grows (about
#   0.96 at $d_k = 1024$): attention becomes a hard choice of one key. With $\sqrt{d_k}$ it
#   stays put, about 0.25 whatever $d_k$. With $d_k$ it sinks to the uniform $1/16$: every key
#   gets the same weight, and the scores no longer say anything about relevance.
# - *Gradient.* The table's last columns measure the gradient at the scores; what trains
#   $W^Q$ is the gradient at $q$, which the division scales once more. The last two panels
#   measure it there, per query row. Without scaling the median row's gradient collapses as
#   $d_k$ grows (about $2 \cdot 10^{-4}$ at $d_k = 1024$, against 0.27 with $\sqrt{d_k}$) and
#   the share of rows that get almost none climbs to more than half: only rows whose two best
#   keys happen to nearly tie still learn. With $\sqrt{d_k}$ the median
#   stays put and no row is starved, whatever $d_k$. With $d_k$ no row is starved either, but
#   the median falls as $1/\sqrt{d_k}$: the scores are squeezed toward 0 and learn ever
#   more slowly.
#
# So the square root is not a detail: it is exactly the divisor that keeps the scores' spread,
# and with it the softmax's behaviour and its gradients, independent of $d_k$.

# %% nbgrader={"grade": true, "grade_id": "test_experiment_numbers", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
unscaled, scaled, by_d_k = (measurements[name] for name in ("none", "sqrt_d_k", "d_k"))
if any(len(values) != len(D_KS) for values in unscaled.values()):
    raise AssertionError(
        "the experiment has not run to the end: make your three measuring "
        "functions pass their tests, then run the experiment cell again"
    )
for d_k, var, var_scaled in zip(D_KS, unscaled["variance"], scaled["variance"], strict=True):
    if not 0.85 < var / d_k < 1.15:
        raise AssertionError(f"d_k = {d_k}: the variance of q·k should be close to d_k, got {var:.3g}")
    if not 0.85 < var_scaled < 1.15:
        raise AssertionError(
            f"d_k = {d_k}: the variance of q·k/√d_k should be close to 1, got {var_scaled:.3g}"
        )
if not unscaled["max_weight"][-1] > 0.9:
    raise AssertionError(
        "without scaling the softmax should saturate at d_k = 1024 (mean max weight "
        f"> 0.9), got {unscaled['max_weight'][-1]:.3g}"
    )
if not max(scaled["max_weight"]) < 0.5:
    raise AssertionError(
        f"with √d_k the mean max weight should stay well below 1, got {scaled['max_weight']}"
    )
if not unscaled["gradient_norm"][-1] < 0.25 * scaled["gradient_norm"][-1]:
    raise AssertionError(
        "at d_k = 1024 the unscaled gradient should be far smaller than the scaled "
        f"one, got {unscaled['gradient_norm'][-1]:.3g} and {scaled['gradient_norm'][-1]:.3g}"
    )
passed("variance ≈ d_k, saturation without scaling, shrinking gradients")
### BEGIN HIDDEN TESTS
# An independent run of the experiment: another seed, PyTorch's softmax, the Jacobian by hand.
generator = torch.Generator().manual_seed(44)
for i, d_k in enumerate(D_KS):
    q = torch.randn(NUM_PAIRS, d_k, generator=generator)
    k = torch.randn(NUM_PAIRS, d_k, generator=generator)
    upstream = torch.randn(NUM_PAIRS // T_K, T_K, T_K, generator=generator)
    raw = q.view(-1, T_K, d_k) @ k.view(-1, T_K, d_k).mT
    for name, divisor, formula in (
        ("none", 1.0, "QKᵀ"),
        ("sqrt_d_k", math.sqrt(d_k), "QKᵀ/√d_k"),
        ("d_k", float(d_k), "QKᵀ/d_k"),
    ):
        w = torch.softmax(raw / divisor, dim=-1)
        grad = w * (upstream - (w * upstream).sum(-1, keepdim=True))
        expected = {
            "variance": d_k / divisor**2,
            "max_weight": float(w.amax(-1).mean()),
            "gradient_norm": float(grad.norm(dim=-1).mean()),
        }
        got = {metric: measurements[name][metric][i] for metric in expected}
        if not abs(got["variance"] / expected["variance"] - 1) < 0.15:
            raise AssertionError(
                f"{formula}, d_k = {d_k}: measured variance {got['variance']:.3g}, "
                f"expected about {expected['variance']:.3g}"
            )
        if not abs(got["max_weight"] - expected["max_weight"]) < 0.03:
            raise AssertionError(
                f"{formula}, d_k = {d_k}: measured max weight {got['max_weight']:.3g}, "
                f"an independent run gives {expected['max_weight']:.3g}"
            )
        if not abs(got["gradient_norm"] / expected["gradient_norm"] - 1) < 0.25:
            raise AssertionError(
                f"{formula}, d_k = {d_k}: measured gradient norm "
                f"{got['gradient_norm']:.3g}, an independent run gives "
                f"{expected['gradient_norm']:.3g}"
            )
if not by_d_k["max_weight"][-1] < 0.1:
    raise AssertionError("dividing by d_k should make the weights nearly uniform at d_k = 1024")
passed("the measurements agree with an independent run")
### END HIDDEN TESTS

# %% [markdown]
# **Explore it yourself.** The explorer below draws one score matrix of six random queries and keys
# with $d_k$ features each, through *your* `softmax`. Drag the $d_k$ slider and pick the divisor $\tau$
# (none, $\sqrt{d_k}$, $d_k$): the weights, each row's entropy (at most $\log 6 \approx 1.79$ nats,
# for uniform weights) and the mean largest weight change as you go. Without scaling, watch the rows
# turn one-hot as $d_k$ grows: the saturation measured above. Hover a row (or its token) to read it.
# Where widgets don't run (a plain `nbconvert`, the grader's feedback) you see a static figure instead.

# %%
from transformer_course.explorer import softmax_explorer

softmax_explorer(softmax, d_k=64, scaling="none")  # your softmax

# %% [markdown]
# ## Recap
#
# - The attention score of query $i$ and key $j$ is $q_i \cdot k_j / \sqrt{d_k}$; all of them
#   at once are $QK^T/\sqrt{d_k}$, shape $(\dots, T_q, T_k)$, a row per query.
# - The softmax turns each row into weights that sum to one. Subtracting the row's maximum
#   changes nothing mathematically and keeps `exp` from overflowing; an all $-\infty$ row gives
#   zeros.
# - Attention is $\mathrm{softmax}(QK^T/\sqrt{d_k})\,V$. A boolean mask is True where attention
#   is allowed; blocked scores become $-\infty$ before the softmax, so they get exactly zero
#   weight.
# - Measured: the raw dot products have variance $d_k$. Without scaling, the softmax saturates
#   and the gradient reaching the scores shrinks as $d_k$ grows; dividing by $\sqrt{d_k}$ keeps
#   both steady, while dividing by $d_k$ (the notes' wording) flattens attention to uniform.
#
# **Next:** lesson 03 runs $h$ of these attentions side by side on slices of size
# $d_k = d_{model}/h$ — multi-head attention — with `scaled_dot_product_attention` from
# `transformer_course.attention`.
