"""Stable tags of the known mistakes that the lessons' tests name.

A hidden test names a likely mistake by its message (``expect_close(..., mistakes=
{"your scores equal QKᵀ/d_k: divide by √d_k, not by d_k": ...})``); ``checks`` appends
the message's tag, ``(mistake: scale-by-dk)``, to what it raises. The instructor's class
report (``python -m autograder report``) counts mistakes by these tags, so a message can
be reworded without losing its count: only this table changes. Several messages (other
lessons, other cases) share a tag when they name the same mistake.

A message may hold placeholders, written as in the test's f-string (``your {name} ...``);
each stands for any text. tests/test_mistakes.py proves every message of solutions/ has a
tag here.
"""

import re

MISTAKES: dict[str, tuple[str, ...]] = {
    "arrange-scatter-not-gather": (
        "you sent token i to place order[i]; place i should receive tokens[order[i]]",
        "you sent token i to place order[i]; place i should receive tokens[..., order[i]]",
    ),
    "arrange-wrong-axis": ("you reordered the first axis (the batch), not the last (the tokens)",),
    "qkv-outputs-swapped": (
        "your {name} equals what {other} should be: compute {name} with w_{name}, and return (q, k, v) in"
        " that order.",
    ),
    "weights-transposed": (
        "your {name} equals x_t @ w_{name}.T: multiply by w_{name} as given, (d_model, d_k)",
        "your {name} equals x @ w_{name}.T: multiply by w_{name} as given, (d_model, d_k)",
    ),
    "linear-bias": (
        "your {name} is x W plus a bias: pass bias=False to nn.Linear",
        "your {name} includes a bias: pass bias=False to nn.Linear",
    ),
    "linear-weight-layout": (
        "your {name} equals x @ w_{name}.weight: nn.Linear keeps Wᵀ, so call the layer, self.w_{name}(x),"
        " or use x @ weight.T",
    ),
    "scale-missing": (
        "your scores equal QKᵀ: you forgot to divide by √d_k",
        "your weights are softmax(QKᵀ): divide the scores by √d_k",
        "your output is unscaled softmax(QKᵀ)V: divide the scores by √d_k",
        "your output is softmax(QKᵀ)V: divide the scores by √d_k",
        "your scores are not scaled: divide QKᵀ by √d_k.",
    ),
    "scale-by-dk": (
        "your scores equal QKᵀ/d_k: divide by √d_k, not by d_k",
        "your weights are softmax(QKᵀ/d_k): divide by √d_k, not d_k",
        "your output is softmax(QKᵀ/d_k)V: divide by √d_k, not d_k",
        "your scores are divided by d_k: divide by √d_k.",
    ),
    "scores-transposed": ("your scores are transposed (KQᵀ): a row per query means Q @ Kᵀ",),
    "scale-by-sqrt-t": (
        "you divided by √T: d_k is the size of the LAST dimension of q",
        "you divided by √T_q: d_k is the size of the LAST dimension of q",
    ),
    "softmax-wrong-dim": (
        "your weights sum to one along the wrong dimension: reduce along `dim`",
        "your weights sum to one down each column: take the softmax over the last dimension (keys), or "
        "the `dim` you are given",
        "your weights sum to one down each column: take the softmax over the last dimension (keys)",
        "your softmax runs down the columns: weights are a softmax over the keys (dim=-1)",
        "softmax over the query axis: each query's weights over the keys must sum to one (softmax over "
        "the last axis)",
    ),
    "softmax-ignores-dim": ("your softmax ignores `dim`: with dim={dim}, reduce along dimension {dim}",),
    "mask-after-softmax": (
        "your rows no longer sum to one: mask the scores (with -inf) BEFORE the softmax, not the weights "
        "after it",
        "your weights are masked after the softmax, so rows no longer sum to one: set masked scores to "
        "-inf BEFORE the softmax",
        "your weights are zeroed after the softmax, so rows no longer sum to one: mask the scores (-inf) "
        "before the softmax.",
    ),
    "mask-fill-zero": ("you filled masked scores with 0, which still gets weight: fill with -inf",),
    "mask-inverted": (
        "you blocked the keys where the mask is True: True means attention is ALLOWED, fill where ~mask",
        "the mask is inverted: in this course True means attention is allowed (nn.MultiheadAttention's "
        "masks use the opposite rule)",
        "the mask is inverted: True must mean attention is allowed, so True for real tokens (tokens != "
        "pad_id)",
        "the mask is inverted: True means allowed in this course (nn.MultiheadAttention's rule is the "
        "opposite)",
        "the mask is inverted: True means attention is allowed in this course (nn.MultiheadAttention's "
        "rule is the opposite)",
        "your mask is inverted: True means attention is allowed.",
        "src_mask is True on padding and False on words: True must mean 'attention allowed' "
        "(padding_mask(src, pad_id)).",
    ),
    "fully-masked-row-uniform": (
        "a query whose keys are all masked got uniform weights: fill masked scores with -inf (not a large"
        " negative number), and let softmax turn an all -inf row into zeros",
    ),
    "variance-of-products": (
        "you took the variance of the elementwise products: sum over d_k first (that sum is the dot product)",
        "you took the variance of the elementwise products: sum over d_k first",
    ),
    "std-not-variance": ("you returned the standard deviation: return the variance",),
    "variance-of-scaled-scores": ("measure the raw dot products q·k, without dividing by √d_k",),
    "variance-of-all-pairs": (
        "you took the variance of every pair q_i·k_j: pair row i of q with row i of k only",
    ),
    "max-weight-overall": ("you took the largest weight overall: average the rows' largest weights",),
    "max-weight-per-column": (
        "you took each column's largest weight: take the largest weight of each row (dim=-1)",
    ),
    "max-of-scores": ("you averaged the largest scores: apply the softmax first",),
    "gradient-wrt-weights": (
        "your norm is the norm of upstream, the gradient with respect to the weights: differentiate with "
        "respect to the scores",
        "your norm is the norm of upstream: differentiate with respect to the scores",
    ),
    "gradient-zero": (
        "your gradient is zero: the loss must weight the softmax by upstream (the weights alone always "
        "sum to one)",
        "your gradient is zero: weight the softmax by upstream in the loss",
    ),
    "gradient-norm-of-all-rows": ("you took the norm of the whole gradient: average the norms of the rows",),
    "gradient-squared-norm": ("you averaged squared norms: take each row's length, ‖g‖ = sqrt(Σ g²)",),
    "split-heads-no-transpose": (
        "you viewed (B, T, d_model) directly as (B, h, T, d_k), which mixes tokens: view as (B, T, h, "
        "d_k), then transpose(1, 2)",
        "you viewed (B, T, d_model) directly as (B, h, T, d_k), which mixes the features of different "
        "tokens: view as (B, T, h, d_k), then transpose(1, 2)",
        "heads split without the transpose: view (B, T, d_model) as (B, T, h, d_k), then transpose(1, 2);"
        " viewing it directly as (B, h, T, d_k) mixes tokens across heads",
    ),
    "heads-interleaved": (
        "head 0 got every other feature: split the last axis as (h, d_k), not (d_k, h)",
        "head i must own the contiguous features i·d_k … (i+1)·d_k − 1: split the last axis as (h, d_k), "
        "not (d_k, h)",
        "the heads are interleaved: merge the axes as (h, d_k), not (d_k, h)",
        "each token's features must be head 0's d_k features, then head 1's, …: merge the axes as (h, "
        "d_k), not (d_k, h)",
        "heads built from interleaved features: head i owns features i·d_k … (i+1)·d_k − 1, so split "
        "d_model as (h, d_k)",
    ),
    "combine-heads-no-transpose": (
        "you reshaped (B, h, T, d_k) straight to (B, T, d_model), which mixes tokens: transpose(1, 2) first",
        "you reshaped (B, h, T, d_k) straight to (B, T, d_model), which mixes tokens: transpose(1, 2) to "
        "(B, T, h, d_k) first, then merge the last two axes",
        "heads concatenated without the transpose: combine_heads must bring (B, h, T, d_k) to (B, T, h, "
        "d_k) before merging the last two axes",
    ),
    "scale-by-sqrt-d-model": (
        "the scores are divided by √d_model: each head's queries and keys have d_k = d_model / h "
        "features, so divide by √d_k (attention_scores on the split heads does)",
    ),
    "output-projection-missing": ("W^O is missing: apply self.w_o to the concatenated heads",),
    "key-value-swapped": ("key and value are swapped: project `key` with w_k and `value` with w_v",),
    "mask-ignored": (
        "the mask is ignored: fill the scores with -inf where mask is False, before the softmax",
        "your weights ignore src_mask: set masked scores to -inf before the softmax.",
        "your output ignores src_mask: pass it to self_attn.",
        "your layer ignores src_mask: pass it to self_attn.",
        "the cross-attention ignores src_mask: pass it with memory.",
        "the layers don't get src_mask: pass it to every layer.",
        "the padding leaks: pass src_mask to the encoder and to the decoder's cross-attention.",
    ),
    "padding-hides-queries": (
        "the mask hides the padded queries: hide the padded keys, the last axis of the scores, with shape"
        " (B, 1, 1, T)",
        "the padding hides the queries (rows) instead of the keys (columns)",
        "the padding hides the queries (rows) instead of the keys (columns): combine the (B, 1, 1, T) "
        "padding mask with the look-ahead mask",
        "the padding also hides the padded queries' rows: hide only the keys, (B, 1, 1, T) & (T, T)",
    ),
    "look-ahead-above-diagonal": (
        "True above the diagonal: query i may see keys 0 … i, on and below it (torch.tril)",
        "the mask is True above the diagonal: query i may see keys 0 … i, which lie on and below it "
        "(torch.tril)",
        "the mask is True strictly above the diagonal, the blocked part: invert it and keep the diagonal",
        "the look-ahead part is True above the diagonal: use torch.tril",
    ),
    "look-ahead-no-diagonal": (
        "the diagonal is False: a token must see itself (torch.tril with diagonal=0)",
        "the diagonal is False: a token must see itself, or the first query has no key at all (torch.tril"
        " with diagonal=0)",
    ),
    "decoder-mask-no-padding": ("the padding is missing: combine padding_mask with the look-ahead mask",),
    "look-ahead-missing": (
        "the look-ahead part is missing: combine padding_mask with look_ahead_mask",
        "the future leaks: pass tgt_mask to the self-attention.",
        "the look-ahead mask is missing: pass tgt_mask to the self-attention.",
        "tgt_mask lets positions see later ones: combine the padding mask with the look-ahead mask "
        "(decoder_mask does both).",
    ),
    "masks-combined-with-or": (
        "the masks are combined with `|`: a key must pass both, use `&`",
        "the two masks are combined with `|`: a key must pass both, use `&`",
    ),
    "shift-drops-first": (
        "the first token was dropped instead of the last: keep tokens[..., :-1]",
        "the first token was dropped instead of the last",
    ),
    "shift-rolls": (
        "the tokens were rolled: the last token came back at the front; put bos_id there",
        "the tokens were rolled: put bos_id first, not the last token",
    ),
    "shift-moves-left": (
        "bos_id went to the end: it goes first, followed by the tokens without the last",
        "the tokens moved left: bos_id goes first, then the tokens without the last",
    ),
    "cross-keys-from-decoder": (
        "your weights relate the decoder to itself: take the keys from encoder_out.",
        "your weights relate the decoder to itself: take the keys and values from encoder_out.",
        "your output is the decoder's self-attention: keys and values come from encoder_out.",
        "your second attention reads the decoder again: take its keys and values from memory, the "
        "encoder's output.",
    ),
    "cross-queries-from-encoder": (
        "your weights have one row per source word: the queries come from decoder_x, the keys from "
        "encoder_out.",
        "your weights have one row per source word: the queries must come from decoder_x, the keys from "
        "encoder_out.",
        "your output has one row per source word: the queries must come from decoder_x.",
        "your cross-attention takes its queries from memory: queries come from the decoder (x), keys and "
        "values from memory.",
    ),
    "values-with-w-k": ("your values are encoder_out @ w_k: use w_v for the values.",),
    "alignment-over-queries": (
        "your alignment runs over the queries (dim=-2): take the argmax over the keys, the last axis.",
    ),
    "alignment-dim-1": (
        "your argmax runs over dim=1, which is the key axis only for 2-D weights: use dim=-1 so that "
        "batch dimensions don't matter.",
    ),
    "ffn-no-relu": (
        "your FFN has no ReLU: it is one linear map. Apply torch.relu between linear1 and linear2.",
        "your FFN has no ReLU: apply it between linear1 and linear2.",
    ),
    "ffn-relu-after-output": (
        "your ReLU comes after linear2: it belongs between linear1 and linear2.",
        "your ReLU is applied after linear2 only: move it between linear1 and linear2.",
    ),
    "ffn-drops-bias": ("your hidden layer drops b_1: use linear1 with its bias.",),
    "dropout-missing": (
        "your FFN ignores dropout while training: apply nn.Dropout(dropout) after the ReLU.",
    ),
    "dropout-misplaced": (
        "your dropout acts on the output of linear2: apply it to the hidden units, after the ReLU.",
        "your dropout acts on the input: apply it to the hidden units, after the ReLU.",
    ),
    "collapse-weight-layout": (
        "your weight is in x @ W layout (in_features, out_features): nn.Linear stores (out_features, "
        "in_features), W = W2 W1.",
    ),
    "collapse-bias-drops-b1": (
        "your bias drops b1: it passes through the second layer too, b = W2 b1 + b2.",
        "your bias adds b1 without passing it through W2: b = W2 b1 + b2.",
    ),
    "collapse-bias-drops-b2": ("your bias drops b2: b = W2 b1 + b2.",),
    "collapse-weight-order": (
        "your weight is W1 W2: the layer applied first stands on the right, W = W2 W1.",
    ),
    "collapse-bias-layout": ("your bias is W2ᵀ b1 + b2: in nn.Linear's layout, b = W2 b1 + b2.",),
    "loss-sum-not-mean": (
        "your first loss is the sum of squared errors: use the mean (nn.functional.mse_loss).",
        "your loss is the sum of squared errors: use the mean (nn.functional.mse_loss).",
        "your loss sums over the tokens: average over the non-padding ones.",
    ),
    "zero-grad-missing": (
        "your gradients accumulate across steps: call optimizer.zero_grad() every step.",
        "the update added gradients left from an earlier step: call optimizer.zero_grad() before the "
        "backward pass.",
    ),
    "zero-grad-in-optimizer-step": (
        "optimizer_step zeroed the gradients it was given: leave .grad as you find it; train_step zeroes "
        "it, before the forward pass.",
    ),
    "wrong-optimizer": ("your optimizer is SGD: use torch.optim.Adam.",),
    "loss-after-step": (
        "your losses are measured after each step: record the loss computed before optimizer.step().",
    ),
    "optimizer-step-missing": (
        "your loss never changes: call optimizer.step() after loss.backward().",
        "your parameters did not change: call optimizer.step() after loss.backward() (and zero the "
        "gradients before the backward pass, not after it).",
    ),
    "lr-ignored": ("your learning rate is Adam's default 1e-3: pass lr=lr to Adam.",),
    "pe-sin-cos-swapped": (
        "sine and cosine are swapped: even columns 2i hold the sine, odd columns 2i+1 the cosine.",
    ),
    "pe-not-interleaved": (
        "sines first, then cosines: interleave them, sines in the even columns (pe[:, 0::2]), cosines in "
        "the odd ones.",
        "your sines fill the first half and the cosines the second: interleave them, sines in the even "
        "columns (pe[:, 0::2]) and cosines in the odd ones (pe[:, 1::2]).",
    ),
    "pe-positions-from-1": (
        "row 0 is position 1: positions start at 0.",
        "your positions start at 1: the first row is position 0 (all sines 0, cosines 1).",
    ),
    "pe-exponent-i": (
        "your exponent is i / d_model: use 2i / d_model, where 2i is the even column of the pair.",
        "your exponent is i / d_model: use 2i / d_model, where 2i is the pair's even column.",
    ),
    "pe-frequency-per-column": (
        "each column has its own frequency: both columns 2i and 2i+1 of a pair use 10000^(2i / d_model).",
        "each column has its own frequency: columns 2i and 2i+1 share 10000^(2i / d_model).",
    ),
    "pre-norm": (
        "pre-norm: you normalise the sublayer's input, x + sublayer(norm(x)); this layer is post-norm: x "
        "= norm(x + sublayer(x)).",
        "pre-norm: you normalise the sublayer's input; this layer is post-norm, x = norm(x + sublayer(x)).",
    ),
    "residual-after-norm": (
        "the residual is added after the norm, x + norm(sublayer(x)): add first, then normalise, norm(x +"
        " sublayer(x)).",
    ),
    "residual-missing": (
        "the attention sublayer has no residual: norm1(x + self_attn(x, x, x, mask)).",
        "the feed-forward sublayer has no residual: norm2(x + ffn(x)).",
        "the cross-attention sublayer has no residual: norm2(x + cross_attn(x, memory, memory, src_mask)).",
    ),
    "residual-wrong-input": (
        "the feed-forward residual adds the layer's input: add the attention sublayer's output, x = "
        "norm1(...), then norm2(x + ffn(x)).",
    ),
    "norm-shared": (
        "you use norm1 after both sublayers: the feed-forward sublayer has its own norm2.",
        "you use norm2 after the feed-forward network too: it has its own norm3.",
        "you use norm1 after every sublayer: each has its own (norm1, norm2, norm3).",
    ),
    "masks-swapped": (
        "tgt_mask and src_mask are swapped: the self-attention takes tgt_mask, the cross-attention src_mask.",
    ),
    "stack-reads-input": (
        "each layer reads the encoder's input: feed every layer the previous layer's output.",
        "the second layer reads the encoder's input: give it the first layer's output.",
        "each layer reads the decoder's input: feed every layer the previous layer's output.",
        "the second layer reads the decoder's input: give it the first layer's output (and memory).",
    ),
    "stack-first-layer-only": ("only the first layer runs: loop over every layer.",),
    "stack-extra-norm": (
        "you add a LayerNorm after the last layer: each post-norm layer already ends with one.",
        "you add a LayerNorm after the last layer: each post-norm layer already ends with one "
        "(nn.TransformerEncoder's norm=None).",
        "you add a LayerNorm after the last layer: each post-norm layer already ends with one "
        "(nn.TransformerDecoder's norm=None).",
    ),
    "stack-shared-weights": (
        "all your layers share one set of weights: build num_layers separate EncoderLayer.",
        "all your layers share one set of weights: build num_layers separate DecoderLayer.",
    ),
    "stack-chains-memory": (
        "layers after the first get the previous decoder layer's output as memory: every layer gets the "
        "encoder's output, memory.",
    ),
    "embed-wrong-table": ("decode embeds the target with src_embed: use tgt_embed.",),
    "embed-not-scaled": (
        "the embeddings are not scaled: multiply them by √d_model.",
        "the embeddings are not scaled: multiply them by √d_model before adding the positional encoding.",
        "without √d_model: the embedding is multiplied by √d_model before the positional encoding is "
        "added, as in model.embed.",
    ),
    "embed-scaled-by-d-model": ("the embeddings are multiplied by d_model: multiply by √d_model.",),
    "pe-missing": (
        "the positional encoding is missing: add self.pe[:T] to the scaled embeddings.",
        "the positional encoding is missing: add it to the scaled embeddings.",
    ),
    "pe-added-twice": (
        "the positional encoding is added twice: add it once, in embed.",
        "the positional encoding is added twice: add it once.",
    ),
    "returns-probabilities": (
        "forward returns probabilities: return the generator's logits (the loss applies the softmax).",
        "forward returns probabilities: return the generator's logits.",
    ),
    "returns-log-probabilities": ("forward returns log-probabilities: return the generator's raw logits.",),
    "tgt-input-output-swapped": (
        "your tgt_output starts with <bos>: tgt_input and tgt_output are swapped. The decoder reads <bos>"
        " + targets and must predict targets + <eos>.",
        "your tgt_output starts with <bos>: that is the decoder's input; the output is the targets then "
        "<eos>.",
    ),
    "tgt-input-not-shifted": (
        "off by one: your tgt_input equals tgt_output, so the decoder would read the very token it must "
        "predict. Shift it right: <bos> first, then the targets without <eos>.",
        "off by one: your tgt_input equals tgt_output, so the decoder reads the very token it must "
        "predict (the loss drops to zero and the model learns to copy). Shift right: <bos> first.",
    ),
    "src-eos-missing": ("src lacks <eos>: end every source sentence with the source vocabulary's eos_id.",),
    "tgt-eos-missing": ("tgt_output lacks <eos>: without it the model never learns to stop.",),
    "tgt-input-too-long": (
        "your tgt_input is <bos> + targets + <eos>, one longer than tgt_output: the decoder reads <bos> +"
        " targets, and tgt_output is targets + <eos>, the same length.",
    ),
    "loss-counts-padding": (
        "your loss counts the padding position: leave out targets equal to pad_id (F.cross_entropy's "
        "ignore_index).",
        "you divide by every position, padding included: divide by the number of real tokens.",
        "your loss counts the padding positions: leave out targets equal to pad_id (ignore_index=pad_id),"
        " whatever pad_id is.",
        "your loss counts the padding positions: leave out targets equal to pad_id.",
    ),
    "loss-mean-of-means": (
        "you average each sentence, then the sentences: average over all real tokens at once, so that "
        "every token weighs the same.",
    ),
    "loss-against-tgt-input": (
        "your loss is scored against tgt_input: the decoder reads tgt_input and must predict tgt_output.",
    ),
    "loss-pad-id-hard-coded": (
        "your loss ignores pad_id and leaves out id 0: use the pad_id argument.",
        "your loss leaves out id 0, not the batch's pad_id: pass batch.pad_id to sequence_loss.",
    ),
    "label-smoothing-ignored": (
        "label_smoothing did not reach the loss: train_step must pass it on to forward_loss.",
        "label_smoothing has no effect: pass it on to sequence_loss.",
        "label_smoothing has no effect: pass it on (F.cross_entropy(..., label_smoothing=...)).",
        "label_smoothing has no effect: pass it on to the cross-entropy.",
    ),
    "label-smoothing-spread-wrong": (
        "your smoothing spreads ε over the V − 1 wrong tokens: spread it over all V tokens, as "
        "F.cross_entropy's label_smoothing does.",
    ),
    "noam-no-warm-up": (
        "at step 1 your rate is d_model^-0.5 · step^-0.5: take the min of step^-0.5 and step · warmup^-1.5.",
        "your rate never warms up (no min): it is d_model^-0.5 · min(step^-0.5, step · warmup^-1.5).",
    ),
    "noam-warm-up-exponent": ("your warm-up term uses warmup^-0.5: it is step · warmup^-1.5.",),
    "noam-max-not-min": (
        "you take the max of the two terms: the rate is d_model^-0.5 · min(step^-0.5, step · warmup^-1.5).",
    ),
    "noam-no-d-model-factor": ("the factor d_model^-0.5 is missing.",),
    "grad-not-clipped": (
        "the gradients were not clipped: nn.utils.clip_grad_norm_(model.parameters(), max_norm) between "
        "backward and optimizer.step().",
        "the gradients were not clipped to max_norm: pass max_norm on to clip_grad_norm_.",
    ),
    "scheduler-before-optimizer": (
        "the scheduler stepped before the optimizer: the step must use the current rate; call "
        "scheduler.step() after optimizer.step().",
    ),
    "clip-before-unscale": (
        "you clipped the scaled gradients: call scaler.unscale_(optimizer) before clipping, so the "
        "clipping sees the true gradients.",
    ),
    "loss-not-scaled": (
        "the loss was not scaled, but the gradients were unscaled: with a scaler, call "
        "scaler.scale(loss).backward().",
    ),
    "optimizer-stepped-twice": (
        "with a scaler, the optimizer stepped twice: scaler.step(optimizer) replaces optimizer.step().",
    ),
    # Inputs that coincide: equal lengths or shapes taken for self-attention.
    "equal-shapes-taken-for-self-attention": (
        "equal shapes are not self-attention: project `key` and `value` as given, also when they have "
        "the query's shape",
        "the keys are projected from `query`: project `key` with w_k, whatever the lengths",
        "your weights take their queries from encoder_out when both have the same length: the queries "
        "come from decoder_x.",
        "your output is the decoder's self-attention when both have the same length: keys and values come "
        "from encoder_out, whatever the lengths.",
        "your values come from decoder_x when both have the same length: take them from encoder_out.",
        "your weights relate the decoder to itself when both have the same length: the keys come from "
        "encoder_out, whatever the lengths.",
    ),
    # Lesson 09: the KV cache, one decoding step, beam search.
    "cache-values-wrong": (
        "cross returned the keys twice: the values are project_kv's second tensor.",
        "the values are the keys: keep v in self_values.",
    ),
    "cache-not-extended": (
        "extend returned the keys kept before this step, without the new one.",
        "the cache is not extended: extend returns only the newest keys.",
        "extend returned only the newest keys: concatenate them to the kept ones and keep the result.",
        "self_keys holds the newest keys only: store the concatenation, not the new step.",
    ),
    "cache-reorder-incomplete": (
        "reorder left the cross-attention keys alone: a beam row's cache must follow it, cross too.",
        "reorder moved the keys but not the values.",
    ),
    "beam-probabilities-not-log": (
        "your log_probs are probabilities: sum the log_softmax, and return log P.",
    ),
    "look-ahead-on-one-query": (
        "the new token sees only the first cached key: a look-ahead mask row is not for the one new query "
        "(it is the last position and sees every cached key): pass no mask to the self-attention.",
    ),
    "pe-at-position-0": (
        "the positional encoding is PE[0] at every step: add model.pe[position], the row of this token's "
        "position.",
    ),
    "src-mask-missing": ("the source padding mask is missing: pass src_mask to the cross-attention.",),
}

_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
_EXACT = {
    message: tag
    for tag, messages in MISTAKES.items()
    for message in messages
    if not _PLACEHOLDER.search(message)
}
_TEMPLATES = [
    (re.compile(".+?".join(map(re.escape, _PLACEHOLDER.split(message)))), tag)
    for tag, messages in MISTAKES.items()
    for message in messages
    if _PLACEHOLDER.search(message)
]


def tag_of(message: str) -> str | None:
    """The tag of a known mistake's message, or None for a message this table lacks."""
    if message in _EXACT:
        return _EXACT[message]
    return next((tag for pattern, tag in _TEMPLATES if pattern.fullmatch(message)), None)


def tagged(message: str) -> str:
    """``message`` with its tag appended, as the feedback shows it: ``... (mistake: scale-by-dk)``."""
    tag = tag_of(message)
    return f"{message} (mistake: {tag})" if tag else message
