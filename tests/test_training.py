"""The reference training pieces of lesson 08 (transformer_course.training).

Each is checked against an independent computation: the loss by hand from log-softmax,
one SGD step by hand from autograd's gradient, greedy decoding against running the
whole model at every step, and a scripted stand-in model whose answers are known.
"""

import copy
import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from transformer_course import training
from transformer_course.data import ENGLISH_VOCAB, KOREAN_VOCAB, Pair, generate_pairs
from transformer_course.model import Transformer
from transformer_course.training import (
    forward_loss,
    greedy_decode,
    make_batch,
    noam_lr,
    optimizer_step,
    pick_device,
    sequence_loss,
    train_step,
)

PAIRS = [("the rose is a flower", "장미 는 꽃 이다"), Pair("the cat sleeps", "고양이 는 잔다")]


def _tiny(seed, dtype=torch.float32, **kwargs):
    torch.manual_seed(seed)
    config = {"d_model": 16, "num_heads": 2, "num_layers": 1, "d_ff": 32, "dropout": 0.0} | kwargs
    return Transformer(len(ENGLISH_VOCAB), len(KOREAN_VOCAB), **config).to(dtype)


def _flat(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


# pick_device


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"),
    [(True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"), (False, False, "cpu")],
)
def test_pick_device_prefers_cuda_then_mps(monkeypatch, cuda, mps, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert pick_device() == torch.device(expected)


# make_batch


def test_make_batch_teacher_forcing_and_padding():
    batch = make_batch(PAIRS, ENGLISH_VOCAB, KOREAN_VOCAB, "cpu")
    rose, cat = KOREAN_VOCAB.encode("장미 는 꽃 이다"), KOREAN_VOCAB.encode("고양이 는 잔다")
    assert batch.src.tolist() == [
        [*ENGLISH_VOCAB.encode("the rose is a flower"), 2],
        [*ENGLISH_VOCAB.encode("the cat sleeps"), 2, 0, 0],
    ]
    assert batch.tgt_output.tolist() == [[*rose, 2], [*cat, 2, 0]]
    assert batch.tgt_input.tolist() == [[1, *rose], [1, *cat, 0]]  # no <eos> in the decoder's input
    assert batch.n_tokens == 9 and isinstance(batch.n_tokens, int)
    assert batch.pad_id == 0
    assert all(t.dtype == torch.long for t in (batch.src, batch.tgt_input, batch.tgt_output))


def test_make_batch_masks():
    batch = make_batch(PAIRS, ENGLISH_VOCAB, KOREAN_VOCAB, torch.device("cpu"))
    assert batch.src_mask.shape == (2, 1, 1, 6) and batch.src_mask.dtype == torch.bool
    assert batch.src_mask[:, 0, 0].tolist() == [[True] * 6, [True] * 4 + [False] * 2]
    assert batch.tgt_mask.shape == (2, 1, 5, 5) and batch.tgt_mask.dtype == torch.bool
    causal = torch.ones(5, 5, dtype=torch.bool).tril()
    assert torch.equal(batch.tgt_mask[0, 0], causal)
    assert torch.equal(batch.tgt_mask[1, 0], causal & torch.tensor([True] * 4 + [False]))


def test_make_batch_is_frozen_and_takes_pairs_or_tuples():
    drawn = generate_pairs(12, seed=1)
    from_pairs = make_batch(drawn, ENGLISH_VOCAB, KOREAN_VOCAB, "cpu")
    from_tuples = make_batch([(p.english, p.korean) for p in drawn], ENGLISH_VOCAB, KOREAN_VOCAB, "cpu")
    for field in dataclasses.fields(from_pairs):
        a, b = getattr(from_pairs, field.name), getattr(from_tuples, field.name)
        assert torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b
    with pytest.raises(dataclasses.FrozenInstanceError):
        from_pairs.pad_id = 3
    # The loss sees every target once: tgt_input is tgt_output shifted right where it counts.
    real = from_pairs.tgt_output != 0
    assert torch.equal(from_pairs.tgt_input[:, 1:][real[:, 1:]], from_pairs.tgt_output[:, :-1][real[:, 1:]])
    assert (from_pairs.tgt_input[:, 0] == 1).all()
    assert from_pairs.n_tokens == int(real.sum())


# sequence_loss


def _by_hand(logits, targets, pad_id, eps):
    log_p = logits - logits.logsumexp(-1, keepdim=True)
    nll = -log_p.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    per = (1 - eps) * nll - eps * log_p.mean(-1)
    real = targets != pad_id
    return (per * real).sum() / real.sum()


@pytest.mark.parametrize(
    ("shape", "V", "pad_id", "eps"), [((3, 7), 11, 0, 0.0), ((1, 1), 5, 3, 0.1), ((2, 3, 5), 9, 1, 0.3)]
)
def test_sequence_loss_against_hand_computation(shape, V, pad_id, eps):
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(*shape, V, generator=gen, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(0, V, shape, generator=gen)
    targets[..., -1] = pad_id
    targets.view(-1)[0] = (pad_id + 1) % V
    loss = sequence_loss(logits, targets, pad_id, label_smoothing=eps)
    expected = _by_hand(logits, targets, pad_id, eps)
    assert loss.dtype == torch.float64 and loss.shape == ()
    torch.testing.assert_close(loss, expected, rtol=1e-10, atol=1e-12)
    (grad,) = torch.autograd.grad(loss, logits)
    assert (grad[targets == pad_id] == 0).all()
    torch.testing.assert_close(grad, torch.autograd.grad(expected, logits)[0], rtol=1e-9, atol=1e-12)


def test_sequence_loss_ignores_padding_however_much():
    gen = torch.Generator().manual_seed(1)
    logits, targets = torch.randn(1, 4, 6, generator=gen), torch.tensor([[3, 4, 5, 1]])
    padded_logits = torch.cat([logits, torch.randn(1, 5, 6, generator=gen)], dim=1)
    padded_targets = torch.cat([targets, torch.zeros(1, 5, dtype=torch.long)], dim=1)
    torch.testing.assert_close(
        sequence_loss(padded_logits, padded_targets, 0), sequence_loss(logits, targets, 0)
    )


# noam_lr


def test_noam_lr_values_and_peak():
    assert math.isclose(noam_lr(1, 512, 4000), 512**-0.5 * 4000**-1.5, rel_tol=1e-12)
    assert math.isclose(noam_lr(4000, 512, 4000), (512 * 4000) ** -0.5, rel_tol=1e-12)
    assert math.isclose(noam_lr(16000, 512, 4000), 512**-0.5 * 16000**-0.5, rel_tol=1e-12)
    rates = [noam_lr(s, 64, 40) for s in range(1, 200)]
    assert rates.index(max(rates)) + 1 == 40
    assert all(a < b for a, b in zip(rates[:39], rates[1:40], strict=True))
    assert all(a > b for a, b in zip(rates[39:], rates[40:], strict=False))


@pytest.mark.parametrize("step", [0, -1, 0.5])
def test_noam_lr_refuses_steps_below_one(step):
    with pytest.raises(ValueError, match="step >= 1"):
        noam_lr(step, 128, 400)


# train_step


def _expected_sgd_update(model, batch, lr, max_norm):
    twin = copy.deepcopy(model)
    logits = twin(batch.src, batch.tgt_input, batch.src_mask, batch.tgt_mask)
    loss = _by_hand(logits, batch.tgt_output, batch.pad_id, 0.0)
    grad = torch.cat([g.flatten() for g in torch.autograd.grad(loss, list(twin.parameters()))])
    scale = min(1.0, max_norm / (grad.norm().item() + 1e-6))
    return loss.item(), _flat(model) - lr * scale * grad, grad.norm().item()


def test_train_step_is_one_clipped_sgd_step_then_the_scheduler():
    model = _tiny(0, torch.float64)
    with torch.no_grad():
        model.generator.weight.mul_(4)  # a gradient norm well above 1, so clipping acts
    batch = make_batch(generate_pairs(6, seed=2), ENGLISH_VOCAB, KOREAN_VOCAB, "cpu")
    loss, expected, norm = _expected_sgd_update(model, batch, lr=0.1, max_norm=1.0)
    assert norm > 2
    for p in model.parameters():  # stale gradients must be cleared first
        p.grad = torch.ones_like(p)
    sgd = torch.optim.SGD(model.parameters(), lr=0.1)
    halving = torch.optim.lr_scheduler.LambdaLR(sgd, lambda step: 0.5**step)
    returned = train_step(model, batch, sgd, halving)
    assert isinstance(returned, float) and math.isclose(returned, loss, rel_tol=1e-10)
    torch.testing.assert_close(_flat(model), expected, rtol=1e-9, atol=1e-12)
    assert halving.last_epoch == 1 and sgd.param_groups[0]["lr"] == 0.05


class _RecordingScaler:
    """torch.amp.GradScaler's interface with a fixed factor of 8."""

    def __init__(self):
        self.calls = []

    def scale(self, loss):
        self.calls.append("scale")
        return loss * 8.0

    def unscale_(self, optimizer):
        self.calls.append("unscale_")
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.grad.div_(8.0)

    def step(self, optimizer):
        self.calls.append("step")
        optimizer.step()

    def update(self):
        self.calls.append("update")


def test_train_step_through_a_scaler_clips_the_unscaled_gradients():
    model = _tiny(1, torch.float64)
    batch = make_batch(generate_pairs(6, seed=3), ENGLISH_VOCAB, KOREAN_VOCAB, "cpu")
    _, _, norm = _expected_sgd_update(model, batch, lr=0.1, max_norm=1.0)
    _, expected, _ = _expected_sgd_update(model, batch, lr=0.1, max_norm=norm / 3)
    scaler = _RecordingScaler()
    train_step(model, batch, torch.optim.SGD(model.parameters(), lr=0.1), scaler=scaler, max_norm=norm / 3)
    assert scaler.calls == ["scale", "unscale_", "step", "update"]
    torch.testing.assert_close(_flat(model), expected, rtol=1e-9, atol=1e-12)


def test_train_step_autocasts_only_when_asked_off_cuda():
    model = _tiny(2)
    batch = make_batch(generate_pairs(4, seed=4), ENGLISH_VOCAB, KOREAN_VOCAB, "cpu")
    seen = []
    model.generator.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    train_step(model, batch, torch.optim.SGD(model.parameters(), lr=0.0))
    train_step(model, batch, torch.optim.SGD(model.parameters(), lr=0.0), amp_dtype=torch.bfloat16)
    assert seen == [torch.float32, torch.bfloat16]
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_forward_loss_is_the_attached_loss_in_training_mode():
    model = _tiny(4, torch.float64)
    batch = make_batch(generate_pairs(5, seed=6), ENGLISH_VOCAB, KOREAN_VOCAB, "cpu")
    model.eval()
    loss = forward_loss(model, batch, label_smoothing=0.1)
    assert model.training and loss.dim() == 0 and loss.grad_fn is not None
    logits = model(batch.src, batch.tgt_input, batch.src_mask, batch.tgt_mask)
    torch.testing.assert_close(loss, _by_hand(logits, batch.tgt_output, batch.pad_id, 0.1))


def test_optimizer_step_adds_to_the_gradients_it_finds():
    model = _tiny(5, torch.float64)
    batch = make_batch(generate_pairs(6, seed=7), ENGLISH_VOCAB, KOREAN_VOCAB, "cpu")
    twin = copy.deepcopy(model)
    logits = twin(batch.src, batch.tgt_input, batch.src_mask, batch.tgt_mask)
    loss = _by_hand(logits, batch.tgt_output, batch.pad_id, 0.0)
    grad = torch.cat([g.flatten() for g in torch.autograd.grad(loss, list(twin.parameters()))])
    for p in model.parameters():  # what an earlier backward left: optimizer_step keeps it
        p.grad = torch.full_like(p, 0.01)
    total = grad + 0.01
    expected = _flat(model) - 0.1 * min(1.0, 0.5 / (total.norm().item() + 1e-6)) * total
    sgd = torch.optim.SGD(model.parameters(), lr=0.1)
    counting = torch.optim.lr_scheduler.LambdaLR(sgd, lambda step: 1.0)
    logits = model(batch.src, batch.tgt_input, batch.src_mask, batch.tgt_mask)
    loss = _by_hand(logits, batch.tgt_output, batch.pad_id, 0.0)
    assert optimizer_step(model, loss, sgd, counting, max_norm=0.5) is None
    torch.testing.assert_close(_flat(model), expected, rtol=1e-9, atol=1e-12)
    assert counting.last_epoch == 1


def test_train_step_fits_a_fixed_batch():
    model = _tiny(3, d_model=32, d_ff=64)
    batch = make_batch(generate_pairs(8, seed=5), ENGLISH_VOCAB, KOREAN_VOCAB, "cpu")
    adam = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = [train_step(model, batch, adam) for _ in range(20)]
    assert losses[-1] < 0.5 * losses[0]


# greedy_decode


class _Scripted(nn.Module):
    """Predicts a known next token: 3 + (x + t) mod 7 after token x at position t, or
    <eos> once the row has as many tokens as its source has non-padding ones."""

    def __init__(self):
        super().__init__()
        self.generator = nn.Identity()
        self.encode_calls, self.decode_modes = 0, []

    def encode(self, src, src_mask):
        self.encode_calls += 1
        return (src != 0).sum(-1)  # (B,)

    def decode(self, tgt, memory, tgt_mask, src_mask):
        self.decode_modes.append((self.training, torch.is_grad_enabled()))
        t = torch.arange(tgt.size(1))
        following = torch.where(t + 1 >= memory[:, None], 2, 3 + (tgt + t) % 7)  # (B, L)
        return F.one_hot(following, 10).float()  # (B, L, V)


def _scripted_answer(length, max_len):
    out = [1]
    while len(out) < max_len and out[-1] != 2:
        t = len(out) - 1
        out.append(2 if t + 1 >= length else 3 + (out[-1] + t) % 7)
    return out


def test_greedy_decode_follows_the_script_and_stops_at_eos():
    src = torch.tensor([[5, 5, 5, 0, 0], [5, 5, 5, 5, 5], [5, 0, 0, 0, 0]])
    model = _Scripted().train()
    out = greedy_decode(model, src, max_len=10, bos_id=1, eos_id=2)
    answers = [_scripted_answer(n, 10) for n in (3, 5, 1)]
    assert out.dtype == torch.long and out.shape == (3, max(map(len, answers)))
    for row, answer in zip(out.tolist(), answers, strict=True):
        assert row == answer + [0] * (out.size(1) - len(answer))  # padding after <eos>
    assert model.encode_calls == 1
    assert model.decode_modes and all(mode == (False, False) for mode in model.decode_modes)
    assert model.training  # left as it was


@pytest.mark.parametrize("max_len", [1, 2, 7])
def test_greedy_decode_stops_at_max_len(max_len):
    out = greedy_decode(_Scripted(), torch.full((2, 30), 5), max_len=max_len, bos_id=1, eos_id=2)
    assert out.tolist() == [_scripted_answer(30, max_len)] * 2


def test_greedy_decode_matches_the_whole_model_and_ignores_padding():
    model = _tiny(4, torch.float64, num_layers=2, dropout=0.3)
    with torch.no_grad():
        model.generator.bias[2] += 3.0  # rows end with <eos> at different steps
    gen = torch.Generator().manual_seed(5)
    src = torch.randint(3, len(ENGLISH_VOCAB), (4, 7), generator=gen)
    src[1, 3:] = 0
    out = greedy_decode(model, src, max_len=9, bos_id=1, eos_id=2)
    model.eval()
    ys = torch.ones(4, 1, dtype=torch.long)
    with torch.no_grad():
        for _ in range(8):
            T = ys.size(1)
            logits = model(src, ys, (src != 0)[:, None, None, :], torch.ones(T, T, dtype=torch.bool).tril())
            ys = torch.cat([ys, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    ends = [row.index(2) + 1 if 2 in row else 9 for row in ys.tolist()]
    assert out.size(1) == max(ends)
    for b, end in enumerate(ends):
        assert out[b, :end].tolist() == ys[b, :end].tolist()
    alone = greedy_decode(model, src[1:2, :3], max_len=9, bos_id=1, eos_id=2)
    assert alone[0].tolist() == out[1, : alone.size(1)].tolist()


def test_module_interface_is_documented():
    for name in (
        "pick_device",
        "make_batch",
        "sequence_loss",
        "noam_lr",
        "forward_loss",
        "optimizer_step",
        "train_step",
        "greedy_decode",
        "TranslationBatch",
    ):
        assert name in training.__doc__
