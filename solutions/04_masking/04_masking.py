# %% [markdown]
# # 04 · Masking: what the decoder must not see
#
# > **3. 각각 어텐션은 무엇을 학습하는 것인가?** — from the notes
#
# *What does each attention learn?* For the decoder's self-attention the notes answer:
#
# > 시퀀스 내의 각 토큰과의 관계를 학습하는 건 똑같은데, 어텐션 점수 $\dfrac{QK^T}{\sqrt{d_k}}$의
# > $QK^T$를 마스킹하는 것임. 어텐션 점수는 유사도 점수고, 정보의 유출을 막기 위해 $-\infty$ 로 값 변경
#
# *It learns the relations between the tokens of the sequence just the same, but the $QK^T$ of
# the attention score $\frac{QK^T}{\sqrt{d_k}}$ is masked. The attention score is a similarity
# score, and to stop information leaking it is changed to $-\infty$.*
#
# And from question 4, on the decoder's input: "학습 시에는 teacher forcing과 look-ahead mask를
# 사용(병렬연산)" (*in training, teacher forcing and the look-ahead mask are used: parallel
# computation*).
#
# This lesson builds the masks (padding, look-ahead, both together) and teacher forcing's shift,
# shows why the masked value is $-\infty$ and not $0$, and then **proves** the notes' claim: with
# the mask, training on the whole target at once leaks nothing from the future.
#
# The course's rule, as in `F.scaled_dot_product_attention`: a boolean mask is **True where
# attention is allowed**, and it broadcasts against the scores $(B, h, T_q, T_k)$. Masked scores
# become $-\infty$ before the softmax:
#
# $$\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{QK^T}{\sqrt{d_k}} + M\right) V,
# \qquad M_{ij} = \begin{cases} 0 & \text{mask}_{ij} \text{ True} \\ -\infty & \text{otherwise}
# \end{cases}$$
#
# (The notes mask $QK^T$; masking after the division by $\sqrt{d_k}$ is the same, since
# $-\infty / \sqrt{d_k} = -\infty$.)

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import matplotlib.pyplot as plt
import torch
from torch import nn

from transformer_course.attention import attention_scores, scaled_dot_product_attention, softmax
from transformer_course.checks import expect_close, expect_dtype, expect_shape, passed
from transformer_course.multi_head import MultiHeadAttention
from transformer_course.plots import attention_heatmap, use_hangul_font

torch.manual_seed(0)
use_hangul_font()

# %% [markdown]
# ## 1. Why $-\infty$ and not $0$
#
# A score is a similarity, and $0$ is an ordinary similarity: $e^0 = 1$, so a key whose score is
# set to $0$ still gets weight. Only $e^{-\infty} = 0$ removes it. Zeroing the weights *after*
# the softmax is no better: the hidden keys are gone from the numerator but not from the
# denominator, so the weights no longer sum to one, and their scale still depends on the keys
# that were supposed to be hidden.

# %%
scores = torch.tensor([2.0, 1.0, 3.0, 0.5])
allowed = torch.tensor([True, True, False, False])  # the last two keys are hidden
for label, weights in [
    ("no mask", softmax(scores)),
    ("masked with 0", softmax(scores.masked_fill(~allowed, 0.0))),
    ("zeroed after softmax", softmax(scores) * allowed),
    ("masked with -inf", softmax(scores.masked_fill(~allowed, float("-inf")))),
]:
    print(f"{label:>21}: {[round(w, 3) for w in weights.tolist()]}, sum {weights.sum():.3f}")

# %% [markdown]
# Only the last line gives the hidden keys exactly zero weight and still sums to one. Section 8
# shows what the other two do to training: they leak the future.
#
# ## 2. The padding mask
#
# Sentences in a batch have different lengths, so the short ones are filled up with a padding
# token `<pad>`. Padding is not a word: no query may attend to it. It is hidden as a **key**, a
# column of the scores, for every query and every head, so the mask has shape $(B, 1, 1, T)$ and
# broadcasts over the heads and the queries.
#
# (Masking the padded *queries*, the rows, instead would miss the point: every real query would
# still read the padding.)
#
# **Exercise.** Write `padding_mask(tokens, pad_id)`: True where the token is not `pad_id`, on
# the tokens' device.

# %% nbgrader={"grade": false, "grade_id": "padding_mask", "locked": false, "schema_version": 3, "solution": true, "task": false}
def padding_mask(tokens: torch.Tensor, pad_id: int) -> torch.Tensor:
    """Allow attention to every real token and to no padding token.

    Padding is hidden as a key (a column of the scores): no query may read it.

    Args:
        tokens: token ids, padded at the end with ``pad_id``.
        pad_id: the id of the padding token.

    Shape:
        tokens: (B, T).
        output: (B, 1, 1, T), boolean; broadcasts over heads and queries.
    """
    ### BEGIN SOLUTION
    return (tokens != pad_id)[:, None, None, :]  # (B, 1, 1, T)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_padding_mask_shape", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
### BEGIN HIDDEN TESTS
from torch.nn.modules.transformer import _generate_square_subsequent_mask

import transformer_course.masking
import transformer_course.multi_head
from transformer_course.checks import expect_tensor, from_scratch

