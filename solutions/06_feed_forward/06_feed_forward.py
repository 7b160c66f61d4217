# %% [markdown]
# # 06 · The feed-forward network: what the ReLU adds
#
# > **5. Feed Forward는 왜 사용하는 것인가?** — from the notes
# >
# > multi head attention의 경우 입력된 정보 간의 선형관계만을 모델링 한다. … Feed Forward는
# > 입력층, 은닉층, 출력층을 가지고 있으며, 은닉층에서 비선형 활성화함수를 사용하기 때문에
# > 비선형성을 추가할 수 있다.
#
# *Why is the feed-forward network used? Multi-head attention models only linear relations
# between its inputs. … The feed-forward network has an input, a hidden and an output layer,
# and its hidden layer uses a nonlinear activation function, so it adds nonlinearity.*
#
# Every encoder and decoder layer follows its attention with a small two-layer network,
# applied to each position on its own. This lesson builds it, proves that without its ReLU
# it would be a single linear layer, checks in what sense attention is and is not linear,
# and measures what the ReLU buys on a task that needs it.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import copy

import matplotlib.pyplot as plt
import torch
from torch import nn

from transformer_course.attention import scaled_dot_product_attention
from transformer_course.checks import expect_close, expect_shape, passed
from transformer_course.plots import use_hangul_font

use_hangul_font()
torch.manual_seed(0)

# %% [markdown]
# ## 1. The position-wise feed-forward network
#
# The paper's formula, for one position's vector $x$ (a row of length $d_{model}$):
#
# $$\mathrm{FFN}(x) = \max(0,\; xW_1 + b_1)\,W_2 + b_2$$
#
# $W_1$ widens the vector to $d_{ff}$ hidden units ($d_{ff} = 2048$ for $d_{model} = 512$),
# $\max(0, \cdot)$ is the ReLU, and $W_2$ brings it back to $d_{model}$. *Position-wise*
# means the same weights act on every position separately: nothing mixes information across
# tokens here (that is attention's job), so a sequence $(\dots, T, d_{model})$ goes in and
# comes out the same shape.
#
# While training, dropout zeroes some hidden units; as in PyTorch's
# `nn.TransformerEncoderLayer` it sits after the ReLU:
# `linear2(dropout(relu(linear1(x))))`.
#
# **Exercise.** Write `PositionwiseFeedForward` with two `nn.Linear` layers named `linear1`
# ($d_{model} \to d_{ff}$) and `linear2` ($d_{ff} \to d_{model}$), both with bias, and an
# `nn.Dropout(dropout)` between the ReLU and `linear2`.

# %% nbgrader={"grade": false, "grade_id": "PositionwiseFeedForward", "locked": false, "schema_version": 3, "solution": true, "task": false}
class PositionwiseFeedForward(nn.Module):
    """FFN(x) = max(0, x W_1 + b_1) W_2 + b_2, applied to every position on its own.

    Args:
        d_model: size of each token's vector, in and out.
        d_ff: size of the hidden layer (the paper: 2048 for d_model = 512).
        dropout: probability of zeroing a hidden unit while training; applied after
            the ReLU, as in ``nn.TransformerEncoderLayer``.

    Shape:
        x: (..., T, d_model).
        output: (..., T, d_model).
    """

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0):
        super().__init__()
        ### BEGIN SOLUTION
        self.linear1 = nn.Linear(d_model, d_ff)
        self.linear2 = nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ### BEGIN SOLUTION
        hidden = torch.relu(self.linear1(x))  # (..., T, d_ff)
        return self.linear2(self.dropout(hidden))  # (..., T, d_model)
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_ffn_shapes", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
ffn = PositionwiseFeedForward(8, 32)
for name, d_in, d_out in [("linear1", 8, 32), ("linear2", 32, 8)]:
    layer = getattr(ffn, name, None)
    if not isinstance(layer, nn.Linear):
        raise AssertionError(
            f"PositionwiseFeedForward(8, 32).{name} should be an nn.Linear, got {type(layer).__name__}."
        )
    if (layer.in_features, layer.out_features) != (d_in, d_out):
        raise AssertionError(
            f"{name} maps {layer.in_features} → {layer.out_features} features; "
            f"expected {d_in} → {d_out} (linear1: d_model → d_ff, linear2: d_ff → d_model)."
        )
    if layer.bias is None:
        raise AssertionError(f"{name} has no bias: the formula adds b_1 and b_2, keep nn.Linear's bias.")
expect_shape(ffn(torch.randn(2, 5, 8)), (2, 5, 8), "FFN output for input (B, T, d_model) = (2, 5, 8)")
passed("linear1 (8 → 32), linear2 (32 → 8), output shape of the input")
### BEGIN HIDDEN TESTS
import transformer_course.feed_forward as reference
from transformer_course.checks import from_scratch

for shape, d_model, d_ff in [((3, 2, 1, 5), 5, 7), ((4, 3), 3, 2), ((1, 1, 6), 6, 24)]:
    with from_scratch("PositionwiseFeedForward", reference=[reference.PositionwiseFeedForward]):
        module = PositionwiseFeedForward(d_model, d_ff)
        out = module(torch.randn(*shape))
    expect_shape(out, shape, f"FFN({d_model}, {d_ff}) output for input {shape}")
    count = sum(p.numel() for p in module.parameters())
    if count != 2 * d_model * d_ff + d_ff + d_model:
        raise AssertionError(
            f"PositionwiseFeedForward({d_model}, {d_ff}) has {count} parameters, "
            f"expected {2 * d_model * d_ff + d_ff + d_model}: linear1 and linear2 "
            "with their biases, nothing else."
        )
