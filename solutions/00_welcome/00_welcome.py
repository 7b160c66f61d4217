# %% [markdown]
# # Lesson 00 — Welcome: what is a transformer for?
#
# > **1. 트랜스포머의 목적은?** — from the notes
#
# *What is the transformer for?*
#
# The notes answer:
#
# > 트랜스포머는 말을 얼마나 잘 만드느냐가 중요한 것이다.
# >
# > 번역에 대한 값은 이미 다 있다. rose가 장미라는 사실을 알고 있다.
# > 'rose is flower'라는 말을 번역하기 위해 '장미', '는', '꽃', '이다'를 어떻게 배열할 것인지에 대한 문제.
#
# *What matters for a transformer is how well it makes sentences. The translations
# of the words are already there: we know that "rose" is 장미.
# To translate "rose is flower", the problem is how to arrange 장미, 는, 꽃, 이다.*
#
# > 잘 배열하기 위해서 단어 간의 관계를 학습하는 것이다.
# > 단어 간의 관계를 학습하기 위해 어텐션을 사용하는 것이고,
# > 하나에서 답을 얻는 것보단 여러 개에서 답을 얻어 사용하는 것이 좋으니까 멀티헤드 어텐션을 사용하는 것.
#
# *To arrange them well, the model learns the relations between words; it uses
# attention to learn those relations, and multi-head attention because answers
# drawn from several places are better than an answer from one.*
#
# This course builds that machine piece by piece in PyTorch, one question of the
# notes per lesson, and trains it at the end on an English → Korean task where the
# order of the words is the hard part. This first lesson checks your set-up, shows
# how the exercises are graded, fixes the conventions every later lesson keeps, and
# lets you practise the exercise loop on the notes' own problem: putting
# 장미, 는, 꽃, 이다 in order.

# %% [markdown]
# ## 1. Check your set-up
#
# Run the next cell (Shift+Enter). Every line should start with ✓; a line with ✗
# says what to install. A missing GPU is fine: every lesson runs on the CPU; only
# lesson 08, which trains the model, runs faster on a GPU.

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import platform
import sys

try:
    import matplotlib
    import matplotlib.pyplot as plt
    import torch
    import torch.nn.functional as F

    from transformer_course.checks import expect_close, expect_shape, passed
    from transformer_course.plots import INSTALL_HINT, use_hangul_font
except ImportError as missing:
    raise ImportError(
        f"{missing.name} is not installed in this kernel. From the course folder run "
        "`make install` (or `pip install -e .`), then pick the kernel of `.venv`."
    ) from None

torch.manual_seed(0)

python_ok = sys.version_info >= (3, 11)
print(
    ("✓" if python_ok else "✗")
    + f" Python {platform.python_version()}"
    + ("" if python_ok else ": the course needs Python 3.11 or newer")
)
torch_ok = int(torch.__version__.split(".")[0]) >= 2
print(
    ("✓" if torch_ok else "✗")
    + f" PyTorch {torch.__version__}"
    + ("" if torch_ok else ": the course needs PyTorch 2; run `make install`")
)
print(f"✓ matplotlib {matplotlib.__version__}")
if torch.cuda.is_available():
    print(f"✓ GPU: {torch.cuda.get_device_name(0)} (lesson 08 trains on it)")
elif torch.backends.mps.is_available():
    print("✓ GPU: Apple MPS (lesson 08 trains on it)")
else:
    print("✓ no GPU found: every lesson runs on the CPU; lesson 08 trains a smaller model there")
hangul_font = use_hangul_font()
print(f"✓ Hangul font: {hangul_font}" if hangul_font else f"✗ no Hangul font: {INSTALL_HINT}")

