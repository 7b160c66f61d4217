"""The training engine: outputs, resuming, the fused attention path, DDP on gloo."""

import json
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from transformer_course.data import ENGLISH_VOCAB, KOREAN_VOCAB, generate_pairs
from transformer_course.fast import FusedMultiHeadAttention, use_fused_attention
from transformer_course.model import Transformer
from transformer_course.multi_head import MultiHeadAttention
from transformer_course.train import load_model, main, parse_args, train
from transformer_course.training import make_batch

# A model and data small enough that a few steps take well under a second.
TINY = [
    "--config",
    "tiny",
    "--device",
    "cpu",
    "--d-model",
    "16",
    "--num-heads",
    "2",
    "--num-layers",
    "1",
    "--d-ff",
    "32",
    "--batch-size",
    "8",
    "--pool-size",
    "400",
    "--eval-size",
    "6",
    "--warmup",
    "4",
    "--no-progress",
    "--threads",
    "1",
]


def _params(path):
    return torch.load(path, weights_only=False)["model"]


def test_writes_metrics_plot_and_checkpoint(tmp_path):
    main([*TINY, "--out", str(tmp_path), "--max-steps", "3"])
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    for key in (
        "exact_match",
        "bleu",
        "tokens_per_second",
        "train_seconds",
        "device",
        "heldout_exact_match",
        "test",
        "heldout",
    ):
        assert key in metrics, key
    assert metrics["steps"] == 3
    assert metrics["device"] == "cpu"
    assert 0.0 <= metrics["exact_match"] <= 1.0
    assert metrics["tokens_per_second"] > 0
    assert metrics["test"]["n"] == 6
    assert (tmp_path / "loss.png").stat().st_size > 0
    # What lesson 09 and `bench --decode` load: the run's model, as it was saved.
    model, saved = load_model(tmp_path / "checkpoint.pt"), _params(tmp_path / "checkpoint.pt")
    assert not model.training and type(model.decoder.layers[0].self_attn) is MultiHeadAttention
    assert model.state_dict().keys() == saved.keys()
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, saved[name])


def _scripted_exact_match(monkeypatch, scores):
    """Make the engine's valid evaluations return ``scores`` in turn (the decoding itself is
    tested in test_training.py): the stopping rule is then known exactly."""
    import transformer_course.train as engine

    calls = iter(scores)
    monkeypatch.setattr(engine, "exact_match", lambda model, pairs, device: next(calls))


def test_target_exact_match_stops_at_the_first_evaluation_that_reaches_it(tmp_path, monkeypatch):
    _scripted_exact_match(monkeypatch, [0.2, 0.5, 0.99, 1.0])
    main(
        [
            *TINY,
            "--out",
            str(tmp_path / "easy"),
            "--max-steps",
            "40",
            "--eval-every",
            "4",
            "--target-exact-match",
            "0.99",
        ]
    )
    easy = json.loads((tmp_path / "easy" / "metrics.json").read_text())
    assert easy["steps"] == easy["steps_to_target"] == 12
    assert [(e["step"], e["valid_exact_match"]) for e in easy["eval_history"]] == [
        (4, 0.2),
        (8, 0.5),
        (12, 0.99),
    ]
    assert easy["seconds_to_target"] == easy["eval_history"][-1]["seconds"] > 0
    # The clock of training leaves the evaluations out.
    assert easy["seconds_to_target"] == easy["train_seconds"]


def test_a_target_never_reached_leaves_the_fields_null(tmp_path):
    main(
        [
            *TINY,
            "--out",
            str(tmp_path),
            "--max-steps",
            "8",
            "--eval-every",
            "4",
            "--valid-size",
            "5",
            "--target-exact-match",
            "1.01",
        ]
    )
    hard = json.loads((tmp_path / "metrics.json").read_text())
    assert hard["steps"] == 8 and hard["steps_to_target"] is None
    assert hard["seconds_to_target"] is None
    assert [e["step"] for e in hard["eval_history"]] == [4, 8]
    assert all(0.0 <= e["valid_exact_match"] <= 1.0 for e in hard["eval_history"])
    assert hard["valid_eval_seconds"] > 0
    assert (tmp_path / "loss.png").stat().st_size > 0