passed("batch dimensions, T = 1, parameter count")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_ffn_values", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(1)
ffn = PositionwiseFeedForward(4, 6)
w1, b1, w2, b2 = torch.randn(6, 4), torch.randn(6), torch.randn(4, 6), torch.randn(4)
with torch.no_grad():  # inject the weights
    ffn.linear1.weight.copy_(w1)
    ffn.linear1.bias.copy_(b1)
    ffn.linear2.weight.copy_(w2)
    ffn.linear2.bias.copy_(b2)
x = torch.randn(2, 3, 4)
expected = torch.relu(x @ w1.T + b1) @ w2.T + b2
expect_close(
    ffn(x),
    expected,
    "FFN of a (2, 3, 4) input with injected weights",
    mistakes={
        "your FFN has no ReLU: it is one linear map. Apply torch.relu between linear1 and linear2.": (
            x @ w1.T + b1
        )
        @ w2.T
        + b2,
        "your ReLU comes after linear2: it belongs between linear1 and linear2.": torch.relu(
            (x @ w1.T + b1) @ w2.T + b2
        ),
    },
)
passed("max(0, x W1ᵀ + b1) W2ᵀ + b2")
### BEGIN HIDDEN TESTS
import transformer_course.feed_forward as reference
from transformer_course.checks import from_scratch

torch.manual_seed(2)
for shape, d_model, d_ff in [((2, 5, 3), 3, 8), ((2, 2, 1, 6), 6, 4)]:
    oracle = nn.Sequential(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Linear(d_ff, d_model)).double()
    with from_scratch("PositionwiseFeedForward", reference=[reference.PositionwiseFeedForward]):
        module = PositionwiseFeedForward(d_model, d_ff).double()
    with torch.no_grad():
        for mine, theirs in [(module.linear1, oracle[0]), (module.linear2, oracle[2])]:
            mine.weight.copy_(theirs.weight)
            mine.bias.copy_(theirs.bias)
    x = torch.randn(*shape, dtype=torch.float64)
    with from_scratch("PositionwiseFeedForward", reference=[reference.PositionwiseFeedForward]):
        out = module(x)
    h = oracle[0](x)
    expect_close(
        out,
        oracle(x),
        f"FFN({d_model}, {d_ff}) of a float64 input {shape}",
        mistakes={
            "your FFN has no ReLU: apply it between linear1 and linear2.": oracle[2](h),
            "your ReLU comes after linear2: it belongs between linear1 and linear2.": torch.relu(
                oracle[2](torch.relu(h))
            ),
            "your ReLU is applied after linear2 only: move it between linear1 and linear2.": torch.relu(
                oracle[2](h)
            ),
            "your hidden layer drops b_1: use linear1 with its bias.": oracle[2](
                torch.relu(h - oracle[0].bias)
            ),
        },
    )
    # Position-wise: each token's output depends on that token alone.
    permutation = torch.randperm(shape[-2])
    with from_scratch("PositionwiseFeedForward", reference=[reference.PositionwiseFeedForward]):
        shuffled = module(x[..., permutation, :])
    expect_close(
        shuffled,
        out[..., permutation, :],
        "FFN output after shuffling the positions (it must act on each position alone)",
    )
passed("equal to nn.Sequential(Linear, ReLU, Linear) in float64, position by position")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_ffn_dropout", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(3)
ffn = PositionwiseFeedForward(4, 16, dropout=0.5)
x = torch.randn(2, 3, 4)
ffn.eval()
with torch.no_grad():
    expected = ffn.linear2(torch.relu(ffn.linear1(x)))
expect_close(ffn(x), expected, "FFN with dropout=0.5 in eval mode (dropout must be off)")
ffn.train()
if torch.allclose(ffn(x), expected):
    raise AssertionError(
        "FFN(dropout=0.5) in training mode gives the eval-mode output: "
        "apply nn.Dropout(dropout) to the hidden units."
    )
passed("dropout is active while training and off in eval mode")
### BEGIN HIDDEN TESTS
import torch.nn.functional as F

import transformer_course.feed_forward as reference
from transformer_course.checks import from_scratch

torch.manual_seed(4)
for p in [0.5, 0.2]:
    with from_scratch("PositionwiseFeedForward", reference=[reference.PositionwiseFeedForward]):
        module = PositionwiseFeedForward(5, 12, dropout=p).double().train()
    oracle = nn.Sequential(nn.Linear(5, 12), nn.ReLU(), nn.Dropout(p), nn.Linear(12, 5)).double()
    with torch.no_grad():
        for mine, theirs in [(module.linear1, oracle[0]), (module.linear2, oracle[3])]:
            mine.weight.copy_(theirs.weight)
            mine.bias.copy_(theirs.bias)
    x = torch.randn(3, 4, 5, dtype=torch.float64)
    torch.manual_seed(10)
    with from_scratch("PositionwiseFeedForward", reference=[reference.PositionwiseFeedForward]):
        out = module(x)
    torch.manual_seed(10)
    expected = oracle(x)
    clean = oracle[3](torch.relu(oracle[0](x)))
    torch.manual_seed(10)
    after_linear2 = F.dropout(clean, p)
    torch.manual_seed(10)
    on_input = oracle[3](torch.relu(oracle[0](F.dropout(x, p))))
    expect_close(
        out,
        expected,
        f"FFN(dropout={p}) in training mode (same random seed as nn.Dropout after the ReLU)",
        mistakes={
            "your FFN ignores dropout while training: apply nn.Dropout(dropout) after the ReLU.": clean,
            "your dropout acts on the output of linear2: "
            "apply it to the hidden units, after the ReLU.": after_linear2,
            "your dropout acts on the input: apply it to the hidden units, after the ReLU.": on_input,
        },
    )