_BANNED = {
    "reference": [
        transformer_course.masking.padding_mask,
        transformer_course.masking.look_ahead_mask,
        transformer_course.masking.decoder_mask,
        transformer_course.masking.shift_right,
        nn.Transformer.generate_square_subsequent_mask,
        _generate_square_subsequent_mask,
    ]
}


def _call(name, fn, *args):
    with from_scratch(name, **_BANNED):
        return fn(*args)


def _expect_mask(actual, expected, what, mistakes=None):
    """Fail unless ``actual`` is the boolean mask ``expected``; name a known wrong one."""
    actual = expect_tensor(actual, what)
    if actual.dtype != torch.bool:
        raise AssertionError(
            f"{what}: expected a boolean mask (True where attention is allowed), got dtype "
            f"{actual.dtype}. A 0/1 or 0/-inf float mask is another convention: a comparison such "
            f"as tokens != pad_id gives booleans."
        )
    for hint, wrong in (mistakes or {}).items():
        if (
            actual.shape == wrong.shape
            and torch.equal(actual.cpu(), wrong)
            and not (actual.shape == expected.shape and torch.equal(actual.cpu(), expected))
        ):
            raise AssertionError(f"{what}: {hint}")
    expect_shape(actual, expected.shape, what)
    wrong_at = (actual.cpu() != expected).nonzero()
    if len(wrong_at):
        raise AssertionError(
            f"{what}: {len(wrong_at)} entries differ from the expected mask, the first at index "
            f"{tuple(wrong_at[0].tolist())} (expected {bool(expected[tuple(wrong_at[0])])})."
        )


def _tokens(lengths, T, pad_id, seed, vocab=9):
    """Random ids other than pad_id, padded at the end with pad_id up to length T."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab - 1, (len(lengths), T), generator=g)
    ids = ids + (ids >= pad_id).long()  # every id but pad_id
    real = torch.arange(T) < torch.tensor(lengths)[:, None]  # (B, T)
    return torch.where(real, ids, torch.full_like(ids, pad_id))


def _keys(lengths, T):
    """The padding mask from the lengths alone: (B, 1, 1, T)."""
    return (torch.arange(T) < torch.tensor(lengths)[:, None])[:, None, None, :]


def _torch_look_ahead(T):
    # PyTorch's float mask holds 0 where attention is allowed and -inf where it is not.
    return nn.Transformer.generate_square_subsequent_mask(T) == 0


def _on_meta(name, fn, *args):
    """Run the learner's function on tokens on the 'meta' device, standing in for a GPU."""
    try:
        return _call(name, fn, *args)
    except RuntimeError as error:
        raise AssertionError(
            f"{name} failed for tokens on another device than the CPU ({error}). Create every "
            f"tensor on tokens.device (torch.ones(..., device=tokens.device), or .to(tokens.device))."
        ) from None


def _expect_device(result, tokens, what):
    if expect_tensor(result, what).device != tokens.device:
        raise AssertionError(
            f"{what}: the tokens are on {tokens.device} but the result is on {result.device}. "
            f"Build the mask on tokens.device, so that it works on a GPU."
        )


def _decoder_attention(d_model=12, h=3, vocab=10, seed=400):
    """A decoder-style self-attention with injected weights: ids (B, T), mask -> (out, weights)."""
    g = torch.Generator().manual_seed(seed)
    attn = transformer_course.multi_head.MultiHeadAttention(d_model, h).double()
    with torch.no_grad():
        for p in attn.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) / d_model**0.5)
    table = torch.randn(vocab, d_model, generator=g, dtype=torch.float64)

    def run(ids, mask):
        x = table[ids]  # (B, T, d_model)
        try:
            with torch.no_grad():
                return attn(x, x, x, mask), attn.attn_weights
        except RuntimeError as error:
            raise AssertionError(
                f"the mask of shape {tuple(mask.shape)} does not broadcast against the scores "
                f"(B, h, T, T) = {(ids.size(0), h, ids.size(1), ids.size(1))}: {error}"
            ) from None

    return run


def _another_token(ids, b, j, pad_id, vocab=10):
    """ids with the token at [b, j] replaced by a different id, never pad_id."""
    changed = ids.clone()
    new = (ids[b, j] + 1) % vocab
    changed[b, j] = new if new != pad_id else (new + 1) % vocab
    return changed


### END HIDDEN TESTS
tokens = torch.tensor([[5, 6, 7, 0, 0], [8, 9, 0, 0, 0]])
mask = padding_mask(tokens, pad_id=0)
expect_shape(mask, (2, 1, 1, 5), "padding_mask of (B=2, T=5) tokens: (B, 1, 1, T), padding on the keys")
expect_dtype(mask, torch.bool, "padding_mask (a boolean mask, e.g. tokens != pad_id)")
passed("padding_mask is a boolean (B, 1, 1, T) mask")
### BEGIN HIDDEN TESTS
for lengths, T in [([1], 1), ([7, 3, 0], 7), ([4, 4], 4)]:
    tokens = _tokens(lengths, T, pad_id=0, seed=401)
    mask = _call("padding_mask", padding_mask, tokens, 0)
    B = len(lengths)
    if isinstance(mask, torch.Tensor) and tuple(mask.shape) == (B, 1, T, 1) and T > 1:
        raise AssertionError(
            f"padding_mask has shape (B, 1, T, 1) = {tuple(mask.shape)}: it masks the queries. "
            f"Padding hides keys, the last axis of the scores: (B, 1, 1, T)."
        )
    expect_shape(mask, (B, 1, 1, T), f"padding_mask of ({B}, {T}) tokens")
    expect_dtype(mask, torch.bool, f"padding_mask of ({B}, {T}) tokens")