# %% [markdown]
# ## 2. How the course works
#
# Each lesson is one notebook like this one. You read, run the cells from top to
# bottom, and fill in **exercise cells**. In an exercise cell the function's name,
# arguments and docstring are given; its body is
#
# ```python
# # YOUR CODE HERE
# raise NotImplementedError()
# ```
#
# Replace those two lines with your code. Keep the name and the arguments: the
# tests call them.
#
# Under each exercise come **test cells**. Each one checks one aspect (the values
# on a small example, extra batch dimensions, float64, gradients, ...) and is worth
# points, so a partly right answer earns part of the points. A test cell prints a
# ✓ line per check that passed, or stops with a message that says what was expected
# and what to try. Run it after each change.
#
# The **Validate** button (in the notebook's toolbar) saves the notebook, runs it
# in a fresh kernel from top to bottom and reports the cells that fail. Use it
# before you submit: the grader, too, runs your notebook from a fresh kernel, so
# code that only worked because of a cell you ran earlier, and then deleted, fails there.
#
# **Hidden tests decide the grade.** The test cells you see hold only the quick
# checks; at grading time each one gets its hidden part back: fresh random inputs,
# odd shapes, float64, gradients, comparisons with PyTorch's own functions. So a
# test cell that passes here can still lose points: write the general solution, not
# one that fits the visible example. Your feedback shows, for every test cell, its
# points and the message of a failing check, never the test's code.
#
# A few rules keep grading fair:
# - don't delete, copy or move the test cells (a deleted one is put back anyway);
# - some exercises say *from scratch*: then calling PyTorch's ready-made version
#   (or the course's own reference solution) makes the hidden tests fail;
# - a lesson's notebook runs in a few seconds; if yours takes minutes, something
#   loops more than it should.

# %% [markdown]
# ## 3. Conventions, once for the whole course
#
# | convention | meaning |
# |---|---|
# | batch-first | the batch comes first: token ids are `(B, T)`, their vectors `(B, T, d_model)` |
# | any leading batch dims | a function written for `(T, d_model)` also takes `(B, T, d_model)`, `(B, h, T, d_k)`, ...; index from the end (`x[..., i]`, `x.transpose(-2, -1)`) rather than from the front, unless a docstring's Shape says otherwise |
# | boolean mask | **True where attention is allowed**, False where it is blocked — the rule of `torch.nn.functional.scaled_dot_product_attention`; a mask broadcasts against scores of shape `(..., T_q, T_k)` |
# | dtype | float32 by default; everything also works in float64, which the hidden tests use for tight tolerances, so never create tensors with a fixed dtype |
# | device | results stay on the device of the inputs (CPU, CUDA or MPS) |
#
# The symbols are the notes':
#
# | symbol | meaning | in the notes' model |
# |---|---|---|
# | $T$ | tokens in a sequence (`seq_len`); $T_q$, $T_k$ for queries and keys | — |
# | $d_{model}$ | size of each token's vector | 512 |
# | $h$ (`num_heads`) | number of attention heads | 8 |
# | $d_k = d_v = d_{model}/h$ | size of a query, key, value vector in one head | 64 |
#
# Here is the mask rule in PyTorch's own attention: three queries, four keys, and a
# mask that lets every query see only the first two keys. The blocked keys get
# weight zero, so each output is built from the first two values only.

# %%
q, k, v = torch.randn(2, 3, 8), torch.randn(2, 4, 8), torch.randn(2, 4, 8)  # (B, T, d)
allowed = torch.tensor([True, True, False, False]).expand(3, 4)  # (T_q, T_k), True = may attend
out_masked = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)  # (B, T_q, d)
out_first_two = F.scaled_dot_product_attention(q, k[:, :2], v[:, :2])  # only keys 0 and 1 exist
print(
    "masked attention == attention over the first two keys only:",
    torch.allclose(out_masked, out_first_two, atol=1e-6),
)

# %% [markdown]
# ## 4. The course map
#
# Each lesson answers one question of the notes and builds one piece; later lessons
# import the earlier pieces, so the last one trains a whole Transformer made of
# parts you wrote.
#
# | lesson | the notes' question | what you build |
# |---|---|---|
# | 00 welcome | 1. 트랜스포머의 목적은? — what is a transformer for? | this set-up check; the ordering problem; `arrange` |
# | 01 qkv | 2. 어텐션의 쿼리, 키, 밸류의 행렬은 어떻게 계산하는가? — how are the query, key and value matrices computed? | token embeddings; Q, K, V one token at a time, then all at once as matrices; a `QKVProjection` module |
# | 02 scaled_dot_product | 2. (continued) what is the attention score, and why divide by $\sqrt{d_k}$? | scores, a numerically stable softmax, scaled dot-product attention with a mask; a measurement of why the square root |
# | 03 multi_head | 2-1. 멀티헤드 어텐션의 최종 값은 어떻게 계산하는가? — how is multi-head attention's final value computed? | splitting and joining heads; `MultiHeadAttention` with $W^O$ |
# | 04 masking | 3. 각각 어텐션은 무엇을 학습하는 것인가? — what does each attention learn? (here: what the decoder's self-attention hides, and how) | padding and look-ahead masks, teacher forcing's shift; a proof that no future token leaks |
# | 05 cross_attention | 3. (continued) what does encoder–decoder attention relate? | attention with queries from the decoder and keys and values from the encoder; an alignment read from its weights |
# | 06 feed_forward | 5. Feed Forward는 왜 사용하는 것인가? — why a feed-forward network? | the position-wise FFN; a measurement of what its nonlinearity adds |
# | 07 stacking | 4. / 4-1. 인코더, 디코더의 입력값, 출력값 / n개의 인코더, 디코더의 연산 — how do N encoders and N decoders compute? | positional encoding, encoder and decoder layers, the stacks, the full `Transformer` |
# | 08 gpu_training | the notes' model, trained | batches, masked loss, learning-rate schedule, a training step, greedy decoding; an English → Korean model and its attention maps |
# | 09 inference | 4. (continued) 실제 사용 시에는 앞서나온 결과를 넣는다 — why is generation slow, and what can be reused? | a KV cache, one decoding step, cached greedy decoding, beam search with a length penalty; measured: cached vs uncached cost, beam size vs accuracy |