passed("dropout after the ReLU, at the given rate, as in nn.TransformerEncoderLayer")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_ffn_gradients", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
ffn = PositionwiseFeedForward(4, 6)
ffn(torch.randn(2, 3, 4)).sum().backward()
for name in ["linear1", "linear2"]:
    if getattr(ffn, name).weight.grad is None:
        raise AssertionError(
            f"no gradient reached {name}.weight: use the layer in forward, "
            "without .detach() or torch.no_grad()."
        )
passed("gradients reach linear1 and linear2")
### BEGIN HIDDEN TESTS
import transformer_course.feed_forward as reference
from transformer_course.checks import from_scratch

torch.manual_seed(5)
oracle = nn.Sequential(nn.Linear(3, 9), nn.ReLU(), nn.Linear(9, 3)).double()
with from_scratch("PositionwiseFeedForward", reference=[reference.PositionwiseFeedForward]):
    module = PositionwiseFeedForward(3, 9).double()
with torch.no_grad():
    for mine, theirs in [(module.linear1, oracle[0]), (module.linear2, oracle[2])]:
        mine.weight.copy_(theirs.weight)
        mine.bias.copy_(theirs.bias)
x = torch.randn(2, 7, 3, dtype=torch.float64)
upstream = torch.randn(2, 7, 3, dtype=torch.float64)
x_mine, x_theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
with from_scratch("PositionwiseFeedForward", reference=[reference.PositionwiseFeedForward]):
    (module(x_mine) * upstream).sum().backward()
(oracle(x_theirs) * upstream).sum().backward()
expect_close(x_mine.grad, x_theirs.grad, "gradient with respect to the input (float64)")
for name, mine, theirs in [("linear1", module.linear1, oracle[0]), ("linear2", module.linear2, oracle[2])]:
    expect_close(mine.weight.grad, theirs.weight.grad, f"gradient of {name}.weight (float64)")
    expect_close(mine.bias.grad, theirs.bias.grad, f"gradient of {name}.bias (float64)")
passed("gradients equal nn.Sequential's in float64")
### END HIDDEN TESTS

# %% [markdown]
# Two facts about what you built. First, it really is position-wise: run it on each token
# alone and you get the rows of the sequence's output. Second, it is big: with the paper's
# sizes it holds about twice the parameters of the multi-head attention before it.

# %%
ffn = PositionwiseFeedForward(8, 32)
sequence = torch.randn(5, 8)  # (T, d_model)
one_by_one = torch.stack([ffn(token) for token in sequence])  # (T, d_model)
print(
    "largest difference, whole sequence vs token by token:",
    f"{(ffn(sequence) - one_by_one).abs().max().item():.1e}",
)

ffn_params = sum(p.numel() for p in PositionwiseFeedForward(512, 2048).parameters())
mha_params = sum(p.numel() for p in nn.MultiheadAttention(512, 8).parameters())
print(f"d_model = 512, d_ff = 2048: FFN {ffn_params:,} parameters, multi-head attention {mha_params:,}")

# %% [markdown]
# ## 2. Without the ReLU, two layers are one
#
# Why not drop the ReLU and keep two linear layers? Because they would collapse. In
# `nn.Linear`'s layout a layer computes $y = xW^\top + b$ with $W$ of shape
# (out_features, in_features). Stack two:
#
# $$(xW_1^\top + b_1)\,W_2^\top + b_2 \;=\; x\,(W_2 W_1)^\top + (W_2 b_1 + b_2)$$
#
# That is one linear layer with weight $W = W_2 W_1$ and bias $b = W_2 b_1 + b_2$. However
# wide the hidden layer, the pair can represent nothing a single
# $d_{model} \times d_{model}$ layer can't.
#
# **Exercise.** Write `collapse_linear(w1, b1, w2, b2)`, returning `(w, b)` in `nn.Linear`'s
# layout.

