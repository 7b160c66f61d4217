# %% [markdown]
# # 05 · Cross-attention: where the decoder looks in the source sentence
#
# > **3. 각각 어텐션은 무엇을 학습하는 것인가?** — from the notes
# >
# > - encoder-decoder attention 인코더-디코더 어텐션: 인코더의 출력과 디코더의 입력간의 관계를 학습.
# >   "The cat is sleeping" → "Le chat dort" : "cat"이 "chat"에 대응됨을 학습.
#
# *What does each attention learn? … Encoder–decoder attention learns the relation between
# the encoder's output and the decoder's input: for "The cat is sleeping" → "Le chat dort",
# it learns that "cat" corresponds to "chat".*
#
# Lessons 02–04 related the tokens of **one** sequence to each other (self-attention).
# A decoder layer has a second attention sublayer that relates **two** sequences: the French
# words written so far ask questions, and the English sentence, already read by the encoder,
# answers them. This lesson builds it, draws its weights for the notes' example, and reads
# the word alignment out of them.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import matplotlib.pyplot as plt
import torch

from transformer_course.attention import scaled_dot_product_attention
from transformer_course.checks import expect_close, expect_shape, passed
from transformer_course.plots import attention_heatmap, use_hangul_font
from transformer_course.qkv import embed

use_hangul_font()
torch.manual_seed(0)

# %% [markdown]
# ## 1. Queries from the decoder, keys and values from the encoder
#
# Cross-attention is lesson 02's formula with its inputs taken from two places. Let
# $X_{\text{dec}}$ be the decoder's vectors (one per target word, $T_{tgt}$ rows) and
# $H_{\text{enc}}$ the encoder's output (one context vector per source word, $T_{src}$ rows):
#
# $$Q = X_{\text{dec}} W^Q, \qquad K = H_{\text{enc}} W^K, \qquad V = H_{\text{enc}} W^V$$
#
# $$\text{CrossAttention}(X_{\text{dec}}, H_{\text{enc}})
#   = \mathrm{softmax}\!\left(\frac{QK^\top}{\sqrt{d_k}}\right) V$$
#
# Follow the shapes: $QK^\top$ is $(T_{tgt}, T_{src})$, **one row per target word and one
# column per source word**. Each row is a probability distribution over the source words,
# and the output has $T_{tgt}$ rows: its length follows the decoder. "The cat is sleeping"
# has four words and "Le chat dort" three; the output has three rows.
#
# Two things differ from the decoder's self-attention of lesson 04:
#
# - **No look-ahead mask.** The whole source sentence is known before decoding starts, so
#   every target position may look at every source word.
# - **The source padding mask.** In a batch, shorter source sentences are padded; their
#   padding columns must get zero weight. The mask is boolean, **True where attention is
#   allowed**, and broadcasts against the weights $(\dots, T_{tgt}, T_{src})$: for inputs
#   $(B, T, d_{model})$ pass $(B, 1, T_{src})$, one row shared by every target position.
#   Lesson 04's padding mask $(B, 1, 1, T_{src})$ fits inputs with a head dimension,
#   $(B, h, T, d_{model})$.
#
# **Exercise.** Write `cross_attention`. Project, then reuse lesson 02's
# `scaled_dot_product_attention` (imported in the setup cell). Don't call
# `torch.nn.functional.scaled_dot_product_attention`: the hidden tests compare against it.

