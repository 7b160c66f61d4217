"""Lesson 08: batching with teacher forcing, the masked loss, the learning-rate schedule,
one training step, and greedy decoding.

Interface (the course's contract; later code imports these):

    pick_device() -> torch.device                     # cuda, else mps, else cpu
    TranslationBatch(src, tgt_input, tgt_output, src_mask, tgt_mask, pad_id, n_tokens)
    make_batch(pairs, src_vocab, tgt_vocab, device) -> TranslationBatch
    sequence_loss(logits, targets, pad_id, label_smoothing=0.0) -> 0-dim tensor
    noam_lr(step, d_model, warmup) -> float           # step >= 1
    forward_loss(model, batch, *, label_smoothing=0.0, amp_dtype=None) -> 0-dim tensor
    optimizer_step(model, loss, optimizer, scheduler=None, scaler=None, *,
                   max_norm=1.0) -> None              # backward, clip, step; no zero_grad
    train_step(model, batch, optimizer, scheduler=None, scaler=None, *,
               max_norm=1.0, label_smoothing=0.0, amp_dtype=None) -> float
               # zero_grad, then forward_loss, then optimizer_step; returns loss.item()
    greedy_decode(model, src, max_len, bos_id, eos_id, pad_id=0) -> LongTensor (B, L)

The notes (4): in training the decoder is given the correct answer (teacher forcing)
with the look-ahead mask, so every position is computed in parallel; in use it is
given its own earlier outputs, one token at a time.
"""

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from transformer_course.data import Pair, Vocab, pad
from transformer_course.masking import decoder_mask, padding_mask, shift_right