# %% nbgrader={"grade": false, "grade_id": "collapse_linear", "locked": false, "schema_version": 3, "solution": true, "task": false}
def collapse_linear(
    w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor, b2: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The one linear layer equal to two stacked linear layers with no activation between.

    In ``nn.Linear``'s layout, y = x Wᵀ + b, so
    (x W_1ᵀ + b_1) W_2ᵀ + b_2 = x (W_2 W_1)ᵀ + (W_2 b_1 + b_2).

    Shape:
        w1: (d_hidden, d_in); b1: (d_hidden,); w2: (d_out, d_hidden); b2: (d_out,).
        output: w (d_out, d_in), b (d_out,).
    """
    ### BEGIN SOLUTION
    w = w2 @ w1  # (d_out, d_hidden) @ (d_hidden, d_in) -> (d_out, d_in)
    b = w2 @ b1 + b2  # (d_out, d_hidden) @ (d_hidden,) -> (d_out,)
    return w, b
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_collapse_linear_values", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(6)
first, second = nn.Linear(4, 4), nn.Linear(4, 4)
w, b = collapse_linear(first.weight, first.bias, second.weight, second.bias)
x = torch.randn(10, 4)
with torch.no_grad():
    expect_close(
        x @ w.T + b,
        second(first(x)),
        "x Wᵀ + b against the two stacked layers",
        mistakes={
            "your weight is W1 W2: the layer applied first stands on the right, W = W2 W1.": x
            @ (first.weight @ second.weight).T
            + b,
            "your bias drops b1: it passes through the second layer too, b = W2 b1 + b2.": x @ w.T
            + second.bias,
            "your bias drops b2: b = W2 b1 + b2.": x @ w.T + second.weight @ first.bias,
        },
    )
passed("one layer equal to the two stacked layers")
### BEGIN HIDDEN TESTS
import transformer_course.feed_forward as reference
from transformer_course.checks import from_scratch

torch.manual_seed(7)
for d_in, d_hidden, d_out in [(5, 5, 5), (3, 7, 2)]:
    w1, b1 = torch.randn(d_hidden, d_in, dtype=torch.float64), torch.randn(d_hidden, dtype=torch.float64)
    w2, b2 = torch.randn(d_out, d_hidden, dtype=torch.float64), torch.randn(d_out, dtype=torch.float64)
    wrong_w = {
        "your weight is in x @ W layout (in_features, out_features): nn.Linear stores "
        "(out_features, in_features), W = W2 W1.": (w2 @ w1).T
    }
    wrong_b = {
        "your bias drops b1: it passes through the second layer too, b = W2 b1 + b2.": b2,
        "your bias drops b2: b = W2 b1 + b2.": w2 @ b1,
    }
    if d_in == d_hidden == d_out:
        wrong_w["your weight is W1 W2: the layer applied first stands on the right, W = W2 W1."] = w1 @ w2
        wrong_b["your bias adds b1 without passing it through W2: b = W2 b1 + b2."] = b1 + b2
        wrong_b["your bias is W2ᵀ b1 + b2: in nn.Linear's layout, b = W2 b1 + b2."] = b1 @ w2 + b2
    try:
        with from_scratch("collapse_linear", reference=[reference.collapse_linear]):
            w, b = collapse_linear(w1, b1, w2, b2)
    except NotImplementedError:
        raise
    except RuntimeError as error:
        raise AssertionError(
            f"collapse_linear raised RuntimeError ({error}) for layers {d_in} → "
            f"{d_hidden} → {d_out}: w1 is (d_hidden, d_in), w2 (d_out, d_hidden); "
            "W = W2 W1 and b = W2 b1 + b2."
        ) from None
    expect_close(w, w2 @ w1, f"weight for layers {d_in} → {d_hidden} → {d_out} (float64)", mistakes=wrong_w)
    expect_close(
        b, w2 @ b1 + b2, f"bias for layers {d_in} → {d_hidden} → {d_out} (float64)", mistakes=wrong_b
    )
passed("W = W2 W1 and b = W2 b1 + b2, square and rectangular, float64")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_collapse_linear_equivalence", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(8)
first, second = nn.Linear(3, 16), nn.Linear(16, 2)
try:
    w, b = collapse_linear(first.weight, first.bias, second.weight, second.bias)
except NotImplementedError:
    raise
except RuntimeError as error:
    raise AssertionError(
        f"collapse_linear raised RuntimeError ({error}) for layers 3 → 16 → 2: "
        "w1 is (16, 3) and w2 is (2, 16); W = W2 W1 is (2, 3)."
    ) from None
expect_shape(w, (2, 3), "collapsed weight of layers 3 → 16 → 2 (out_features, in_features)")
expect_shape(b, (2,), "collapsed bias of layers 3 → 16 → 2")
passed("shapes in nn.Linear's layout")
### BEGIN HIDDEN TESTS
import torch.nn.functional as F

import transformer_course.feed_forward as reference
from transformer_course.checks import from_scratch

torch.manual_seed(9)
first, second = nn.Linear(6, 40).double(), nn.Linear(40, 3).double()
with from_scratch("collapse_linear", reference=[reference.collapse_linear]):
    w, b = collapse_linear(first.weight, first.bias, second.weight, second.bias)
x = torch.randn(4, 9, 6, dtype=torch.float64)
with torch.no_grad():
    expect_close(
        F.linear(x, w, b),
        second(first(x)),
        "nn.functional.linear(x, w, b) against two stacked nn.Linear layers (float64)",
    )
# The gradient flows through the collapse, so it can be used inside a model.
(w.sum() + b.sum()).backward()
if first.weight.grad is None or second.bias.grad is None:
    raise AssertionError(
        "no gradient reached the layers' parameters through collapse_linear: "
        "compute w and b with tensor operations, without .detach() or .data."
    )
passed("equal to two stacked nn.Linear layers on a batch of sequences")
### END HIDDEN TESTS

# %% [markdown]
# However wide the hidden layer, the collapsed layer is $d_{model} \times d_{model}$. With
# the paper's width, 2048 hidden units, two activation-free layers still compute one
# 512 × 512 map; its rank can't exceed 512:

# %%
with torch.no_grad():
    first, second = nn.Linear(512, 2048), nn.Linear(2048, 512)
    w, b = collapse_linear(first.weight, first.bias, second.weight, second.bias)
    x = torch.randn(3, 10, 512)
    print(f"collapsed weight {tuple(w.shape)}, rank {torch.linalg.matrix_rank(w).item()}")
    print(f"largest difference from the two layers: {(x @ w.T + b - second(first(x))).abs().max():.1e}")

# %% [markdown]
# ## 3. Is attention linear? Where the notes simplify
#
# The notes say attention "models only linear relations". That holds in a precise sense,
# and fails in another. Write one head as $\mathrm{softmax}(QK^\top/\sqrt{d_k})\,V$ with
# $Q = XW^Q$, $K = XW^K$, $V = XW^V$:
#
# 1. **For fixed weights, the output is linear in the values**: each output row is
#    $\sum_j a_{ij} v_j$, a weighted average of value vectors.
# 2. **For a one-token sequence the whole layer is linear (affine) in its input**: the
#    softmax over a single key is exactly 1, so the output is $x W^V$ passed through the
#    output projection: two stacked linear layers, which `collapse_linear` turns into one.
# 3. **For longer sequences, it is not linear in its input**: the weights
#    $\mathrm{softmax}(QK^\top/\sqrt{d_k})$ depend on $X$ through a softmax of products
#    of $X$ with itself. Doubling $X$ multiplies the scores by four and sharpens the
#    weights, so $\mathrm{MHA}(2X) \ne 2\,\mathrm{MHA}(X)$ even with every bias set to zero.
#
# The cell below checks all three on PyTorch's own `nn.MultiheadAttention`.

# %%
torch.manual_seed(0)
d_model, num_heads = 8, 2
mha = nn.MultiheadAttention(d_model, num_heads, batch_first=True)

# 1. Fixed weights: the output is linear in the values.
q, k, v1, v2 = (torch.randn(1, 5, d_model) for _ in range(4))
out_sum, _ = scaled_dot_product_attention(q, k, v1 + v2)
out_1, _ = scaled_dot_product_attention(q, k, v1)
out_2, _ = scaled_dot_product_attention(q, k, v2)
print(
    f"1. attn(q, k, v1 + v2) - attn(q, k, v1) - attn(q, k, v2): {(out_sum - out_1 - out_2).abs().max():.1e}"
)

# 2. One token: MHA is the affine map of W^V, b^V followed by W^O, b^O.
w_v = mha.in_proj_weight[2 * d_model :]  # (d_model, d_model): the rows of W^V
b_v = mha.in_proj_bias[2 * d_model :]  # (d_model,)
w_affine, b_affine = collapse_linear(w_v, b_v, mha.out_proj.weight, mha.out_proj.bias)
x = torch.randn(4, 1, d_model)  # (B, T = 1, d_model)
out, _ = mha(x, x, x)
print(f"2. T = 1: MHA(x) - (x Wᵀ + b): {(out - (x @ w_affine.T + b_affine)).abs().max():.1e}")

# 3. Longer sequences: not linear, even without biases.
with torch.no_grad():
    mha.in_proj_bias.zero_()
    mha.out_proj.bias.zero_()
for seq_len in [1, 6]:
    x = torch.randn(4, seq_len, d_model)
    out_x, weights_x = mha(x, x, x)
    out_2x, weights_2x = mha(2 * x, 2 * x, 2 * x)
    gap = ((out_2x - 2 * out_x).norm() / (2 * out_x).norm()).item()
    print(
        f"3. T = {seq_len}: |MHA(2x) - 2 MHA(x)| / |2 MHA(x)| = {gap:.3f};  "
        f"average largest weight {weights_x.amax(-1).mean():.2f} for x, "
        f"{weights_2x.amax(-1).mean():.2f} for 2x"
    )

# %% [markdown]
# So attention is nonlinear, but in one specific way: the softmax decides *how much* of each
# value vector to mix. What comes out is still a weighted average of linear functions of the
# tokens. What it cannot do is bend each token's own features through a nonlinear function,
# such as $|x|$ or "this feature only when that one is positive". The next experiment makes
# that measurable.
#
# ## 4. The experiment: a per-token target that needs a nonlinearity
#
# Take sequences of random token vectors and ask for a per-token target, $y_t = |x_t|$
# elementwise. Two models get the same attention layer (bias-free $W^Q, W^K, W^V$, as in
# lesson 01, with a residual connection) and differ only in what follows it:
#
# - **(a) attention + two linear layers** ($4 \to 32 \to 4$, no activation),
# - **(b) attention + your FFN** ($4 \to 32 \to 4$, with the ReLU).
#
# **What (a) can reach, exactly.** Flip the sign of every input token. The scores
# $(x_iW^Q)(x_jW^K)^\top$ multiply two flipped vectors and stay the same, so the attention
# weights stay the same, while the values flip: the attention output flips. Linear layers
# keep the flip; only their biases add a constant. The target $|x|$ does not flip. With
# every sequence in the data set also present with its sign flipped, the flipping part of
# the output can only add error, and the best model (a) can do is to output a constant per
# feature: the mean of $|x|$. That is exactly the error of the best per-token **affine**
# fit $y \approx xA + c$, which least squares computes in closed form. So the bound is
#
# $$\text{MSE}_{(a)} \;\ge\; \min_{A,\,c}\; \frac{1}{N}\sum \lVert y_t - (x_tA + c) \rVert^2 .$$
#
# (With biases inside $W^Q, W^K$ the scores would no longer be symmetric, and the softmax
# could bend the output a little. The Transformer does not rely on that: it places the
# nonlinearity deliberately, in the FFN.)
#
# **Exercise.** Write the training loop `fit_regression(model, x, y, steps, lr)`: full-batch
# Adam on the mean squared error (`nn.functional.mse_loss`), returning the loss measured
# **before** each step as a tensor of shape `(steps,)`. Remember to zero the gradients
# every step.

# %% nbgrader={"grade": false, "grade_id": "fit_regression", "locked": false, "schema_version": 3, "solution": true, "task": false}
def fit_regression(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int = 300, lr: float = 1e-2
) -> torch.Tensor:
    """Fit ``model`` to ``y`` with full-batch Adam on the mean squared error.

    Args:
        model: maps x to a tensor of y's shape; its parameters are trained in place.
        steps: number of Adam steps.
        lr: Adam's learning rate.

    Returns:
        the loss measured before each step.

    Shape:
        x: any shape the model takes; y: the model's output shape.
        output: (steps,), in y's dtype.
    """
    ### BEGIN SOLUTION
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
    return torch.stack(losses)  # (steps,)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_fit_regression_losses", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(10)
x = torch.randn(64, 3)
y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.3  # a linear target
model = nn.Linear(3, 1)
initial_mse = nn.functional.mse_loss(model(x), y).item()
losses = fit_regression(model, x, y, steps=50, lr=0.05)
expect_shape(losses, (50,), "fit_regression(..., steps=50): one loss per step")
expect_close(
    losses[0],
    torch.tensor(initial_mse),
    "the first loss (the untrained model's MSE, measured before the first step)",
    mistakes={
        "your first loss is the sum of squared errors: use the mean (nn.functional.mse_loss).": torch.tensor(
            initial_mse * y.numel()
        )
    },
)
if not losses[-1] < 0.2 * losses[0]:
    raise AssertionError(
        f"the loss went from {losses[0]:.3f} to {losses[-1]:.3f} in 50 steps of a "
        "linear fit: zero the gradients, call loss.backward() and optimizer.step()."
    )
passed("one loss per step, starting from the untrained model's MSE, decreasing")
### BEGIN HIDDEN TESTS
import torch.nn.functional as F

import transformer_course.feed_forward as reference
from transformer_course.checks import from_scratch


def oracle_curve(
    model,
    x,
    y,
    steps,
    lr,
    optimizer_class=torch.optim.Adam,
    zero_grad=True,
    reduction="mean",
    after_step=False,
):
    optimizer = optimizer_class(model.parameters(), lr=lr)
    curve = []
    for _ in range(steps):
        if zero_grad:
            optimizer.zero_grad()
        loss = F.mse_loss(model(x), y, reduction=reduction)
        loss.backward()
        optimizer.step()
        curve.append(F.mse_loss(model(x), y, reduction=reduction).item() if after_step else loss.item())
    return torch.tensor(curve, dtype=torch.float64)


torch.manual_seed(11)
net = nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 2)).double()
x = torch.randn(40, 3, dtype=torch.float64)
y = torch.sin(x[:, :2]) + x[:, 2:]
steps, lr = 20, 0.03
mine = copy.deepcopy(net)
with from_scratch("fit_regression", reference=[reference.fit_regression]):
    losses = fit_regression(mine, x, y, steps=steps, lr=lr)
expect_shape(losses, (steps,), f"fit_regression(..., steps={steps})")
expected = oracle_curve(copy.deepcopy(net), x, y, steps, lr)
what = "loss curve of full-batch Adam on the MSE (float64)"
try:
    expect_close(losses.double(), expected, what, atol=1e-9, rtol=1e-6)
except AssertionError:  # name the mistake; the wrong curves are computed only when needed
    expect_close(
        losses.double(),
        expected,
        what,
        atol=1e-9,
        rtol=1e-6,
        mistakes={
            "your gradients accumulate across steps: call optimizer.zero_grad() every step.": oracle_curve(
                copy.deepcopy(net), x, y, steps, lr, zero_grad=False
            ),
            "your optimizer is SGD: use torch.optim.Adam.": oracle_curve(
                copy.deepcopy(net), x, y, steps, lr, optimizer_class=torch.optim.SGD
            ),
            "your loss is the sum of squared errors: use the mean (nn.functional.mse_loss).": oracle_curve(
                copy.deepcopy(net), x, y, steps, lr, reduction="sum"
            ),
            "your losses are measured after each step: record the loss computed before "
            "optimizer.step().": oracle_curve(copy.deepcopy(net), x, y, steps, lr, after_step=True),
            "your loss never changes: call optimizer.step() after loss.backward().": torch.full(
                (steps,), F.mse_loss(net(x), y).item(), dtype=torch.float64
            ),
            "your learning rate is Adam's default 1e-3: pass lr=lr to Adam.": oracle_curve(
                copy.deepcopy(net), x, y, steps, 1e-3
            ),
        },
    )
passed("the loss curve equals full-batch Adam's on the MSE, in float64")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_fit_regression_trains", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(12)
model = nn.Linear(3, 1)
before = copy.deepcopy(model)
x, y = torch.randn(32, 3), torch.randn(32, 1)
fit_regression(model, x, y, steps=5, lr=0.1)
if torch.equal(model.weight, before.weight):
    raise AssertionError(
        "the model's weights did not change: fit_regression must train the model "
        "it is given, in place (optimize model.parameters())."
    )
passed("the model given is trained in place")
### BEGIN HIDDEN TESTS
import transformer_course.feed_forward as reference
from transformer_course.checks import from_scratch

torch.manual_seed(13)
net = nn.Sequential(nn.Linear(2, 5), nn.ReLU(), nn.Linear(5, 1)).double()
mine, theirs = copy.deepcopy(net), copy.deepcopy(net)
x, y = torch.randn(30, 2, dtype=torch.float64), torch.randn(30, 1, dtype=torch.float64)
with from_scratch("fit_regression", reference=[reference.fit_regression]):
    fit_regression(mine, x, y, steps=25, lr=0.02)
optimizer = torch.optim.Adam(theirs.parameters(), lr=0.02)
for _ in range(25):
    optimizer.zero_grad()
    nn.functional.mse_loss(theirs(x), y).backward()
    optimizer.step()
for (name, a), b in zip(mine.named_parameters(), theirs.parameters()):
    expect_close(a, b, f"parameter {name} after 25 Adam steps", atol=1e-9, rtol=1e-6)
passed("after training, the parameters equal Adam's")
### END HIDDEN TESTS

# %% [markdown]
# The data and the two models. The cell is locked: the tests below run the same models.

# %% nbgrader={"grade": false, "grade_id": "experiment_setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
def abs_target_data(num_sequences, seq_len, d_model, seed):
    """Random token vectors with the target |x| per token; each sequence appears twice,
    once with its sign flipped.

    Shape:
        output: x, y, each (num_sequences, seq_len, d_model).
    """
    generator = torch.Generator().manual_seed(seed)
    half = torch.randn(num_sequences // 2, seq_len, d_model, generator=generator)
    x = torch.cat([half, -half])  # (N, T, d_model)
    return x, x.abs()


def best_affine_mse(x, y):
    """Mean squared error of the best per-token affine fit y ≈ x A + c (least squares).

    Shape:
        x: (..., d_in); y: (..., d_out).
    """
    ones = torch.ones(*x.shape[:-1], 1, dtype=torch.float64)
    features = torch.cat([x.double(), ones], dim=-1).flatten(0, -2)  # (N·T, d_in + 1)
    targets = y.double().flatten(0, -2)  # (N·T, d_out)
    solution = torch.linalg.lstsq(features, targets).solution  # (d_in + 1, d_out)
    return ((features @ solution - targets) ** 2).mean().item()


class AttentionThenHead(nn.Module):
    """Bias-free self-attention with a residual connection, then a per-token head.

    Shape:
        x: (..., T, d_model); output: (..., T, d_model).
    """

    def __init__(self, d_model, head):
        super().__init__()
        self.w_q = nn.Linear(d_model, d_model, bias=False)
        self.w_k = nn.Linear(d_model, d_model, bias=False)
        self.w_v = nn.Linear(d_model, d_model, bias=False)
        self.head = head

    def forward(self, x):
        context, _ = scaled_dot_product_attention(self.w_q(x), self.w_k(x), self.w_v(x))
        return self.head(x + context)  # (..., T, d_model)


def run_experiment(num_sequences=128, seq_len=8, d_model=4, d_ff=32, steps=100, seed=0):
    """Fit (a) attention + two linear layers and (b) attention + FFN to y = |x|.

    Returns:
        the data, the bound, and per model its loss curve (steps,) and its trained model.
    """
    x, y = abs_target_data(num_sequences, seq_len, d_model, seed)
    torch.manual_seed(seed)
    models = {
        "attention + linear": AttentionThenHead(
            d_model, nn.Sequential(nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model))
        ),
        "attention + FFN": AttentionThenHead(d_model, PositionwiseFeedForward(d_model, d_ff)),
    }
    curves = {name: fit_regression(model, x, y, steps=steps, lr=3e-2) for name, model in models.items()}
    return x, y, best_affine_mse(x, y), curves, models


# %% [markdown]
# Predict before running: where will each final loss land relative to the bound?

# %%
x, y, bound, curves, models = run_experiment()
print(f"best per-token affine fit (least squares): {bound:.4f}")
for name, curve in curves.items():
    print(f"{name:>20}: final MSE {curve[-1].item():.4f}  ({curve[-1].item() / bound:.1%} of the bound)")

# %% nbgrader={"grade": true, "grade_id": "test_experiment_linear", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
if "curves" not in globals():
    raise AssertionError(
        "the experiment cell above did not run to the end: finish "
        "PositionwiseFeedForward and fit_regression, then run it again."
    )
linear_loss = curves["attention + linear"][-1].item()
if linear_loss < bound * (1 - 1e-3):
    raise AssertionError(
        f"attention + linear reached {linear_loss:.4f}, below the bound {bound:.4f} "
        "that no such model can beat: check that fit_regression reports the mean "
        "squared error."
    )
if linear_loss > 1.05 * bound:
    raise AssertionError(
        f"attention + linear stopped at {linear_loss:.4f}, more than 5% above its "
        f"best possible {bound:.4f}: fit_regression is not optimizing well "
        "(Adam, lr as given, gradients zeroed each step)."
    )
passed(f"attention + linear layers stay at the best affine fit: {linear_loss:.4f} ≈ {bound:.4f}")
### BEGIN HIDDEN TESTS
import transformer_course.feed_forward as reference
from transformer_course.checks import from_scratch

# A fresh run with other sizes and seed; the bound computed here by least squares.
data_x, data_y = abs_target_data(96, 5, 3, seed=1)
rows = torch.cat([data_x.reshape(-1, 3), torch.ones(96 * 5, 1)], dim=1).double()
solution = torch.linalg.lstsq(rows, data_y.reshape(-1, 3).double()).solution
oracle_bound = ((rows @ solution - data_y.reshape(-1, 3).double()) ** 2).mean().item()
torch.manual_seed(1)
linear_model = AttentionThenHead(3, nn.Sequential(nn.Linear(3, 24), nn.Linear(24, 3)))
with from_scratch("fit_regression", reference=[reference.fit_regression]):
    fresh_linear = fit_regression(linear_model, data_x, data_y, steps=100, lr=3e-2)[-1].item()
if not oracle_bound * (1 - 1e-3) <= fresh_linear <= 1.05 * oracle_bound:
    raise AssertionError(
        f"in a fresh run, attention + linear ended at {fresh_linear:.4f}; it should "
        f"end within 5% above the least-squares bound {oracle_bound:.4f}: check "
        "fit_regression (mean squared error, Adam, zeroed gradients)."
    )
passed("a fresh run agrees")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_experiment_ffn", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
if "curves" not in globals():
    raise AssertionError(
        "the experiment cell above did not run to the end: finish "
        "PositionwiseFeedForward and fit_regression, then run it again."
    )
ffn_loss = curves["attention + FFN"][-1].item()
if not ffn_loss < 0.1 * bound:
    raise AssertionError(
        f"attention + FFN ended at {ffn_loss:.4f}, not below 10% of the linear "
        f"bound {bound:.4f}: check the ReLU in PositionwiseFeedForward and the "
        "training loop in fit_regression."
    )
passed(f"attention + FFN goes far below the bound: {ffn_loss:.4f} < 10% of {bound:.4f}")
### BEGIN HIDDEN TESTS
import transformer_course.feed_forward as reference
from transformer_course.checks import from_scratch

data_x, data_y = abs_target_data(96, 5, 3, seed=1)
rows = torch.cat([data_x.reshape(-1, 3), torch.ones(96 * 5, 1)], dim=1).double()
solution = torch.linalg.lstsq(rows, data_y.reshape(-1, 3).double()).solution
oracle_bound = ((rows @ solution - data_y.reshape(-1, 3).double()) ** 2).mean().item()
torch.manual_seed(1)
with from_scratch("fit_regression", reference=[reference.fit_regression, reference.PositionwiseFeedForward]):
    ffn_model = AttentionThenHead(3, PositionwiseFeedForward(3, 24))
    fresh_ffn = fit_regression(ffn_model, data_x, data_y, steps=100, lr=3e-2)[-1].item()
if not fresh_ffn < 0.1 * oracle_bound:
    raise AssertionError(
        f"in a fresh run, attention + FFN ended at {fresh_ffn:.4f}, not below 10% "
        f"of the least-squares bound {oracle_bound:.4f}: check the ReLU in "
        "PositionwiseFeedForward."
    )
passed("a fresh run agrees")
### END HIDDEN TESTS

# %% [markdown]
# Two pictures of the same result: what each model predicts for the first feature of every
# token, against the target $|x|$, and how the two losses fell during training.

# %%
with torch.no_grad():
    predictions = {name: model(x) for name, model in models.items()}
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
feature = x[..., 0].flatten()
order = feature.argsort()
left.plot(feature[order], y[..., 0].flatten()[order], color="black", label="target |x|")
for (name, prediction), color in zip(predictions.items(), ["tab:orange", "tab:blue"]):
    left.scatter(feature, prediction[..., 0].flatten(), s=4, alpha=0.4, color=color, label=name)
left.set_xlabel("x (first feature of each token)")
left.set_ylabel("prediction")
left.set_title("목표 |x| 와 두 모델의 예측 (target vs fits)")
left.legend(markerscale=3)
for (name, curve), color in zip(curves.items(), ["tab:orange", "tab:blue"]):
    right.semilogy(curve.cpu(), color=color, label=name)
right.axhline(bound, color="black", linestyle="--", label="best affine fit (least squares)")
right.yaxis.set_major_formatter("{x:g}")  # plain numbers: no mathtext minus signs
right.yaxis.set_minor_formatter("")
right.set_xlabel("Adam step")
right.set_ylabel("MSE")
right.set_title("학습 곡선 (loss curves)")
right.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# The linear model (orange) settles on the flat line at the mean of $|x|$: the flipped
# sequences cancel anything sloped. The loss curve shows it reaches the least-squares bound
# and stays on it: more steps would not help, the model class is the limit. The FFN (blue)
# traces the V of $|x|$ token by token: with ReLU, $|x| = \mathrm{ReLU}(x) + \mathrm{ReLU}(-x)$
# needs only two hidden units per feature.
#
# ## Recap
#
# - The FFN is $\max(0, xW_1 + b_1)W_2 + b_2$, applied to every position with the same
#   weights; dropout sits after the ReLU.
# - Without the activation two linear layers are one: $W = W_2W_1$, $b = W_2b_1 + b_2$,
#   whatever $d_{ff}$.
# - Attention is linear in its values for fixed weights, and affine in its input for a
#   one-token sequence; for longer sequences its softmax weights make it nonlinear, but it
#   only mixes value vectors: it does not bend a token's own features.
# - Measured: attention + linear layers stop exactly at the best affine fit of $|x|$;
#   attention + FFN goes far below it. That is the notes' "the FFN adds nonlinearity",
#   made precise.
#
# Next, lesson 07 stacks attention, the FFN, residual connections and layer norms into the
# encoder and decoder layers, and the layers into the Transformer.