# %% [markdown]
# ## 5. The notes' problem: arranging the words
#
# Word by word, "rose is flower" is easy: rose → 장미, flower → 꽃, is → 이다, and
# Korean marks the topic of the sentence with the particle 는 after it. What is
# hard is the **order**: English puts the verb in the middle (subject–verb–object),
# Korean puts it last (subject–object–verb). In the picture every line joins an
# English word to the Korean token it becomes; dashed lines go to particles, which
# no English word spells out. Lines that cross are the reordering.

# %%
def draw_links(ax, top, bottom, links, title):
    """Words of `top` above, tokens of `bottom` below, a line per (i, j, dashed) link."""
    width = max(len(top), len(bottom)) - 1
    x_top = [i * width / max(len(top) - 1, 1) for i in range(len(top))]
    x_bottom = [j * width / max(len(bottom) - 1, 1) for j in range(len(bottom))]
    box = {"boxstyle": "round", "facecolor": "white", "edgecolor": "0.6"}
    for x, word in zip(x_top, top, strict=True):
        ax.text(x, 1, word, ha="center", va="center", fontsize=13, bbox=box)
    for x, word in zip(x_bottom, bottom, strict=True):
        ax.text(x, 0, word, ha="center", va="center", fontsize=13, bbox=box)
    for i, j, dashed in links:
        ax.annotate(
            "",
            xy=(x_bottom[j], 0.12),
            xytext=(x_top[i], 0.88),
            arrowprops={
                "arrowstyle": "->",
                "linestyle": "--" if dashed else "-",
                "color": "tab:orange" if dashed else "tab:blue",
            },
        )
    ax.set_xlim(-0.6, width + 0.6)
    ax.set_ylim(-0.3, 1.3)
    ax.set_title(title)
    ax.axis("off")


fig, axes = plt.subplots(1, 2, figsize=(11, 2.8))
draw_links(
    axes[0],
    ["rose", "is", "flower"],
    ["장미", "는", "꽃", "이다"],
    [(0, 0, False), (0, 1, True), (1, 3, False), (2, 2, False)],
    "rose is flower: the verb (이다) goes last",
)
draw_links(
    axes[1],
    ["the", "cat", "eats", "the", "fish"],
    ["고양이", "는", "생선", "을", "먹는다"],
    [(1, 0, False), (1, 1, True), (2, 4, False), (4, 2, False), (4, 3, True)],
    "the cat eats the fish: the verb (먹는다) goes last; articles have no token",
)
fig.suptitle("English subject–verb–object, Korean subject–object–verb: the verb moves to the end")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 6. Warm-up exercise: `arrange`
#
# Suppose, as the notes do, that the Korean words are already known, handed to us
# in dictionary order (가나다 order): 꽃, 는, 이다, 장미. A model works on token
# ids, not strings; here is a tiny Korean vocabulary and the ids of that bag of words.

# %%
KOREAN = ["<pad>", "꽃", "는", "이다", "장미", "튤립"]  # id -> token
bag = torch.tensor([1, 2, 3, 4])  # (T,): 꽃 는 이다 장미, in dictionary order
print([KOREAN[i] for i in bag.tolist()])