meta = _tokens([5, 2], 5, pad_id=0, seed=402).to("meta")
_expect_device(_on_meta("padding_mask", padding_mask, meta, 0), meta, "padding_mask of tokens on 'meta'")
passed("shapes for T = 1 and B = 3; the mask stays on the tokens' device")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_padding_mask_values", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
tokens = torch.tensor([[5, 6, 7, 0, 0], [8, 9, 0, 0, 0]])
expected = torch.tensor([[True, True, True, False, False], [True, True, False, False, False]])
mask = padding_mask(tokens, pad_id=0)
expect_close(
    mask.reshape(2, 5).float(),
    expected.float(),
    "padding_mask: True for real tokens, False for padding (pad_id=0)",
    mistakes={
        "the mask is inverted: True must mean attention is allowed, so True for real "
        "tokens (tokens != pad_id)": (~expected).float()
    },
)
passed("real tokens True, padding False")
### BEGIN HIDDEN TESTS
for lengths, T, pad_id in [([6, 2, 4], 6, 0), ([3, 5], 5, 3), ([1], 1, 8), ([4, 0], 4, 1)]:
    tokens = _tokens(lengths, T, pad_id=pad_id, seed=410 + pad_id)
    expected = _keys(lengths, T)
    _expect_mask(
        _call("padding_mask", padding_mask, tokens, pad_id),
        expected,
        f"padding_mask of {tokens.tolist()} with pad_id={pad_id}",
        mistakes={
            "the mask is inverted: True must mean attention is allowed, so True for "
            "real tokens (tokens != pad_id)": ~expected,
            "the mask hides the padded queries: hide the padded keys, the last axis "
            "of the scores, with shape (B, 1, 1, T)": expected.transpose(-1, -2),
        },
    )
passed("padding_mask is True exactly at the real tokens, for any pad_id")
### END HIDDEN TESTS

# %% [markdown]
# ## 3. The look-ahead mask
#
# In the decoder, the query at position $i$ may see positions $0, \dots, i$: itself and what came
# before, never what comes after. As a $(T, T)$ matrix, rows for queries and columns for keys,
# that is True **on and below the diagonal** (a lower triangle). The diagonal stays: a token may
# always see itself, and without it the first row would have nothing to attend to.
#
# **Exercise.** Write `look_ahead_mask(size)` (`torch.tril` helps).

# %% nbgrader={"grade": false, "grade_id": "look_ahead_mask", "locked": false, "schema_version": 3, "solution": true, "task": false}
def look_ahead_mask(size: int) -> torch.Tensor:
    """Allow query i to attend to keys 0 … i: itself and what came before, never after.

    Args:
        size: T, the sequence length.

    Shape:
        output: (T, T), boolean, True on and below the diagonal.
    """
    ### BEGIN SOLUTION
    return torch.ones(size, size, dtype=torch.bool).tril()  # (T, T)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_look_ahead_mask", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
mask = look_ahead_mask(4)
expect_shape(mask, (4, 4), "look_ahead_mask(4)")
expect_dtype(mask, torch.bool, "look_ahead_mask(4) (a boolean mask)")
# PyTorch's own causal mask is additive: 0 where allowed, -inf where blocked.
torch_causal = nn.Transformer.generate_square_subsequent_mask(4)
allowed = (torch_causal == 0).float()
expect_close(
    mask.float(),
    allowed,
    "look_ahead_mask(4) against nn.Transformer.generate_square_subsequent_mask(4) == 0",
    mistakes={
        "True above the diagonal: query i may see keys 0 … i, on and below it (torch.tril)": allowed.T,
        "the diagonal is False: a token must see itself (torch.tril with diagonal=0)": allowed.tril(-1),
        "the mask is inverted: True means allowed in this course (nn.MultiheadAttention's "
        "rule is the opposite)": 1 - allowed,
    },
)
passed("look_ahead_mask(4) is True on and below the diagonal")
### BEGIN HIDDEN TESTS
for T in (1, 2, 7):
    expected = _torch_look_ahead(T)
    _expect_mask(
        _call("look_ahead_mask", look_ahead_mask, T),
        expected,
        f"look_ahead_mask({T})",
        mistakes={
            "the mask is True above the diagonal: query i may see keys 0 … i, which "
            "lie on and below it (torch.tril)": expected.T,
            "the diagonal is False: a token must see itself, or the first query has "
            "no key at all (torch.tril with diagonal=0)": expected.tril(-1),
            "the mask is inverted: True means attention is allowed in this course "
            "(nn.MultiheadAttention's rule is the opposite)": ~expected,
            "the mask is True strictly above the diagonal, the blocked part: invert it "
            "and keep the diagonal": expected.T.triu(1),
        },
    )
passed("look_ahead_mask equals PyTorch's causal mask for T = 1, 2, 7")
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Both together: the decoder's mask
#
# The decoder's self-attention needs both rules at once: key $j$ is visible to query $i$ when
# $j \le i$ **and** token $j$ is not padding. Broadcasting does the work: $(B, 1, 1, T)$ and
# $(T, T)$ combine with `&` into $(B, 1, T, T)$, one $T \times T$ mask per sentence, shared by
# the heads.
#
# **Exercise.** Write `decoder_mask(tgt_tokens, pad_id)` from your two masks. `look_ahead_mask`
# has no device argument, so move its result to `tgt_tokens.device`.

