"""Wrong implementations of lesson 08 (batching, loss, schedule, training step, decoding)."""

from . import Wrong

LESSON = "08_gpu_training"

_PICK_DEVICE = "def pick_device():\n"

_MAKE_BATCH = (
    "def make_batch(pairs, src_vocab, tgt_vocab, device):\n"
    "    pairs = [Pair(*p) if isinstance(p, tuple) else p for p in pairs]\n"
    "    src = pad([[*src_vocab.encode(p.english), src_vocab.eos_id] for p in pairs], 0).to(device)\n"
    "    full = pad([[1, *tgt_vocab.encode(p.korean), 2] for p in pairs], 0).to(device)\n"
)


def _make_batch(
    body: str, src_mask: str = "padding_mask(src, 0)", tgt_mask: str = "decoder_mask(tgt_input, 0)"
) -> str:
    return (
        _MAKE_BATCH
        + body
        + "    return TranslationBatch(src, tgt_input, tgt_output,\n"
        + f"                            {src_mask}, {tgt_mask}, 0,\n"
        + "                            int((tgt_output != 0).sum()))\n"
    )


_RIGHT_SHIFT = "    tgt_input = full[:, :-1].masked_fill(full[:, 1:] == 0, 0)\n    tgt_output = full[:, 1:]\n"

_LOSS = "def sequence_loss(logits, targets, pad_id, label_smoothing=0.0):\n"
_NOAM = "def noam_lr(step, d_model, warmup):\n"

_FORWARD_LOSS = "def forward_loss(model, batch, *, label_smoothing=0.0, amp_dtype=None):\n    model.train()\n"
_PLAIN_FORWARD = (
    "    logits = model(batch.src, batch.tgt_input, batch.src_mask, batch.tgt_mask)\n"
    "    loss = sequence_loss(logits, batch.tgt_output, batch.pad_id, label_smoothing)\n"
)
_FORWARD = (
    "    device_type = batch.src.device.type\n"
    "    if amp_dtype is None and device_type == 'cuda':\n"
    "        amp_dtype = torch.bfloat16\n"
    "    with (torch.autocast(device_type, dtype=amp_dtype) if amp_dtype is not None\n"
    "          else contextlib.nullcontext()):\n"
    + "".join("    " + line + "\n" for line in _PLAIN_FORWARD.splitlines())
)


def _forward_loss(forward: str = _FORWARD, result: str = "loss", train: bool = True) -> str:
    header = _FORWARD_LOSS if train else _FORWARD_LOSS.replace("    model.train()\n", "")
    return header + forward + f"    return {result}\n"


_OPTIMIZER_STEP = (
    "def optimizer_step(model, loss, optimizer, scheduler=None, scaler=None, *, max_norm=1.0):\n"
)
_BACKWARD = (
    "    if scaler is not None:\n"
    "        scaler.scale(loss).backward()\n"
    "        scaler.unscale_(optimizer)\n"
    "    else:\n"
    "        loss.backward()\n"
)
_CLIP = "    nn.utils.clip_grad_norm_(model.parameters(), max_norm)\n"
_STEP = (
    "    if scaler is not None:\n"
    "        scaler.step(optimizer)\n"
    "        scaler.update()\n"
    "    else:\n"
    "        optimizer.step()\n"
)
_SCHEDULE = "    if scheduler is not None:\n        scheduler.step()\n"

_TRAIN_STEP = (
    "def train_step(model, batch, optimizer, scheduler=None, scaler=None, *, max_norm=1.0,\n"
    "               label_smoothing=0.0, amp_dtype=None):\n"
)
_ZERO = "    optimizer.zero_grad()\n"
_LOSS_CALL = "    loss = forward_loss(model, batch, label_smoothing=label_smoothing, amp_dtype=amp_dtype)\n"
_STEP_CALL = "    optimizer_step(model, loss, optimizer, scheduler, scaler, max_norm=max_norm)\n"
_RETURN = "    return loss.item()\n"

