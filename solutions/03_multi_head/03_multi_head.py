# %% [markdown]
# # 03 · Multi-head attention
#
# > **2-1. 멀티헤드 어텐션의 최종 값은 어떻게 계산하는가?** — from the notes
#
# *How is the final value of multi-head attention computed?*
#
# The notes answer:
#
# > 병렬로 진행한 어텐션의 결과를 연결한다. 각각의 헤드의 결과는 $(seq\_len, d_{model}/h)$ 이며,
# > 멀티헤드 어텐션의 결과는 $(seq\_len, d_{model})$을 가진다. $d_k = d_v = d_{model}/h = 64$
#
# *The results of the attentions run in parallel are concatenated. Each head's result is
# $(seq\_len, d_{model}/h)$, and multi-head attention's result is $(seq\_len, d_{model})$;
# $d_k = d_v = d_{model}/h = 64$* (the paper's $d_{model} = 512$ and $h = 8$).
#
# Question 1 of the notes gives the reason: "하나에서 답을 얻는 것보단 여러 개에서 답을 얻어
# 사용하는 것이 좋으니까" (*answers from several are better than an answer from one*). One
# attention gives each token one probability distribution over the other tokens; $h$ heads
# give it $h$ distributions, so one head can follow the word before while another finds what
# "it" refers to.
#
# In formulas (Vaswani et al., 2017):
#
# $$\mathrm{MultiHead}(Q, K, V) = \mathrm{Concat}(\mathrm{head}_1, \dots, \mathrm{head}_h)\,W^O,
# \qquad \mathrm{head}_i = \mathrm{Attention}(Q W_i^Q,\; K W_i^K,\; V W_i^V)$$
#
# with $W_i^Q, W_i^K, W_i^V \in \mathbb{R}^{d_{model} \times d_k}$ and
# $W^O \in \mathbb{R}^{h d_v \times d_{model}}$. The $h$ matrices $W_i^Q$ side by side form one
# $d_{model} \times d_{model}$ matrix, so the code projects once with a $d_{model} \to d_{model}$
# layer and then **splits** the result into heads. This lesson builds the split, the
# concatenation and the module, and proves it equal to PyTorch's `nn.MultiheadAttention`.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import matplotlib.pyplot as plt
import torch
from torch import nn

from transformer_course.attention import attention_scores, scaled_dot_product_attention, softmax
from transformer_course.checks import expect_close, expect_raises, expect_shape, passed
from transformer_course.plots import attention_heatmap, use_hangul_font

torch.manual_seed(0)
use_hangul_font()

# %% [markdown]
# ## 1. Splitting d_model into h heads
#
# After the projection, each token is a vector of $d_{model}$ features. Head $i$ owns the
# contiguous slice of features $i \cdot d_k, \dots, (i+1) \cdot d_k - 1$, with
# $d_k = d_{model} / h$. For a batch this is two steps:
#
# 1. view the last axis as $(h, d_k)$: $(B, T, d_{model}) \to (B, T, h, d_k)$;
# 2. move the head axis in front of the tokens: $(B, T, h, d_k) \to (B, h, T, d_k)$,
#    so that each head is an ordinary $(T, d_k)$ attention problem, batched over $B$ and $h$.
#
# Step 2 matters: viewing $(B, T, d_{model})$ directly as $(B, h, T, d_k)$ has the right shape
# but mixes the features of different tokens into one "token".
#
# **Exercise.** Write `split_heads(x, num_heads)`.

# %% nbgrader={"grade": false, "grade_id": "split_heads", "locked": false, "schema_version": 3, "solution": true, "task": false}
def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """Cut each token's d_model features into h slices of d_k = d_model / h, one per head.

    Head i gets features i·d_k … (i+1)·d_k − 1 of every token.

    Args:
        x: token vectors, already projected (for example by W^Q).
        num_heads: h; must divide d_model.

    Shape:
        x: (B, T, d_model).
        output: (B, h, T, d_k).
    """
    ### BEGIN SOLUTION
    return x.unflatten(-1, (num_heads, -1)).transpose(-3, -2)  # (B, T, h, d_k) -> (B, h, T, d_k)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_split_heads_shape", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
import math

import transformer_course.multi_head
from transformer_course.attention import softmax as _softmax
from transformer_course.checks import expect_dtype, from_scratch