# %% nbgrader={"grade": false, "grade_id": "decoder_mask", "locked": false, "schema_version": 3, "solution": true, "task": false}
def decoder_mask(tgt_tokens: torch.Tensor, pad_id: int) -> torch.Tensor:
    """The decoder self-attention's mask: no future keys and no padding keys.

    Args:
        tgt_tokens: the decoder's input ids, padded at the end with ``pad_id``.
        pad_id: the id of the padding token.

    Shape:
        tgt_tokens: (B, T).
        output: (B, 1, T, T), boolean, on ``tgt_tokens``' device.
    """
    ### BEGIN SOLUTION
    future = look_ahead_mask(tgt_tokens.size(-1)).to(tgt_tokens.device)  # (T, T)
    return padding_mask(tgt_tokens, pad_id) & future  # (B, 1, 1, T) & (T, T) -> (B, 1, T, T)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_decoder_mask_shape", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
mask = decoder_mask(torch.tensor([[1, 5, 6, 0], [1, 7, 0, 0]]), pad_id=0)
expect_shape(mask, (2, 1, 4, 4), "decoder_mask of (B=2, T=4) tokens: (B, 1, T, T)")
expect_dtype(mask, torch.bool, "decoder_mask (a boolean mask)")
passed("decoder_mask is a boolean (B, 1, T, T) mask")
### BEGIN HIDDEN TESTS
for lengths, T in [([1], 1), ([6, 2, 4], 6)]:
    tokens = _tokens(lengths, T, pad_id=0, seed=420)
    expect_shape(
        _call("decoder_mask", decoder_mask, tokens, 0),
        (len(lengths), 1, T, T),
        f"decoder_mask of ({len(lengths)}, {T}) tokens",
    )
meta = _tokens([5, 2], 5, pad_id=0, seed=421).to("meta")
_expect_device(_on_meta("decoder_mask", decoder_mask, meta, 0), meta, "decoder_mask of tokens on 'meta'")
passed("shapes for T = 1 and B = 3; the mask stays on the tokens' device")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_decoder_mask_values", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
mask = decoder_mask(torch.tensor([[1, 5, 6, 0]]), pad_id=0)
expected = torch.tensor(
    [[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 0]], dtype=torch.bool
)  # the last key is padding
causal, real = torch.ones(4, 4, dtype=torch.bool).tril(), torch.tensor([True, True, True, False])
expect_close(
    mask.reshape(4, 4).float(),
    expected.float(),
    "decoder_mask of [[1, 5, 6, 0]], pad_id=0",
    mistakes={
        "the padding hides the queries (rows) instead of the keys (columns)": (
            causal & real[:, None]
        ).float(),
        "the padding is missing: combine padding_mask with the look-ahead mask": causal.float(),
        "the look-ahead part is missing: combine padding_mask with look_ahead_mask": real.expand(
            4, 4
        ).float(),
        "the masks are combined with `|`: a key must pass both, use `&`": (causal | real).float(),
        "the look-ahead part is True above the diagonal: use torch.tril": (causal.T & real).float(),
    },
)
passed("decoder_mask hides the future and the padding keys")
### BEGIN HIDDEN TESTS
for lengths, T, pad_id in [([6, 2, 4], 6, 0), ([5, 3], 5, 2), ([1], 1, 0), ([7], 7, 4)]:
    tokens = _tokens(lengths, T, pad_id=pad_id, seed=430 + T)
    keys, causal = _keys(lengths, T), _torch_look_ahead(T)
    queries = keys.transpose(-1, -2)  # (B, 1, T, 1)
    expected = keys & causal
    _expect_mask(
        _call("decoder_mask", decoder_mask, tokens, pad_id),
        expected,
        f"decoder_mask of {tokens.tolist()} with pad_id={pad_id}",
        mistakes={
            "the padding hides the queries (rows) instead of the keys (columns): combine "
            "the (B, 1, 1, T) padding mask with the look-ahead mask": queries & causal,
            "the padding also hides the padded queries' rows: hide only the keys, "
            "(B, 1, 1, T) & (T, T)": queries & keys & causal,
            "the padding is missing: combine padding_mask with the look-ahead mask": causal.expand_as(
                expected
            ),
            "the look-ahead part is missing: combine padding_mask with look_ahead_mask": keys.expand_as(
                expected
            ),
            "the two masks are combined with `|`: a key must pass both, use `&`": keys | causal,
            "the look-ahead part is True above the diagonal: use torch.tril": keys & causal.T,
            "the diagonal is False: a token must see itself (torch.tril with diagonal=0)": keys
            & causal.tril(-1),
        },
    )
passed("decoder_mask = look-ahead & key padding, for several pad_ids and T = 1")
### END HIDDEN TESTS

# %% [markdown]
# The three masks of one padded decoder input, drawn as images (white = allowed):

# %%
vocab = ["<pad>", "<bos>", "<eos>", "장미", "는", "꽃", "이다", "고양이", "생선", "을", "먹는다"]
PAD, BOS, EOS = 0, 1, 2