def pick_device() -> torch.device:
    """The fastest device this machine has: CUDA, else Apple's MPS, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@dataclass(frozen=True)
class TranslationBatch:
    """Everything one training step needs, on one device.

    Teacher forcing: the decoder reads ``tgt_input``, the target shifted right by one
    (``BOS`` first), and is scored on ``tgt_output``, so that position i predicts target
    token i from target tokens 0 … i − 1.

    Shape:
        src: (B, S), long: each source sentence's ids, then EOS, padded with PAD.
        tgt_input: (B, T), long: BOS, then the target ids, padded with PAD.
        tgt_output: (B, T), long: the target ids, then EOS, padded with PAD.
        src_mask: (B, 1, 1, S), bool: True on real source tokens.
        tgt_mask: (B, 1, T, T), bool: True on real, non-future target tokens.
        pad_id: the target vocabulary's padding id.
        n_tokens: the number of non-PAD tokens in ``tgt_output``.
    """

    src: torch.Tensor
    tgt_input: torch.Tensor
    tgt_output: torch.Tensor
    src_mask: torch.Tensor
    tgt_mask: torch.Tensor
    pad_id: int
    n_tokens: int


def make_batch(
    pairs: Sequence[Pair | tuple[str, str]],
    src_vocab: Vocab,
    tgt_vocab: Vocab,
    device: torch.device | str,
) -> TranslationBatch:
    """Encode, pad and mask a group of (English, Korean) pairs for teacher forcing.

    Args:
        pairs: ``data.Pair``s or (source text, target text) tuples, tokens separated by spaces.
        src_vocab, tgt_vocab: the vocabularies of the two languages.
        device: where every tensor of the batch is put.

    Shape:
        output: a TranslationBatch with src (B, S), tgt_input and tgt_output (B, T),
            src_mask (B, 1, 1, S), tgt_mask (B, 1, T, T); B = len(pairs).
    """
    pairs = [Pair(*p) if isinstance(p, tuple) else p for p in pairs]
    src = pad([[*src_vocab.encode(p.english), src_vocab.eos_id] for p in pairs], src_vocab.pad_id).to(
        device
    )  # (B, S)
    tgt_output = pad([[*tgt_vocab.encode(p.korean), tgt_vocab.eos_id] for p in pairs], tgt_vocab.pad_id).to(
        device
    )  # (B, T)
    # Shifting moves each row's EOS one place right; where that lands on padding it is
    # padding again, so the decoder never reads EOS.
    tgt_input = shift_right(tgt_output, tgt_vocab.bos_id).masked_fill(
        tgt_output == tgt_vocab.pad_id, tgt_vocab.pad_id
    )  # (B, T)
    return TranslationBatch(
        src=src,
        tgt_input=tgt_input,
        tgt_output=tgt_output,
        src_mask=padding_mask(src, src_vocab.pad_id),  # (B, 1, 1, S)
        tgt_mask=decoder_mask(tgt_input, tgt_vocab.pad_id),  # (B, 1, T, T)
        pad_id=tgt_vocab.pad_id,
        n_tokens=int((tgt_output != tgt_vocab.pad_id).sum()),
    )


def sequence_loss(
    logits: torch.Tensor, targets: torch.Tensor, pad_id: int, label_smoothing: float = 0.0
) -> torch.Tensor:
    """Cross-entropy per target token, averaged over the tokens that are not padding.

    With label smoothing ε the target distribution is 1 − ε on the correct token plus
    ε spread evenly over the whole vocabulary (F.cross_entropy's definition), so each
    token's loss is (1 − ε)·(−log p_target) + ε·mean over the vocabulary of (−log p).

    Args:
        logits: unnormalised scores for every vocabulary entry.
        targets: the correct ids; positions equal to ``pad_id`` are left out.
        pad_id: the padding id.
        label_smoothing: ε in [0, 1].

    Shape:
        logits: (..., T, V); targets: (..., T); output: a 0-dim tensor, logits' dtype.
    """
    V = logits.size(-1)
    return F.cross_entropy(
        logits.reshape(-1, V),
        targets.reshape(-1),  # (N, V), (N,)
        ignore_index=pad_id,
        label_smoothing=label_smoothing,
    )


def noam_lr(step: int, d_model: int, warmup: int) -> float:
    """The paper's learning rate: d_model^-0.5 · min(step^-0.5, step · warmup^-1.5).

    It rises linearly for ``warmup`` steps, peaks at step = warmup with
    (d_model · warmup)^-0.5, then decays as step^-0.5.

    Args:
        step: the training step, counted from 1.
        d_model: the model's width.
        warmup: the number of warm-up steps.
    """
    if step < 1:
        raise ValueError(
            f"noam_lr is defined for step >= 1 (step^-0.5 is infinite at 0), got "
            f"step={step}; with LambdaLR, pass step + 1."
        )
    return d_model**-0.5 * min(step**-0.5, step * warmup**-1.5)


def forward_loss(
    model: nn.Module,
    batch: TranslationBatch,
    *,
    label_smoothing: float = 0.0,
    amp_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """The batch's loss, from a forward pass in training mode; still attached to the graph.

    The forward pass runs under autocast in ``amp_dtype``: by default bfloat16 on CUDA
    (bfloat16 has float32's range, so no loss scaling is needed) and plain float32
    elsewhere.

    Args:
        model: a Transformer, called as model(src, tgt_input, src_mask, tgt_mask) -> logits;
            put in training mode.
        batch: from make_batch, on the model's device.
        label_smoothing: ε for sequence_loss.
        amp_dtype: autocast dtype; None picks bfloat16 on CUDA and no autocast elsewhere.

    Shape:
        logits: (B, T, V) against batch.tgt_output (B, T); output: a 0-dim tensor.
    """
    model.train()
    device_type = batch.src.device.type
    if amp_dtype is None and device_type == "cuda":
        amp_dtype = torch.bfloat16
    autocast = (
        torch.autocast(device_type, dtype=amp_dtype) if amp_dtype is not None else contextlib.nullcontext()
    )
    with autocast:
        logits = model(batch.src, batch.tgt_input, batch.src_mask, batch.tgt_mask)  # (B, T, V)
        return sequence_loss(logits, batch.tgt_output, batch.pad_id, label_smoothing)


def optimizer_step(
    model: nn.Module,
    loss: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    scaler: torch.amp.GradScaler | None = None,
    *,
    max_norm: float = 1.0,
) -> None:
    """Backward, clip, step: one update of the model's parameters from ``loss``.

    The backward pass adds to whatever the parameters' ``.grad`` hold: zeroing them is
    the caller's job (train_step does it before the forward pass). A ``scaler``
    (torch.amp.GradScaler, for float16) scales the loss before the backward pass and
    unscales the gradients before clipping.

    Args:
        model: whose parameters' gradients are clipped.
        loss: a 0-dim tensor attached to the model's graph, e.g. from forward_loss.
        optimizer: steps the model's parameters.
        scheduler: stepped once after the optimizer, if given.
        scaler: a GradScaler, if the loss is to be scaled.
        max_norm: gradients are clipped to this total norm.
    """
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
    else:
        loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    if scheduler is not None:
        scheduler.step()


def train_step(
    model: nn.Module,
    batch: TranslationBatch,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    scaler: torch.amp.GradScaler | None = None,
    *,
    max_norm: float = 1.0,
    label_smoothing: float = 0.0,
    amp_dtype: torch.dtype | None = None,
) -> float:
    """One optimisation step on one batch; returns the batch's loss.

    Zero the gradients, then forward_loss, then optimizer_step: the forward pass under
    autocast in ``amp_dtype`` (bfloat16 by default on CUDA, none elsewhere), the backward
    pass through ``scaler`` if one is given, clipping, the optimizer and the scheduler.

    Args:
        model: a Transformer, called as model(src, tgt_input, src_mask, tgt_mask) -> logits.
        batch: from make_batch, on the model's device.
        optimizer: steps the model's parameters.
        scheduler: stepped once after the optimizer, if given.
        scaler: a GradScaler, if the loss is to be scaled.
        max_norm: gradients are clipped to this total norm.
        label_smoothing: ε for sequence_loss.
        amp_dtype: autocast dtype; None picks bfloat16 on CUDA and no autocast elsewhere.

    Shape:
        logits: (B, T, V) against batch.tgt_output (B, T).
    """
    optimizer.zero_grad(set_to_none=True)
    loss = forward_loss(model, batch, label_smoothing=label_smoothing, amp_dtype=amp_dtype)
    optimizer_step(model, loss, optimizer, scheduler, scaler, max_norm=max_norm)
    return loss.item()


def greedy_decode(
    model: nn.Module,
    src: torch.Tensor,
    max_len: int,
    bos_id: int,
    eos_id: int,
    pad_id: int = 0,
) -> torch.Tensor:
    """Translate by always taking the most likely next token.

    The encoder runs once; the decoder then reads everything produced so far and the
    generator's logits at the last position give the next token. A row that has produced
    EOS is filled with ``pad_id`` from then on; decoding stops once every row has
    produced EOS, or at ``max_len`` tokens. The model is run in eval mode without
    gradients and is left in the mode it was in.

    Args:
        model: with encode(src, src_mask), decode(tgt, memory, tgt_mask, src_mask) and
            generator (decoder output -> logits), as the course's Transformer.
        src: source ids, padded with ``pad_id``.
        max_len: the most tokens in a row of the output, BOS included.
        bos_id, eos_id, pad_id: the target vocabulary's special ids (``pad_id`` also
            pads ``src``).

    Shape:
        src: (B, S); output: (B, L), long, L <= max_len, first column bos_id.
    """
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            src_mask = padding_mask(src, pad_id)  # (B, 1, 1, S)
            memory = model.encode(src, src_mask)  # (B, S, d_model)
            out = torch.full((src.size(0), 1), bos_id, dtype=torch.long, device=src.device)
            done = torch.zeros(src.size(0), dtype=torch.bool, device=src.device)  # (B,)
            while out.size(1) < max_len and not done.all():
                hidden = model.decode(out, memory, decoder_mask(out, pad_id), src_mask)  # (B, L, d)
                next_id = model.generator(hidden[:, -1]).argmax(-1)  # (B, d) -> (B, V) -> (B,)
                next_id = next_id.masked_fill(done, pad_id)
                out = torch.cat([out, next_id[:, None]], dim=1)  # (B, L + 1)
                done |= next_id == eos_id
            return out
    finally:
        model.train(was_training)