### END HIDDEN TESTS
x = torch.randn(2, 5, 8)
expect_shape(split_heads(x, 2), (2, 2, 5, 4), "split_heads of a (B=2, T=5, d_model=8) tensor into h=2")
expect_shape(split_heads(x, 8), (2, 8, 5, 1), "split_heads into h=8 heads of d_k=1")
passed("split_heads gives (B, h, T, d_model / h)")
### BEGIN HIDDEN TESTS
for B, T, d_model, h in [(1, 1, 6, 3), (3, 7, 12, 1), (2, 4, 6, 6)]:
    with from_scratch("split_heads", reference=[transformer_course.multi_head.split_heads]):
        out = split_heads(torch.randn(B, T, d_model), h)
    expect_shape(out, (B, h, T, d_model // h), f"split_heads of a ({B}, {T}, {d_model}) tensor into h={h}")
passed("shapes for T = 1, h = 1 and h = d_model")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_split_heads_values", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
x = torch.randn(2, 5, 8)
heads = split_heads(x, 2)
expect_close(
    heads[:, 0],
    x[..., :4],
    "head 0 of split_heads(x, 2): the first d_k = 4 features of every token",
    mistakes={
        "you viewed (B, T, d_model) directly as (B, h, T, d_k), which mixes tokens: view as "
        "(B, T, h, d_k), then transpose(1, 2)": x.reshape(2, 2, 5, 4)[:, 0],
        "head 0 got every other feature: split the last axis as (h, d_k), not (d_k, h)": x[..., 0::2],
    },
)
expect_close(heads[:, 1], x[..., 4:], "head 1 of split_heads(x, 2): features 4 … 7 of every token")
passed("head i holds features i·d_k … (i+1)·d_k − 1 of every token")
### BEGIN HIDDEN TESTS
g = torch.Generator().manual_seed(301)
for B, T, d_model, h in [(2, 5, 12, 3), (1, 1, 8, 4), (3, 4, 6, 2), (2, 3, 4, 4)]:
    x = torch.randn(B, T, d_model, generator=g, dtype=torch.float64)
    d_k = d_model // h
    with from_scratch("split_heads", reference=[transformer_course.multi_head.split_heads]):
        out = split_heads(x, h)
    expect_close(
        out,
        torch.stack(x.chunk(h, dim=-1), dim=1),
        f"split_heads of a float64 ({B}, {T}, {d_model}) tensor into h={h}",
        mistakes={
            "you viewed (B, T, d_model) directly as (B, h, T, d_k), which mixes the features "
            "of different tokens: view as (B, T, h, d_k), then transpose(1, 2)": x.reshape(B, h, T, d_k),
            "head i must own the contiguous features i·d_k … (i+1)·d_k − 1: split the last "
            "axis as (h, d_k), not (d_k, h)": x.unflatten(-1, (d_k, h)).permute(0, 3, 1, 2),
        },
    )
passed("split_heads matches torch.chunk per head, float64, T = 1, h = d_model")
### END HIDDEN TESTS

# %% [markdown]
# A tiny example makes the layout visible: token $t$'s features are $10t, 10t + 1, \dots$, so
# each number says which token and which feature it came from.

# %%
tokens_features = (10 * torch.arange(3)[:, None] + torch.arange(6)).float()[None]  # (1, T=3, d_model=6)
print("x, one row per token:\n", tokens_features[0])
for i, head in enumerate(split_heads(tokens_features, 3)[0]):  # head: (T, d_k)
    print(f"head {i} (T, d_k) = {tuple(head.shape)}:\n", head)

# %% [markdown]
# ## 2. Concatenating the heads
#
# Each head returns $(T, d_k)$ per sequence. The notes concatenate them into $(T, d_{model})$:
# for each token, head 0's $d_k$ features, then head 1's, and so on. That is `split_heads`
# backwards: $(B, h, T, d_k) \to (B, T, h, d_k) \to (B, T, d_{model})$.
#
# One trap: after a transpose the tensor is no longer contiguous in memory, and `.view` refuses
# it; `.reshape` or `.flatten` copy when they need to.
#
# **Exercise.** Write `combine_heads(x)`.

# %% nbgrader={"grade": false, "grade_id": "combine_heads", "locked": false, "schema_version": 3, "solution": true, "task": false}
def combine_heads(x: torch.Tensor) -> torch.Tensor:
    """Concatenate the heads' outputs token by token: the inverse of ``split_heads``.

    Shape:
        x: (B, h, T, d_k).
        output: (B, T, h·d_k) = (B, T, d_model).
    """
    ### BEGIN SOLUTION
    return x.transpose(-3, -2).flatten(-2)  # (B, T, h, d_k) -> (B, T, d_model)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_combine_heads_shape", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
expect_shape(combine_heads(torch.randn(2, 4, 5, 3)), (2, 5, 12), "combine_heads of (B=2, h=4, T=5, d_k=3)")
x = torch.randn(2, 5, 8)
split_by_hand = x.view(2, 5, 2, 4).transpose(1, 2)  # (B, h, T, d_k), not contiguous
expect_close(
    combine_heads(split_by_hand), x, "combine_heads of x split into 2 heads, which should give x back"
)
passed("combine_heads gives (B, T, h·d_k) and undoes the split")
### BEGIN HIDDEN TESTS
for B, h, T, d_k in [(1, 1, 1, 5), (3, 6, 2, 1), (2, 3, 4, 2)]:
    with from_scratch("combine_heads", reference=[transformer_course.multi_head.combine_heads]):
        out = combine_heads(torch.randn(B, h, T, d_k))
    expect_shape(out, (B, T, h * d_k), f"combine_heads of ({B}, {h}, {T}, {d_k})")
passed("shapes for T = 1, h = 1 and d_k = 1")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_combine_heads_values", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
heads = torch.randn(2, 3, 4, 2)  # (B, h, T, d_k)
combined = combine_heads(heads)
expect_close(
    combined[:, :, 2:4],
    heads[:, 1],
    "features 2 … 3 of combine_heads(x): head 1's output",
    mistakes={
        "you reshaped (B, h, T, d_k) straight to (B, T, d_model), which mixes tokens: "
        "transpose(1, 2) first": heads.reshape(2, 4, 6)[:, :, 2:4],
        "the heads are interleaved: merge the axes as (h, d_k), not (d_k, h)": heads.permute(
            0, 2, 3, 1
        ).reshape(2, 4, 6)[:, :, 2:4],
    },
)
passed("token t's features are head 0's d_k features, then head 1's, …")
### BEGIN HIDDEN TESTS
g = torch.Generator().manual_seed(302)
for B, h, T, d_k in [(2, 3, 5, 4), (1, 4, 1, 2), (3, 2, 4, 3), (2, 4, 3, 1)]:
    x = torch.randn(B, h, T, d_k, generator=g, dtype=torch.float64)
    with from_scratch("combine_heads", reference=[transformer_course.multi_head.combine_heads]):
        out = combine_heads(x)
    expect_close(
        out,
        torch.cat(x.unbind(1), dim=-1),
        f"combine_heads of a float64 ({B}, {h}, {T}, {d_k}) tensor",
        mistakes={
            "you reshaped (B, h, T, d_k) straight to (B, T, d_model), which mixes tokens: "
            "transpose(1, 2) to (B, T, h, d_k) first, then merge the last two axes": x.reshape(B, T, h * d_k),
            "each token's features must be head 0's d_k features, then head 1's, …: "
            "merge the axes as (h, d_k), not (d_k, h)": x.permute(0, 2, 3, 1).flatten(-2),
        },
    )
passed("combine_heads matches torch.cat of the heads, float64, T = 1, d_k = 1")
### END HIDDEN TESTS

# %% [markdown]
# ## 3. `MultiHeadAttention`
#
# Put together, for inputs `query` $(B, T_q, d_{model})$ and `key`, `value` $(B, T_k, d_{model})$:
#
# 1. project: $Q = \text{query}\,W^Q + b^Q$, likewise $K$ and $V$, each a $d_{model} \to d_{model}$
#    `nn.Linear` (`w_q`, `w_k`, `w_v`);
# 2. split each into heads: $(B, h, T, d_k)$;
# 3. attend in every head at once with lesson 02's steps (`attention_scores`, the mask, `softmax`,
#    then the weights times $V$), which treat $(B, h)$ as batch dimensions and divide by
#    $\sqrt{d_k}$, each head's size; written out rather than one call of
#    `scaled_dot_product_attention`, so that dropout can act on the weights before the one
#    product with $V$;
# 4. concatenate the heads and mix them with $W^O$ (`w_o`, another $d_{model} \to d_{model}$
#    `nn.Linear`): without $W^O$ each output feature would come from one head only.
#
# Two extras every real layer has:
# - a **mask** (boolean, True where attention is allowed) passed straight to the attention; it
#   broadcasts against the scores $(B, h, T_q, T_k)$, so one $(T_q, T_k)$ or $(B, 1, 1, T_k)$
#   mask serves all heads (lesson 04 builds them);
# - **dropout on the attention weights** while training, as in the Annotated Transformer and
#   `nn.MultiheadAttention`: `nn.Dropout` is the identity in `eval()` mode and when `p = 0`.
#
# Keep the last weights in `self.attn_weights` $(B, h, T_q, T_k)$ for the pictures, detached
# (`weights.detach()`: a picture needs no gradient, and an attached tensor would keep the whole
# graph of the step alive), and raise a
# `ValueError` that says what to do when `d_model` is not divisible by `num_heads`.
#
# **Exercise.** Write `MultiHeadAttention`, calling your `split_heads` and `combine_heads`.
# Write it from scratch: the grader fails a version that calls `nn.MultiheadAttention`,
# `F.multi_head_attention_forward` or `F.scaled_dot_product_attention`.

# %% nbgrader={"grade": false, "grade_id": "MultiHeadAttention", "locked": false, "schema_version": 3, "solution": true, "task": false}
class MultiHeadAttention(nn.Module):
    """Multi-head attention: h attentions over d_k-dimensional slices, concatenated, then W^O.

    MultiHead(Q, K, V) = Concat(head_1, …, head_h) W^O with
    head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V). The h projections W_i^Q of size
    (d_model, d_k) are the column blocks of one (d_model, d_model) layer ``w_q``
    (likewise ``w_k``, ``w_v``), so one matmul projects every head at once.

    Args:
        d_model: size of each token vector; must be divisible by ``num_heads``.
        num_heads: h, the number of heads; each works in d_k = d_v = d_model / h dimensions.
        dropout: probability of zeroing an attention weight while training.

    Shape:
        query: (B, T_q, d_model); key, value: (B, T_k, d_model).
        mask: boolean, True where attention is allowed, broadcasting against
            (B, h, T_q, T_k), e.g. (T_q, T_k), (B, 1, 1, T_k) or (B, 1, T_q, T_k).
        output: (B, T_q, d_model); ``self.attn_weights``: (B, h, T_q, T_k).
    """

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0):
        super().__init__()
        ### BEGIN SOLUTION
        if d_model % num_heads != 0:
            raise ValueError(
                f"d_model = {d_model} is not divisible by num_heads = {num_heads}: every head "
                f"needs d_k = d_model / num_heads features. Pick num_heads among the divisors "
                f"of d_model."
            )
        self.num_heads = num_heads
        self.d_k = d_model // num_heads
        self.w_q = nn.Linear(d_model, d_model)
        self.w_k = nn.Linear(d_model, d_model)
        self.w_v = nn.Linear(d_model, d_model)
        self.w_o = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)
        self.attn_weights = None
        ### END SOLUTION

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        ### BEGIN SOLUTION
        q = split_heads(self.w_q(query), self.num_heads)  # (B, h, T_q, d_k)
        k = split_heads(self.w_k(key), self.num_heads)  # (B, h, T_k, d_k)
        v = split_heads(self.w_v(value), self.num_heads)  # (B, h, T_k, d_k)
        # Lesson 02's steps, written out so that dropout can act on the weights before the
        # one product with V.
        scores = attention_scores(q, k)  # (B, h, T_q, T_k), divided by √d_k
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = softmax(scores, dim=-1)  # (B, h, T_q, T_k)
        # Detached: kept for pictures, it must not hold the graph (and its memory) alive.
        self.attn_weights = weights.detach()
        heads = self.dropout(weights) @ v  # (B, h, T_q, T_k) @ (B, h, T_k, d_k)
        return self.w_o(combine_heads(heads))  # (B, T_q, d_model)
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_multi_head_attention_init", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
_BANNED = {
    "torch_functions": [
        "multi_head_attention_forward",
        "scaled_dot_product_attention",
        "_native_multi_head_attention",
    ],
    "reference": [transformer_course.multi_head.MultiHeadAttention],
}
_LAYERS = ("w_q", "w_k", "w_v", "w_o")


