# %% [markdown]
# # 07 · Stacking: N encoders, N decoders, one Transformer
#
# > **4-1. n개의 인코더, 디코더의 연산은 어떻게 진행되는 것인가?** — from the notes
# >
# > 인코더의 입력값이 인코더 1에 들어가고, 인코더1의 결과가 인코더 2로, 인코더 2의 결과가 3으로
# > 해서 n개의 인코더를 거쳐 인코더들의 결과를 낸다. 그렇게 나온 인코더의 출력값은 아래 그림처럼
# > 모든 디코더의 인풋에 사용된다. 디코더도 인코더와 비슷하다. 디코더의 입력값과 인코더의
# > 출력값이 디코더 1에 들어가고, 디코더 1의 출력값과 인코더의 출력값이 디코더 2에 들어간다.
#
# *How do the N encoders and N decoders compute? The encoder's input goes into encoder 1,
# encoder 1's result into encoder 2, encoder 2's into encoder 3, and so on through all N
# encoders. The output that comes out is used as an input of **every** decoder. The
# decoders work alike: the decoder's input and the encoder's output go into decoder 1;
# decoder 1's output and the encoder's output go into decoder 2; and so on to the last.*
#
# Question 4 of the notes (**트랜스포머 구조의 인코더, 디코더 각각의 입력값, 출력값은
# 무엇인가?**, *what goes into and comes out of the encoder and the decoder?*) fixes the two
# ends of the picture:
#
# - the encoder's input is the source sentence's **token embedding + positional embedding**
#   (입력문장 토큰 임베딩 + 포지셔널 임베딩); its output is a **context vector for every
#   word**, each word's vector reshaped by its relations to the others;
# - the decoder's input is the previous words of the target and the encoder's output; its
#   output is a **probability distribution over the next token**, through a softmax.
#
# Lessons 01–06 built every part: attention (02), its heads (03), the masks (04),
# cross-attention (05), the feed-forward network (06). This lesson assembles them:
#
# 1. the positional encoding, the one piece still missing;
# 2. an encoder layer and a decoder layer, each checked against PyTorch's own;
# 3. the two stacks, with the encoder's output given to every decoder layer;
# 4. the whole `Transformer`, which lesson 08 trains.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import math
import os

import matplotlib.pyplot as plt
import torch
from torch import nn

from transformer_course.checks import expect_close, expect_shape, passed
from transformer_course.feed_forward import PositionwiseFeedForward
from transformer_course.masking import decoder_mask, padding_mask
from transformer_course.multi_head import MultiHeadAttention
from transformer_course.oracles import load_torch_weights, randomize_, torch_mask
from transformer_course.plots import use_hangul_font

use_hangul_font()
torch.manual_seed(0)

# %% [markdown]
# ## 1. Positional encoding: telling attention where each word is
#
# Attention compares every token with every other, but nothing in
# $\mathrm{softmax}(QK^\top/\sqrt{d_k})V$ knows which token came first. Shuffle the tokens
# and the outputs come out shuffled the same way, each one unchanged. Lesson 03's
# `MultiHeadAttention` shows it: "rose is flower" and "flower is rose" would give the same
# three vectors.

# %%
attention = MultiHeadAttention(d_model=8, num_heads=2)
words = torch.randn(1, 3, 8)  # "rose", "is", "flower"
shuffled = words[:, [2, 1, 0]]  # "flower", "is", "rose"
same = torch.allclose(
    attention(shuffled, shuffled, shuffled)[:, [2, 1, 0]], attention(words, words, words), atol=1e-6
)
print("shuffling the words only shuffles the outputs:", same)

# %% [markdown]
# So word order has to be written into the vectors themselves. The paper adds to each
# token's embedding a vector that depends only on its position $pos$, built from sines
# and cosines:
#
# $$PE_{(pos,\,2i)} = \sin\!\left(\frac{pos}{10000^{2i/d_{model}}}\right), \qquad
#   PE_{(pos,\,2i+1)} = \cos\!\left(\frac{pos}{10000^{2i/d_{model}}}\right)$$
#
# Columns come in pairs $(2i, 2i+1)$: a sine and a cosine of the **same** angle. Pair
# $i$ turns with frequency $\omega_i = 1/10000^{2i/d_{model}}$, so the first pair repeats
# every $2\pi \approx 6$ positions and the last one only every $\approx 10000 \cdot 2\pi$:
# together they are like the hands of a clock, from seconds to years. The exponent is
# $2i/d_{model}$, the index of the pair's **even** column over $d_{model}$, for both
# columns of the pair.
#
# **Exercise.** Write `positional_encoding(max_len, d_model)`: a $(max\_len, d_{model})$
# float32 tensor, row $pos$ for positions $0 \dots max\_len-1$. Fill the even columns
# (`pe[:, 0::2]`) with sines and the odd ones (`pe[:, 1::2]`) with cosines. For an odd
# $d_{model}$ the last pair has only its sine.