def test_no_target_means_no_evaluation_during_training(tmp_path):
    main([*TINY, "--out", str(tmp_path), "--max-steps", "4", "--eval-every", "2"])
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["eval_history"] == [] and metrics["steps_to_target"] is None


def test_time_budget_stops_training(tmp_path):
    main([*TINY, "--out", str(tmp_path), "--max-steps", "100000", "--time-budget", "0.5"])
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert 1 <= metrics["steps"] < 100000
    assert metrics["train_seconds"] >= 0.5


def test_resume_equals_an_uninterrupted_run(tmp_path):
    # Dropout on, so the saved RNG state matters too.
    common = [*TINY, "--dropout", "0.1", "--amp", "off"]
    main([*common, "--out", str(tmp_path / "straight"), "--max-steps", "6"])
    main([*common, "--out", str(tmp_path / "split"), "--max-steps", "3"])
    main([*common, "--out", str(tmp_path / "split"), "--max-steps", "6", "--resume"])
    straight = _params(tmp_path / "straight" / "checkpoint.pt")
    split = _params(tmp_path / "split" / "checkpoint.pt")
    resumed = json.loads((tmp_path / "split" / "metrics.json").read_text())
    # Without this, a run that ignored the checkpoint and redid all 6 steps would also pass.
    assert resumed["resumed_from_step"] == 3 and resumed["steps"] == 6
    for name, value in straight.items():
        torch.testing.assert_close(split[name], value, rtol=0, atol=0, msg=name)


def test_fused_attention_matches_scratch():
    torch.manual_seed(0)
    pairs = generate_pairs(5, seed=3)
    batch = make_batch(pairs, ENGLISH_VOCAB, KOREAN_VOCAB, "cpu")
    model = Transformer(
        len(ENGLISH_VOCAB), len(KOREAN_VOCAB), d_model=24, num_heads=3, num_layers=2, d_ff=40, dropout=0.0
    ).double()
    args = (batch.src, batch.tgt_input, batch.src_mask, batch.tgt_mask)
    scratch = model(*args)  # (B, T, V)
    scratch_grads = torch.autograd.grad(scratch.square().sum(), list(model.parameters()))
    use_fused_attention(model)
    assert all(
        type(m) is FusedMultiHeadAttention for m in model.modules() if isinstance(m, MultiHeadAttention)
    )
    fused = model(*args)
    fused_grads = torch.autograd.grad(fused.square().sum(), list(model.parameters()))
    torch.testing.assert_close(fused, scratch)
    for f, s in zip(fused_grads, scratch_grads, strict=True):
        torch.testing.assert_close(f, s)
    use_fused_attention(model, False)
    assert not any(type(m) is FusedMultiHeadAttention for m in model.modules())
    torch.testing.assert_close(model(*args), scratch, rtol=0, atol=0)


def test_config_overrides_and_choices():
    config, run = parse_args(["--config", "gpu", "--batch-size", "7", "--attention", "scratch", "--out", "x"])
    assert config.batch_size == 7 and config.d_model == 256
    assert run.attention == "scratch"
    with pytest.raises(SystemExit):
        parse_args(["--config", "huge"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    config, run = parse_args([*TINY, "--out", out, "--max-steps", "3", "--amp", "off"])
    result = train(config, run)
    torch.save(result.model.state_dict(), f"{out}/rank{rank}.pt")
    torch.distributed.destroy_process_group()


def test_ddp_two_processes_on_gloo_end_with_identical_params(tmp_path):
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    first = torch.load(tmp_path / "rank0.pt")
    second = torch.load(tmp_path / "rank1.pt")
    torch.manual_seed(0)  # the engine's seed, so this is the model it started from
    fresh = Transformer(
        len(ENGLISH_VOCAB), len(KOREAN_VOCAB), d_model=16, num_heads=2, num_layers=1, d_ff=32, dropout=0.0
    ).state_dict()
    for name, value in first.items():
        torch.testing.assert_close(second[name], value, rtol=0, atol=0, msg=name)
    assert fresh.keys() == first.keys()
    assert all(
        not torch.equal(first[k], fresh[k]) for k in ("generator.weight", "src_embed.weight")
    )  # it trained
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["steps"] == 3