def _randn(*shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _check_layers(mha, d_model, num_heads):
    d_k = d_model // num_heads
    for name in _LAYERS:
        layer = getattr(mha, name, None)
        if not isinstance(layer, nn.Linear):
            raise AssertionError(
                f"MultiHeadAttention({d_model}, {num_heads}) has no nn.Linear attribute `{name}`: "
                f"create self.{name} = nn.Linear(d_model, d_model) in __init__."
            )
        if layer.bias is None:
            raise AssertionError(
                f"`{name}` has no bias: keep nn.Linear's default bias=True, as "
                f"nn.MultiheadAttention's projections do."
            )
        if tuple(layer.weight.shape) != (d_model, d_model):
            hint = (
                " It looks like a per-head layer: W^O mixes the concatenated heads, all "
                "d_model features at once."
                if layer.weight.shape[-1] == d_k
                else ""
            )
            raise AssertionError(
                f"`{name}` of MultiHeadAttention({d_model}, {num_heads}) maps "
                f"{layer.in_features} -> {layer.out_features} features; it must be "
                f"nn.Linear(d_model, d_model): h heads of d_k = d_model / h side by side.{hint}"
            )


def _make_mha(d_model, num_heads, seed, dropout=0.0):
    """The learner's module and nn.MultiheadAttention, both float64 and holding the same
    injected weights, and those weights."""
    with from_scratch("MultiHeadAttention", **_BANNED):
        mine = MultiHeadAttention(d_model, num_heads, dropout)
    _check_layers(mine, d_model, num_heads)
    mine = mine.double()
    W = {}
    for i, name in enumerate(_LAYERS):
        W[name] = _randn(d_model, d_model, seed=seed + 2 * i) / math.sqrt(d_model)
        W[name + "_b"] = 0.5 * _randn(d_model, seed=seed + 2 * i + 1)
    ref = nn.MultiheadAttention(d_model, num_heads, dropout=dropout, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        for name in _LAYERS:
            getattr(mine, name).weight.copy_(W[name])
            getattr(mine, name).bias.copy_(W[name + "_b"])
        ref.in_proj_weight.copy_(torch.cat([W["w_q"], W["w_k"], W["w_v"]]))
        ref.in_proj_bias.copy_(torch.cat([W["w_q_b"], W["w_k_b"], W["w_v_b"]]))
        ref.out_proj.weight.copy_(W["w_o"])
        ref.out_proj.bias.copy_(W["w_o_b"])
    return mine, ref, W


def _run(mine, query, key, value, mask=None):
    with from_scratch("MultiHeadAttention", **_BANNED):
        out = mine(query, key, value, mask)
    weights = getattr(mine, "attn_weights", None)
    if not isinstance(weights, torch.Tensor):
        raise AssertionError(
            "self.attn_weights is not a tensor after forward: keep the attention "
            "weights, shape (B, h, T_q, T_k), in self.attn_weights."
        )
    return out, weights


def _torch_mha(ref, query, key, value, mask=None, key_padding=None):
    """nn.MultiheadAttention's output and per-head weights; its masks are True where blocked."""
    attn_mask = None
    if mask is not None:
        B, T_q, T_k = query.size(0), query.size(1), key.size(1)
        attn_mask = (~mask).expand(B, ref.num_heads, T_q, T_k).reshape(B * ref.num_heads, T_q, T_k)
    key_padding_mask = None if key_padding is None else ~key_padding[:, 0, 0, :]
    return ref(
        query,
        key,
        value,
        attn_mask=attn_mask,
        key_padding_mask=key_padding_mask,
        need_weights=True,
        average_attn_weights=False,
    )


def _variant(
    W,
    h,
    query,
    key,
    value,
    mask=None,
    split="ok",
    merge="ok",
    scale="d_k",
    w_o=True,
    masked="ok",
    swap_kv=False,
    softmax_dim=-1,
    from_query=(),
):
    """Multi-head attention with one known mistake switched on: (output, weights)."""
    B, T_q, d_model = query.shape
    d_k = d_model // h

    def project(x, name):
        return x @ W[name].T + W[name + "_b"]

    def heads(x):
        if split == "no_transpose":
            return x.reshape(x.size(0), h, x.size(1), d_k)
        if split == "interleaved":
            return x.unflatten(-1, (d_k, h)).permute(0, 3, 1, 2)
        return x.unflatten(-1, (h, d_k)).transpose(1, 2)

    def concat(x):
        if merge == "no_transpose":
            return x.reshape(B, T_q, d_model)
        if merge == "interleaved":
            return x.permute(0, 2, 3, 1).flatten(-2)
        return x.transpose(1, 2).flatten(-2)

    q = heads(project(query, "w_q"))
    k = heads(project(query if "key" in from_query else value if swap_kv else key, "w_k"))
    v = heads(project(query if "value" in from_query else key if swap_kv else value, "w_v"))
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k if scale == "d_k" else d_model)
    if mask is not None and masked != "ignored":
        scores = scores.masked_fill(mask if masked == "inverted" else ~mask, float("-inf"))
    weights = _softmax(scores, dim=softmax_dim)
    out = concat(weights @ v)
    return (project(out, "w_o") if w_o else out), weights


def _mistakes(W, h, query, key, value, mask=None):
    """Known wrong results, keyed by the message that names the mistake: (outputs, weights)."""
    cases = {
        "heads split without the transpose: view (B, T, d_model) as (B, T, h, d_k), then "
        "transpose(1, 2); viewing it directly as (B, h, T, d_k) mixes tokens across heads": {
            "split": "no_transpose",
            "merge": "no_transpose",
        },
        "heads concatenated without the transpose: combine_heads must bring (B, h, T, d_k) to "
        "(B, T, h, d_k) before merging the last two axes": {"merge": "no_transpose"},
        "heads built from interleaved features: head i owns features i·d_k … (i+1)·d_k − 1, "
        "so split d_model as (h, d_k)": {"split": "interleaved", "merge": "interleaved"},
        "the scores are divided by √d_model: each head's queries and keys have d_k = d_model / h "
        "features, so divide by √d_k (attention_scores on the split heads does)": {"scale": "d_model"},
        "W^O is missing: apply self.w_o to the concatenated heads": {"w_o": False},
        "key and value are swapped: project `key` with w_k and `value` with w_v": {"swap_kv": True},
        "softmax over the query axis: each query's weights over the keys must sum to one "
        "(softmax over the last axis)": {"softmax_dim": -2},
    }
    if query.shape == key.shape and not torch.equal(query, key):  # only equal lengths let these run
        cases["the keys are projected from `query`: project `key` with w_k, whatever the lengths"] = {
            "from_query": ("key",)
        }
        cases[
            "equal shapes are not self-attention: project `key` and `value` as given, also when "
            "they have the query's shape"
        ] = {"from_query": ("key", "value")}
    if mask is not None:
        cases["the mask is ignored: fill the scores with -inf where mask is False, before the softmax"] = {
            "masked": "ignored"
        }
        cases[
            "the mask is inverted: in this course True means attention is allowed "
            "(nn.MultiheadAttention's masks use the opposite rule)"
        ] = {"masked": "inverted"}
    results = {hint: _variant(W, h, query, key, value, mask, **flags) for hint, flags in cases.items()}
    return ({hint: r[0] for hint, r in results.items()}, {hint: r[1] for hint, r in results.items()})


def _compare(mine, ref, W, query, key, value, mask=None, key_padding=None, what=""):
    h = ref.num_heads
    full_mask = mask if key_padding is None else key_padding
    out, weights = _run(mine, query, key, value, full_mask)
    expected, expected_weights = _torch_mha(ref, query, key, value, mask, key_padding)
    wrong_out, wrong_weights = _mistakes(W, h, query, key, value, full_mask)
    expect_close(out, expected, f"output of {what}", mistakes=wrong_out)
    expect_close(weights, expected_weights, f"self.attn_weights of {what}", mistakes=wrong_weights)
    return out, weights


### END HIDDEN TESTS
mha = MultiHeadAttention(d_model=16, num_heads=4)
for name in ("w_q", "w_k", "w_v", "w_o"):
    layer = getattr(mha, name)
    assert isinstance(layer, nn.Linear), f"self.{name} must be an nn.Linear, got {type(layer).__name__}"
    assert (layer.in_features, layer.out_features) == (16, 16), (
        f"self.{name} must map d_model -> d_model (16 -> 16), got {layer.in_features} -> {layer.out_features}"
    )
    assert layer.bias is not None, f"self.{name} needs a bias (nn.Linear's default bias=True)"
expect_raises(
    ValueError,
    lambda: MultiHeadAttention(d_model=10, num_heads=3),
    "MultiHeadAttention(d_model=10, num_heads=3): 3 does not divide 10",
)
passed("four d_model -> d_model linear layers with bias, and a ValueError for d_model=10, h=3")
### BEGIN HIDDEN TESTS
for d_model, num_heads in [(12, 3), (8, 8), (6, 1)]:
    with from_scratch("MultiHeadAttention", **_BANNED):
        layer = MultiHeadAttention(d_model, num_heads)
    _check_layers(layer, d_model, num_heads)
for d_model, num_heads in [(12, 5), (4, 8)]:
    expect_raises(
        ValueError,
        lambda d=d_model, n=num_heads: MultiHeadAttention(d, n),
        f"MultiHeadAttention({d_model}, {num_heads}), where {num_heads} does not divide {d_model}",
    )
passed("w_q, w_k, w_v, w_o for h = 1 and h = d_model; ValueError when h does not divide d_model")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_multi_head_attention_shapes", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
mha = MultiHeadAttention(d_model=16, num_heads=4)
query, memory = torch.randn(2, 3, 16), torch.randn(2, 5, 16)
out = mha(query, memory, memory)
expect_shape(out, (2, 3, 16), "MultiHeadAttention output for query (2, 3, 16), key/value (2, 5, 16)")
expect_shape(mha.attn_weights, (2, 4, 3, 5), "self.attn_weights (B, h, T_q, T_k)")
expect_close(mha.attn_weights.sum(-1), torch.ones(2, 4, 3), "each query's weights summed over the keys")
passed("output (B, T_q, d_model), weights (B, h, T_q, T_k) whose rows sum to one")
### BEGIN HIDDEN TESTS
for B, T_q, T_k, d_model, h in [(1, 1, 1, 4, 2), (3, 1, 6, 6, 6), (2, 4, 1, 8, 1)]:
    mine, _, _ = _make_mha(d_model, h, seed=310)
    out, weights = _run(
        mine,
        _randn(B, T_q, d_model, seed=311),
        _randn(B, T_k, d_model, seed=312),
        _randn(B, T_k, d_model, seed=313),
    )
    what = f"MultiHeadAttention({d_model}, {h}) with B={B}, T_q={T_q}, T_k={T_k}"
    expect_shape(out, (B, T_q, d_model), f"output of {what}")
    expect_dtype(out, torch.float64, f"output of {what} (float64 module and inputs)")
    expect_shape(weights, (B, h, T_q, T_k), f"self.attn_weights of {what}")
passed("shapes and float64 for T = 1, T_q != T_k, h = 1 and h = d_model")
### END HIDDEN TESTS

# %% [markdown]
# ### Is it the same as PyTorch's?
#
# `nn.MultiheadAttention(d_model, h, batch_first=True)` computes the same function with its
# weights stored differently: $W^Q$, $W^K$, $W^V$ stacked into one `in_proj_weight` of shape
# $(3 d_{model}, d_{model})$, in that order, their biases in `in_proj_bias`, and $W^O$ in
# `out_proj`. Copy ours across and the outputs must agree; with `need_weights=True,
# average_attn_weights=False` it also returns every head's weights. The test below does exactly
# that; the grader repeats it for self- and cross-attention, with and without masks, in
# float64, and compares the gradients too.

# %% nbgrader={"grade": true, "grade_id": "test_multi_head_attention_self", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
mha = MultiHeadAttention(d_model=16, num_heads=4)
torch_mha = nn.MultiheadAttention(16, 4, batch_first=True)
with torch.no_grad():
    torch_mha.in_proj_weight.copy_(torch.cat([mha.w_q.weight, mha.w_k.weight, mha.w_v.weight]))
    torch_mha.in_proj_bias.copy_(torch.cat([mha.w_q.bias, mha.w_k.bias, mha.w_v.bias]))
    torch_mha.out_proj.weight.copy_(mha.w_o.weight)
    torch_mha.out_proj.bias.copy_(mha.w_o.bias)
x = torch.randn(2, 5, 16)
expected, expected_weights = torch_mha(x, x, x, need_weights=True, average_attn_weights=False)
expect_close(mha(x, x, x), expected, "self-attention output against nn.MultiheadAttention")
expect_close(mha.attn_weights, expected_weights, "self.attn_weights against nn.MultiheadAttention's")
passed("self-attention equals nn.MultiheadAttention with the same weights")
### BEGIN HIDDEN TESTS
for B, T, d_model, h in [(2, 5, 12, 3), (1, 1, 8, 2), (3, 4, 6, 1), (2, 3, 4, 4), (2, 6, 8, 2)]:
    mine, ref, W = _make_mha(d_model, h, seed=320 + d_model)
    x = _randn(B, T, d_model, seed=321)
    _compare(
        mine,
        ref,
        W,
        x,
        x,
        x,
        what=f"float64 self-attention, MultiHeadAttention({d_model}, {h}), B={B}, T={T}",
    )
passed("float64 self-attention equals nn.MultiheadAttention for T = 1, h = 1, h = d_model")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_multi_head_attention_cross", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
mha = MultiHeadAttention(d_model=8, num_heads=2)
decoder_x, encoder_out = torch.randn(1, 2, 8), torch.randn(1, 6, 8)
out = mha(decoder_x, encoder_out, encoder_out)
expect_shape(out, (1, 2, 8), "cross-attention output: one vector per query (decoder) token")
expect_shape(mha.attn_weights, (1, 2, 2, 6), "cross-attention weights (B, h, T_q=2, T_k=6)")
passed("cross-attention: T_q queries attend over T_k keys")
### BEGIN HIDDEN TESTS
# The last case has T_q = T_k: equal lengths with query, key and value all different.
for B, T_q, T_k, d_model, h in [
    (2, 3, 5, 12, 3),
    (1, 1, 4, 8, 4),
    (3, 5, 1, 6, 2),
    (2, 4, 7, 4, 1),
    (2, 6, 6, 12, 3),
]:
    mine, ref, W = _make_mha(d_model, h, seed=330 + T_k)
    query = _randn(B, T_q, d_model, seed=331)
    key, value = _randn(B, T_k, d_model, seed=332), _randn(B, T_k, d_model, seed=333)
    _compare(
        mine,
        ref,
        W,
        query,
        key,
        value,
        what=f"float64 cross-attention, MultiHeadAttention({d_model}, {h}), B={B}, "
        f"T_q={T_q}, T_k={T_k}, query, key and value all different",
    )
passed(
    "float64 cross-attention (T_q != T_k and T_q = T_k, query, key and value all different) "
    "equals nn.MultiheadAttention"
)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_multi_head_attention_masks", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
mha = MultiHeadAttention(d_model=8, num_heads=2)
x = torch.randn(1, 4, 8)
causal = torch.ones(4, 4, dtype=torch.bool).tril()  # True where allowed: keys up to the query
mha(x, x, x, causal)
expect_close(
    mha.attn_weights.masked_select(~causal),
    torch.zeros(2 * 6),
    "weights on masked (future) keys, with a (T, T) mask",
)
passed("a (T, T) mask reaches every head: masked keys get zero weight")
### BEGIN HIDDEN TESTS
B, T, d_model, h = 2, 5, 12, 3
lengths = torch.tensor([5, 3])
mine, ref, W = _make_mha(d_model, h, seed=340)
x = _randn(B, T, d_model, seed=341)
causal = torch.ones(T, T, dtype=torch.bool).tril()
_compare(mine, ref, W, x, x, x, mask=causal, what="float64 self-attention with a (T, T) look-ahead mask")

T_k = 6
padding = (torch.arange(T_k) < torch.tensor([6, 2])[:, None])[:, None, None, :]  # (B, 1, 1, T_k)
memory = _randn(B, T_k, d_model, seed=342)
_, weights = _compare(
    mine,
    ref,
    W,
    x,
    memory,
    memory,
    key_padding=padding,
    what="float64 cross-attention with a (B, 1, 1, T_k) padding mask "
    "(key_padding_mask in nn.MultiheadAttention)",
)
if not (weights.masked_select(~padding.expand_as(weights)) == 0).all():
    raise AssertionError(
        "padded keys must get exactly zero weight: fill the masked scores with -inf before the softmax."
    )

combined = (torch.arange(T) < lengths[:, None])[:, None, None, :] & causal  # (B, 1, T, T)
_, weights = _compare(
    mine,
    ref,
    W,
    x,
    x,
    x,
    mask=combined,
    what="float64 self-attention with a (B, 1, T, T) look-ahead and padding mask",
)
if not (weights.masked_select(~combined.expand_as(weights)) == 0).all():
    raise AssertionError(
        "masked keys must get exactly zero weight: fill the masked scores with -inf before the softmax."
    )
passed("(T, T), (B, 1, 1, T_k) and (B, 1, T, T) masks agree with nn.MultiheadAttention")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_multi_head_attention_gradients", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
mha = MultiHeadAttention(d_model=8, num_heads=2)
x = torch.randn(2, 3, 8, requires_grad=True)
mha(x, x, x).sum().backward()
for name in ("w_q", "w_k", "w_v", "w_o"):
    assert getattr(mha, name).weight.grad is not None, (
        f"no gradient reached self.{name}.weight: use self.{name} in forward and don't detach"
    )
assert x.grad is not None, "no gradient reached the input: don't detach inside forward"
passed("gradients reach the input and all four projections")
### BEGIN HIDDEN TESTS
B, T_q, T_k, d_model, h = 2, 4, 5, 12, 3
mine, ref, W = _make_mha(d_model, h, seed=350)
mask = torch.ones(T_q, T_k, dtype=torch.bool).tril(1)
inputs = [_randn(B, T, d_model, seed=351 + i) for i, T in enumerate((T_q, T_k, T_k))]
cotangent = _randn(B, T_q, d_model, seed=355)
mine_inputs = [t.clone().requires_grad_() for t in inputs]
ref_inputs = [t.clone().requires_grad_() for t in inputs]
out, kept = _run(mine, *mine_inputs, mask)
if kept.requires_grad or kept.grad_fn is not None:
    raise AssertionError(
        "self.attn_weights is still attached to the graph (requires_grad=True after a forward pass "
        "whose inputs require grad): store weights.detach(). The pictures need no gradient, and an "
        "attached tensor keeps the whole graph of the step, and its memory, alive."
    )
(out * cotangent).sum().backward()
expected, _ = _torch_mha(ref, *ref_inputs, mask)
(expected * cotangent).sum().backward()
for name, mine_t, ref_t in zip(("query", "key", "value"), mine_inputs, ref_inputs, strict=True):
    if mine_t.grad is None:
        raise AssertionError(f"no gradient reached `{name}`: don't detach or use .data in forward")
    expect_close(mine_t.grad, ref_t.grad, f"gradient with respect to `{name}` (float64, masked)")
rows = {"w_q": slice(0, d_model), "w_k": slice(d_model, 2 * d_model), "w_v": slice(2 * d_model, None)}
for name, part in rows.items():
    layer = getattr(mine, name)
    if layer.weight.grad is None:
        raise AssertionError(f"no gradient reached self.{name}.weight: use it in forward")
    expect_close(layer.weight.grad, ref.in_proj_weight.grad[part], f"gradient of self.{name}.weight")
    expect_close(layer.bias.grad, ref.in_proj_bias.grad[part], f"gradient of self.{name}.bias")
expect_close(mine.w_o.weight.grad, ref.out_proj.weight.grad, "gradient of self.w_o.weight")
expect_close(mine.w_o.bias.grad, ref.out_proj.bias.grad, "gradient of self.w_o.bias")
passed("float64 gradients for query, key, value and every weight equal nn.MultiheadAttention's")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_multi_head_attention_dropout", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
mha = MultiHeadAttention(d_model=16, num_heads=4, dropout=0.5)
x = torch.randn(2, 5, 16)
mha.eval()
with torch.no_grad():
    first, second = mha(x, x, x), mha(x, x, x)
expect_close(second, first, "two calls in eval mode: dropout must be off in eval()")
mha.train()
with torch.no_grad():
    training = mha(x, x, x)
assert not torch.allclose(training, first), (
    "with dropout=0.5 in train() mode the output equals eval()'s: apply self.dropout "
    "(an nn.Dropout) to the attention weights"
)
passed("dropout is active in train() and off in eval()")
### BEGIN HIDDEN TESTS
from torch.overrides import TorchFunctionMode

B, T_q, T_k, d_model, h = 2, 4, 6, 12, 3
mine, ref, W = _make_mha(d_model, h, seed=360, dropout=0.3)
mine.eval()
ref.eval()
query, key = _randn(B, T_q, d_model, seed=361), _randn(B, T_k, d_model, seed=362)
value = _randn(B, T_k, d_model, seed=363)
with torch.no_grad():
    first, _ = _run(mine, query, key, value)
    again, _ = _run(mine, query, key, value)
    expect_close(
        again,
        first,
        "a second call in eval() mode with dropout=0.3: use nn.Dropout "
        "(or F.dropout(..., training=self.training)) so eval() turns it off",
    )
    _compare(mine, ref, W, query, key, value, what="eval() mode with dropout=0.3")
# With every value token the same vector and W^O the identity, each head's output is that head's
# value vector times the sum of its (dropped-out) weights: dropout on the weights keeps it
# proportional, dropout on features or outputs does not.
mine.train()
with torch.no_grad():
    mine.w_o.weight.copy_(torch.eye(d_model, dtype=torch.float64))
    mine.w_o.bias.zero_()
same_value = _randn(B, 1, d_model, seed=364).expand(B, T_k, d_model)
torch.manual_seed(365)
with torch.no_grad():
    out, _ = _run(mine, query, key, same_value)
    v_heads = (same_value[:, :1] @ W["w_v"].T + W["w_v_b"]).unflatten(-1, (h, d_model // h))
    out_heads = out.unflatten(-1, (h, d_model // h))  # (B, T_q, h, d_k)
    scale = (out_heads * v_heads).sum(-1, keepdim=True) / (v_heads * v_heads).sum(-1, keepdim=True)
expect_close(
    out_heads,
    scale * v_heads,
    "train() output when every value token is the same vector: dropout must act on the "
    "attention weights (self.dropout(weights) @ v), not on the features or the output",
)
if torch.allclose(scale, torch.ones_like(scale)):
    raise AssertionError(
        "with dropout=0.3 in train() mode the weights were not dropped: apply "
        "self.dropout to the attention weights"
    )


class _ProductsWithV(TorchFunctionMode):
    """Counts the products of (..., T_q, T_k) weights with (..., T_k, d_k) values, however written."""

    def __init__(self, T_q, T_k, d_k):
        super().__init__()
        self.weights_shape, self.values_shape, self.count = (T_q, T_k), (T_k, d_k), 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in {"matmul", "__matmul__", "__rmatmul__", "bmm", "einsum"}:
            operands = [t for a in args for t in (a if isinstance(a, (list, tuple)) else [a])]
            shapes = {tuple(t.shape[-2:]) for t in operands if isinstance(t, torch.Tensor) and t.dim() >= 2}
            self.count += self.weights_shape in shapes and self.values_shape in shapes
        return func(*args, **(kwargs or {}))


# T_q = 3, T_k = 5, d_k = 4 and d_model = 12 all differ: only the weights times V has these shapes.
B, T_q, T_k, d_model, h = 2, 3, 5, 12, 3
mine, _, _ = _make_mha(d_model, h, seed=370, dropout=0.3)
mine.train()
counter = _ProductsWithV(T_q, T_k, d_model // h)
with torch.no_grad(), counter:
    _run(
        mine,
        _randn(B, T_q, d_model, seed=371),
        _randn(B, T_k, d_model, seed=372),
        _randn(B, T_k, d_model, seed=373),
    )
if counter.count > 1:
    raise AssertionError(
        f"one forward pass multiplied the attention weights by V {counter.count} times: do it once, "
        "self.dropout(weights) @ v. Calling scaled_dot_product_attention for the weights and then "
        "multiplying again computes the product twice; build the weights from attention_scores, the "
        "mask and softmax instead."
    )
passed(
    "eval() equals nn.MultiheadAttention with dropout=0.3; in train() dropout hits the weights, "
    "which multiply V once"
)
### END HIDDEN TESTS

# %% [markdown]
# ### The formula, head by head
#
# The module never builds the $h$ small matrices $W_i^Q \in \mathbb{R}^{d_{model} \times d_k}$ of
# the formula. They are there all the same: `nn.Linear` stores its weight as
# $(\text{out}, \text{in})$, and head $i$ reads output rows $i d_k, \dots, (i+1) d_k - 1$, so
# $W_i^Q$ is `w_q.weight[rows].T`. Running the $h$ attentions one by one, concatenating and
# applying $W^O$ gives the module's output:

# %%
mha = MultiHeadAttention(d_model=8, num_heads=2)
x = torch.randn(1, 4, 8)
d_k = 8 // 2
heads = []
with torch.no_grad():
    for i in range(2):
        rows = slice(i * d_k, (i + 1) * d_k)  # head i's block of every projection
        q_i = x @ mha.w_q.weight[rows].T + mha.w_q.bias[rows]  # X W_i^Q: (1, 4, d_k)
        k_i = x @ mha.w_k.weight[rows].T + mha.w_k.bias[rows]  # (1, 4, d_k)
        v_i = x @ mha.w_v.weight[rows].T + mha.w_v.bias[rows]  # (1, 4, d_k)
        head_i, _ = scaled_dot_product_attention(q_i, k_i, v_i)  # (1, 4, d_k)
        heads.append(head_i)
    concatenated = torch.cat(heads, dim=-1)  # Concat(head_1, head_2): (1, 4, d_model)
    by_formula = mha.w_o(concatenated)  # (1, 4, d_model)
    print("each head:", tuple(heads[0].shape), "concatenated:", tuple(concatenated.shape))
    print(f"largest difference from the module: {(by_formula - mha(x, x, x)).abs().max():.1e}")

# %% [markdown]
# Splitting is free: the number of parameters, $4 d_{model}^2 + 4 d_{model}$, does not depend
# on $h$. More heads means more, narrower attentions for the same cost.

# %%
for h in (1, 8, 64):
    count = sum(p.numel() for p in MultiHeadAttention(512, h).parameters())
    print(f"h = {h:>2}, d_k = {512 // h:>3}: {count:,} parameters")
torch_count = sum(p.numel() for p in nn.MultiheadAttention(512, 8).parameters())
print(f"nn.MultiheadAttention(512, 8): {torch_count:,} parameters")

# %% [markdown]
# ## 4. What each head attends to
#
# Take the notes' sentence, "The cat sat on the mat because it was tired". To *see* heads
# specialise, we set $W^Q$ and $W^K$ by hand instead of training them. Each token is a one-hot
# code of its word plus a one-hot code of its position ($d_{model} = 40$, $h = 4$, $d_k = 10$),
# and each head gets its own rule through its block of rows in `w_q` and `w_k`:
#
# | head | query of token $t$ asks for | key of token $s$ offers |
# |---|---|---|
# | 1 | position $t - 1$ (the previous word) | its position |
# | 2 | its own word | its word |
# | 3 | "cat", if $t$ is "it" | "cat", if it is "cat" |
# | 4 | position $t + 1$ (the next word) | its position |
#
# A matching query and key score $5 \cdot 5 / \sqrt{10} \approx 8$, everything else $0$, so
# each softmax is nearly one-hot. A head with nothing to look for (head 3 for every token
# but "it") spreads its weight evenly.

# %%
words = "the cat sat on the mat because it was tired".split()
vocab = list(dict.fromkeys(words))  # 9 distinct words, in order of appearance
T, V = len(words), len(vocab)
d_model, h = 40, 4
d_k = d_model // h
x = torch.zeros(1, T, d_model)
for t, word in enumerate(words):
    x[0, t, vocab.index(word)] = 1.0  # features 0 … V-1: which word
    x[0, t, V + t] = 1.0  # features V … V+T-1: which position

sharp = 5.0
w_q = torch.zeros(d_model, d_model)  # nn.Linear layout (out, in): head i owns rows i·d_k …
w_k = torch.zeros(d_model, d_model)
for t in range(T):
    w_q[0 * d_k + max(t - 1, 0), V + t] = sharp  # head 1: look at position t - 1
    w_k[0 * d_k + t, V + t] = sharp
    w_q[3 * d_k + min(t + 1, T - 1), V + t] = sharp  # head 4: look at position t + 1
    w_k[3 * d_k + t, V + t] = sharp
for w in range(V):
    w_q[1 * d_k + w, w] = sharp  # head 2: look at the same word
    w_k[1 * d_k + w, w] = sharp
w_q[2 * d_k, vocab.index("it")] = sharp  # head 3: "it" looks for "cat"
w_k[2 * d_k, vocab.index("cat")] = sharp

mha = MultiHeadAttention(d_model, h)
with torch.no_grad():
    mha.w_q.weight.copy_(w_q)
    mha.w_k.weight.copy_(w_k)
    mha.w_q.bias.zero_()
    mha.w_k.bias.zero_()
    mha(x, x, x)

titles = [
    "헤드 1 · 앞 단어 (previous word)",
    "헤드 2 · 같은 단어 (same word)",
    "헤드 3 · it 이 가리키는 말 (what “it” refers to)",
    "헤드 4 · 다음 단어 (next word)",
]
fig, axes = plt.subplots(2, 2, figsize=(12, 10.5))
for head, (ax, title) in enumerate(zip(axes.flat, titles, strict=True)):
    attention_heatmap(mha.attn_weights[0, head], words, words, ax=ax, title=title, annotate=False)
fig.suptitle("멀티헤드 어텐션: 헤드마다 다른 관계 (each head, its own relation; weights set by hand)")
fig.tight_layout()
plt.show()

# %% [markdown]
# **Explore it yourself.** Four hand-set heads of the same kinds, in *your* `MultiHeadAttention`,
# on any sentence: type one (words separated by spaces), or pick one of the toy task's by
# phenomenon. Pick a head, or the mean of the four, and hover a token to highlight its row. Here
# head 3 has "it" look at every noun, not only "cat" as above: a rule written by hand cannot tell
# which one "it" means; lesson 08's trained model has to.

# %%
from transformer_course.explorer import multi_head_explorer

multi_head_explorer(MultiHeadAttention)  # your MultiHeadAttention, four hand-set heads

# %% [markdown]
# **These maps are hand-wired, not learned**: we wrote each head's rule into $W^Q$ and $W^K$
# ourselves, so the picture shows what four heads *can* represent, not what training produces.
# One softmax row cannot point at the previous word, the next word and the antecedent at once;
# four heads can, and $W^O$ mixes what they found into one $d_{model}$ vector per token. In a
# trained model nobody writes these rules: training finds its own, usually less tidy ones.
# Lesson 08 draws every head of the trained translator and measures how often its "it" really
# looks at the noun it stands for.
#
# ## Recap
#
# - `split_heads` views $(B, T, d_{model})$ as $(B, T, h, d_k)$ and moves the heads forward:
#   $(B, h, T, d_k)$; without the transpose, tokens get mixed.
# - Every head runs lesson 02's attention on its own $d_k = d_{model}/h$ slice, scaled by
#   $\sqrt{d_k}$; `combine_heads` concatenates them back to $(B, T, d_{model})$, the notes'
#   $(seq\_len, d_{model})$.
# - $W^O$ mixes the heads; with weights copied into `in_proj_weight` ($[W^Q; W^K; W^V]$) and
#   `out_proj`, our module equals `nn.MultiheadAttention` in values and gradients.
# - More heads cost no more parameters: $4 d_{model}^2 + 4 d_{model}$ for any $h$.
#
# Next, lesson 04 builds the masks this module accepts: padding, look-ahead, and the proof that
# with them no future token leaks into training.