def encode(sentence: str, length: int) -> list[int]:
    """Token ids of the words, then <eos>, then <pad> up to ``length``."""
    ids = [vocab.index(word) for word in sentence.split()] + [EOS]
    return ids + [PAD] * (length - len(ids))


dec_in = torch.tensor([[BOS] + encode("장미 는 꽃 이다", 6)])  # (1, T=7): <bos> … <eos> <pad>
labels = [vocab[i] for i in dec_in[0]]
T = len(labels)
panels = [
    ("padding (패딩)", padding_mask(dec_in, PAD)[0, 0].expand(T, T)),
    ("look-ahead (미래 가리기)", look_ahead_mask(T)),
    ("decoder mask = both (둘 다)", decoder_mask(dec_in, PAD)[0, 0]),
]
fig, axes = plt.subplots(1, 3, figsize=(13, 4.5))
for ax, (title, mask) in zip(axes, panels, strict=True):
    ax.imshow(mask.float().numpy(), cmap="gray", vmin=0, vmax=1)
    ax.set_xticks(range(T), labels, rotation=45, ha="right")
    ax.set_yticks(range(T), labels)
    ax.set_xlabel("key")
    ax.set_ylabel("query")
    ax.set_title(title)
fig.tight_layout()
plt.show()

# %% [markdown]
# And what a (randomly initialised) decoder self-attention does with it: every row is a
# probability distribution over the visible keys only; above the diagonal and in the padding
# column the weights are exactly zero.

# %%
d_model = 16
table = torch.randn(len(vocab), d_model)  # a random embedding per token
self_attn = MultiHeadAttention(d_model, num_heads=2)
x = table[dec_in]  # (1, T, d_model)
with torch.no_grad():
    self_attn(x, x, x, decoder_mask(dec_in, PAD))
attention_heatmap(
    self_attn.attn_weights[0, 0], labels, labels, title="마스크된 셀프 어텐션 (masked self-attention), head 1"
)
plt.show()

# %% [markdown]
# ## 5. A row with every key masked
#
# Sometimes a query has nothing to look at, for instance when a source sentence in the batch is
# empty and all of its keys are padding. Its scores are all $-\infty$, and the plain softmax
# computes $e^{-\infty - (-\infty)}$, which is NaN. One NaN is enough to turn the loss and every
# gradient of the batch into NaN.
#
# The course's `softmax` (lesson 02) avoids it in two steps: a row maximum that is not finite is
# replaced by $0$ (so the exponentials are $e^{-\infty} = 0$, not NaN), and the denominator is
# clamped to the smallest positive float (so $0 / 0$ becomes $0$). Such a row gets **all-zero
# weights**, and its attention output is zero. PyTorch's fused `F.scaled_dot_product_attention`
# agrees here; `nn.MultiheadAttention` and `torch.softmax` give NaN:

# %%
src = torch.tensor([[3, 4, 5], [PAD, PAD, PAD]])  # the second source sentence is empty
mask = padding_mask(src, PAD)  # (2, 1, 1, 3)
x = table[src][:, None]  # (B, 1 head, T, d_model)
scores = attention_scores(x, x).masked_fill(~mask, float("-inf"))  # (2, 1, 3, 3)
_, course_weights = scaled_dot_product_attention(x, x, x, mask)
torch_mha = nn.MultiheadAttention(d_model, 1, batch_first=True)
with torch.no_grad():
    torch_out, torch_weights = torch_mha(table[src], table[src], table[src], key_padding_mask=~mask[:, 0, 0])
    fused = nn.functional.scaled_dot_product_attention(x, x, x, attn_mask=mask)
print("empty sentence, course softmax weights:\n", course_weights[1, 0])
print("torch.softmax of the same scores:\n", torch.softmax(scores, dim=-1)[1, 0])
print("nn.MultiheadAttention weights:\n", torch_weights[1])
print("F.scaled_dot_product_attention output, first row:", fused[1, 0, 0, :4])
print("nn.MultiheadAttention's whole output sums to", torch_out.sum().item())

# %% [markdown]
# ## 6. Our rule and `nn.MultiheadAttention`'s
#
# `nn.MultiheadAttention` (and `nn.Transformer`) read masks the other way round: a boolean
# `attn_mask` or `key_padding_mask` is **True where attention is blocked**, and a float mask is
# added to the scores ($0$ allowed, $-\infty$ blocked). Converting is a `~`, or a comparison
# with $0$. It also takes the two parts separately: `attn_mask` $(T_q, T_k)$ for the look-ahead
# rule and `key_padding_mask` $(B, T_k)$ for the padding.

# %%
def to_torch_mask(mask: torch.Tensor) -> torch.Tensor:
    """The course's mask (True = allowed) in nn.MultiheadAttention's boolean rule (True = blocked)."""
    return ~mask


def from_torch_mask(torch_mask: torch.Tensor) -> torch.Tensor:
    """nn.MultiheadAttention's mask in the course's rule: a boolean mask (True = blocked) is
    inverted; an additive float mask (0 allowed, -inf blocked) becomes ``torch_mask == 0``."""
    if torch_mask.dtype == torch.bool:
        return ~torch_mask
    return torch_mask == 0


print(
    "from_torch_mask(generate_square_subsequent_mask(7)) == look_ahead_mask(7):",
    torch.equal(from_torch_mask(nn.Transformer.generate_square_subsequent_mask(7)), look_ahead_mask(7)),
)