# %% [markdown]
# To arrange them we need an **order**: a list of positions, where `order[i]` says
# which token of the bag goes to place `i`. For 장미 는 꽃 이다 the order is
# `[3, 1, 0, 2]` (장미 is at position 3 of the bag, 는 at 1, ...):
#
# $$\text{out}_i = \text{tokens}_{\text{order}_i}, \qquad i = 0, \dots, L - 1.$$
#
# Write `arrange(tokens, order)`. It must follow the course's conventions: `tokens`
# may have any number of leading batch dimensions, `(T,)`, `(B, T)`, `(B, S, T)`,
# ..., and the order applies along the last axis, the token axis, of every
# sequence. `order` may be a list of ints or a 1-D tensor of ids, and may be shorter
# than $T$ or repeat a position (it *selects* tokens, as well as reordering them).
# One line of indexing does it; `x[..., i]` indexes the last axis, whatever comes
# before it. Don't change `tokens` in place: return a new tensor.

# %% nbgrader={"grade": false, "grade_id": "arrange", "locked": false, "schema_version": 3, "solution": true, "task": false}
def arrange(tokens: torch.Tensor, order: list[int] | torch.Tensor) -> torch.Tensor:
    """Put the tokens of every sequence in a new order: out[..., i] = tokens[..., order[i]].

    Args:
        tokens: token ids (or any values), batch-first, with any leading batch dims.
        order: positions along the token axis, a list of ints or a 1-D long tensor;
            it may be shorter than T and may repeat a position.

    Shape:
        tokens: (..., T).
        order: (L,), each entry in [0, T).
        output: (..., L), the dtype and device of `tokens`.
    """
    ### BEGIN SOLUTION
    return tokens[..., order]  # (..., L)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_arrange_example", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
words = ["<pad>", "꽃", "는", "이다", "장미", "튤립"]
arranged = arrange(torch.tensor([1, 2, 3, 4]), [3, 1, 0, 2])
expect_shape(arranged, (4,), "arrange(꽃 는 이다 장미, [3, 1, 0, 2])")
got = " ".join(words[i] for i in arranged.tolist())
if got == "이다 는 장미 꽃":
    raise AssertionError(
        "arrange(꽃 는 이다 장미, [3, 1, 0, 2]) gave 이다 는 장미 꽃: you sent token i to place "
        "order[i]. Place i should receive the token at position order[i]: out[i] = tokens[order[i]]."
    )
assert got == "장미 는 꽃 이다", (
    f"arrange(꽃 는 이다 장미, [3, 1, 0, 2]) gave {got}; expected 장미 는 꽃 이다 "
    "(out[i] = tokens[order[i]])."
)
passed("arrange(꽃 는 이다 장미, [3, 1, 0, 2]) = 장미 는 꽃 이다")
### BEGIN HIDDEN TESTS
generator = torch.Generator().manual_seed(1)
for length in (1, 2, 5, 9):
    sequence = torch.randint(0, 100, (length,), generator=generator)
    permutation = torch.randperm(length, generator=generator)
    expect_close(
        arrange(sequence, permutation.tolist()),
        sequence.index_select(-1, permutation),
        f"arrange of {length} tokens by a random permutation",
        mistakes={
            "you sent token i to place order[i]; place i should receive "
            "tokens[order[i]]": sequence.index_select(-1, permutation.argsort())
        },
    )
passed("arrange reorders sequences of 1 to 9 tokens")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_arrange_batch", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
batch = torch.tensor([[1, 2, 3, 4], [1, 2, 3, 5]])  # (B, T): 꽃 는 이다 장미 / 꽃 는 이다 튤립
try:
    arranged = arrange(batch, [3, 1, 0, 2])
except NotImplementedError:
    raise
except (IndexError, RuntimeError) as error:
    raise AssertionError(
        f"arrange failed on a batch of shape (2, 4): {error}. The order applies to the last "
        "axis (the tokens of each sequence), whatever the number of leading batch dims."
    ) from None
expect_shape(arranged, (2, 4), "arrange of a (2, 4) batch")
expect_close(
    arranged,
    torch.tensor([[4, 2, 1, 3], [5, 2, 1, 3]]),
    "arrange of a (2, 4) batch (장미 는 꽃 이다 / 튤립 는 꽃 이다)",
)
passed("arrange works on a batch of two sentences")
### BEGIN HIDDEN TESTS
generator = torch.Generator().manual_seed(2)
for shape in ((4, 4), (3, 2, 7), (1, 1), (2, 1, 3, 5)):
    sequences = torch.randint(0, 100, shape, generator=generator)
    permutation = torch.randperm(shape[-1], generator=generator)
    mistakes = {
        "you sent token i to place order[i]; place i "
        "should receive tokens[..., order[i]]": sequences.index_select(-1, permutation.argsort())
    }
    if shape[0] == shape[-1]:
        mistakes["you reordered the first axis (the batch), not the last (the tokens)"] = (
            sequences.index_select(0, permutation)
        )
    expect_close(
        arrange(sequences, permutation.tolist()),
        sequences.index_select(-1, permutation),
        f"arrange of a batch of shape {shape}",
        mistakes=mistakes,
    )