# %% nbgrader={"grade": false, "grade_id": "cross_attention", "locked": false, "schema_version": 3, "solution": true, "task": false}
def cross_attention(
    decoder_x: torch.Tensor,
    encoder_out: torch.Tensor,
    w_q: torch.Tensor,
    w_k: torch.Tensor,
    w_v: torch.Tensor,
    src_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention whose queries come from the decoder and whose keys and values come
    from the encoder: every target position gathers what it needs from the source.

    Args:
        decoder_x: the decoder's vectors, one per target position.
        encoder_out: the encoder's output (context vectors), one per source position.
        w_q, w_k, w_v: projection matrices, applied as ``x @ w``.
        src_mask: boolean, True where a source position may be attended to (False on
            padding); broadcasts against the weights (..., T_tgt, T_src). For inputs
            (B, T, d_model) pass (B, 1, T_src); lesson 04's padding mask (B, 1, 1, T_src)
            fits inputs with one more dimension, such as heads (B, h, T, d_model).

    Shape:
        decoder_x: (..., T_tgt, d_model); encoder_out: (..., T_src, d_model).
        w_q, w_k, w_v: (d_model, d_k).
        output: (..., T_tgt, d_k); weights: (..., T_tgt, T_src).
    """
    ### BEGIN SOLUTION
    q = decoder_x @ w_q  # (..., T_tgt, d_k)
    k = encoder_out @ w_k  # (..., T_src, d_k)
    v = encoder_out @ w_v  # (..., T_src, d_k)
    return scaled_dot_product_attention(q, k, v, src_mask)  # (..., T_tgt, d_k), (..., T_tgt, T_src)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_cross_attention_shapes", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(1)
d_model, d_k = 6, 4
decoder_x = torch.randn(3, d_model)  # T_tgt = 3 target words
encoder_out = torch.randn(5, d_model)  # T_src = 5 source words
w_q, w_k, w_v = (torch.randn(d_model, d_k) for _ in range(3))
try:
    out, weights = cross_attention(decoder_x, encoder_out, w_q, w_k, w_v)
except NotImplementedError:
    raise
except RuntimeError as error:
    raise AssertionError(
        f"cross_attention raised RuntimeError ({error}) for 3 target and 5 source "
        "words: the queries come from decoder_x, the keys *and* the values from "
        "encoder_out, each projected as x @ w."
    ) from None
if tuple(out.shape) == (5, d_k):
    raise AssertionError(
        "your output has one row per *source* word: the queries must come from "
        "decoder_x, the keys and values from encoder_out."
    )
if tuple(weights.shape) == (3, 3):
    raise AssertionError(
        "your weights are (T_tgt, T_tgt): that is the decoder's self-attention. "
        "Take the keys and values from encoder_out."
    )
expect_shape(out, (3, d_k), "output for 3 target and 5 source words (T_tgt, d_k)")
expect_shape(weights, (3, 5), "weights for 3 target and 5 source words (T_tgt, T_src)")
passed("the output has one row per target word, the weights one column per source word")
### BEGIN HIDDEN TESTS
import transformer_course.cross_attention as reference
from transformer_course.checks import from_scratch

for batch, t_tgt, t_src in [((2,), 1, 7), ((2, 3), 4, 2), ((), 1, 3)]:
    x = torch.randn(*batch, t_tgt, d_model)
    memory = torch.randn(*batch, t_src, d_model)
    with from_scratch(
        "cross_attention",
        torch_functions=["scaled_dot_product_attention"],
        reference=[reference.cross_attention],
    ):
        out, weights = cross_attention(x, memory, w_q, w_k, w_v)
    if tuple(out.shape) == (*batch, t_src, d_k) and t_src != t_tgt:
        raise AssertionError(
            f"for decoder_x {tuple(x.shape)} and encoder_out {tuple(memory.shape)} "
            "your output follows the encoder's length: take the queries from "
            "decoder_x."
        )
    expect_shape(
        out,
        (*batch, t_tgt, d_k),
        f"output for decoder_x {tuple(x.shape)} and encoder_out {tuple(memory.shape)}",
    )
    expect_shape(
        weights,
        (*batch, t_tgt, t_src),
        f"weights for decoder_x {tuple(x.shape)} and encoder_out {tuple(memory.shape)}",
    )
passed("batch dimensions, T_tgt = 1 and T_tgt ≠ T_src")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_cross_attention_values", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(1)
d_model, d_k = 6, 4
decoder_x = torch.randn(3, d_model)  # T_tgt = 3
encoder_out = torch.randn(5, d_model)  # T_src = 5
w_q, w_k, w_v = (torch.randn(d_model, d_k) for _ in range(3))
out, weights = cross_attention(decoder_x, encoder_out, w_q, w_k, w_v)
q, k, v = decoder_x @ w_q, encoder_out @ w_k, encoder_out @ w_v
expected_weights = torch.softmax(q @ k.T / d_k**0.5, dim=-1)  # (T_tgt, T_src)
self_weights = torch.softmax(q @ (decoder_x @ w_k).T / d_k**0.5, dim=-1)  # (T_tgt, T_tgt)
swapped_weights = torch.softmax((encoder_out @ w_q) @ (decoder_x @ w_k).T / d_k**0.5, dim=-1)
expect_close(
    weights,
    expected_weights,
    "weights softmax(QKᵀ/√d_k) of the 3×5 example",
    mistakes={
        "your weights relate the decoder to itself: take the keys from encoder_out.": self_weights,
        "your weights have one row per source word: the queries come from decoder_x, the keys from "
        "encoder_out.": swapped_weights,
        "your scores are not scaled: divide QKᵀ by √d_k.": torch.softmax(q @ k.T, dim=-1),
    },
)
expect_close(
    out,
    expected_weights @ v,
    "output of the 3×5 example",
    mistakes={"your values are encoder_out @ w_k: use w_v for the values.": expected_weights @ k},
)
passed("weights and output of a small example")
### BEGIN HIDDEN TESTS
import torch.nn.functional as F

import transformer_course.cross_attention as reference
from transformer_course.checks import from_scratch

torch.manual_seed(2)
d_model, d_k = 5, 3
x = torch.randn(2, 4, d_model, dtype=torch.float64)
memory = torch.randn(2, 6, d_model, dtype=torch.float64)
wq, wk, wv = (torch.randn(d_model, d_k, dtype=torch.float64) for _ in range(3))
with from_scratch(
    "cross_attention", torch_functions=["scaled_dot_product_attention"], reference=[reference.cross_attention]
):
    out, weights = cross_attention(x, memory, wq, wk, wv)
q, k, v = x @ wq, memory @ wk, memory @ wv
eye = torch.eye(6, dtype=torch.float64)
expected_weights = F.scaled_dot_product_attention(q, k, eye)  # softmax(QKᵀ/√d_k) @ I
expect_close(
    weights,
    expected_weights,
    "weights (float64, T_tgt = 4, T_src = 6)",
    mistakes={
        "your weights have one row per source word: the queries must come from decoder_x, "
        "the keys from encoder_out.": F.scaled_dot_product_attention(
            memory @ wq, x @ wk, torch.eye(4, dtype=torch.float64)
        ),
        "your weights relate the decoder to itself: "
        "take the keys and values from encoder_out.": F.scaled_dot_product_attention(
            q, x @ wk, torch.eye(4, dtype=torch.float64)
        ),
        "your scores are not scaled: divide QKᵀ by √d_k.": F.scaled_dot_product_attention(
            q, k, eye, scale=1.0
        ),
        "your scores are divided by d_k: divide by √d_k.": F.scaled_dot_product_attention(
            q, k, eye, scale=1.0 / d_k
        ),
    },
)
expect_close(
    out,
    F.scaled_dot_product_attention(q, k, v),
    "output (float64)",
    mistakes={
        "your output has one row per source word: "
        "the queries must come from decoder_x.": F.scaled_dot_product_attention(memory @ wq, x @ wk, x @ wv),
        "your output is the decoder's self-attention: "
        "keys and values come from encoder_out.": F.scaled_dot_product_attention(q, x @ wk, x @ wv),
        "your values are encoder_out @ w_k: use w_v for the values.": F.scaled_dot_product_attention(q, k, k),
    },
)
# d_model ≠ d_k: the projections must be x @ w, not x @ w.T or w @ x.
d_model, d_k = 7, 2
x = torch.randn(3, 1, d_model, dtype=torch.float64)
memory = torch.randn(3, 5, d_model, dtype=torch.float64)
wq, wk, wv = (torch.randn(d_model, d_k, dtype=torch.float64) for _ in range(3))
try:
    with from_scratch(
        "cross_attention",
        torch_functions=["scaled_dot_product_attention"],
        reference=[reference.cross_attention],
    ):
        out, weights = cross_attention(x, memory, wq, wk, wv)
except NotImplementedError:
    raise
except RuntimeError as error:
    raise AssertionError(
        f"cross_attention raised RuntimeError ({error}) for d_model = 7, d_k = 2, "
        "T_tgt = 1, T_src = 5: project with x @ w (w is (d_model, d_k)); keys "
        "and values must both come from encoder_out."
    ) from None
expect_close(
    out,
    F.scaled_dot_product_attention(x @ wq, memory @ wk, memory @ wv),
    "output for T_tgt = 1, d_model = 7, d_k = 2",
)
# T_tgt = T_src: equal lengths, yet the decoder and the encoder are different sequences.
x = torch.randn(2, 5, d_model, dtype=torch.float64)
memory = torch.randn(2, 5, d_model, dtype=torch.float64)
with from_scratch(
    "cross_attention", torch_functions=["scaled_dot_product_attention"], reference=[reference.cross_attention]
):
    out, weights = cross_attention(x, memory, wq, wk, wv)
q, k, v = x @ wq, memory @ wk, memory @ wv
eye = torch.eye(5, dtype=torch.float64)
expect_close(
    weights,
    F.scaled_dot_product_attention(q, k, eye),
    "weights for T_tgt = T_src = 5 (decoder_x and encoder_out differ)",
    mistakes={
        "your weights relate the decoder to itself when both have the same length: the keys come "
        "from encoder_out, whatever the lengths.": F.scaled_dot_product_attention(q, x @ wk, eye),
        "your weights take their queries from encoder_out when both have the same length: the "
        "queries come from decoder_x.": F.scaled_dot_product_attention(memory @ wq, x @ wk, eye),
    },
)
expect_close(
    out,
    F.scaled_dot_product_attention(q, k, v),
    "output for T_tgt = T_src = 5 (decoder_x and encoder_out differ)",
    mistakes={
        "your output is the decoder's self-attention when both have the same length: keys and "
        "values come from encoder_out, whatever the lengths.": F.scaled_dot_product_attention(
            q, x @ wk, x @ wv
        ),
        "your values come from decoder_x when both have the same length: take them from "
        "encoder_out.": F.scaled_dot_product_attention(q, k, x @ wv),
    },
)
passed("equal to PyTorch's scaled_dot_product_attention on (decoder Q, encoder K, V), T_tgt = T_src included")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_cross_attention_mask", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(3)
d_model, d_k = 6, 4
w_q, w_k, w_v = (torch.randn(d_model, d_k) for _ in range(3))
memory = torch.randn(2, 5, d_model)  # two source sentences, padded to 5 positions
x = torch.randn(2, 3, d_model)
src_mask = torch.tensor([[True, True, True, True, True], [True, True, True, False, False]]).unsqueeze(
    -2
)  # (B, 1, T_src)
try:
    out, weights = cross_attention(x, memory, w_q, w_k, w_v, src_mask)
except NotImplementedError:
    raise
except RuntimeError as error:
    raise AssertionError(
        f"cross_attention raised RuntimeError ({error}) with a (B, 1, T_src) mask. "
        "The mask marks source positions (keys): pass it unchanged to the "
        "attention so it broadcasts against the weights (B, T_tgt, T_src)."
    ) from None
expect_shape(weights, (2, 3, 5), "weights with a (B, 1, T_src) source mask")
expect_close(
    weights[1, :, 3:],
    torch.zeros(3, 2),
    "weights on the second sentence's two padding positions (mask False there)",
)
expect_close(weights.sum(-1), torch.ones(2, 3), "each row of weights summed over the source")
passed("padding positions of the source get zero weight")
### BEGIN HIDDEN TESTS
import torch.nn.functional as F

import transformer_course.cross_attention as reference
from transformer_course.checks import from_scratch

torch.manual_seed(4)
d_model, d_k = 6, 4
wq, wk, wv = (torch.randn(d_model, d_k, dtype=torch.float64) for _ in range(3))
lengths = torch.tensor([6, 2, 4])
keep = torch.arange(6) < lengths[:, None]  # (B, T_src)
cases = [  # (decoder_x, encoder_out, mask)
    (torch.randn(3, 4, d_model), torch.randn(3, 6, d_model), keep[:, None, :]),  # (B, 1, T_src)
    (torch.randn(3, 1, d_model), torch.randn(3, 6, d_model), keep[:, None, :]),  # T_tgt = 1
    (torch.randn(3, 2, 4, d_model), torch.randn(3, 2, 6, d_model), keep[:, None, None, :]),
    (
        torch.randn(3, 4, d_model),
        torch.randn(3, 6, d_model),  # a full (B, T_tgt, T_src) mask
        keep[:, None, :] & (torch.rand(3, 4, 6) < 0.7) | (torch.arange(6) == 0),
    ),
]
for x, memory, mask in cases:
    x, memory = x.double(), memory.double()
    what = f"decoder_x {tuple(x.shape)}, encoder_out {tuple(memory.shape)}, mask {tuple(mask.shape)}"
    try:
        with from_scratch(
            "cross_attention",
            torch_functions=["scaled_dot_product_attention"],
            reference=[reference.cross_attention],
        ):
            out, weights = cross_attention(x, memory, wq, wk, wv, mask)
    except NotImplementedError:
        raise
    except RuntimeError as error:
        raise AssertionError(
            f"cross_attention raised RuntimeError ({error}) for {what}. The mask "
            "marks source positions (keys): pass it unchanged to the attention so "
            "it broadcasts against the weights (..., T_tgt, T_src); don't "
            "transpose it onto the queries."
        ) from None
    q, k, v = x @ wq, memory @ wk, memory @ wv
    eye = torch.eye(6, dtype=torch.float64)
    unmasked = F.scaled_dot_product_attention(q, k, eye)
    expect_close(
        weights,
        F.scaled_dot_product_attention(q, k, eye, attn_mask=mask),
        f"weights for {what}",
        mistakes={
            "your weights ignore src_mask: set masked scores to -inf before the softmax.": unmasked,
            "your weights are zeroed after the softmax, so rows no longer sum to one: mask the "
            "scores (-inf) before the softmax.": unmasked * mask,
            "your mask is inverted: True means attention is allowed.": F.scaled_dot_product_attention(
                q, k, eye, attn_mask=~mask
            ),
        },
    )
    expect_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), f"output for {what}")
# Property: what the encoder put at padding positions cannot reach the output.
x, memory, mask = cases[0]
x, memory = x.double(), memory.double()
noisy = torch.where(mask.transpose(-2, -1), memory, 100 * torch.randn_like(memory))
with from_scratch(
    "cross_attention", torch_functions=["scaled_dot_product_attention"], reference=[reference.cross_attention]
):
    out_clean, _ = cross_attention(x, memory, wq, wk, wv, mask)
    out_noisy, _ = cross_attention(x, noisy, wq, wk, wv, mask)
expect_close(out_noisy, out_clean, "output after changing the encoder's padding positions")
passed("source padding masks (B, 1, T_src), (B, 1, 1, T_src) and (B, T_tgt, T_src)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_cross_attention_gradients", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(5)
d_model, d_k = 6, 4
x = torch.randn(2, 3, d_model, requires_grad=True)
memory = torch.randn(2, 5, d_model, requires_grad=True)
params = [torch.randn(d_model, d_k, requires_grad=True) for _ in range(3)]
out, _ = cross_attention(x, memory, *params)
out.sum().backward()
for name, tensor in [
    ("decoder_x", x),
    ("encoder_out", memory),
    ("w_q", params[0]),
    ("w_k", params[1]),
    ("w_v", params[2]),
]:
    if tensor.grad is None or not torch.isfinite(tensor.grad).all():
        raise AssertionError(
            f"no finite gradient reached {name}: build the output from the "
            "inputs with tensor operations, without .detach() or .item()."
        )
passed("gradients reach decoder_x, encoder_out, w_q, w_k and w_v")
### BEGIN HIDDEN TESTS
import torch.nn.functional as F

import transformer_course.cross_attention as reference
from transformer_course.checks import from_scratch

torch.manual_seed(6)
mask = (torch.arange(5) < torch.tensor([5, 3])[:, None])[:, None, :]  # (B, 1, T_src)
inputs = [
    torch.randn(2, 3, d_model, dtype=torch.float64),
    torch.randn(2, 5, d_model, dtype=torch.float64),
    *(torch.randn(d_model, d_k, dtype=torch.float64) for _ in range(3)),
]
upstream = torch.randn(2, 3, d_k, dtype=torch.float64)
mine = [t.clone().requires_grad_() for t in inputs]
with from_scratch(
    "cross_attention", torch_functions=["scaled_dot_product_attention"], reference=[reference.cross_attention]
):
    out, _ = cross_attention(*mine, src_mask=mask)
(out * upstream).sum().backward()
theirs = [t.clone().requires_grad_() for t in inputs]
x, memory, wq, wk, wv = theirs
(F.scaled_dot_product_attention(x @ wq, memory @ wk, memory @ wv, attn_mask=mask) * upstream).sum().backward()
for name, a, b in zip(["decoder_x", "encoder_out", "w_q", "w_k", "w_v"], mine, theirs):
    if a.grad is None:
        raise AssertionError(f"no gradient reached {name}: don't detach it.")
    expect_close(a.grad, b.grad, f"gradient with respect to {name} (float64, masked)")
passed("gradients equal PyTorch's in float64")
### END HIDDEN TESTS

# %% [markdown]
# ## 2. The notes' example: "The cat is sleeping" → "Le chat dort"
#
# To *see* an alignment we set the vectors by hand instead of training them. Each vector has
# four features: *article*, *cat*, *sleep*, *present tense*. The English vectors stand for the
# encoder's output, the French ones for the decoder's vectors at the three target positions.
# "is" carries mostly *present tense*, "sleeping" mostly *sleep*; French "dort" ("sleeps")
# carries both. The padding token gets a vector that resembles everything a little, as real
# encoder outputs at padding positions do: nothing about it is zero.
#
# The batch holds two source sentences of different lengths, padded to five positions:
# "The cat is sleeping" and "The cat sleeps". Both translate to "Le chat dort".
# $W^Q = W^K = 3I$ makes the scores $\tfrac{9}{2}\, x_{\text{dec}} \cdot h_{\text{enc}}$, sharp
# enough to read, and $W^V = I$ passes the source vectors through.
#
# **Predict before you run the next cells:** in each row, which column will be darkest?
# Where does the weight of "dort" go, and what happens to "is", which French doesn't translate
# as a word of its own?

# %%
source_vocab = ["<pad>", "The", "cat", "is", "sleeping", "sleeps"]
pad_id = source_vocab.index("<pad>")
encoder_table = torch.tensor(
    [
        # article, cat, sleep, present
        [0.7, 0.7, 0.7, 0.7],  # <pad>
        [1.0, 0.0, 0.0, 0.0],  # The
        [0.0, 1.0, 0.0, 0.0],  # cat
        [0.0, 0.0, 0.3, 1.0],  # is
        [0.0, 0.0, 1.0, 0.3],  # sleeping
        [0.0, 0.0, 1.0, 0.6],  # sleeps
    ]
)
target_vocab = ["Le", "chat", "dort"]
decoder_table = torch.tensor(
    [
        [1.0, 0.0, 0.0, 0.0],  # Le
        [0.0, 1.0, 0.0, 0.0],  # chat
        [0.0, 0.0, 1.0, 0.6],  # dort
    ]
)

src_tokens = torch.tensor(
    [
        [1, 2, 3, 4, 0],  # The cat is sleeping <pad>
        [1, 2, 5, 0, 0],
    ]
)  # The cat sleeps <pad> <pad>
tgt_tokens = torch.tensor(
    [
        [0, 1, 2],  # Le chat dort
        [0, 1, 2],
    ]
)
encoder_out = embed(src_tokens, encoder_table)  # (B, T_src, 4) = (2, 5, 4)
decoder_x = embed(tgt_tokens, decoder_table)  # (B, T_tgt, 4) = (2, 3, 4)
src_mask = (src_tokens != pad_id).unsqueeze(-2)  # (B, 1, T_src): True on real words

identity = torch.eye(4)
out, weights = cross_attention(decoder_x, encoder_out, 3 * identity, 3 * identity, identity, src_mask)
_, weights_unmasked = cross_attention(decoder_x, encoder_out, 3 * identity, 3 * identity, identity)
print("decoder_x", tuple(decoder_x.shape), "encoder_out", tuple(encoder_out.shape))
print("output   ", tuple(out.shape), "(length follows the decoder)")
print("weights  ", tuple(weights.shape), "(B, T_tgt, T_src)")

# %% [markdown]
# **The mask trap.** A mask with one dimension too many raises no error: lesson 04's padding
# mask $(B, 1, 1, T_{src})$ against headless weights $(B, T_{tgt}, T_{src})$ broadcasts to
# $(B, B, T_{tgt}, T_{src})$: every sentence masked by every other sentence's padding. The
# check below catches it by the shape of the weights: keep such a check wherever you pass a
# mask to code without heads.

# %%
four_d = (src_tokens != pad_id)[:, None, None, :]  # (B, 1, 1, T_src): lesson 04's, for heads
_, trapped = cross_attention(decoder_x, encoder_out, 3 * identity, 3 * identity, identity, four_d)
print("(B, 1, T_src) mask    → weights", tuple(weights.shape))
print("(B, 1, 1, T_src) mask → weights", tuple(trapped.shape), "(silently broadcast: the trap)")
expect_shape(weights, (2, 3, 5), "weights with the (B, 1, T_src) mask")
try:
    expect_shape(trapped, (2, 3, 5), "weights with lesson 04's (B, 1, 1, T_src) mask")
    print("no trap: these weights have the right shape")
except AssertionError as caught:
    print(f"caught: {caught}")

# %%
def words(tokens, vocab):
    return [vocab[i] for i in tokens.tolist()]


fig, axes = plt.subplots(1, 3, figsize=(15, 3.6))
panels = [
    (weights_unmasked[1], 1, "마스크 없음 (no mask): padding takes weight"),
    (weights[1], 1, "소스 패딩 마스크 (source padding mask)"),
    (weights[0], 0, '"The cat is sleeping", masked'),
]
for ax, (w, b, title) in zip(axes, panels):
    attention_heatmap(w, target_vocab, words(src_tokens[b], source_vocab), ax=ax, title=title)
    ax.set_xlabel("source (English, encoder) = key")
    ax.set_ylabel("target (French, decoder) = query")
fig.tight_layout()
plt.show()

# %% [markdown]
# Read the right-hand map row by row: "Le" looks at "The", "chat" at "cat", and "dort" splits
# its weight between "sleeping" and "is". French says in one word what English says in two,
# so "is" has no row of its own: it is absorbed into "dort". The padding column is exactly
# zero once masked. Without the mask (left), the padding vectors take a third or more of
# every row, and what they carry would leak into the output: the mask is not optional.
#
# Every row sums to one and there are three rows: each French word gets one weighted mix of
# the English sentence, whatever the English length.

# %% [markdown]
# **Explore it yourself.** The same idea on the toy task of lesson 08: *your* `cross_attention`,
# Korean queries over English keys, each word's vector set by hand from the grammar's dictionary
# (a word and its translation share one feature; "the" and the particles have none). Type an English
# sentence of the grammar or pick one by phenomenon. With `reordering`, the Korean verb at the end
# attends to the English verb in the middle; particles (는, 를, ...) have no English word of their
# own and spread their weight evenly: a trained model has to learn where they come from.

# %%
from transformer_course.explorer import cross_attention_explorer

cross_attention_explorer(cross_attention)  # your cross_attention


# %% [markdown]
# ## 3. Reading the alignment out of the weights
#
# The alignment is, for every target position, the source position with the largest weight:
#
# $$a_i = \arg\max_j \; \text{weights}_{ij}$$
#
# The argmax runs over the **last** axis, the keys (source words), once per query row.
# Attention's weights are soft: "dort" attends to two words, and the argmax keeps only the
# strongest. That is enough to print an alignment, not a replacement for the weights.
#
# **Exercise.** Write `alignment`: a long tensor of shape $(\dots, T_q)$, for any number of
# leading dimensions.

# %% nbgrader={"grade": false, "grade_id": "alignment", "locked": false, "schema_version": 3, "solution": true, "task": false}
def alignment(weights: torch.Tensor) -> torch.Tensor:
    """For each query (target) position, the key (source) position it attends to most.

    Shape:
        weights: (..., T_q, T_k).
        output: (..., T_q), long.
    """
    ### BEGIN SOLUTION
    return weights.argmax(dim=-1)  # (..., T_q)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_alignment", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
w = torch.tensor(
    [[0.7, 0.1, 0.1, 0.1, 0.0], [0.1, 0.6, 0.1, 0.2, 0.0], [0.0, 0.0, 0.3, 0.6, 0.1]]
)  # 3 queries, 5 keys
a = alignment(w)
if isinstance(a, torch.Tensor) and tuple(a.shape) == (5,):
    raise AssertionError(
        "alignment of a (3, 5) weight matrix gave one index per key: take the "
        "argmax over the keys (the last axis), once per query row."
    )
expect_shape(a, (3,), "alignment of a (3, 5) weight matrix: one index per query")
if a.dtype != torch.long:
    raise AssertionError(
        f"alignment returned {a.dtype}: return the key indices as a long tensor, "
        "as argmax does, not the weights themselves."
    )
if a.tolist() != [0, 1, 3]:
    raise AssertionError(
        f"alignment of the (3, 5) example is {a.tolist()}, expected [0, 1, 3]: "
        "for each query row, take the index of the largest weight along the keys "
        "(the last axis)."
    )
passed("one key index per query")
### BEGIN HIDDEN TESTS
import transformer_course.cross_attention as reference
from transformer_course.checks import from_scratch

torch.manual_seed(7)
for shape in [(2, 4, 6), (2, 3, 1, 5), (4, 7), (3, 2, 2, 4, 3)]:
    w = torch.softmax(torch.randn(*shape, dtype=torch.float64), dim=-1)
    with from_scratch("alignment", reference=[reference.alignment]):
        a = alignment(w)
    wrong = {
        "your alignment runs over the queries (dim=-2): take the argmax over the keys, "
        "the last axis.": w.argmax(dim=-2)
    }
    if len(shape) > 2:
        wrong[
            "your argmax runs over dim=1, which is the key axis only for 2-D weights: "
            "use dim=-1 so that batch dimensions don't matter."
        ] = w.argmax(dim=1)
    for hint, wrong_value in wrong.items():
        if isinstance(a, torch.Tensor) and a.shape == wrong_value.shape and torch.equal(a, wrong_value):
            raise AssertionError(f"alignment of weights {shape}: {hint}")
    expect_shape(a, shape[:-1], f"alignment of weights of shape {shape} (..., T_q)")
    if a.dtype != torch.long:
        raise AssertionError(f"alignment returned {a.dtype}: return long indices, as argmax does.")
    if not torch.equal(a, w.argmax(dim=-1)):
        raise AssertionError(
            f"alignment of weights {shape} differs from the index of each "
            "row's largest weight along the last axis."
        )
passed("batch dimensions, T_q = 1 and T_q ≠ T_k")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_alignment_example", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
_, example_weights = cross_attention(
    decoder_x, encoder_out, 3 * identity, 3 * identity, identity, src_mask
)  # (B, T_tgt, T_src)
pairs = alignment(example_weights)  # (B, T_tgt)
expect_shape(pairs, (2, 3), "alignment of the example's weights (B, T_tgt)")
for b in range(len(src_tokens)):
    src_words = words(src_tokens[b], source_vocab)
    print("  ".join(f"{t} → {src_words[j]}" for t, j in zip(target_vocab, pairs[b].tolist())))
if pairs.tolist() != [[0, 1, 3], [0, 1, 2]]:
    raise AssertionError(
        f"the example's alignment is {pairs.tolist()}, expected Le → The, "
        "chat → cat, dort → sleeping/sleeps ([[0, 1, 3], [0, 1, 2]])."
    )
passed("Le → The, chat → cat, dort → sleeping")
### BEGIN HIDDEN TESTS
import transformer_course.cross_attention as reference
from transformer_course.checks import from_scratch

# The example rebuilt here, independent of the cells above.
enc = torch.tensor(
    [[0.7] * 4, [1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 0.3, 1.0], [0, 0, 1.0, 0.3], [0, 0, 1.0, 0.6]],
    dtype=torch.float64,
)[torch.tensor([[1, 2, 3, 4, 0], [1, 2, 5, 0, 0]])]
dec = torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 0.6]], dtype=torch.float64).expand(2, 3, 4)
keep = torch.tensor([[True] * 4 + [False], [True] * 3 + [False] * 2])[:, None, :]
three = 3 * torch.eye(4, dtype=torch.float64)
with from_scratch(
    "cross_attention",
    torch_functions=["scaled_dot_product_attention"],
    reference=[reference.cross_attention, reference.alignment],
):
    _, w = cross_attention(dec, enc, three, three, torch.eye(4, dtype=torch.float64), keep)
    pairs = alignment(w)
if pairs.tolist() != [[0, 1, 3], [0, 1, 2]]:
    raise AssertionError(
        f"the rebuilt example aligns as {pairs.tolist()}, expected "
        "[[0, 1, 3], [0, 1, 2]]: check cross_attention's mask and alignment's axis."
    )
passed("the example's alignment, rebuilt independently")
### END HIDDEN TESTS

# %% [markdown]
# ## 4. What is learned: $W^Q$ and $W^K$
#
# Above, the vectors were set by hand so that "chat" already resembled "cat". In a trained
# Transformer nobody sets them: the alignment lives in the learned projections. The score of
# target word $i$ with source word $j$ is $x_i W^Q (W^K)^\top h_j^\top / \sqrt{d_k}$, so
# $W^Q (W^K)^\top$ decides which French vector matches which English vector.
#
# To see that it can be learned, start from random $W^Q, W^K$ and train them with Adam on a
# stand-in objective: each French position's output should reproduce the source vector it
# translates (The, cat, sleeping). A real model gets no such hint; its signal is predicting
# the next French word (lesson 08), and finding the right source word is how it gets better
# at that.

# %%
torch.manual_seed(1)
w_q_learned = (0.5 * torch.randn(4, 4)).requires_grad_()
w_k_learned = (0.5 * torch.randn(4, 4)).requires_grad_()
wanted = encoder_out[0, [0, 1, 3]]  # (T_tgt, 4): The, cat, sleeping
_, weights_before = cross_attention(
    decoder_x[0], encoder_out[0], w_q_learned, w_k_learned, identity, src_mask[0]
)
optimizer = torch.optim.Adam([w_q_learned, w_k_learned], lr=0.1)
for _ in range(150):
    out, weights_after = cross_attention(
        decoder_x[0], encoder_out[0], w_q_learned, w_k_learned, identity, src_mask[0]
    )
    loss = ((out - wanted) ** 2).sum(-1).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
print(f"loss after training: {loss.item():.2e}")

src_words = words(src_tokens[0], source_vocab)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
for ax, w, title in [
    (axes[0], weights_before, "학습 전 (random $W^Q, W^K$)"),
    (axes[1], weights_after, "학습 후 (after 150 Adam steps)"),
]:
    attention_heatmap(w, target_vocab, src_words, ax=ax, title=title)
    aligned = ", ".join(f"{t}->{src_words[j]}" for t, j in zip(target_vocab, alignment(w).tolist()))
    ax.set_xlabel(f"alignment: {aligned}")
fig.tight_layout()
plt.show()

# %% [markdown]
# Before training, the weights are spread over the sentence and the alignment (under each
# map) is wrong for most words; after 150 steps of gradient descent through your
# `cross_attention`, it is Le → The, chat → cat, dort → sleeping. That is what the notes mean by "it learns that
# 'cat' corresponds to 'chat'": the correspondence is stored in $W^Q$ and $W^K$.
#
# With several heads (lesson 03), each head has its own $W^Q, W^K, W^V$ and can learn a
# different relation: one head the word correspondence, another the word order. Lesson 07
# calls lesson 03's `MultiHeadAttention` with `query = decoder vectors` and
# `key = value = encoder output`, and lesson 04's padding mask $(B, 1, 1, T_{src})$, which
# broadcasts over heads and target positions.
#
# ## Recap
#
# - Cross-attention is scaled dot-product attention with **queries from the decoder** and
#   **keys and values from the encoder**; its weights are $(T_{tgt}, T_{src})$ and its output
#   has the decoder's length.
# - Only the source padding is masked: the whole source is known, so no look-ahead mask.
# - The alignment is the argmax of each row, over the source (key) axis; the weights
#   themselves are soft: "dort" draws on both "is" and "sleeping".
# - What the notes call learning the relation is learning $W^Q$ and $W^K$ so that a target
#   word's query matches the key of the source word it translates.
#
# Next, lesson 06 asks why each attention sublayer is followed by a feed-forward network.