torch_attn = nn.MultiheadAttention(d_model, 2, batch_first=True)
with torch.no_grad():  # the same weights as self_attn, packed as in lesson 03
    torch_attn.in_proj_weight.copy_(
        torch.cat([self_attn.w_q.weight, self_attn.w_k.weight, self_attn.w_v.weight])
    )
    torch_attn.in_proj_bias.copy_(torch.cat([self_attn.w_q.bias, self_attn.w_k.bias, self_attn.w_v.bias]))
    torch_attn.out_proj.weight.copy_(self_attn.w_o.weight)
    torch_attn.out_proj.bias.copy_(self_attn.w_o.bias)
    x = table[dec_in]  # (1, T, d_model)
    ours = self_attn(x, x, x, decoder_mask(dec_in, PAD))
    theirs, _ = torch_attn(
        x,
        x,
        x,
        attn_mask=to_torch_mask(look_ahead_mask(T)),
        key_padding_mask=to_torch_mask(padding_mask(dec_in, PAD)[:, 0, 0]),
    )
print(f"course vs nn.MultiheadAttention, largest difference: {(ours - theirs).abs().max():.1e}")

# %% [markdown]
# ## 7. Teacher forcing: shift the targets right
#
# At inference the decoder writes one token at a time and reads back what it wrote. In training
# the whole correct target is known, so the decoder is given the correct previous tokens instead
# (**teacher forcing**): its input is the target shifted one step to the right, starting with
# `<bos>`, and at position $i$ it must predict target $i$:
#
# | position | 0 | 1 | 2 | 3 | 4 |
# |---|---|---|---|---|---|
# | decoder input | `<bos>` | 장미 | 는 | 꽃 | 이다 |
# | target | 장미 | 는 | 꽃 | 이다 | `<eos>` |
#
# All positions are computed at once, in parallel: the notes' "병렬연산". The shift keeps the
# length: the last target never enters the decoder, since nothing comes after it to predict.
#
# **Exercise.** Write `shift_right(tokens, bos_id)`: `bos_id`, then the tokens without their
# last position, for any number of leading batch dimensions.

# %% nbgrader={"grade": false, "grade_id": "shift_right", "locked": false, "schema_version": 3, "solution": true, "task": false}
def shift_right(tokens: torch.Tensor, bos_id: int) -> torch.Tensor:
    """Teacher forcing's decoder input: ``bos_id``, then the targets without their last token.

    Position i of the result holds target i − 1, so the decoder that reads it
    predicts target i from the targets before it.

    Shape:
        tokens: (..., T).
        output: (..., T), same dtype and device.
    """
    ### BEGIN SOLUTION
    start = torch.full_like(tokens[..., :1], bos_id)  # (..., 1)
    return torch.cat([start, tokens[..., :-1]], dim=-1)  # (..., 1) + (..., T - 1) -> (..., T)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_shift_right", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
shifted = shift_right(torch.tensor([[5, 6, 7, 2]]), bos_id=1)
expect_shape(shifted, (1, 4), "shift_right of a (1, 4) target: the length stays")
expect_close(
    shifted.float(),
    torch.tensor([[1.0, 5.0, 6.0, 7.0]]),
    "shift_right([[5, 6, 7, 2]], bos_id=1): <bos>, then every token but the last",
    mistakes={
        "the first token was dropped instead of the last": torch.tensor([[1.0, 6.0, 7.0, 2.0]]),
        "the tokens were rolled: put bos_id first, not the last token": torch.tensor([[2.0, 5.0, 6.0, 7.0]]),
        "the tokens moved left: bos_id goes first, then the tokens without the last": torch.tensor(
            [[6.0, 7.0, 2.0, 1.0]]
        ),
    },
)
passed("shift_right([[5, 6, 7, 2]], 1) == [[1, 5, 6, 7]]")
### BEGIN HIDDEN TESTS
g = torch.Generator().manual_seed(440)
for shape, bos in [((2, 6), 1), ((7,), 3), ((2, 3, 5), 0), ((3, 1), 9)]:
    tokens = torch.randint(2, 50, shape, generator=g)
    original = tokens.clone()
    out = _call("shift_right", shift_right, tokens, bos)
    expected = torch.tensor([[bos] + row[:-1] for row in tokens.reshape(-1, shape[-1]).tolist()])
    expected = expected.reshape(shape)
    what = f"shift_right of a {tuple(shape)} tensor, bos_id={bos}"
    if isinstance(out, torch.Tensor) and out.shape[-1] == shape[-1] + 1:
        raise AssertionError(
            f"{what}: the result is one longer than the input; keep the length by dropping the last token"
        )
    expect_shape(out, shape, what)
    if not torch.equal(tokens, original):
        raise AssertionError(
            f"{what}: shift_right changed its input in place; build a new tensor (e.g. torch.cat) instead"
        )
    expect_dtype(out, tokens.dtype, what)
    wrong = {
        "the first token was dropped instead of the last: keep tokens[..., :-1]": torch.cat(
            [torch.full_like(tokens[..., :1], bos), tokens[..., 1:]], -1
        ),
        "the tokens were rolled: the last token came back at the front; put bos_id there": tokens.roll(
            1, dims=-1
        ),
        "bos_id went to the end: it goes first, followed by the tokens without the last": torch.cat(
            [tokens[..., 1:], torch.full_like(tokens[..., :1], bos)], -1
        ),
    }
    expect_close(
        out.double(), expected.double(), what, mistakes={hint: t.double() for hint, t in wrong.items()}
    )