passed("arrange works with 0 to 3 leading batch dims")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_arrange_order", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
bag = torch.tensor([1, 2, 3, 4])
expect_close(
    arrange(bag, torch.tensor([3, 1, 0, 2])),
    torch.tensor([4, 2, 1, 3]),
    "arrange with the order given as a tensor",
)
passed("the order may be a tensor")
selected = arrange(bag, [3, 1])
expect_shape(selected, (2,), "arrange(bag, [3, 1]), an order shorter than the sequence")
passed("an order shorter than the sequence selects tokens")
### BEGIN HIDDEN TESTS
generator = torch.Generator().manual_seed(3)
for shape, length in (((2, 6), 3), ((3, 5), 8), ((2, 2, 4), 1)):
    sequences = torch.randint(0, 100, shape, generator=generator, dtype=torch.int32)
    kept = sequences.clone()
    order = torch.randint(0, shape[-1], (length,), generator=generator)
    for given in (order, order.tolist()):
        out = arrange(sequences, given)
        expect_close(
            out,
            sequences.index_select(-1, order),
            f"arrange of int32 tokens of shape {shape} by an order of length {length} (with repeats)",
        )
    if not torch.equal(sequences, kept):
        raise AssertionError("arrange changed its input: return a new tensor, leave `tokens` as it was.")
values = torch.randn(2, 3, 4, dtype=torch.float64, generator=generator)
expect_close(
    arrange(values, [2, 0]), values.index_select(-1, torch.tensor([2, 0])), "arrange of float64 values"
)
passed("arrange selects, repeats, keeps the dtype and leaves its input alone")
### END HIDDEN TESTS

# %% [markdown]
# Now arrange a batch: two bags of words, "rose is flower" and "tulip is flower",
# share the same order. The arrows go from each token's place in the bag to its
# place in the sentence.

# %%
bags = torch.tensor([[1, 2, 3, 4], [1, 2, 3, 5]])  # (B, T): 꽃 는 이다 장미 / 꽃 는 이다 튤립
order = [3, 1, 0, 2]
sentences = arrange(bags, order)  # (B, T)
fig, axes = plt.subplots(1, 2, figsize=(10, 2.6))
for ax, bag_ids, sentence_ids in zip(axes, bags, sentences, strict=True):
    draw_links(
        ax,
        [KOREAN[i] for i in bag_ids.tolist()],
        [KOREAN[i] for i in sentence_ids.tolist()],
        [(source, place, False) for place, source in enumerate(order)],
        "top: the bag, in dictionary order; bottom: arranged",
    )
plt.tight_layout()
plt.show()

# %% [markdown]
# Here we wrote the order by hand. A translation model has to find it itself,
# sentence after sentence, from the English words: "the cat eats the fish" needs a
# different order from "rose is flower", and the particle depends on the word
# before it (고양이 **는** but 선생님 **은**). That is what the notes mean by
# learning the relations between words, and what attention, the subject of the next
# lessons, computes.
#
# One thing the notes simplify: the words of the translation are not really known
# in advance. A model learns the word mapping (rose → 장미) together with the order,
# from pairs of sentences alone. Lesson 08 trains one on an English → Korean task and
# shows both in its attention maps.
#
# ## Recap
# - The notes' view: a transformer's job is to arrange the words of a translation
#   well, and attention learns the relations between words that decide the order.
# - Exercise cells are yours between the markers; visible tests check the basics,
#   hidden tests decide the grade, feedback shows messages only; Validate before
#   you submit.
# - Conventions: batch-first, any leading batch dims (unless a Shape says otherwise),
#   boolean masks True where attention is allowed, float32 by default and float64 too,
#   the inputs' device kept.
# - `arrange` reorders and selects tokens along the token axis, the last one,
#   whatever the number of leading batch dims.
#
# Next, lesson 01: the first step of attention, turning each token into a vector and
# that vector into a query, a key and a value.