# %% nbgrader={"grade": false, "grade_id": "positional_encoding", "locked": false, "schema_version": 3, "solution": true, "task": false}
def positional_encoding(max_len: int, d_model: int) -> torch.Tensor:
    """The paper's sinusoidal positional encoding, one row per position.

    PE[pos, 2i] = sin(pos / 10000^(2i / d_model)) and
    PE[pos, 2i+1] = cos(pos / 10000^(2i / d_model)): each pair of columns (2i, 2i+1) turns
    at its own frequency, from a wavelength of 2π in the first pair to nearly 10000·2π in
    the last. An odd d_model has one cosine column fewer.

    Args:
        max_len: number of positions, 0 to max_len - 1.
        d_model: size of each position's vector.

    Shape:
        output: (max_len, d_model), float32.
    """
    ### BEGIN SOLUTION
    # Angles in float64: at position 255, float32 would already be 1e-5 off.
    pos = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)  # (max_len, 1)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)  # (ceil(d_model / 2),)
    angles = pos / 10000 ** (two_i / d_model)  # (max_len, ceil(d_model / 2))
    pe = torch.zeros(max_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles[:, : d_model // 2])  # (max_len, floor(d_model / 2))
    return pe.float()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_positional_encoding_values", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
pe = positional_encoding(6, 4)
expect_shape(pe, (6, 4), "positional_encoding(6, 4)")
expect_close(
    pe[0],
    torch.tensor([0.0, 1.0, 0.0, 1.0]),
    "row 0 (sin 0 = 0 and cos 0 = 1 alternate)",
    mistakes={
        "sine and cosine are swapped: even columns 2i hold the sine, odd columns "
        "2i+1 the cosine.": torch.tensor([1.0, 0.0, 1.0, 0.0]),
        "sines first, then cosines: interleave them, sines in the even columns "
        "(pe[:, 0::2]), cosines in the odd ones.": torch.tensor([0.0, 0.0, 1.0, 1.0]),
        "row 0 is position 1: positions start at 0.": torch.tensor(
            [math.sin(1), math.cos(1), math.sin(0.01), math.cos(0.01)]
        ),
    },
)
# Position 1 with d_model = 4: pair 0 turns by 1, pair 1 by 1 / 10000^(2/4) = 0.01.
expect_close(
    pe[1],
    torch.tensor([math.sin(1), math.cos(1), math.sin(0.01), math.cos(0.01)]),
    "row 1 of positional_encoding(6, 4)",
    mistakes={
        "your exponent is i / d_model: use 2i / d_model, where 2i is the even column of "
        "the pair.": torch.tensor([math.sin(1), math.cos(1), math.sin(0.1), math.cos(0.1)]),
        "each column has its own frequency: both columns 2i and 2i+1 of a pair use "
        "10000^(2i / d_model).": torch.tensor([math.sin(1), math.cos(0.1), math.sin(0.01), math.cos(0.001)]),
    },
)
passed("rows 0 and 1 of a small encoding")
### BEGIN HIDDEN TESTS
import transformer_course.model as reference
from transformer_course.checks import from_scratch


def sinusoid(max_len, d_model, exponent=lambda j: 2 * (j // 2), swap=False, first=0):
    """The paper's table column by column, in float64; the keywords make known mistakes."""
    pos = torch.arange(first, first + max_len, dtype=torch.float64)[:, None]  # (L, 1)
    j = torch.arange(d_model)  # column index
    angle = pos / 10000.0 ** (exponent(j).double() / d_model)  # (L, d_model)
    even = (j % 2 == 0) != swap
    return torch.where(even, torch.sin(angle), torch.cos(angle))


def halves(max_len, d_model):
    pairs = sinusoid(max_len, d_model)
    return torch.cat([pairs[:, 0::2], pairs[:, 1::2]], dim=-1)


for max_len, d_model in [(50, 16), (256, 128), (9, 6), (3, 2)]:
    with from_scratch("positional_encoding", reference=[reference.positional_encoding]):
        pe = positional_encoding(max_len, d_model)
    # float32 angles at position 255 are already ~1e-5 off, hence atol 1e-4.
    expect_close(
        pe,
        sinusoid(max_len, d_model).float(),
        f"positional_encoding({max_len}, {d_model})",
        atol=1e-4,
        mistakes={
            "sine and cosine are swapped: "
            "even columns 2i hold the sine, odd columns 2i+1 the cosine.": sinusoid(
                max_len, d_model, swap=True
            ),
            "your exponent is i / d_model: use 2i / d_model, where 2i is the pair's even column.": sinusoid(
                max_len, d_model, exponent=lambda j: j // 2
            ),
            "each column has its own frequency: columns 2i and 2i+1 share 10000^(2i / d_model).": sinusoid(
                max_len, d_model, exponent=lambda j: j
            ),
            "your sines fill the first half and the cosines the second: interleave them, sines in "
            "the even columns (pe[:, 0::2]) and cosines in the odd ones (pe[:, 1::2]).": halves(
                max_len, d_model
            ),
            "your positions start at 1: the first row is position 0 (all sines 0, cosines 1).": sinusoid(
                max_len, d_model, first=1
            ),
        },
    )
passed("equal to the paper's formula for up to 256 positions and d_model up to 128")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_positional_encoding_shapes", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
pe = positional_encoding(3, 5)
expect_shape(pe, (3, 5), "positional_encoding(3, 5), an odd d_model")
assert pe.dtype == torch.float32, (
    f"positional_encoding returned {pe.dtype}: return float32, PyTorch's default dtype "
    "(compute in float64 if you like, then .float())."
)
expect_close(
    pe[:, 4],
    torch.sin(torch.arange(3.0) / 10000 ** (4 / 5)),
    "the last column of positional_encoding(3, 5) (pair 2 has only its sine)",
)
passed("an odd d_model, float32")
### BEGIN HIDDEN TESTS
import transformer_course.model as reference
from transformer_course.checks import from_scratch

for max_len, d_model in [(1, 1), (1, 8), (4, 1), (7, 3)]:
    with from_scratch("positional_encoding", reference=[reference.positional_encoding]):
        table = positional_encoding(max_len, d_model)
    expect_shape(table, (max_len, d_model), f"positional_encoding({max_len}, {d_model})")
    assert table.dtype == torch.float32, f"positional_encoding({max_len}, {d_model}) is not float32"
    angles = torch.arange(max_len, dtype=torch.float64)[:, None] / 10000.0 ** (
        (2 * (torch.arange(d_model) // 2)).double() / d_model
    )
    expected = torch.where(torch.arange(d_model) % 2 == 0, torch.sin(angles), torch.cos(angles))
    expect_close(table, expected.float(), f"positional_encoding({max_len}, {d_model})")
passed("max_len = 1, d_model = 1 and other odd sizes")
### END HIDDEN TESTS

# %% [markdown]
# Each row is one position's vector, each column one sine or cosine. On the left,
# the first columns change fast from row to row and the last ones barely at all; on the
# right, a few columns drawn as curves over the positions.

# %%
table = positional_encoding(64, 64)
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
image = left.imshow(table.numpy(), cmap="RdBu", vmin=-1, vmax=1, aspect="auto")
left.set_xlabel("차원 (dimension)")
left.set_ylabel("위치 (position)")
left.set_title("positional_encoding(64, 64)")
fig.colorbar(image, ax=left)
for column in (0, 1, 12, 30):
    kind = "sin" if column % 2 == 0 else "cos"
    right.plot(table[:, column], label=f"열 {column} ({kind}, 2i = {column - column % 2})")
right.set_xlabel("위치 (position)")
right.set_title("열마다 다른 주파수 (each pair its own frequency)")
right.legend(fontsize=8, loc="lower left")
plt.tight_layout()
plt.show()

# %% [markdown]
# Why sines *and* cosines? Because the dot product of two rows depends only on how far
# apart they are. For one pair, $\sin a \sin b + \cos a \cos b = \cos(a - b)$, so
#
# $$PE_{pos} \cdot PE_{pos+k} = \sum_i \cos(\omega_i k),$$
#
# the same for every $pos$: position 3 is to position 5 what 40 is to 42. The picture
# draws $PE_{pos} \cdot PE_{pos+k}$ against the distance $k$ for three starting positions:
# the three curves coincide, highest at $k = 0$ and falling away on both sides.

# %%
table = positional_encoding(128, 64)
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
image = left.imshow((table @ table.T).numpy(), cmap="viridis", aspect="auto")
left.set_xlabel("위치 (position)")
left.set_ylabel("위치 (position)")
left.set_title("PE · PEᵀ")
fig.colorbar(image, ax=left)
distances = torch.arange(-30, 31)
for start in (40, 60, 80):
    right.plot(distances, table[start + distances] @ table[start], label=f"pos = {start}")
right.set_xlabel("거리 k (distance)")
right.set_ylabel("PE[pos] · PE[pos + k]")
right.set_title("내적은 거리에만 의존 (depends on distance only)")
right.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 2. The encoder layer
#
# An encoder layer has two sublayers: the self-attention of lessons 02–04 and the
# feed-forward network of lesson 06. Each is wrapped the same way, with a **residual
# connection** and a **layer normalisation**:
#
# $$x' = \mathrm{LayerNorm}_1\big(x + \mathrm{Dropout}(\mathrm{MultiHead}(x, x, x))\big)$$
# $$y = \mathrm{LayerNorm}_2\big(x' + \mathrm{Dropout}(\mathrm{FFN}(x'))\big)$$
#
# - The residual $x + \text{sublayer}(x)$ lets a layer learn a *correction* to its input
#   rather than a whole new vector, and gives the gradient a straight path through many
#   layers.
# - `nn.LayerNorm(d_model)` rescales each token's vector to mean 0 and variance 1, then
#   multiplies by a learned $\gamma$ and adds a learned $\beta$ (both of size $d_{model}$).
#   It keeps the vectors the same size from layer to layer.
# - The norm comes **after** the addition: *post-norm*, as in the paper and in PyTorch's
#   `nn.TransformerEncoderLayer` by default. (Many newer models normalise the sublayer's
#   input instead, $x + \text{sublayer}(\mathrm{LayerNorm}(x))$, *pre-norm*; PyTorch calls
#   that `norm_first=True`. It is a different layer.)
# - Each sublayer has its own norm: `norm1` after attention, `norm2` after the FFN.
#
# **Exercise.** Write `EncoderLayer`. Build it from the course's `MultiHeadAttention`
# (lesson 03) and `PositionwiseFeedForward` (lesson 06), imported in the setup cell, with
# the attribute names of the docstring: the tests copy PyTorch's weights into them.
# `src_mask` goes to the self-attention unchanged (True where attention is allowed).

# %% nbgrader={"grade": false, "grade_id": "EncoderLayer", "locked": false, "schema_version": 3, "solution": true, "task": false}
class EncoderLayer(nn.Module):
    """One encoder layer: self-attention, then the feed-forward network, each wrapped
    post-norm as x = LayerNorm(x + Dropout(sublayer(x))).

    Args:
        d_model: size of each token's vector.
        num_heads: h, the number of attention heads.
        d_ff: hidden size of the feed-forward network.
        dropout: dropout probability, on each sublayer's output and inside both sublayers.

    Attributes:
        self_attn: MultiHeadAttention; ffn: PositionwiseFeedForward;
        norm1, norm2: nn.LayerNorm(d_model), one per sublayer.

    Shape:
        x: (B, T, d_model).
        src_mask: boolean, True where attention is allowed, broadcasting against the
            scores (B, h, T, T), e.g. padding_mask's (B, 1, 1, T); None attends everywhere.
        output: (B, T, d_model).
    """

    def __init__(self, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.0):
        super().__init__()
        ### BEGIN SOLUTION
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout)
        self.ffn = PositionwiseFeedForward(d_model, d_ff, dropout)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        ### END SOLUTION

    def forward(self, x: torch.Tensor, src_mask: torch.Tensor | None = None) -> torch.Tensor:
        ### BEGIN SOLUTION
        x = self.norm1(x + self.dropout(self.self_attn(x, x, x, src_mask)))  # (B, T, d_model)
        return self.norm2(x + self.dropout(self.ffn(x)))  # (B, T, d_model)
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_EncoderLayer_shapes", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(1)
layer = EncoderLayer(d_model=16, num_heads=4, d_ff=32)
out = layer(torch.randn(2, 7, 16))
expect_shape(out, (2, 7, 16), "EncoderLayer output for (B, T, d_model) = (2, 7, 16)")
assert isinstance(layer.self_attn, MultiHeadAttention), "self_attn should be a MultiHeadAttention"
assert isinstance(layer.ffn, PositionwiseFeedForward), "ffn should be a PositionwiseFeedForward"
# Post-norm: the layer's last step is norm2, whose weight starts at 1 and bias at 0.
assert torch.allclose(out.mean(-1), torch.zeros(2, 7), atol=1e-5) and torch.allclose(
    out.var(-1, unbiased=False), torch.ones(2, 7), atol=1e-3
), (
    "each output vector should have mean 0 and variance 1, since the layer ends with "
    "norm2(x + ffn(x)): is the norm applied last, after the residual addition?"
)
passed("shape, sublayer types, and the output of a post-norm layer is normalised")
### BEGIN HIDDEN TESTS
import transformer_course.model as reference
from transformer_course.checks import from_scratch

TORCH_ATTENTION = [
    "multi_head_attention_forward",
    "scaled_dot_product_attention",
    "_transformer_encoder_layer_fwd",
    "_native_multi_head_attention",
]
for b, t, d_model, h in [(1, 1, 8, 2), (3, 1, 6, 3), (1, 4, 12, 1)]:
    block = EncoderLayer(d_model, h, 2 * d_model)
    with from_scratch("EncoderLayer", torch_functions=TORCH_ATTENTION, reference=[reference.EncoderLayer]):
        y = block(torch.randn(b, t, d_model))
    expect_shape(y, (b, t, d_model), f"EncoderLayer({d_model}, {h}, {2 * d_model}) on {b}×{t} tokens")
    assert isinstance(block.norm1, nn.LayerNorm) and isinstance(block.norm2, nn.LayerNorm), (
        "norm1 and norm2 should be nn.LayerNorm(d_model)"
    )
    assert block.norm1 is not block.norm2, (
        "norm1 and norm2 are one module: each sublayer needs its own LayerNorm"
    )
passed("T = 1, one head, separate norms")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_EncoderLayer_matches_torch", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(2)
layer = EncoderLayer(d_model=16, num_heads=4, d_ff=32).eval()
x = torch.randn(1, 5, 16)
keep_three = torch.tensor([True, True, True, False, False]).reshape(1, 1, 1, 5)
expect_close(
    layer(x, keep_three)[:, :3],
    layer(x[:, :3]),
    "the first 3 outputs when keys 3 and 4 are masked, against the layer on 3 tokens",
    mistakes={"your output ignores src_mask: pass it to self_attn.": layer(x)[:, :3]},
)
passed("masked keys change nothing, as if those tokens were not there")
### BEGIN HIDDEN TESTS
import copy

import torch.nn.functional as F

import transformer_course.model as reference
from transformer_course.checks import from_scratch

TORCH_ATTENTION = [
    "multi_head_attention_forward",
    "scaled_dot_product_attention",
    "_transformer_encoder_layer_fwd",
    "_native_multi_head_attention",
]
cases = [(3, 6, 8, 2, 16, "padding"), (2, 1, 12, 3, 20, "padding"), (2, 5, 6, 1, 7, "random")]
for seed, (b, t, d_model, h, d_ff, kind) in enumerate(cases):
    torch.manual_seed(30 + seed)
    theirs = nn.TransformerEncoderLayer(d_model, h, d_ff, dropout=0.0, batch_first=True)
    theirs = randomize_(theirs.double(), seed)
    ours = EncoderLayer(d_model, h, d_ff).double().eval()
    load_torch_weights(ours, theirs)
    x = torch.randn(b, t, d_model, dtype=torch.float64)
    if kind == "padding":
        lengths = torch.randint(1, t + 1, (b,))
        mask = (torch.arange(t) < lengths[:, None])[:, None, None, :]  # (B, 1, 1, T)
    else:  # any (T, T) mask; each query keeps at least itself
        mask = (torch.rand(t, t) < 0.5) | torch.eye(t, dtype=torch.bool)
    blocked = torch_mask(mask, b, h, t, t)
    with torch.no_grad():
        expected = theirs(x, src_mask=blocked)
        pre_norm = copy.deepcopy(theirs)
        pre_norm.norm_first = True

        def attend(z):
            return theirs.self_attn(z, z, z, attn_mask=blocked, need_weights=False)[0]

        def ffn(z):
            return theirs.linear2(F.relu(theirs.linear1(z)))

        n1, n2 = theirs.norm1, theirs.norm2
        mid = n1(x + attend(x))
        mistakes = {
            "pre-norm: you normalise the sublayer's input, x + sublayer(norm(x)); this layer is "
            "post-norm: x = norm(x + sublayer(x)).": pre_norm(x, src_mask=blocked),
            "the residual is added after the norm, x + norm(sublayer(x)): add first, then "
            "normalise, norm(x + sublayer(x)).": x + n1(attend(x)) + n2(ffn(x + n1(attend(x)))),
            "the attention sublayer has no residual: norm1(x + self_attn(x, x, x, mask)).": n2(
                n1(attend(x)) + ffn(n1(attend(x)))
            ),
            "the feed-forward sublayer has no residual: norm2(x + ffn(x)).": n2(ffn(mid)),
            "the feed-forward residual adds the layer's input: add the attention sublayer's "
            "output, x = norm1(...), then norm2(x + ffn(x)).": n2(x + ffn(mid)),
            "you use norm1 after both sublayers: the feed-forward sublayer has its own norm2.": n1(
                mid + ffn(mid)
            ),
            "your layer ignores src_mask: pass it to self_attn.": theirs(x),
        }
    with from_scratch("EncoderLayer", torch_functions=TORCH_ATTENTION, reference=[reference.EncoderLayer]):
        out = ours(x, mask)
    expect_close(
        out,
        expected,
        f"EncoderLayer({d_model}, {h}, {d_ff}) on {b}×{t} tokens with a "
        f"{kind} mask, against nn.TransformerEncoderLayer with the same weights",
        mistakes=mistakes,
    )
passed("equal to nn.TransformerEncoderLayer (post-norm, ReLU) in float64, with masks")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_EncoderLayer_gradients", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(3)
layer = EncoderLayer(d_model=8, num_heads=2, d_ff=16)
x = torch.randn(2, 3, 8, requires_grad=True)
layer(x).pow(2).sum().backward()
assert x.grad is not None and layer.self_attn.w_q.weight.grad is not None, (
    "no gradient reached the input or W^Q: don't detach anything inside the layer"
)
assert layer.norm2.weight.grad is not None and layer.ffn.linear1.weight.grad is not None, (
    "no gradient reached norm2 or the feed-forward network: is every sublayer used?"
)
passed("gradients reach the input and every sublayer")
### BEGIN HIDDEN TESTS
import transformer_course.model as reference
from transformer_course.checks import from_scratch
from transformer_course.oracles import parameter_pairs

TORCH_ATTENTION = [
    "multi_head_attention_forward",
    "scaled_dot_product_attention",
    "_transformer_encoder_layer_fwd",
    "_native_multi_head_attention",
]
torch.manual_seed(33)
theirs = randomize_(nn.TransformerEncoderLayer(6, 2, 10, dropout=0.0, batch_first=True).double(), 3)
ours = EncoderLayer(6, 2, 10).double()
load_torch_weights(ours, theirs)
x = torch.randn(2, 4, 6, dtype=torch.float64)
mask = torch.tensor([[True] * 4, [True, True, False, False]])[:, None, None, :]
ours_x, theirs_x = x.clone().requires_grad_(), x.clone().requires_grad_()
upstream = torch.randn(2, 4, 6, dtype=torch.float64)
with from_scratch("EncoderLayer", torch_functions=TORCH_ATTENTION, reference=[reference.EncoderLayer]):
    (ours(ours_x, mask) * upstream).sum().backward()
(theirs(theirs_x, src_mask=torch_mask(mask, 2, 2, 4, 4)) * upstream).sum().backward()
expect_close(ours_x.grad, theirs_x.grad, "gradient with respect to the input x")
for name, mine, other, rows in parameter_pairs(ours, theirs):
    assert mine.grad is not None, f"{name} got no gradient: is it used in forward?"
    expect_close(mine.grad, other.grad[rows], f"gradient of {name}")
passed("gradients equal nn.TransformerEncoderLayer's, for the input and every weight")
### END HIDDEN TESTS

# %% [markdown]
# **Measured, not asserted.** What do the residual and the norm buy? Below, six layers of
# self-attention plus FFN learn to **reverse** a sequence of 8 random tokens (a task that
# needs attention: each output must fetch the token from the mirrored position), wrapped five
# ways: post-norm (this lesson's layer), pre-norm, the norm without the residual, the residual
# without the norm, and neither. Same data, same initial seed, 150 Adam steps each (a few
# seconds on a laptop; skipped while grading); the figure is the loss, the table the loss at
# the end.

# %%
class Wrapped(nn.Module):
    """Self-attention then the FFN, each wrapped as `norm` ("post", "pre" or None) and
    `residual` say; for the measurement only (EncoderLayer above is the post-norm one)."""

    def __init__(self, d_model, num_heads, d_ff, residual, norm):
        super().__init__()
        self.attn = MultiHeadAttention(d_model, num_heads)
        self.ffn = PositionwiseFeedForward(d_model, d_ff)
        self.norms = nn.ModuleList([nn.LayerNorm(d_model), nn.LayerNorm(d_model)])
        self.residual, self.norm = residual, norm

    def forward(self, x):  # (B, T, d_model)
        for sublayer, norm in zip((lambda y: self.attn(y, y, y), self.ffn), self.norms, strict=True):
            out = sublayer(norm(x) if self.norm == "pre" else x)
            x = x + out if self.residual else out
            x = norm(x) if self.norm == "post" else x
        return x


VARIANTS = {
    "post-norm (the paper's)": (True, "post"),
    "pre-norm": (True, "pre"),
    "norm, no residual": (False, "post"),
    "residual, no norm": (True, None),
    "neither": (False, None),
}
if os.environ.get("NBGRADER_EXECUTION"):
    print("Being graded: the measurement is skipped (it takes a few seconds).")
else:
    LAYERS, VOCAB, T, STEPS = 6, 12, 8, 150
    generator = torch.Generator().manual_seed(7)
    data = torch.randint(0, VOCAB, (STEPS, 32, T), generator=generator)  # (steps, B, T)
    curves = {}
    for name, (residual, norm) in VARIANTS.items():
        torch.manual_seed(0)
        embed_table = nn.Embedding(VOCAB, 32)
        stack = nn.Sequential(*[Wrapped(32, 4, 64, residual, norm) for _ in range(LAYERS)])
        head = nn.Linear(32, VOCAB)
        params = [*embed_table.parameters(), *stack.parameters(), *head.parameters()]
        adam = torch.optim.Adam(params, lr=1e-3)
        pe = positional_encoding(T, 32)  # (T, d_model)
        curves[name] = []
        for tokens in data:  # (B, T)
            logits = head(stack(embed_table(tokens) + pe))  # (B, T, V)
            loss = nn.functional.cross_entropy(logits.flatten(0, 1), tokens.flip(-1).flatten())
            adam.zero_grad()
            loss.backward()
            adam.step()
            curves[name].append(loss.item())

    fig, ax = plt.subplots(figsize=(7, 3.5))
    for name, losses in curves.items():
        ax.plot(losses, label=name)
    ax.axhline(math.log(VOCAB), color="grey", linestyle=":", label="guessing, log V")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy")
    ax.set_title(f"reversing {T} tokens with {LAYERS} layers")
    ax.legend(fontsize=8)
    plt.tight_layout()
    plt.show()
    for name, losses in curves.items():
        print(f"{name:24} loss after {STEPS} steps: {sum(losses[-10:]) / 10:.2f}")

# %% [markdown]
# In our run (your numbers will be close): without the residual the six-layer stack barely
# leaves the guessing line, with or without the norm: the gradient must cross every layer's
# transformation to reach the first. The residual alone trains, and the norm on top of it
# trains better; pre-norm, with its clean residual path from output to input, learns fastest
# of all here. The paper's post-norm is what this course builds, because it is what
# `nn.TransformerEncoderLayer` computes by default and lets the tests compare the two; deep
# models today mostly use pre-norm for exactly the effect measured here.

# %% [markdown]
# The tests compared your layer with PyTorch's `nn.TransformerEncoderLayer`, and so can
# you. Two differences are only bookkeeping: PyTorch's attention keeps
# $W^Q, W^K, W^V$ stacked in one matrix, `in_proj_weight` of shape
# $(3 d_{model}, d_{model})$, and reads a boolean mask the other way round (True where
# attention is *blocked*). `transformer_course.oracles` handles both: `load_torch_weights`
# copies PyTorch's weights into ours, `torch_mask` converts our mask.

# %%
torch.manual_seed(4)
pytorch_layer = nn.TransformerEncoderLayer(
    d_model=16, nhead=4, dim_feedforward=32, dropout=0.0, batch_first=True
)
randomize_(pytorch_layer, seed=4)  # random weights everywhere, the norms' too
ours = EncoderLayer(d_model=16, num_heads=4, d_ff=32)
load_torch_weights(ours, pytorch_layer)
tokens = torch.randn(2, 5, 16)
pad = padding_mask(torch.tensor([[3, 4, 5, 6, 7], [3, 4, 5, 0, 0]]), pad_id=0)  # (2, 1, 1, 5)
theirs_out = pytorch_layer(tokens, src_mask=torch_mask(pad, 2, 4, 5, 5))
print(
    "largest difference from nn.TransformerEncoderLayer:", (ours(tokens, pad) - theirs_out).abs().max().item()
)
print(
    "W^Q is rows 0-15 of in_proj_weight:",
    torch.equal(ours.self_attn.w_q.weight, pytorch_layer.self_attn.in_proj_weight[:16]),
)

# %% [markdown]
# ## 3. The decoder layer
#
# A decoder layer has three sublayers, wrapped like the encoder's:
#
# $$x' = \mathrm{LayerNorm}_1\big(x + \mathrm{MaskedMultiHead}(x, x, x)\big)$$
# $$x'' = \mathrm{LayerNorm}_2\big(x' + \mathrm{MultiHead}(x', \mathit{memory}, \mathit{memory})\big)$$
# $$y = \mathrm{LayerNorm}_3\big(x'' + \mathrm{FFN}(x'')\big)$$
#
# (with a dropout on each sublayer's output, as before).
#
# 1. **Masked self-attention** over the target words, with `tgt_mask`: lesson 04's
#    decoder mask hides the future and the padding.
# 2. **Cross-attention** (lesson 05): the queries come from the decoder, $x'$; the keys
#    and values from `memory`, the encoder's output. `src_mask` hides the source padding.
# 3. The **feed-forward network**, as in the encoder.
#
# **Exercise.** Write `DecoderLayer`, with the attribute names of its docstring
# (`cross_attn` is the second `MultiHeadAttention`).

# %% nbgrader={"grade": false, "grade_id": "DecoderLayer", "locked": false, "schema_version": 3, "solution": true, "task": false}
class DecoderLayer(nn.Module):
    """One decoder layer: masked self-attention, cross-attention over the encoder's
    output, then the feed-forward network, each wrapped post-norm as
    x = LayerNorm(x + Dropout(sublayer(x))).

    Args:
        d_model: size of each token's vector.
        num_heads: h, the number of attention heads.
        d_ff: hidden size of the feed-forward network.
        dropout: dropout probability, on each sublayer's output and inside the sublayers.

    Attributes:
        self_attn, cross_attn: MultiHeadAttention; ffn: PositionwiseFeedForward;
        norm1, norm2, norm3: nn.LayerNorm(d_model), one per sublayer.

    Shape:
        x: (B, T_tgt, d_model), the decoder's input to this layer.
        memory: (B, T_src, d_model), the encoder's output.
        tgt_mask: boolean, True where allowed, broadcasting against (B, h, T_tgt, T_tgt),
            e.g. decoder_mask's (B, 1, T_tgt, T_tgt).
        src_mask: boolean, broadcasting against (B, h, T_tgt, T_src), e.g. padding_mask's
            (B, 1, 1, T_src).
        output: (B, T_tgt, d_model).
    """

    def __init__(self, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.0):
        super().__init__()
        ### BEGIN SOLUTION
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout)
        self.cross_attn = MultiHeadAttention(d_model, num_heads, dropout)
        self.ffn = PositionwiseFeedForward(d_model, d_ff, dropout)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        ### END SOLUTION

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor,
        tgt_mask: torch.Tensor | None = None,
        src_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        ### BEGIN SOLUTION
        x = self.norm1(x + self.dropout(self.self_attn(x, x, x, tgt_mask)))  # (B, T_tgt, d_model)
        # Queries from the decoder; keys and values from the encoder's output.
        x = self.norm2(x + self.dropout(self.cross_attn(x, memory, memory, src_mask)))
        return self.norm3(x + self.dropout(self.ffn(x)))  # (B, T_tgt, d_model)
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_DecoderLayer_shapes", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(5)
layer = DecoderLayer(d_model=16, num_heads=4, d_ff=32)
try:
    out = layer(torch.randn(2, 4, 16), torch.randn(2, 6, 16))  # T_tgt = 4, T_src = 6
except RuntimeError as error:
    raise AssertionError(
        f"DecoderLayer raised RuntimeError ({error}) for x (2, 4, 16) and memory "
        "(2, 6, 16): the cross-attention takes its queries from x and its keys "
        "and values from memory; tgt_mask goes to the self-attention, src_mask "
        "to the cross-attention."
    ) from None
if tuple(out.shape) == (2, 6, 16):
    raise AssertionError(
        "your output has one row per source token: in cross-attention the "
        "queries come from the decoder (x), the keys and values from memory."
    )
expect_shape(out, (2, 4, 16), "DecoderLayer output for x (2, 4, 16) and memory (2, 6, 16)")
assert isinstance(layer.cross_attn, MultiHeadAttention), "cross_attn should be a MultiHeadAttention"
assert torch.allclose(out.mean(-1), torch.zeros(2, 4), atol=1e-5) and torch.allclose(
    out.var(-1, unbiased=False), torch.ones(2, 4), atol=1e-3
), "each output vector should have mean 0 and variance 1: the layer ends with norm3(x + ffn(x))."
passed("one output per target token, normalised")
### BEGIN HIDDEN TESTS
import transformer_course.model as reference
from transformer_course.checks import from_scratch

TORCH_ATTENTION = [
    "multi_head_attention_forward",
    "scaled_dot_product_attention",
    "_native_multi_head_attention",
]
for b, t_tgt, t_src, d_model, h in [(1, 1, 1, 8, 2), (3, 1, 5, 6, 3), (2, 5, 1, 12, 1)]:
    block = DecoderLayer(d_model, h, 2 * d_model)
    with from_scratch("DecoderLayer", torch_functions=TORCH_ATTENTION, reference=[reference.DecoderLayer]):
        y = block(torch.randn(b, t_tgt, d_model), torch.randn(b, t_src, d_model))
    expect_shape(
        y,
        (b, t_tgt, d_model),
        f"DecoderLayer output for T_tgt = {t_tgt}, T_src = {t_src}, d_model = {d_model}",
    )
    assert block.cross_attn is not block.self_attn, (
        "cross_attn and self_attn are one module: they need their own weights"
    )
    norms = [getattr(block, name, None) for name in ("norm1", "norm2", "norm3")]
    assert all(isinstance(n, nn.LayerNorm) for n in norms), (
        "norm1, norm2 and norm3 should be nn.LayerNorm(d_model)"
    )
    assert len({id(n) for n in norms}) == 3, "norm1, norm2, norm3 must be three separate modules"
passed("T_tgt = 1, T_src = 1, separate attentions and norms")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_DecoderLayer_matches_torch", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(6)
layer = DecoderLayer(d_model=16, num_heads=4, d_ff=32).eval()
x, memory = torch.randn(1, 4, 16), torch.randn(1, 6, 16)
causal = torch.ones(4, 4, dtype=torch.bool).tril()
later_changed = torch.cat([x[:, :2], torch.randn(1, 2, 16)], dim=1)  # positions 2, 3 differ
try:
    before = layer(x, memory, causal)[:, :2]
except RuntimeError as error:
    raise AssertionError(
        f"DecoderLayer raised RuntimeError ({error}) for x (1, 4, 16), memory "
        "(1, 6, 16) and a (4, 4) tgt_mask: the self-attention takes tgt_mask, "
        "the cross-attention (queries x, keys and values memory) src_mask."
    ) from None
expect_close(
    layer(later_changed, memory, causal)[:, :2],
    before,
    "outputs 0 and 1 after changing target positions 2 and 3, with a look-ahead mask",
    mistakes={"the future leaks: pass tgt_mask to the self-attention.": layer(later_changed, memory)[:, :2]},
)
passed("with the look-ahead mask, no output depends on later target positions")
### BEGIN HIDDEN TESTS
import copy

import torch.nn.functional as F

import transformer_course.model as reference
from transformer_course.checks import from_scratch

TORCH_ATTENTION = [
    "multi_head_attention_forward",
    "scaled_dot_product_attention",
    "_native_multi_head_attention",
]
cases = [(3, 4, 6, 8, 2, 16), (2, 5, 5, 6, 3, 10), (2, 1, 3, 4, 1, 5)]  # T_src = T_tgt in case 2
for seed, (b, t_tgt, t_src, d_model, h, d_ff) in enumerate(cases):
    torch.manual_seed(40 + seed)
    theirs = nn.TransformerDecoderLayer(d_model, h, d_ff, dropout=0.0, batch_first=True)
    theirs = randomize_(theirs.double(), 10 + seed)
    ours = DecoderLayer(d_model, h, d_ff).double().eval()
    load_torch_weights(ours, theirs)
    x = torch.randn(b, t_tgt, d_model, dtype=torch.float64)
    memory = torch.randn(b, t_src, d_model, dtype=torch.float64)
    tgt_keep = torch.arange(t_tgt) < torch.randint(1, t_tgt + 1, (b,))[:, None]  # (B, T_tgt)
    src_keep = torch.arange(t_src) < torch.randint(1, t_src + 1, (b,))[:, None]  # (B, T_src)
    tgt_mask = tgt_keep[:, None, None, :] & torch.ones(t_tgt, t_tgt, dtype=torch.bool).tril()
    src_mask = src_keep[:, None, None, :]  # (B, 1, 1, T_src)
    blocked_tgt = torch_mask(tgt_mask, b, h, t_tgt, t_tgt)
    blocked_src = torch_mask(src_mask, b, h, t_tgt, t_src)
    with torch.no_grad():
        expected = theirs(x, memory, tgt_mask=blocked_tgt, memory_mask=blocked_src)
        pre_norm = copy.deepcopy(theirs)
        pre_norm.norm_first = True

        def attend(mha, q, kv, mask):
            blocked = torch_mask(mask, b, h, q.size(1), kv.size(1))
            return mha(q, kv, kv, attn_mask=blocked, need_weights=False)[0]

        def ffn(z):
            return theirs.linear2(F.relu(theirs.linear1(z)))

        def layer_with(self_mask, cross, norms=(theirs.norm1, theirs.norm2, theirs.norm3)):
            z = norms[0](x + attend(theirs.self_attn, x, x, self_mask))
            z = norms[1](z + cross(z))
            return norms[2](z + ffn(z))

        def cross_ok(z):
            return attend(theirs.multihead_attn, z, memory, src_mask)

        unkept = theirs.norm2(cross_ok(theirs.norm1(x + attend(theirs.self_attn, x, x, tgt_mask))))
        mistakes = {
            "the cross-attention sublayer has no residual: norm2(x + cross_attn(x, memory, "
            "memory, src_mask)).": theirs.norm3(unkept + ffn(unkept)),
            "pre-norm: you normalise the sublayer's input; this layer is post-norm, "
            "x = norm(x + sublayer(x)).": pre_norm(x, memory, tgt_mask=blocked_tgt, memory_mask=blocked_src),
            "the look-ahead mask is missing: pass tgt_mask to the self-attention.": layer_with(
                None, cross_ok
            ),
            "the cross-attention ignores src_mask: pass it with memory.": layer_with(
                tgt_mask, lambda z: attend(theirs.multihead_attn, z, memory, None)
            ),
            "you use norm2 after the feed-forward network too: it has its own norm3.": layer_with(
                tgt_mask, cross_ok, (theirs.norm1, theirs.norm2, theirs.norm2)
            ),
            "you use norm1 after every sublayer: each has its own (norm1, norm2, norm3).": layer_with(
                tgt_mask, cross_ok, (theirs.norm1,) * 3
            ),
        }
        if t_src == t_tgt:  # the mistakes that only run when the lengths agree
            mistakes.update(
                {
                    "your cross-attention takes its queries from memory: queries come from the "
                    "decoder (x), keys and values from memory.": layer_with(
                        tgt_mask,
                        lambda z: theirs.multihead_attn(
                            memory, z, z, attn_mask=blocked_src, need_weights=False
                        )[0],
                    ),
                    "your second attention reads the decoder again: take its keys and values from "
                    "memory, the encoder's output.": layer_with(
                        tgt_mask, lambda z: attend(theirs.multihead_attn, z, z, src_mask)
                    ),
                    "tgt_mask and src_mask are swapped: the self-attention takes tgt_mask, the "
                    "cross-attention src_mask.": layer_with(
                        src_mask, lambda z: attend(theirs.multihead_attn, z, memory, tgt_mask)
                    ),
                }
            )
    what = (
        f"DecoderLayer({d_model}, {h}, {d_ff}) with T_tgt = {t_tgt}, T_src = {t_src} and "
        "padding + look-ahead masks, against nn.TransformerDecoderLayer with the same weights"
    )
    try:
        with from_scratch(
            "DecoderLayer", torch_functions=TORCH_ATTENTION, reference=[reference.DecoderLayer]
        ):
            out = ours(x, memory, tgt_mask, src_mask)
    except RuntimeError as crash:
        raise AssertionError(
            f"{what} raised RuntimeError ({crash}). Self-attention: x, x, x "
            "with tgt_mask; cross-attention: queries x, keys and values memory, "
            "with src_mask."
        ) from None
    expect_close(out, expected, what, mistakes=mistakes)
passed("equal to nn.TransformerDecoderLayer in float64, with T_src ≠ T_tgt and masks")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_DecoderLayer_gradients", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(7)
layer = DecoderLayer(d_model=8, num_heads=2, d_ff=16)
x = torch.randn(2, 3, 8, requires_grad=True)
memory = torch.randn(2, 5, 8, requires_grad=True)
try:
    layer(x, memory).pow(2).sum().backward()
except RuntimeError as error:
    raise AssertionError(
        f"DecoderLayer raised RuntimeError ({error}) for x (2, 3, 8) and memory "
        "(2, 5, 8): queries from x, keys and values from memory."
    ) from None
assert memory.grad is not None and memory.grad.abs().sum() > 0, (
    "no gradient reached memory: the cross-attention's keys and values come from memory"
)
assert layer.norm3.weight.grad is not None, "no gradient reached norm3: is it used last?"
passed("gradients reach memory and norm3")
### BEGIN HIDDEN TESTS
import transformer_course.model as reference
from transformer_course.checks import from_scratch
from transformer_course.oracles import parameter_pairs

TORCH_ATTENTION = [
    "multi_head_attention_forward",
    "scaled_dot_product_attention",
    "_native_multi_head_attention",
]
torch.manual_seed(44)
theirs = randomize_(nn.TransformerDecoderLayer(6, 2, 10, dropout=0.0, batch_first=True).double(), 4)
ours = DecoderLayer(6, 2, 10).double()
load_torch_weights(ours, theirs)
x = torch.randn(2, 3, 6, dtype=torch.float64)
memory = torch.randn(2, 5, 6, dtype=torch.float64)
tgt_mask = torch.ones(3, 3, dtype=torch.bool).tril()
src_mask = torch.tensor([[True] * 5, [True, True, True, False, False]])[:, None, None, :]
leaves = [t.clone().requires_grad_() for t in (x, memory, x, memory)]
upstream = torch.randn(2, 3, 6, dtype=torch.float64)
try:
    with from_scratch("DecoderLayer", torch_functions=TORCH_ATTENTION, reference=[reference.DecoderLayer]):
        (ours(leaves[0], leaves[1], tgt_mask, src_mask) * upstream).sum().backward()
except RuntimeError as crash:
    raise AssertionError(
        f"DecoderLayer raised RuntimeError ({crash}) with T_tgt = 3, T_src = 5 "
        "and masks: the self-attention takes tgt_mask, the cross-attention "
        "src_mask."
    ) from None
(
    theirs(
        leaves[2],
        leaves[3],
        tgt_mask=torch_mask(tgt_mask, 2, 2, 3, 3),
        memory_mask=torch_mask(src_mask, 2, 2, 3, 5),
    )
    * upstream
).sum().backward()
expect_close(leaves[0].grad, leaves[2].grad, "gradient with respect to x")
expect_close(leaves[1].grad, leaves[3].grad, "gradient with respect to memory")
for name, mine, other, rows in parameter_pairs(ours, theirs):
    assert mine.grad is not None, f"{name} got no gradient: is it used in forward?"
    expect_close(mine.grad, other.grad[rows], f"gradient of {name}")
passed("gradients equal nn.TransformerDecoderLayer's, for x, memory and every weight")
### END HIDDEN TESTS

# %% [markdown]
# ## 4. The stacks: N encoders, N decoders
#
# Now the notes' answer, word for word: the input goes into encoder 1, its result into
# encoder 2, and so on; the last encoder's output, `memory`, goes into **every** decoder
# layer, next to the previous decoder layer's output. The notes sketch it in Keras-like
# code; here is the same sketch in PyTorch terms:
#
# ```python
# def encoder(src_tokens):
#     outputs = initialize(src_tokens)   # embedding · √d_model + positional encoding, dropout
#     for encoder_layer in encoder_layers:         # N layers
#         outputs = encoder_layer(outputs)         # each reads the previous one's output
#     return outputs                               # the context vectors: `memory`
#
# def decoder(tgt_tokens, enc_outputs):
#     outputs = initialize(tgt_tokens)
#     for decoder_layer in decoder_layers:
#         outputs = decoder_layer(outputs, enc_outputs)   # the SAME enc_outputs every time
#     return outputs
# ```
#
# `initialize` belongs to the `Transformer` (section 5); `Encoder` and `Decoder` are the
# loops. Three details:
#
# - The N layers are **separate modules with their own weights**: build them in an
#   `nn.ModuleList` (so that PyTorch sees their parameters), one new layer per step,
#   not `[layer] * N`, which repeats one layer N times.
# - Decoder layer $n$ gets the encoder's **final** output, not encoder layer $n$'s.
# - No extra `LayerNorm` at the end: each post-norm layer already ends with one. (This is
#   `nn.TransformerEncoder(layer, N, norm=None)`.)
#
# **Exercise.** Write `Encoder` and `Decoder`.

# %% nbgrader={"grade": false, "grade_id": "Encoder", "locked": false, "schema_version": 3, "solution": true, "task": false}
class Encoder(nn.Module):
    """N encoder layers, each taking the previous one's output (no final norm: the
    last layer already ends in one).

    Args:
        d_model, num_heads, d_ff, dropout: as for EncoderLayer.
        num_layers: N, the number of layers.

    Attributes:
        layers: nn.ModuleList of num_layers distinct EncoderLayer.

    Shape:
        x: (B, T_src, d_model), the embedded source.
        src_mask: as for EncoderLayer.
        output: (B, T_src, d_model), the context vectors.
    """

    def __init__(self, d_model: int, num_heads: int, num_layers: int, d_ff: int, dropout: float = 0.0):
        super().__init__()
        ### BEGIN SOLUTION
        self.layers = nn.ModuleList(
            EncoderLayer(d_model, num_heads, d_ff, dropout) for _ in range(num_layers)
        )
        ### END SOLUTION

    def forward(self, x: torch.Tensor, src_mask: torch.Tensor | None = None) -> torch.Tensor:
        ### BEGIN SOLUTION
        for layer in self.layers:
            x = layer(x, src_mask)  # (B, T_src, d_model)
        return x
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_Encoder_chains_layers", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(8)
encoder = Encoder(d_model=16, num_heads=4, num_layers=3, d_ff=32)
assert isinstance(encoder.layers, nn.ModuleList) and len(encoder.layers) == 3, (
    "layers should be an nn.ModuleList of num_layers = 3 EncoderLayer"
)
assert len({id(layer) for layer in encoder.layers}) == 3, (
    "your layers are one module repeated: build a new EncoderLayer for each of the "
    "num_layers positions (a comprehension, not [layer] * num_layers)."
)
expect_shape(encoder(torch.randn(2, 5, 16)), (2, 5, 16), "Encoder output for (2, 5, 16)")
passed("three separate layers, output shaped like the input")
### BEGIN HIDDEN TESTS
import transformer_course.model as reference
from transformer_course.checks import from_scratch

TORCH_ATTENTION = [
    "multi_head_attention_forward",
    "scaled_dot_product_attention",
    "_transformer_encoder_layer_fwd",
    "_native_multi_head_attention",
]
torch.manual_seed(50)
stack = randomize_(Encoder(d_model=6, num_heads=2, num_layers=3, d_ff=10).double().eval(), 50)
x = torch.randn(3, 5, 6, dtype=torch.float64)
mask = (torch.arange(5) < torch.tensor([5, 2, 4])[:, None])[:, None, None, :]  # (B, 1, 1, T)
with torch.no_grad():
    expected, unmasked = x, x
    for block in stack.layers:  # your own layers, chained
        expected, unmasked = block(expected, mask), block(unmasked)
    mistakes = {
        "each layer reads the encoder's input: feed every layer the previous layer's output.": stack.layers[
            -1
        ](x, mask),
        "only the first layer runs: loop over every layer.": stack.layers[0](x, mask),
        "the layers don't get src_mask: pass it to every layer.": unmasked,
        "you add a LayerNorm after the last layer: "
        "each post-norm layer already ends with one.": nn.functional.layer_norm(expected, (6,)),
    }
with from_scratch(
    "Encoder", torch_functions=TORCH_ATTENTION, reference=[reference.Encoder, reference.EncoderLayer]
):
    out = stack(x, mask)
expect_close(
    out, expected, "Encoder(num_layers=3) against its own three layers applied in turn", mistakes=mistakes
)
with from_scratch(
    "Encoder", torch_functions=TORCH_ATTENTION, reference=[reference.Encoder, reference.EncoderLayer]
):
    single = Encoder(d_model=6, num_heads=3, num_layers=1, d_ff=4)
    expect_close(
        single(x[:, :1].float()),
        single.layers[0](x[:, :1].float()),
        "Encoder(num_layers=1) on one token, against its layer",
    )
passed("every layer reads the previous layer's output, with the mask")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_Encoder_matches_torch", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(9)
encoder = Encoder(d_model=16, num_heads=4, num_layers=2, d_ff=32).eval()
x = torch.randn(1, 4, 16)
first = encoder.layers[0](x)
expect_close(
    encoder(x),
    encoder.layers[1](first),
    "Encoder(num_layers=2) output",
    mistakes={
        "the second layer reads the encoder's input: give it the first layer's output.": encoder.layers[1](x)
    },
)
passed("layer 2 reads layer 1's output")
### BEGIN HIDDEN TESTS
import torch.nn.functional as F

import transformer_course.model as reference
from transformer_course.checks import from_scratch

TORCH_ATTENTION = [
    "multi_head_attention_forward",
    "scaled_dot_product_attention",
    "_transformer_encoder_layer_fwd",
    "_native_multi_head_attention",
]
for seed, (b, t, d_model, h, n) in enumerate([(3, 6, 8, 2, 3), (2, 1, 6, 3, 2)]):
    torch.manual_seed(60 + seed)
    theirs = nn.TransformerEncoder(
        nn.TransformerEncoderLayer(d_model, h, 2 * d_model, dropout=0.0, batch_first=True),
        n,
        norm=None,
        enable_nested_tensor=False,
    )
    theirs = randomize_(theirs.double(), 60 + seed)
    ours = Encoder(d_model, h, n, 2 * d_model).double().eval()
    load_torch_weights(ours, theirs)
    x = torch.randn(b, t, d_model, dtype=torch.float64)
    mask = (torch.arange(t) < torch.randint(1, t + 1, (b,))[:, None])[:, None, None, :]
    blocked = torch_mask(mask, b, h, t, t)
    with torch.no_grad():
        expected = theirs(x, mask=blocked)
        repeated = x
        for _ in range(n):
            repeated = theirs.layers[-1](repeated, src_mask=blocked)
        mistakes = {
            "you add a LayerNorm after the last layer: each post-norm layer already ends with "
            "one (nn.TransformerEncoder's norm=None).": F.layer_norm(expected, (d_model,)),
            "all your layers share one set of weights: build num_layers separate EncoderLayer.": repeated,
        }
    with from_scratch(
        "Encoder", torch_functions=TORCH_ATTENTION, reference=[reference.Encoder, reference.EncoderLayer]
    ):
        out = ours(x, mask)
    expect_close(
        out,
        expected,
        f"Encoder with {n} layers on {b}×{t} tokens, against "
        "nn.TransformerEncoder (norm=None) with the same weights",
        mistakes=mistakes,
    )
passed("equal to nn.TransformerEncoder with copied weights, in float64")
### END HIDDEN TESTS

# %% nbgrader={"grade": false, "grade_id": "Decoder", "locked": false, "schema_version": 3, "solution": true, "task": false}
class Decoder(nn.Module):
    """N decoder layers, each taking the previous one's output and the encoder's output.

    Args:
        d_model, num_heads, d_ff, dropout: as for DecoderLayer.
        num_layers: N, the number of layers.

    Attributes:
        layers: nn.ModuleList of num_layers distinct DecoderLayer.

    Shape:
        x: (B, T_tgt, d_model), the embedded target.
        memory: (B, T_src, d_model), the encoder's output, given to every layer.
        tgt_mask, src_mask: as for DecoderLayer.
        output: (B, T_tgt, d_model).
    """

    def __init__(self, d_model: int, num_heads: int, num_layers: int, d_ff: int, dropout: float = 0.0):
        super().__init__()
        ### BEGIN SOLUTION
        self.layers = nn.ModuleList(
            DecoderLayer(d_model, num_heads, d_ff, dropout) for _ in range(num_layers)
        )
        ### END SOLUTION

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor,
        tgt_mask: torch.Tensor | None = None,
        src_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        ### BEGIN SOLUTION
        for layer in self.layers:
            x = layer(x, memory, tgt_mask, src_mask)  # (B, T_tgt, d_model)
        return x
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_Decoder_gives_memory_to_every_layer", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(10)
decoder = Decoder(d_model=16, num_heads=4, num_layers=3, d_ff=32)
assert isinstance(decoder.layers, nn.ModuleList) and len(decoder.layers) == 3, (
    "layers should be an nn.ModuleList of num_layers = 3 DecoderLayer"
)
assert len({id(layer) for layer in decoder.layers}) == 3, (
    "your layers are one module repeated: build a new DecoderLayer for each position."
)
out = decoder(torch.randn(2, 4, 16), torch.randn(2, 6, 16))  # T_tgt = 4, T_src = 6
expect_shape(out, (2, 4, 16), "Decoder output for x (2, 4, 16) and memory (2, 6, 16)")
passed("three separate layers, one output per target token")
### BEGIN HIDDEN TESTS
import transformer_course.model as reference
from transformer_course.checks import from_scratch

TORCH_ATTENTION = [
    "multi_head_attention_forward",
    "scaled_dot_product_attention",
    "_native_multi_head_attention",
]
for seed, t_src in enumerate([5, 7]):  # equal lengths let the wrong memory run, too
    torch.manual_seed(70 + seed)
    stack = randomize_(Decoder(d_model=6, num_heads=2, num_layers=3, d_ff=10).double(), 70)
    stack.eval()
    x = torch.randn(2, 5, 6, dtype=torch.float64)
    memory = torch.randn(2, t_src, 6, dtype=torch.float64)
    tgt_mask = torch.ones(5, 5, dtype=torch.bool).tril()
    src_mask = (torch.arange(t_src) < torch.tensor([t_src, 3])[:, None])[:, None, None, :]
    with torch.no_grad():
        expected = x
        for block in stack.layers:  # your own layers, each given the encoder's output
            expected = block(expected, memory, tgt_mask, src_mask)
        mistakes = {
            "each layer reads the decoder's input: feed every layer the previous layer's "
            "output.": stack.layers[-1](x, memory, tgt_mask, src_mask),
            "the layers don't get src_mask: pass it to every layer.": stack.layers[2](
                stack.layers[1](stack.layers[0](x, memory, tgt_mask), memory, tgt_mask), memory, tgt_mask
            ),
            "you add a LayerNorm after the last layer: each post-norm layer already ends with "
            "one.": nn.functional.layer_norm(expected, (6,)),
        }
        if t_src == 5:
            wrong, previous = x, memory
            for block in stack.layers:
                wrong = block(wrong, previous, tgt_mask, src_mask)
                previous = wrong
            mistakes[
                "layers after the first get the previous decoder layer's output as memory: "
                "every layer gets the encoder's output, memory."
            ] = wrong
    try:
        with from_scratch(
            "Decoder", torch_functions=TORCH_ATTENTION, reference=[reference.Decoder, reference.DecoderLayer]
        ):
            out = stack(x, memory, tgt_mask, src_mask)
    except RuntimeError as crash:
        raise AssertionError(
            f"Decoder raised RuntimeError ({crash}) for T_tgt = 5, T_src = "
            f"{t_src}: give every layer the encoder's output, memory, with "
            "src_mask."
        ) from None
    expect_close(
        out,
        expected,
        f"Decoder(num_layers=3), T_tgt = 5, T_src = {t_src}, against its own layers each given memory",
        mistakes=mistakes,
    )
passed("every decoder layer reads the previous layer's output and the encoder's output")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_Decoder_matches_torch", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(11)
decoder = Decoder(d_model=16, num_heads=4, num_layers=2, d_ff=32).eval()
x, memory = torch.randn(1, 3, 16), torch.randn(1, 5, 16)
first = decoder.layers[0](x, memory)
expect_close(
    decoder(x, memory),
    decoder.layers[1](first, memory),
    "Decoder(num_layers=2) output",
    mistakes={
        "the second layer reads the decoder's input: give it the first layer's "
        "output (and memory).": decoder.layers[1](x, memory)
    },
)
passed("layer 2 reads layer 1's output and memory")
### BEGIN HIDDEN TESTS
import torch.nn.functional as F

import transformer_course.model as reference
from transformer_course.checks import from_scratch

TORCH_ATTENTION = [
    "multi_head_attention_forward",
    "scaled_dot_product_attention",
    "_native_multi_head_attention",
]
for seed, (b, t_tgt, t_src, d_model, h, n) in enumerate([(3, 4, 6, 8, 2, 3), (2, 1, 1, 6, 3, 2)]):
    torch.manual_seed(80 + seed)
    theirs = nn.TransformerDecoder(
        nn.TransformerDecoderLayer(d_model, h, 2 * d_model, dropout=0.0, batch_first=True), n, norm=None
    )
    theirs = randomize_(theirs.double(), 80 + seed)
    ours = Decoder(d_model, h, n, 2 * d_model).double().eval()
    load_torch_weights(ours, theirs)
    x = torch.randn(b, t_tgt, d_model, dtype=torch.float64)
    memory = torch.randn(b, t_src, d_model, dtype=torch.float64)
    tgt_keep = torch.arange(t_tgt) < torch.randint(1, t_tgt + 1, (b,))[:, None]
    tgt_mask = tgt_keep[:, None, None, :] & torch.ones(t_tgt, t_tgt, dtype=torch.bool).tril()
    src_mask = (torch.arange(t_src) < torch.randint(1, t_src + 1, (b,))[:, None])[:, None, None, :]
    blocked_tgt = torch_mask(tgt_mask, b, h, t_tgt, t_tgt)
    blocked_src = torch_mask(src_mask, b, h, t_tgt, t_src)
    with torch.no_grad():
        expected = theirs(x, memory, tgt_mask=blocked_tgt, memory_mask=blocked_src)
        repeated = x
        for _ in range(n):
            repeated = theirs.layers[-1](repeated, memory, tgt_mask=blocked_tgt, memory_mask=blocked_src)
        mistakes = {
            "you add a LayerNorm after the last layer: each post-norm layer already ends with "
            "one (nn.TransformerDecoder's norm=None).": F.layer_norm(expected, (d_model,)),
            "all your layers share one set of weights: build num_layers separate DecoderLayer.": repeated,
        }
    with from_scratch(
        "Decoder", torch_functions=TORCH_ATTENTION, reference=[reference.Decoder, reference.DecoderLayer]
    ):
        out = ours(x, memory, tgt_mask, src_mask)
    expect_close(
        out,
        expected,
        f"Decoder with {n} layers, T_tgt = {t_tgt}, T_src = {t_src}, "
        "against nn.TransformerDecoder (norm=None) with the same weights",
        mistakes=mistakes,
    )
passed("equal to nn.TransformerDecoder with copied weights, in float64")
### END HIDDEN TESTS

# %% [markdown]
# The notes' picture, drawn for N = 3: the encoders form one chain, the decoders another,
# and a branch of the last encoder's output reaches every decoder.

# %%
fig, ax = plt.subplots(figsize=(8, 4.6))
n_layers, height, gap = 3, 0.8, 1.3
top = (n_layers - 1) * gap + height  # the last encoder's upper edge
for i in range(n_layers):
    y = i * gap
    for x0, name, color in ((0, "인코더", "#d6e6f5"), (4, "디코더", "#fbe0c8")):
        ax.add_patch(plt.Rectangle((x0, y), 2, height, facecolor=color, edgecolor="black"))
        ax.text(x0 + 1, y + height / 2, f"{name} {i + 1}", ha="center", va="center")
        if i > 0:  # the previous layer's output
            ax.annotate("", (x0 + 1, y), (x0 + 1, y - gap + height), arrowprops={"arrowstyle": "->"})
    ax.annotate("", (4, y + height / 2), (2, top - 0.1), arrowprops={"arrowstyle": "->", "color": "tab:red"})
ax.text(1, -0.45, "입력 임베딩 + PE", ha="center")
ax.text(5, -0.45, "디코더 입력 임베딩 + PE", ha="center")
ax.annotate(
    "Linear, softmax: 다음 토큰",
    (5, top),
    (5, top + 0.5),
    ha="center",
    va="bottom",
    arrowprops={"arrowstyle": "<-"},
)
ax.text(2.1, top, "memory (인코더 출력)", color="tab:red", fontsize=9, va="bottom")
ax.set_xlim(-0.5, 6.5)
ax.set_ylim(-0.8, top + 0.9)
ax.axis("off")
ax.set_title("4-1: 인코더의 출력값은 모든 디코더의 인풋에 사용된다")
plt.show()

# %% [markdown]
# The picture's red arrows, checked on your `Decoder`: a forward hook on each layer's
# cross-attention records the keys it was given. Every one is the encoder's output.

# %%
torch.manual_seed(12)
decoder = Decoder(d_model=16, num_heads=4, num_layers=3, d_ff=32)
memory = torch.randn(1, 5, 16)
seen_keys = []


def record_key(module, args, kwargs, output):
    seen_keys.append(args[1] if len(args) > 1 else kwargs["key"])


hooks = [layer.cross_attn.register_forward_hook(record_key, with_kwargs=True) for layer in decoder.layers]
decoder(torch.randn(1, 3, 16), memory)
for hook in hooks:
    hook.remove()
for i, key in enumerate(seen_keys, start=1):
    print(f"decoder layer {i}: cross-attention keys are the encoder's output:", torch.equal(key, memory))

# %% [markdown]
# ## 5. The whole Transformer
#
# What is left is the two ends of question 4.
#
# **In**, `initialize` of the notes' sketch: each token id becomes a row of an
# `nn.Embedding` table, multiplied by $\sqrt{d_{model}}$, plus the positional encoding of
# its position, then dropout:
#
# $$x_{pos} = \sqrt{d_{model}}\;E[\text{token}_{pos}] + PE_{pos}$$
#
# The embeddings start small, $\mathcal{N}(0, 1/d_{model})$, so that after the
# $\sqrt{d_{model}}$ every coordinate has variance about 1, like the sines and cosines
# of $PE$: neither drowns the other. The positional encoding is computed once in
# `__init__` and stored with `self.register_buffer("pe", ...)`: a buffer moves with
# `.to(device)` and `.double()` like a parameter but is **not learned**.
#
# **Out**, the notes' "softmax로 다음 토큰을 고른다": a linear layer, the *generator*,
# turns each decoder output into one score per target word, the **logits**. `forward`
# returns the logits; the softmax is applied by the loss in lesson 08
# (`cross_entropy` takes logits) and by whoever wants probabilities.
#
# **Initialisation.** Like `nn.Transformer`, every weight matrix starts Xavier-uniform,
# $U(-a, a)$ with $a = \sqrt{6/(\text{fan\_in} + \text{fan\_out})}$
# (`nn.init.xavier_uniform_` on every parameter with `dim() > 1`); then the two
# embedding tables are set to $\mathcal{N}(0, 1/d_{model})$ with `nn.init.normal_`.
#
# **Exercise.** Write `Transformer`: `__init__` with the attributes of the docstring,
# `embed` (the *in* step, shared by both sides), `encode`, `decode` and `forward`. In
# `embed`, the positional encodings to add are the first $T$ rows of `self.pe`, where $T$
# is the sequence length, `tokens.size(-1)`: they broadcast over the batch.

# %% nbgrader={"grade": false, "grade_id": "Transformer", "locked": false, "schema_version": 3, "solution": true, "task": false}
class Transformer(nn.Module):
    """The whole encoder-decoder model: embeddings, positional encoding, the two
    stacks, and a linear generator that turns each decoder output into logits.

    A token enters as embedding · √d_model + PE[position], then dropout. Every matrix
    starts Xavier-uniform, as nn.Transformer's are; the embeddings then start at
    N(0, 1/d_model), so that after the √d_model scale they are as large as the
    positional encoding.

    Args:
        src_vocab, tgt_vocab: vocabulary sizes of the source and target languages.
        d_model, num_heads, num_layers, d_ff, dropout: as for the layers.
        max_len: the longest sequence the positional encoding covers.

    Attributes:
        src_embed, tgt_embed: nn.Embedding; pe: buffer (max_len, d_model), not learned;
        dropout: nn.Dropout; encoder: Encoder; decoder: Decoder;
        generator: nn.Linear(d_model, tgt_vocab).

    Shape:
        src: (B, T_src) and tgt: (B, T_tgt), token ids.
        src_mask: (B, 1, 1, T_src) and tgt_mask: (B, 1, T_tgt, T_tgt), or anything that
            broadcasts like them; True where attention is allowed.
        encode: (B, T_src, d_model); decode: (B, T_tgt, d_model);
        forward: logits (B, T_tgt, tgt_vocab).
    """

    def __init__(
        self,
        src_vocab: int,
        tgt_vocab: int,
        d_model: int = 128,
        num_heads: int = 4,
        num_layers: int = 2,
        d_ff: int = 512,
        dropout: float = 0.1,
        max_len: int = 256,
    ):
        super().__init__()
        ### BEGIN SOLUTION
        self.d_model = d_model
        self.src_embed = nn.Embedding(src_vocab, d_model)
        self.tgt_embed = nn.Embedding(tgt_vocab, d_model)
        # A buffer follows .to(device) and .double() but is not trained.
        self.register_buffer("pe", positional_encoding(max_len, d_model), persistent=False)
        self.dropout = nn.Dropout(dropout)
        self.encoder = Encoder(d_model, num_heads, num_layers, d_ff, dropout)
        self.decoder = Decoder(d_model, num_heads, num_layers, d_ff, dropout)
        self.generator = nn.Linear(d_model, tgt_vocab)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        nn.init.normal_(self.src_embed.weight, std=d_model**-0.5)
        nn.init.normal_(self.tgt_embed.weight, std=d_model**-0.5)
        ### END SOLUTION

    def embed(self, tokens: torch.Tensor, embedding: nn.Embedding) -> torch.Tensor:
        """embedding(tokens) · √d_model + PE, then dropout.

        Shape:
            tokens: (B, T); output: (B, T, d_model).
        """
        ### BEGIN SOLUTION
        T = tokens.size(-1)
        x = embedding(tokens) * math.sqrt(self.d_model) + self.pe[:T]  # (B, T, d_model)
        return self.dropout(x)
        ### END SOLUTION

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor | None) -> torch.Tensor:
        ### BEGIN SOLUTION
        return self.encoder(self.embed(src, self.src_embed), src_mask)  # (B, T_src, d_model)
        ### END SOLUTION

    def decode(
        self,
        tgt: torch.Tensor,
        memory: torch.Tensor,
        tgt_mask: torch.Tensor | None,
        src_mask: torch.Tensor | None,
    ) -> torch.Tensor:
        ### BEGIN SOLUTION
        x = self.embed(tgt, self.tgt_embed)  # (B, T_tgt, d_model)
        return self.decoder(x, memory, tgt_mask, src_mask)  # (B, T_tgt, d_model)
        ### END SOLUTION

    def forward(
        self,
        src: torch.Tensor,
        tgt: torch.Tensor,
        src_mask: torch.Tensor | None,
        tgt_mask: torch.Tensor | None,
    ) -> torch.Tensor:
        ### BEGIN SOLUTION
        memory = self.encode(src, src_mask)  # (B, T_src, d_model)
        return self.generator(self.decode(tgt, memory, tgt_mask, src_mask))  # (B, T_tgt, V)
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_Transformer_shapes", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(13)
model = Transformer(
    src_vocab=11, tgt_vocab=13, d_model=16, num_heads=4, num_layers=2, d_ff=32, dropout=0.0, max_len=20
).eval()
src = torch.tensor([[3, 4, 5, 6, 7], [3, 4, 5, 0, 0]])  # 0 is padding
tgt = torch.tensor([[1, 8, 9, 10], [1, 8, 9, 0]])
src_mask, tgt_mask = padding_mask(src, 0), decoder_mask(tgt, 0)
memory = model.encode(src, src_mask)
expect_shape(memory, (2, 5, 16), "encode(src, src_mask): (B, T_src, d_model)")
expect_shape(
    model.decode(tgt, memory, tgt_mask, src_mask),
    (2, 4, 16),
    "decode(tgt, memory, tgt_mask, src_mask): (B, T_tgt, d_model)",
)
expect_shape(
    model(src, tgt, src_mask, tgt_mask),
    (2, 4, 13),
    "forward(src, tgt, src_mask, tgt_mask): logits (B, T_tgt, tgt_vocab)",
)
assert isinstance(model.encoder, Encoder) and isinstance(model.decoder, Decoder), (
    "model.encoder should be your Encoder and model.decoder your Decoder"
)
assert isinstance(model.encoder.layers[0].self_attn, MultiHeadAttention), (
    "the layers should use the course's MultiHeadAttention (lesson 08 swaps it for a fused one)"
)
passed("encode, decode and forward give the shapes of the docstring")
### BEGIN HIDDEN TESTS
import transformer_course.model as reference
from transformer_course.checks import from_scratch

TORCH_ATTENTION = [
    "multi_head_attention_forward",
    "scaled_dot_product_attention",
    "_transformer_encoder_layer_fwd",
    "_native_multi_head_attention",
]
LESSON = [
    reference.Transformer,
    reference.Encoder,
    reference.Decoder,
    reference.EncoderLayer,
    reference.DecoderLayer,
]
default = Transformer(7, 9)
assert isinstance(getattr(default, "pe", None), torch.Tensor), (
    "keep the positional encoding as a buffer named pe: self.register_buffer('pe', ...)"
)
expect_shape(default.pe, (256, 128), "pe of Transformer(7, 9), (max_len, d_model) by default")
assert len(default.encoder.layers) == 2 and len(default.decoder.layers) == 2, (
    "Transformer(7, 9) should have num_layers = 2 encoder and decoder layers by default"
)
assert isinstance(default.generator, nn.Linear) and default.generator.out_features == 9, (
    "generator should be nn.Linear(d_model, tgt_vocab)"
)
assert default.src_embed.num_embeddings == 7 and default.tgt_embed.num_embeddings == 9, (
    "src_embed should have src_vocab rows and tgt_embed tgt_vocab rows"
)
small = Transformer(5, 6, d_model=8, num_heads=2, num_layers=1, d_ff=8, dropout=0.0).eval()
for b, t_src, t_tgt in [(1, 1, 1), (3, 1, 4), (2, 6, 1)]:
    src, tgt = torch.randint(0, 5, (b, t_src)), torch.randint(0, 6, (b, t_tgt))
    with from_scratch("Transformer", torch_functions=TORCH_ATTENTION, reference=LESSON):
        logits = small(src, tgt, None, torch.ones(t_tgt, t_tgt, dtype=torch.bool).tril())
    expect_shape(logits, (b, t_tgt, 6), f"logits for B = {b}, T_src = {t_src}, T_tgt = {t_tgt}")
passed("default sizes, T = 1, no source mask")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_Transformer_embeds_and_stacks", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(14)
model = Transformer(
    src_vocab=11, tgt_vocab=13, d_model=16, num_heads=4, num_layers=2, d_ff=32, dropout=0.0, max_len=20
).eval()
src = torch.tensor([[3, 4, 5]])
x = model.src_embed(src) * 4 + positional_encoding(20, 16)[:3]  # √d_model = 4
expect_close(
    model.encode(src, None),
    model.encoder(x),
    "encode(src) against encoder(embedding)",
    mistakes={
        "the embeddings are not scaled: multiply them by √d_model before adding "
        "the positional encoding.": model.encoder(x - model.src_embed(src) * 3)
    },
)
passed("encode = encoder(embedding · √d_model + PE)")
### BEGIN HIDDEN TESTS
import transformer_course.model as reference
from transformer_course.checks import from_scratch

TORCH_ATTENTION = [
    "multi_head_attention_forward",
    "scaled_dot_product_attention",
    "_transformer_encoder_layer_fwd",
    "_native_multi_head_attention",
]
LESSON = [
    reference.Transformer,
    reference.Encoder,
    reference.Decoder,
    reference.EncoderLayer,
    reference.DecoderLayer,
]
torch.manual_seed(90)
d_model, max_len = 8, 12
model = (
    Transformer(9, 11, d_model=d_model, num_heads=2, num_layers=2, d_ff=12, dropout=0.0, max_len=max_len)
    .double()
    .eval()
)
randomize_(model, 90)
angles = torch.arange(max_len, dtype=torch.float64)[:, None] / 10000.0 ** (
    (2 * (torch.arange(d_model) // 2)).double() / d_model
)
table = torch.where(torch.arange(d_model) % 2 == 0, torch.sin(angles), torch.cos(angles))
with torch.no_grad():
    model.pe.copy_(table)  # the exact encoding, so that float64 comparisons are exact
src = torch.randint(1, 9, (2, 5))
tgt = torch.randint(1, 9, (2, 4))  # ids below both vocabularies' sizes
src_mask = (torch.arange(5) < torch.tensor([5, 3])[:, None])[:, None, None, :]
tgt_mask = torch.ones(4, 4, dtype=torch.bool).tril()
root = math.sqrt(d_model)
with torch.no_grad():

    def encoded(scale=root, pe_times=1):
        return model.encoder(model.src_embed(src) * scale + pe_times * table[:5], src_mask)

    def decoded(memory, scale=root, pe_times=1, embedding=model.tgt_embed):
        x = embedding(tgt) * scale + pe_times * table[:4]
        return model.decoder(x, memory, tgt_mask, src_mask)

    memory = encoded()
    hints = {
        "the embeddings are not scaled: multiply them by √d_model.": {"scale": 1.0},
        "the embeddings are multiplied by d_model: multiply by √d_model.": {"scale": d_model},
        "the positional encoding is missing: add self.pe[:T] to the scaled embeddings.": {"pe_times": 0},
        "the positional encoding is added twice: add it once, in embed.": {"pe_times": 2},
    }
    encode_mistakes = {hint: encoded(**kw) for hint, kw in hints.items()}
    decode_mistakes = {hint: decoded(memory, **kw) for hint, kw in hints.items()}
    decode_mistakes["decode embeds the target with src_embed: use tgt_embed."] = decoded(
        memory, embedding=model.src_embed
    )
    logits = model.generator(decoded(memory))
with from_scratch("Transformer", torch_functions=TORCH_ATTENTION, reference=LESSON):
    got_memory = model.encode(src, src_mask)
    got_decoded = model.decode(tgt, memory, tgt_mask, src_mask)
    got_logits = model(src, tgt, src_mask, tgt_mask)
expect_close(
    got_memory,
    memory,
    "encode(src, src_mask) against your encoder on embedding · √d_model + PE",
    mistakes=encode_mistakes,
)
expect_close(
    got_decoded,
    decoded(memory),
    "decode(tgt, memory, tgt_mask, src_mask) against your decoder on embedding · √d_model + PE",
    mistakes=decode_mistakes,
)
expect_close(
    got_logits,
    logits,
    "forward(src, tgt, src_mask, tgt_mask) against generator(decode(tgt, encode(src)))",
    mistakes={
        "forward returns probabilities: return the generator's logits (the loss applies the "
        "softmax).": torch.softmax(logits, dim=-1),
        "forward returns log-probabilities: return the generator's raw logits.": torch.log_softmax(
            logits, dim=-1
        ),
    },
)
passed("encode, decode and forward combine the embeddings, PE, your stacks and the generator")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_Transformer_matches_torch", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(15)
model = Transformer(
    src_vocab=11, tgt_vocab=13, d_model=16, num_heads=4, num_layers=2, d_ff=32, dropout=0.0, max_len=20
).eval()
src, tgt = torch.tensor([[3, 4, 5, 6]]), torch.tensor([[1, 8, 9]])
memory = model.encode(src, None)
expect_close(
    model(src, tgt, None, None),
    model.generator(model.decode(tgt, memory, None, None)),
    "forward(src, tgt) against generator(decode(tgt, encode(src)))",
)
passed("forward = generator(decode(tgt, encode(src)))")
### BEGIN HIDDEN TESTS
import transformer_course.model as reference
from transformer_course.checks import from_scratch

TORCH_ATTENTION = [
    "multi_head_attention_forward",
    "scaled_dot_product_attention",
    "_transformer_encoder_layer_fwd",
    "_native_multi_head_attention",
]
LESSON = [
    reference.Transformer,
    reference.Encoder,
    reference.Decoder,
    reference.EncoderLayer,
    reference.DecoderLayer,
]
src_vocab, tgt_vocab, d_model, h, n, d_ff, max_len = 10, 12, 8, 2, 2, 16, 16
torch.manual_seed(100)
ours = Transformer(src_vocab, tgt_vocab, d_model, h, n, d_ff, dropout=0.0, max_len=max_len).double().eval()
torch_encoder = nn.TransformerEncoder(
    nn.TransformerEncoderLayer(d_model, h, d_ff, dropout=0.0, batch_first=True),
    n,
    norm=None,
    enable_nested_tensor=False,
)
torch_decoder = nn.TransformerDecoder(
    nn.TransformerDecoderLayer(d_model, h, d_ff, dropout=0.0, batch_first=True), n, norm=None
)
torch_encoder = randomize_(torch_encoder.double(), 100)
torch_decoder = randomize_(torch_decoder.double(), 101)
load_torch_weights(ours.encoder, torch_encoder)
load_torch_weights(ours.decoder, torch_decoder)
g = torch.Generator().manual_seed(102)
src_table = torch.randn(src_vocab, d_model, generator=g, dtype=torch.float64) / d_model**0.5
tgt_table = torch.randn(tgt_vocab, d_model, generator=g, dtype=torch.float64) / d_model**0.5
w_out = torch.randn(tgt_vocab, d_model, generator=g, dtype=torch.float64) / d_model**0.5
b_out = torch.randn(tgt_vocab, generator=g, dtype=torch.float64)
angles = torch.arange(max_len, dtype=torch.float64)[:, None] / 10000.0 ** (
    (2 * (torch.arange(d_model) // 2)).double() / d_model
)
table = torch.where(torch.arange(d_model) % 2 == 0, torch.sin(angles), torch.cos(angles))
with torch.no_grad():
    ours.src_embed.weight.copy_(src_table)
    ours.tgt_embed.weight.copy_(tgt_table)
    ours.generator.weight.copy_(w_out)
    ours.generator.bias.copy_(b_out)
    ours.pe.copy_(table)
for b, t_src, t_tgt in [(3, 6, 4), (2, 1, 5), (2, 4, 1)]:
    src = torch.randint(1, src_vocab, (b, t_src))
    tgt = torch.randint(1, tgt_vocab, (b, t_tgt))
    src_len = torch.randint(1, t_src + 1, (b,))
    tgt_len = torch.randint(1, t_tgt + 1, (b,))
    src[torch.arange(t_src) >= src_len[:, None]] = 0  # padding at the end
    tgt[torch.arange(t_tgt) >= tgt_len[:, None]] = 0
    src_mask = (src != 0)[:, None, None, :]
    tgt_mask = (tgt != 0)[:, None, None, :] & torch.ones(t_tgt, t_tgt, dtype=torch.bool).tril()
    with torch.no_grad():
        root_d_model = math.sqrt(d_model)

        def oracle(scale=root_d_model, pe_times=1):
            memory = torch_encoder(
                src_table[src] * scale + pe_times * table[:t_src],
                mask=torch_mask(src_mask, b, h, t_src, t_src),
            )
            y = torch_decoder(
                tgt_table[tgt] * scale + pe_times * table[:t_tgt],
                memory,
                tgt_mask=torch_mask(tgt_mask, b, h, t_tgt, t_tgt),
                memory_mask=torch_mask(src_mask, b, h, t_tgt, t_src),
            )
            return y @ w_out.T + b_out  # (B, T_tgt, tgt_vocab)

        expected = oracle()
        mistakes = {
            "the embeddings are not scaled: multiply them by √d_model.": oracle(scale=1.0),
            "the positional encoding is missing: add it to the scaled embeddings.": oracle(pe_times=0),
            "the positional encoding is added twice: add it once.": oracle(pe_times=2),
            "forward returns probabilities: return the generator's logits.": torch.softmax(expected, dim=-1),
        }
    what = f"Transformer logits for B = {b}, T_src = {t_src}, T_tgt = {t_tgt} with padding"
    try:
        with from_scratch("Transformer", torch_functions=TORCH_ATTENTION, reference=LESSON):
            logits = ours(src, tgt, src_mask, tgt_mask)
    except RuntimeError as crash:
        raise AssertionError(
            f"{what} raised RuntimeError ({crash}): encode with src_mask, "
            "decode with tgt_mask for the self-attention and src_mask for the "
            "cross-attention; take PE rows by position, self.pe[:T]."
        ) from None
    expect_close(
        logits,
        expected,
        what + ", against nn.TransformerEncoder/Decoder with the same weights",
        mistakes=mistakes,
    )
passed("equal to PyTorch's encoder and decoder stacks with copied weights, in float64")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_Transformer_masks_and_buffers", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(16)
model = Transformer(
    src_vocab=10, tgt_vocab=12, d_model=16, num_heads=2, num_layers=2, d_ff=32, dropout=0.0
).eval()
src, tgt = torch.tensor([[4, 5, 6, 0]]), torch.tensor([[1, 7, 8, 9]])
logits = model(src, tgt, padding_mask(src, 0), decoder_mask(tgt, 0))
changed = torch.tensor([[1, 7, 8, 2]])  # the last target token differs
expect_close(
    model(src, changed, padding_mask(src, 0), decoder_mask(changed, 0))[:, :3],
    logits[:, :3],
    "logits of target positions 0-2 after changing token 3",
)
assert "pe" not in dict(model.named_parameters()), (
    "pe is a parameter: store the positional encoding with register_buffer, it is not learned"
)
passed("no future target token changes an earlier prediction; pe is not a parameter")
### BEGIN HIDDEN TESTS
import transformer_course.model as reference
from transformer_course.checks import from_scratch

TORCH_ATTENTION = [
    "multi_head_attention_forward",
    "scaled_dot_product_attention",
    "_transformer_encoder_layer_fwd",
    "_native_multi_head_attention",
]
LESSON = [
    reference.Transformer,
    reference.Encoder,
    reference.Decoder,
    reference.EncoderLayer,
    reference.DecoderLayer,
]
torch.manual_seed(110)
model = (
    Transformer(10, 12, d_model=8, num_heads=2, num_layers=2, d_ff=16, dropout=0.0, max_len=30)
    .double()
    .eval()
)
src = torch.tensor([[4, 5, 6, 0, 0], [4, 5, 6, 7, 8]])
other_padding = torch.tensor([[4, 5, 6, 9, 3], [4, 5, 6, 7, 8]])  # same real tokens
tgt = torch.tensor([[1, 7, 8], [1, 2, 3]])
src_mask = torch.tensor([[True, True, True, False, False], [True] * 5])[:, None, None, :]
tgt_mask = torch.ones(3, 3, dtype=torch.bool).tril()
with from_scratch("Transformer", torch_functions=TORCH_ATTENTION, reference=LESSON):
    expect_close(
        model(other_padding, tgt, src_mask, tgt_mask),
        model(src, tgt, src_mask, tgt_mask),
        "logits after changing the source tokens under padding (src_mask False)",
        mistakes={
            "the padding leaks: pass src_mask to the encoder and to the decoder's cross-attention.": model(
                src, tgt, None, tgt_mask
            )
        },
    )
# pe: a buffer, not a parameter; the parameters are exactly those of PyTorch's stacks.
buffers = dict(model.named_buffers())
assert "pe" in buffers, "register the positional encoding as a buffer named pe"
stacks = sum(p.numel() for p in nn.TransformerEncoderLayer(8, 2, 16).parameters())
stacks += sum(p.numel() for p in nn.TransformerDecoderLayer(8, 2, 16).parameters())
expected = 2 * stacks + (10 + 12) * 8 + 8 * 12 + 12  # layers, embeddings, generator
count = sum(p.numel() for p in model.parameters())
assert count != expected + 30 * 8, (
    "the positional encoding is a parameter: it is fixed, so register it as a buffer"
)
assert count == expected, (
    f"your Transformer has {count} parameters, expected {expected}: two "
    "embeddings, 2 encoder and 2 decoder layers, and the generator"
)
expect_close(buffers["pe"].float(), positional_encoding(30, 8), "the pe buffer")
# Dropout: active in train(), gone in eval().
noisy = Transformer(10, 12, d_model=8, num_heads=2, num_layers=1, d_ff=16, dropout=0.5)
src32, tgt32 = torch.randint(1, 10, (2, 6)), torch.randint(1, 12, (2, 5))
noisy.train()
assert not torch.equal(noisy(src32, tgt32, None, None), noisy(src32, tgt32, None, None)), (
    "Transformer(dropout=0.5) gives the same output twice in train mode: apply self.dropout "
    "after adding the positional encoding (and pass dropout to the stacks)"
)
noisy.eval()
expect_close(
    noisy(src32, tgt32, None, None),
    noisy(src32, tgt32, None, None),
    "two eval-mode outputs of Transformer(dropout=0.5)",
)
passed("padding never leaks, pe is a buffer, dropout only in training")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_Transformer_init", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(17)
model = Transformer(src_vocab=300, tgt_vocab=300, d_model=64, num_heads=4)
for name in ("src_embed", "tgt_embed"):
    std = getattr(model, name).weight.std().item()
    assert abs(std - 64**-0.5) < 0.1 * 64**-0.5, (
        f"{name}'s weights have standard deviation {std:.3f}, expected 1/√d_model = 0.125: set "
        "them with nn.init.normal_ after the Xavier initialisation"
    )
passed("the embeddings start at N(0, 1/d_model)")
### BEGIN HIDDEN TESTS
torch.manual_seed(120)
model = Transformer(300, 200, d_model=64, num_heads=4, num_layers=2, d_ff=128)
embeddings = {id(model.src_embed.weight), id(model.tgt_embed.weight)}
for name, p in model.named_parameters():
    if p.dim() < 2 or id(p) in embeddings:
        continue
    fan_out, fan_in = p.shape
    bound = math.sqrt(6 / (fan_in + fan_out))
    assert p.abs().max().item() <= bound + 1e-6, (
        f"{name} has values beyond the Xavier bound {bound:.3f}: initialise every matrix with "
        "nn.init.xavier_uniform_"
    )
    std = p.std().item()
    assert abs(std - bound / math.sqrt(3)) < 0.05 * bound / math.sqrt(3), (
        f"{name} has standard deviation {std:.4f}, expected {bound / math.sqrt(3):.4f} for "
        "Xavier-uniform: call nn.init.xavier_uniform_ on every parameter with dim() > 1"
    )
for name in ("src_embed", "tgt_embed"):
    weight = getattr(model, name).weight
    assert abs(weight.mean().item()) < 0.01 and abs(weight.std().item() - 0.125) < 0.00625, (
        f"{name} should start at N(0, 1/d_model): nn.init.normal_(weight, std=d_model ** -0.5) "
        "after the Xavier initialisation"
    )
passed("Xavier-uniform matrices, N(0, 1/d_model) embeddings")
### END HIDDEN TESTS

# %% [markdown]
# The module tree of a small Transformer: two embeddings, the encoder's stack of
# layers, the decoder's, the generator. Every parameter belongs to a module you wrote
# in this course.

# %%
torch.manual_seed(18)
model = Transformer(src_vocab=4, tgt_vocab=7, d_model=16, num_heads=2, num_layers=2, d_ff=32)
print(model)
for part in ("src_embed", "tgt_embed", "encoder", "decoder", "generator"):
    count = sum(p.numel() for p in getattr(model, part).parameters())
    print(f"{part:>10}: {count:6d} parameters")
print("buffer pe:", tuple(model.pe.shape), "(not a parameter)")

# %% [markdown]
# Finally, question 4's ends in action. "rose is flower" goes in; the decoder has read
# `<bos> 장미 는` and returns, at its last position, a distribution over the next token.
# The model is untrained, so where that distribution puts its weight is an accident of
# the random initialisation: lesson 08 trains it to put nearly all of it on "꽃".

# %%
source_words = ["<pad>", "rose", "is", "flower"]
target_words = ["<pad>", "<bos>", "장미", "는", "꽃", "이다", "<eos>"]
src = torch.tensor([[1, 2, 3]])  # rose is flower
tgt = torch.tensor([[1, 2, 3]])  # <bos> 장미 는
model.train(False)  # no dropout: what the trained model would do
with torch.no_grad():
    logits = model(src, tgt, padding_mask(src, 0), decoder_mask(tgt, 0))  # (1, 3, 7)
next_token = torch.softmax(logits[0, -1], dim=-1)
plt.figure(figsize=(6, 2.6))
plt.bar(target_words, next_token)
plt.title("'<bos> 장미 는' 다음 토큰의 확률 (untrained)")
plt.ylabel("probability")
plt.show()

# %% [markdown]
# ## Recap
#
# - Attention alone ignores word order; the **sinusoidal positional encoding** writes
#   it into the vectors, with a sine and a cosine per frequency, so that the dot product
#   of two positions depends only on their distance.
# - An **encoder layer** is self-attention then a feed-forward network, each as
#   $\mathrm{LayerNorm}(x + \text{sublayer}(x))$ (post-norm); a **decoder layer** adds
#   cross-attention in between, with queries from the decoder and keys and values from
#   the encoder. Both equal PyTorch's layers once the weights are copied across.
# - The answer to question 4-1: the encoders form a chain; the last one's output,
#   `memory`, goes to **every** decoder layer, each of which also reads the previous
#   decoder layer's output.
# - The `Transformer` adds the two ends of question 4: embedding · √d_model + PE in,
#   a linear generator out, whose logits become the next-token distribution through a
#   softmax.
#
# Lesson 08 trains this model (`transformer_course.model.Transformer`, the same code as
# yours) on English → Korean sentences, with teacher forcing, a masked loss and greedy
# decoding.