meta = torch.ones(2, 4, dtype=torch.long, device="meta")
_expect_device(_on_meta("shift_right", shift_right, meta, 1), meta, "shift_right of tokens on 'meta'")
passed("shift_right for 1, 2 and 3 dimensions, T = 1, dtype and device kept, input untouched")
### END HIDDEN TESTS

# %% [markdown]
# The pairs the decoder trains on, all at once:

# %%
targets = torch.tensor([encode("장미 는 꽃 이다", 6), encode("고양이 는 생선 을 먹는다", 6)])
for row_in, row_out in zip(shift_right(targets, BOS), targets, strict=True):
    print("  ".join(f"{vocab[i]}→{vocab[o]}" for i, o in zip(row_in, row_out, strict=True)))

# %% [markdown]
# ## 8. The proof: nothing leaks from the future
#
# Teacher forcing hands the decoder the whole target at once. Position $i$ predicts target $i$,
# and target $i$ sits in the input at position $i + 1$: without a mask, the decoder could copy
# the answer instead of learning it, and at inference, when the future is not there, it would
# fail. The mask must make every output $i$ independent of targets $i, i+1, \dots$
#
# We can test that directly. Change target $j$, run the decoder again, and record which outputs
# changed: `changed[i, j]`. For an honest decoder, `changed[i, j]` is True only when $j < i$, a
# strictly lower triangle. Below, a one-head self-attention (queries, keys and values are the
# embeddings themselves) is run four ways: with the course's $-\infty$ mask, with the two wrong
# masks of section 1, and with no mask at all.

# %%
def masked_minus_inf(x, mask):
    return scaled_dot_product_attention(x, x, x, mask)[0]


def masked_with_zero(x, mask):
    return softmax(attention_scores(x, x).masked_fill(~mask, 0.0)) @ x


def zeroed_after_softmax(x, mask):
    return (softmax(attention_scores(x, x)) * mask) @ x


def unmasked(x, mask):
    return scaled_dot_product_attention(x, x, x)[0]


def leaks(attend, targets: torch.Tensor) -> torch.Tensor:
    """changed[i, j]: does decoder output i change when target token j changes?

    Shape:
        targets: (1, T); output: (T, T), boolean.
    """

    def decoder_outputs(tgt):
        dec_in = shift_right(tgt, BOS)  # (1, T)
        return attend(table[dec_in], decoder_mask(dec_in, PAD)[:, 0])  # (1, T, d_model)

    before = decoder_outputs(targets)
    changed = torch.zeros(targets.size(-1), targets.size(-1), dtype=torch.bool)
    for j in range(targets.size(-1)):
        other = targets.clone()
        other[0, j] = vocab.index("고양이") if other[0, j] != vocab.index("고양이") else vocab.index("꽃")
        changed[:, j] = (decoder_outputs(other) != before).any(-1)[0]
    return changed


targets = torch.tensor([encode("장미 는 꽃 이다", 5)])  # 장미 는 꽃 이다 <eos>
names = [vocab[i] for i in targets[0]]
fig, axes = plt.subplots(1, 4, figsize=(16, 4.5))
for ax, (title, attend) in zip(
    axes,
    [
        ("−∞ (course)", masked_minus_inf),
        ("0 instead of −∞", masked_with_zero),
        ("zeroed after softmax", zeroed_after_softmax),
        ("no mask", unmasked),
    ],
    strict=True,
):
    ax.imshow(leaks(attend, targets).float().numpy(), cmap="Reds", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names)
    ax.set_yticks(range(len(names)), [f"{i}: {w}" for i, w in enumerate(names)])
    ax.set_xlabel("changed target j (바꾼 정답)")
    ax.set_ylabel("decoder output i, predicting (예측)")
    ax.set_title(title)
fig.suptitle("red: output i changed when target j changed; red on or above the diagonal is a leak (누출)")
fig.tight_layout()
plt.show()

# %% [markdown]
# With $-\infty$ only the strict lower triangle is red: output $i$ depends on the targets before
# $i$ and on nothing else. Setting the masked scores to $0$, or zeroing the weights after the
# softmax, lets every target but the last reach every output. The last column stays white in
# every panel: the shift drops the last target, so it never enters the decoder.
#
# The grader runs this test on your masks: for every sentence and every position $j$, changing
# decoder input $j$ (or target $j$) must leave every earlier output unchanged, and padded keys
# must get exactly zero weight.

# %% [markdown]
# **Explore it yourself.** Switch *your* padding and look-ahead masks on and off over the decoder
# input `<bos> 장미 는 꽃 이다 <eos> <pad>`. Hatched cells are hidden; the numbers are the weights of a
# random two-head self-attention, heads averaged. Below the controls, the leak test of this section
# runs live on every switch: change input $j$, see which outputs $i < j$ change. Without the
# look-ahead mask the future leaks. Note also that the look-ahead mask alone already hides a trailing
# `<pad>` from every real token of the decoder: the padding mask matters most where every key is
# visible, in the encoder and in cross-attention (lesson 05).

# %%
from transformer_course.explorer import mask_explorer