_GREEDY = "def greedy_decode(model, src, max_len, bos_id, eos_id, pad_id=0):\n"
_GREEDY_START = (
    "    model.eval()\n"
    "    with torch.no_grad():\n"
    "        src_mask = padding_mask(src, pad_id)\n"
    "        memory = model.encode(src, src_mask)\n"
    "        out = torch.full((src.size(0), 1), bos_id, dtype=torch.long, device=src.device)\n"
    "        done = torch.zeros(src.size(0), dtype=torch.bool, device=src.device)\n"
)


def _greedy_loop(
    condition: str = "out.size(1) < max_len and not done.all()",
    decode: str = "model.decode(out, memory, decoder_mask(out, pad_id), src_mask)",
    position: str = "-1",
    result: str = "out",
) -> str:
    return (
        f"        while {condition}:\n"
        f"            hidden = {decode}\n"
        f"            next_id = model.generator(hidden[:, {position}]).argmax(-1)\n"
        "            next_id = next_id.masked_fill(done, pad_id)\n"
        "            out = torch.cat([out, next_id[:, None]], dim=1)\n"
        "            done |= next_id == eos_id\n"
        f"        return {result}\n"
    )


WRONG = [
    # pick_device
    Wrong(LESSON, "pick_device", "always the CPU", _PICK_DEVICE + "    return torch.device('cpu')\n"),
    Wrong(
        LESSON,
        "pick_device",
        "prefers the CPU when MPS is there",
        _PICK_DEVICE + "    if torch.cuda.is_available():\n"
        "        return torch.device('cuda')\n"
        "    return torch.device('cpu')\n",
    ),
    Wrong(
        LESSON,
        "pick_device",
        "MPS checked before CUDA",
        _PICK_DEVICE + "    if torch.backends.mps.is_available():\n"
        "        return torch.device('mps')\n"
        "    if torch.cuda.is_available():\n"
        "        return torch.device('cuda')\n"
        "    return torch.device('cpu')\n",
    ),
    Wrong(
        LESSON,
        "pick_device",
        "returns a string",
        _PICK_DEVICE + "    if torch.cuda.is_available():\n"
        "        return 'cuda'\n"
        "    if torch.backends.mps.is_available():\n"
        "        return 'mps'\n"
        "    return 'cpu'\n",
    ),
    # make_batch
    Wrong(
        LESSON,
        "make_batch",
        "off-by-one teacher forcing (tgt_input = tgt_output)",
        _make_batch("    tgt_output = full[:, 1:]\n    tgt_input = tgt_output\n"),
    ),
    Wrong(
        LESSON,
        "make_batch",
        "tgt_input and tgt_output swapped",
        _make_batch("    tgt_input = full[:, 1:]\n    tgt_output = full[:, :-1]\n"),
    ),
    Wrong(
        LESSON,
        "make_batch",
        "tgt_output without <eos>",
        _make_batch(
            "    tgt_output = pad([tgt_vocab.encode(p.korean) for p in pairs], 0).to(device)\n"
            "    tgt_input = shift_right(tgt_output, 1).masked_fill(tgt_output == 0, 0)\n"
        ),
    ),
    Wrong(
        LESSON,
        "make_batch",
        "tgt_input keeps <eos>, one longer than the targets",
        _make_batch(
            "    tgt_input = full\n"
            "    tgt_output = torch.cat([full[:, 1:], torch.zeros_like(full[:, :1])], dim=1)\n"
        ),
    ),
    Wrong(
        LESSON,
        "make_batch",
        "source without <eos>",
        _make_batch(_RIGHT_SHIFT + "    src = pad([src_vocab.encode(p.english) for p in pairs], 0)\n"),
    ),
    Wrong(
        LESSON,
        "make_batch",
        "src_mask True on padding",
        _make_batch(_RIGHT_SHIFT, src_mask="(src == 0)[:, None, None, :]"),
    ),
    Wrong(
        LESSON,
        "make_batch",
        "tgt_mask without the look-ahead mask",
        _make_batch(
            _RIGHT_SHIFT, tgt_mask="padding_mask(tgt_input, 0).expand(-1, -1, tgt_input.size(1), -1)"
        ),
    ),
    # sequence_loss
    Wrong(
        LESSON,
        "sequence_loss",
        "loss counts padding",
        _LOSS + "    V = logits.size(-1)\n"
        "    return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1),\n"
        "                           label_smoothing=label_smoothing)\n",
    ),
    Wrong(
        LESSON,
        "sequence_loss",
        "sum instead of mean",
        _LOSS + "    V = logits.size(-1)\n"
        "    return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=pad_id,\n"
        "                           label_smoothing=label_smoothing, reduction='sum')\n",
    ),
    Wrong(
        LESSON,
        "sequence_loss",
        "label smoothing ignored",
        _LOSS + "    V = logits.size(-1)\n"
        "    return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=pad_id)\n",
    ),
    Wrong(
        LESSON,
        "sequence_loss",
        "pad id hard-coded to 0",
        _LOSS + "    V = logits.size(-1)\n"
        "    return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=0,\n"
        "                           label_smoothing=label_smoothing)\n",
    ),
    Wrong(
        LESSON,
        "sequence_loss",
        "mean per sentence, then over sentences",
        _LOSS + "    per = F.cross_entropy(logits.movedim(-1, 1), targets, ignore_index=pad_id,\n"
        "                          label_smoothing=label_smoothing, reduction='none')\n"
        "    real = targets != pad_id\n"
        "    return ((per * real).sum(-1) / real.sum(-1).clamp_min(1)).mean()\n",
    ),
    # noam_lr
    Wrong(
        LESSON,
        "noam_lr",
        "max instead of min",
        _NOAM + "    if step < 1:\n        raise ValueError('step >= 1')\n"
        "    return d_model**-0.5 * max(step**-0.5, step * warmup**-1.5)\n",
    ),
    Wrong(
        LESSON,
        "noam_lr",
        "warm-up exponent -0.5",
        _NOAM + "    if step < 1:\n        raise ValueError('step >= 1')\n"
        "    return d_model**-0.5 * min(step**-0.5, step * warmup**-0.5)\n",
    ),
    Wrong(
        LESSON,
        "noam_lr",
        "no warm-up (no min)",
        _NOAM + "    if step < 1:\n        raise ValueError('step >= 1')\n"
        "    return d_model**-0.5 * step**-0.5\n",
    ),
    Wrong(
        LESSON,
        "noam_lr",
        "no ValueError for step < 1",
        _NOAM + "    return d_model**-0.5 * min(step**-0.5, step * warmup**-1.5)\n",
    ),
    Wrong(
        LESSON,
        "noam_lr",
        "d_model factor missing",
        _NOAM + "    if step < 1:\n        raise ValueError('step >= 1')\n"
        "    return min(step**-0.5, step * warmup**-1.5)\n",
    ),
    # forward_loss
    Wrong(LESSON, "forward_loss", "returns loss.item(), a float", _forward_loss(result="loss.item()")),
    Wrong(LESSON, "forward_loss", "returns the loss detached", _forward_loss(result="loss.detach()")),
    Wrong(
        LESSON,
        "forward_loss",
        "loss leaves out id 0, not batch.pad_id",
        _forward_loss(_FORWARD.replace("batch.tgt_output, batch.pad_id,", "batch.tgt_output, 0,")),
    ),
    Wrong(LESSON, "forward_loss", "autocast ignored", _forward_loss(_PLAIN_FORWARD)),
    Wrong(
        LESSON,
        "forward_loss",
        "bfloat16 autocast by default on the CPU too",
        _forward_loss(
            "    with torch.autocast(batch.src.device.type, dtype=amp_dtype or torch.bfloat16):\n"
            + "".join("    " + line + "\n" for line in _PLAIN_FORWARD.splitlines())
        ),
    ),
    Wrong(
        LESSON,
        "forward_loss",
        "the model converted to amp_dtype instead of autocast",
        _forward_loss("    if amp_dtype is not None:\n        model.to(amp_dtype)\n" + _PLAIN_FORWARD),
    ),
    Wrong(
        LESSON,
        "forward_loss",
        "label_smoothing not passed on",
        _forward_loss(_FORWARD.replace("batch.pad_id, label_smoothing)", "batch.pad_id)")),
    ),
    Wrong(LESSON, "forward_loss", "no model.train()", _forward_loss(train=False)),
    Wrong(
        LESSON,
        "forward_loss",
        "loss scored against tgt_input",
        _forward_loss(
            _FORWARD.replace(
                "sequence_loss(logits, batch.tgt_output", "sequence_loss(logits, batch.tgt_input"
            )
        ),
    ),
    # optimizer_step
    Wrong(
        LESSON, "optimizer_step", "forgets optimizer.step", _OPTIMIZER_STEP + _BACKWARD + _CLIP + _SCHEDULE
    ),
    Wrong(LESSON, "optimizer_step", "no gradient clipping", _OPTIMIZER_STEP + _BACKWARD + _STEP + _SCHEDULE),
    Wrong(
        LESSON,
        "optimizer_step",
        "clips to norm 1 whatever max_norm",
        _OPTIMIZER_STEP + _BACKWARD + _CLIP.replace("max_norm", "1.0") + _STEP + _SCHEDULE,
    ),
    Wrong(
        LESSON,
        "optimizer_step",
        "scheduler stepped before the optimizer",
        _OPTIMIZER_STEP + _BACKWARD + _CLIP + _SCHEDULE + _STEP,
    ),
    Wrong(LESSON, "optimizer_step", "scheduler never stepped", _OPTIMIZER_STEP + _BACKWARD + _CLIP + _STEP),
    Wrong(
        LESSON,
        "optimizer_step",
        "clips before unscaling",
        _OPTIMIZER_STEP
        + "    (scaler.scale(loss) if scaler is not None else loss).backward()\n"
        + _CLIP
        + _STEP
        + _SCHEDULE,
    ),
    Wrong(
        LESSON,
        "optimizer_step",
        "loss not scaled, gradients unscaled",
        _OPTIMIZER_STEP
        + "    loss.backward()\n"
        + "    if scaler is not None:\n        scaler.unscale_(optimizer)\n"
        + _CLIP
        + _STEP
        + _SCHEDULE,
    ),
    Wrong(
        LESSON,
        "optimizer_step",
        "optimizer.step as well as scaler.step",
        _OPTIMIZER_STEP
        + _BACKWARD
        + _CLIP
        + "    if scaler is not None:\n"
        + "        scaler.step(optimizer)\n"
        + "        scaler.update()\n"
        + "    optimizer.step()\n"
        + _SCHEDULE,
    ),
    Wrong(
        LESSON,
        "optimizer_step",
        "zero_grad after backward",
        _OPTIMIZER_STEP + _BACKWARD + _ZERO + _CLIP + _STEP + _SCHEDULE,
    ),
    Wrong(
        LESSON,
        "optimizer_step",
        "zeroes the gradients it finds (train_step's job)",
        _OPTIMIZER_STEP + _ZERO + _BACKWARD + _CLIP + _STEP + _SCHEDULE,
    ),
    # train_step
    Wrong(LESSON, "train_step", "forgets zero_grad", _TRAIN_STEP + _LOSS_CALL + _STEP_CALL + _RETURN),
    Wrong(
        LESSON,
        "train_step",
        "zero_grad after the update",
        _TRAIN_STEP + _LOSS_CALL + _STEP_CALL + _ZERO + _RETURN,
    ),
    Wrong(
        LESSON,
        "train_step",
        "returns the loss tensor",
        _TRAIN_STEP + _ZERO + _LOSS_CALL + _STEP_CALL + "    return loss\n",
    ),
    Wrong(
        LESSON,
        "train_step",
        "max_norm not passed on",
        _TRAIN_STEP + _ZERO + _LOSS_CALL + _STEP_CALL.replace(", max_norm=max_norm", "") + _RETURN,
    ),
    Wrong(
        LESSON,
        "train_step",
        "scheduler not passed on",
        _TRAIN_STEP
        + _ZERO
        + _LOSS_CALL
        + _STEP_CALL.replace("optimizer, scheduler, scaler,", "optimizer, scaler=scaler,")
        + _RETURN,
    ),
    Wrong(
        LESSON,
        "train_step",
        "scaler not passed on",
        _TRAIN_STEP + _ZERO + _LOSS_CALL + _STEP_CALL.replace("scheduler, scaler,", "scheduler,") + _RETURN,
    ),
    Wrong(
        LESSON,
        "train_step",
        "amp_dtype not passed on",
        _TRAIN_STEP + _ZERO + _LOSS_CALL.replace(", amp_dtype=amp_dtype", "") + _STEP_CALL + _RETURN,
    ),
    Wrong(
        LESSON,
        "train_step",
        "label_smoothing not passed on",
        _TRAIN_STEP
        + _ZERO
        + _LOSS_CALL.replace("label_smoothing=label_smoothing, ", "")
        + _STEP_CALL
        + _RETURN,
    ),
    Wrong(
        LESSON,
        "train_step",
        "its own backward pass before optimizer_step's",
        _TRAIN_STEP + _ZERO + _LOSS_CALL + "    loss.backward()\n" + _STEP_CALL + _RETURN,
    ),
    Wrong(
        LESSON,
        "train_step",
        "inline, without the pieces: zero_grad after backward",
        _TRAIN_STEP
        + "    model.train()\n"
        + _FORWARD
        + _BACKWARD
        + _ZERO
        + _CLIP
        + _STEP
        + _SCHEDULE
        + _RETURN,
    ),
    # greedy_decode
    Wrong(
        LESSON,
        "greedy_decode",
        "never stops before max_len",
        _GREEDY + _GREEDY_START + _greedy_loop(condition="out.size(1) < max_len"),
    ),
    Wrong(
        LESSON,
        "greedy_decode",
        "output without <bos>",
        _GREEDY + _GREEDY_START + _greedy_loop(result="out[:, 1:]"),
    ),
    Wrong(
        LESSON,
        "greedy_decode",
        "argmax of the first position",
        _GREEDY + _GREEDY_START + _greedy_loop(position="0"),
    ),
    Wrong(
        LESSON,
        "greedy_decode",
        "encoder run at every step",
        _GREEDY
        + _GREEDY_START
        + _greedy_loop(
            decode="model.decode(out, model.encode(src, src_mask), decoder_mask(out, pad_id), src_mask)"
        ),
    ),
    Wrong(
        LESSON,
        "greedy_decode",
        "source padding not masked",
        _GREEDY + _GREEDY_START.replace("padding_mask(src, pad_id)", "None") + _greedy_loop(),
    ),
    Wrong(
        LESSON,
        "greedy_decode",
        "model left in training mode",
        _GREEDY + _GREEDY_START.replace("    model.eval()\n", "") + _greedy_loop(),
    ),
    # Right whenever the ids are the course vocabulary's: only other special ids catch these.
    Wrong(
        LESSON,
        "greedy_decode",
        "rows start with the vocabulary's BOS 1, not bos_id",
        _GREEDY
        + _GREEDY_START.replace("torch.full((src.size(0), 1), bos_id,", "torch.ones((src.size(0), 1),")
        + _greedy_loop(),
    ),
    Wrong(
        LESSON,
        "greedy_decode",
        "finished rows filled with 0, not pad_id",
        _GREEDY + _GREEDY_START + _greedy_loop().replace("masked_fill(done, pad_id)", "masked_fill(done, 0)"),
    ),
    Wrong(
        LESSON,
        "greedy_decode",
        "max_len tokens after <bos>",
        _GREEDY + _GREEDY_START + _greedy_loop(condition="out.size(1) <= max_len and not done.all()"),
    ),
]