mask_explorer(padding_mask, look_ahead_mask)  # your masks

# %% nbgrader={"grade": true, "grade_id": "test_decoder_mask_no_leak", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(1)
attn = MultiHeadAttention(8, 2)
embedding = torch.randn(10, 8)
dec_in = torch.tensor([[1, 5, 6, 7, 8]])
changed = dec_in.clone()
changed[0, 3] = 9  # a different token at position 3
with torch.no_grad():
    x, x_changed = embedding[dec_in], embedding[changed]
    before = attn(x, x, x, decoder_mask(dec_in, 0))
    after = attn(x_changed, x_changed, x_changed, decoder_mask(changed, 0))
expect_close(after[0, :3], before[0, :3], "decoder outputs 0 … 2 after changing input token 3 (their future)")
passed("changing token 3 leaves outputs 0 … 2 alone")
### BEGIN HIDDEN TESTS
run = _decoder_attention(seed=450)
for lengths, T, pad_id in [([6, 3, 1], 6, 0), ([5, 5], 5, 2)]:
    dec_in = _tokens(lengths, T, pad_id=pad_id, seed=451 + T)
    out, weights = run(dec_in, _call("decoder_mask", decoder_mask, dec_in, pad_id))
    padded = (dec_in == pad_id)[:, None, None, :].expand_as(weights)  # (B, h, T, T)
    if not (weights.masked_select(padded) == 0).all():
        raise AssertionError(
            "padded keys got attention weight: decoder_mask must hide the "
            "padding keys, the last axis, for every query"
        )
    for b, length in enumerate(lengths):
        for j in range(length):
            other = _another_token(dec_in, b, j, pad_id)
            out_other, _ = run(other, _call("decoder_mask", decoder_mask, other, pad_id))
            moved = (out_other[b, :j] - out[b, :j]).abs().amax(-1) > 1e-12
            if moved.any():
                i = int(moved.nonzero()[0])
                raise AssertionError(
                    f"the future leaks: changing decoder input token {j} changed the output at "
                    f"position {i} < {j}. Query i may attend only to keys 0 … i: the look-ahead "
                    f"mask must be True on and below the diagonal, combined with `&`."
                )
passed("no output changes when a later input token changes; padded keys get exactly zero weight")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_teacher_forcing_no_leak", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(2)
attn = MultiHeadAttention(8, 2)
embedding = torch.randn(10, 8)
targets = torch.tensor([[5, 6, 7, 8, 2]])
changed = targets.clone()
changed[0, 2] = 9  # a different target 2
with torch.no_grad():
    outputs = []
    for tgt in (targets, changed):
        dec_in = shift_right(tgt, bos_id=1)
        x = embedding[dec_in]
        outputs.append(attn(x, x, x, decoder_mask(dec_in, 0)))
expect_close(
    outputs[1][0, :3],
    outputs[0][0, :3],
    "decoder outputs 0 … 2 (which predict targets 0 … 2) after changing target 2",
)
passed("changing target 2 leaves the outputs that predict targets 0 … 2 alone")
### BEGIN HIDDEN TESTS
run = _decoder_attention(seed=460)
bos_id, pad_id = 1, 0
for lengths, T in [([6, 4, 2], 6), ([5], 5)]:
    targets = _tokens(lengths, T, pad_id=pad_id, seed=461 + T)
    dec_in = _call("shift_right", shift_right, targets, bos_id)
    out, _ = run(dec_in, _call("decoder_mask", decoder_mask, dec_in, pad_id))
    for b, length in enumerate(lengths):
        for j in range(length):
            other = _another_token(targets, b, j, pad_id)
            other_in = _call("shift_right", shift_right, other, bos_id)
            out_other, _ = run(other_in, _call("decoder_mask", decoder_mask, other_in, pad_id))
            moved = (out_other[b, : j + 1] - out[b, : j + 1]).abs().amax(-1) > 1e-12
            if moved.any():
                i = int(moved.nonzero()[0])
                raise AssertionError(
                    f"the answer leaks: changing target {j} changed decoder output {i}, which "
                    f"predicts target {i} <= {j} and may only see the targets before it. Check "
                    f"shift_right (bos_id, then the targets without the last) and the look-ahead "
                    f"mask (True on and below the diagonal)."
                )
passed("with your shift_right and decoder_mask, no output sees the target it predicts or later ones")
### END HIDDEN TESTS

# %% [markdown]
# ## Recap
#
# - Masked scores become $-\infty$ before the softmax: $0$ is a real similarity, and zeroing
#   after the softmax keeps the hidden keys in the denominator; both leak.
# - `padding_mask` hides padded **keys**, $(B, 1, 1, T)$; `look_ahead_mask` is True on and below
#   the diagonal; `decoder_mask` is both, $(B, 1, T, T)$, on the tokens' device.
# - A row with every key masked gets zero weights from the course's softmax, where
#   `nn.MultiheadAttention` gives NaN; its masks say True where attention is *blocked*, so
#   convert with `~` (and `== 0` for additive float masks).
# - Teacher forcing feeds `shift_right(targets)` and predicts every position in parallel; the
#   leak test proves that, with the mask, output $i$ never sees target $i$ or anything after it.
#
# Next, lesson 05 turns to the other attention of the decoder, encoder–decoder attention, where
# the queries come from the decoder and the keys and values from the encoder, masked by the
# source's padding.
