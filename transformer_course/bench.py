"""Training-step throughput of the course's Transformer against torch.nn.Transformer.

    python -m transformer_course.bench [--device cpu] [--dropout 0] [--out DIR]

Three models of the same size, each with the same embeddings, positional encoding and
generator, are trained on the same random batch, in turns (so a machine that other work
slows down slows all of them alike): the course's Transformer with its from-scratch
attention, the same with the fused kernel (transformer_course.fast), the fused one under
bfloat16 autocast, and torch.nn.Transformer.
Then the from-scratch scaled_dot_product_attention against F.scaled_dot_product_attention,
forward and backward. Every row gives tokens per second, the ratio to nn.Transformer,
GFLOP/s counted from the matmuls (a training step is 3 forward passes' worth: forward,
and backward's two), and that as a fraction of a matmul ceiling measured in the same run
(the best fp32 GFLOP/s of a square matmul). ``--out DIR`` writes the rows to DIR/bench.json.

``--time-to-target`` measures something else: seconds of training until the valid split's
exact match reaches ``--target-exact-match`` (0.99), for the course's Transformer and
nn.Transformer trained by the same engine on the same data (transformer_course.time_to_target),
and prints their ratio; ``--out DIR`` then writes DIR/time_to_target.json.
"""

import argparse
import dataclasses
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from transformer_course.attention import scaled_dot_product_attention
from transformer_course.fast import use_fused_attention
from transformer_course.masking import look_ahead_mask
from transformer_course.model import ModelConfig, build_transformer, positional_encoding


@dataclass(frozen=True)
class BenchConfig:
    """Sizes of the benchmark (the defaults are the course's Transformer and a typical
    batch of the toy translation task)."""

    d_model: int = 128
    num_heads: int = 4
    num_layers: int = 2
    d_ff: int = 512
    dropout: float = 0.0
    vocab: int = 128
    batch_size: int = 64
    src_len: int = 16
    tgt_len: int = 16
    steps: int = 10
    rounds: int = 3
    matmul_size: int = 1024


@dataclass(frozen=True)
class Row:
    name: str
    tokens_per_second: float
    ratio_vs_nn_transformer: float | None
    gflops: float
    fraction_of_matmul_peak: float | None
    seconds_per_step: float


class TorchTransformer(nn.Module):
    """torch.nn.Transformer with the course model's embeddings, positional encoding and
    generator, so that the two differ only in the encoder-decoder stack."""

    def __init__(self, c: BenchConfig):
        super().__init__()
        self.d_model = c.d_model
        self.src_embed = nn.Embedding(c.vocab, c.d_model)
        self.tgt_embed = nn.Embedding(c.vocab, c.d_model)
        self.register_buffer("pe", positional_encoding(256, c.d_model), persistent=False)
        self.transformer = nn.Transformer(
            c.d_model, c.num_heads, c.num_layers, c.num_layers, c.d_ff, c.dropout, batch_first=True
        )
        self.generator = nn.Linear(c.d_model, c.vocab)

    def forward(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        scale = math.sqrt(self.d_model)
        s = self.src_embed(src) * scale + self.pe[: src.size(1)]  # (B, S, d_model)
        t = self.tgt_embed(tgt) * scale + self.pe[: tgt.size(1)]  # (B, T, d_model)
        causal = nn.Transformer.generate_square_subsequent_mask(tgt.size(1), device=tgt.device)
        h = self.transformer(s, t, tgt_mask=causal, tgt_is_causal=True)  # (B, T, d_model)
        return self.generator(h)  # (B, T, V)


def step_flops(c: BenchConfig) -> float:
    """Matmul FLOPs of one training step (forward + backward = 3 forwards)."""
    d, S, T = c.d_model, c.src_len, c.tgt_len
    enc = 2 * (4 * d * d + 2 * d * c.d_ff) * S + 4 * S * S * d
    dec = (
        2 * (4 * d * d) * T
        + 4 * T * T * d  # self-attention
        + 2 * (2 * d * d) * T
        + 2 * (2 * d * d) * S
        + 4 * T * S * d  # cross-attention
        + 2 * (2 * d * c.d_ff) * T
    )  # feed-forward
    forward = c.num_layers * (enc + dec) + 2 * d * c.vocab * T
    return 3.0 * c.batch_size * forward


def matmul_ceiling(n: int, device: torch.device, repeats: int = 5) -> float:
    """Best fp32 GFLOP/s of an (n, n) @ (n, n) matmul on ``device``."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    best = math.inf
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed(fn: Callable[[], None], steps: int, device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    _sync(device)
    return (time.perf_counter() - start) / steps


def training_steps(c: BenchConfig, device: torch.device) -> dict[str, Callable[[], None]]:
    """One closure per model, each running one training step (forward, loss, backward,
    Adam) on the same random batch."""
    src = torch.randint(3, c.vocab, (c.batch_size, c.src_len), device=device)  # (B, S)
    tgt = torch.randint(3, c.vocab, (c.batch_size, c.tgt_len + 1), device=device)  # (B, T + 1)
    tgt_in, tgt_out = tgt[:, :-1], tgt[:, 1:]  # (B, T)
    causal = look_ahead_mask(c.tgt_len).to(device)  # (T, T)

    def make(
        model: nn.Module, call: Callable[[nn.Module], torch.Tensor], bf16: bool = False
    ) -> Callable[[], None]:
        model.to(device).train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                logits = call(model)  # (B, T, V)
                loss = F.cross_entropy(logits.flatten(0, 1), tgt_out.flatten())  # (B·T, V)
            loss.backward()
            opt.step()

        return step

    sizes = ModelConfig(c.vocab, c.vocab, c.d_model, c.num_heads, c.num_layers, c.d_ff, c.dropout)
    scratch = build_transformer(sizes)
    fused = use_fused_attention(build_transformer(sizes))
    fused_bf16 = use_fused_attention(build_transformer(sizes))
    return {
        "nn.Transformer": make(TorchTransformer(c), lambda m: m(src, tgt_in)),
        "course Transformer, from-scratch attention": make(scratch, lambda m: m(src, tgt_in, None, causal)),
        "course Transformer, fused attention": make(fused, lambda m: m(src, tgt_in, None, causal)),
        "course Transformer, fused, bf16 autocast": make(
            fused_bf16, lambda m: m(src, tgt_in, None, causal), bf16=True
        ),
    }


def attention_steps(c: BenchConfig, device: torch.device) -> dict[str, Callable[[], None]]:
    """Forward and backward of one causal attention, from scratch and fused."""
    d_k = c.d_model // c.num_heads
    shape = (c.batch_size, c.num_heads, c.tgt_len, d_k)  # (B, h, T, d_k)
    q, k, v = (torch.randn(shape, device=device, requires_grad=True) for _ in range(3))
    causal = look_ahead_mask(c.tgt_len).to(device)  # (T, T)

    def scratch() -> None:
        scaled_dot_product_attention(q, k, v, causal)[0].sum().backward()

    def fused() -> None:
        F.scaled_dot_product_attention(q, k, v, attn_mask=causal).sum().backward()

    return {"attention, from scratch": scratch, "attention, F.scaled_dot_product_attention": fused}


def run_bench(c: BenchConfig, device: torch.device) -> list[Row]:
    """Measure every row; each figure is the best of ``rounds`` interleaved rounds."""
    torch.manual_seed(0)
    models = training_steps(c, device)
    attention = attention_steps(c, device)
    everything = {**models, **attention}
    for fn in everything.values():  # warm-up: allocator, kernels, Adam's state
        fn()
        fn()
    best = dict.fromkeys(everything, math.inf)
    ceiling = 0.0
    for _ in range(c.rounds):
        ceiling = max(ceiling, matmul_ceiling(c.matmul_size, device))
        for name, fn in everything.items():
            best[name] = min(best[name], _timed(fn, c.steps, device))
    train_flops = step_flops(c)
    d_k = c.d_model // c.num_heads
    attn_flops = 3.0 * c.batch_size * c.num_heads * 4 * c.tgt_len * c.tgt_len * d_k
    reference = c.batch_size * c.tgt_len / best["nn.Transformer"]
    rows = [Row("fp32 matmul ceiling", 0.0, None, ceiling, 1.0, 0.0)]
    for name, seconds in best.items():
        flops = train_flops if name in models else attn_flops
        tokens = c.batch_size * c.tgt_len / seconds
        gflops = flops / seconds / 1e9
        rows.append(
            Row(
                name,
                tokens,
                tokens / reference if name in models else None,
                gflops,
                gflops / ceiling,
                seconds,
            )
        )
    return rows


def print_rows(rows: Sequence[Row], device: torch.device, config: BenchConfig) -> None:
    print(f"device {device}, {torch.get_num_threads()} threads, {config}")
    print(f"{'':44s} {'tokens/s':>10s} {'× nn.T':>7s} {'GFLOP/s':>8s} {'of peak':>8s}")
    for r in rows:
        ratio = f"{r.ratio_vs_nn_transformer:.2f}" if r.ratio_vs_nn_transformer else ""
        print(
            f"{r.name:44s} {r.tokens_per_second:10.0f} {ratio:>7s} {r.gflops:8.1f} "
            f"{r.fraction_of_matmul_peak:8.1%}"
        )


def run_time_to_target(args: argparse.Namespace, device: torch.device) -> dict:
    """``--time-to-target``: both models trained to the target by train.train, then the ratio."""
    from transformer_course.time_to_target import time_to_target
    from transformer_course.train import CONFIGS, Run

    config = dataclasses.replace(CONFIGS[args.train_config], target_exact_match=args.target_exact_match)
    if args.max_steps is not None:
        config = dataclasses.replace(config, max_steps=args.max_steps)
    out = args.out if args.out is not None else Path("runs/time_to_target")
    result = time_to_target(config, Run(out=out, device=device, progress=False, amp=args.amp))
    print(
        f"device {device}, {torch.get_num_threads()} threads, config {args.train_config}, "
        f"target {config.target_exact_match:.0%} valid exact match"
    )
    print(f"{'':28s} {'s to target':>12s} {'steps':>6s} {'test EM':>8s} {'held-out EM':>12s}")
    for name in ("course", "nn.Transformer"):
        m = result[name]
        seconds = f"{m['seconds_to_target']:.1f}" if m["seconds_to_target"] is not None else "—"
        steps = m["steps_to_target"] if m["steps_to_target"] is not None else "—"
        print(
            f"{name:28s} {seconds:>12s} {steps!s:>6s} {m['exact_match']:8.1%} "
            f"{m['heldout_exact_match']:12.1%}"
        )
    ratio = result["ratio"]
    print(
        f"ratio (course / nn.Transformer): {ratio:.2f}"
        if ratio is not None
        else "ratio: one of the two did not reach the target"
    )
    out.mkdir(parents=True, exist_ok=True)
    summary = {
        "device": str(device),
        "threads": torch.get_num_threads(),
        "config": args.train_config,
        "ratio": ratio,
        **{
            name: {
                k: result[name][k]
                for k in (
                    "seconds_to_target",
                    "steps_to_target",
                    "exact_match",
                    "heldout_exact_match",
                    "train_seconds",
                    "steps",
                    "eval_history",
                )
            }
            for name in ("course", "nn.Transformer")
        },
    }
    (out / "time_to_target.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main(argv: Sequence[str] | None = None) -> list | dict:
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--decode" in argv:  # decoding has its own benchmark (lesson 09)
        from transformer_course.bench_decode import main as decode_main

        return decode_main([a for a in argv if a != "--decode"])
    parser = argparse.ArgumentParser(
        prog="python -m transformer_course.bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--out", type=Path, default=None, help="write DIR/bench.json")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: default)")
    for name, default in asdict(BenchConfig()).items():
        parser.add_argument("--" + name.replace("_", "-"), type=type(default), default=default)
    ttt = parser.add_argument_group("time to target (--time-to-target)")
    ttt.add_argument(
        "--time-to-target",
        action="store_true",
        help="train both models to the target and print the ratio of their times",
    )
    ttt.add_argument("--train-config", default="tiny", help="train.CONFIGS entry")
    ttt.add_argument("--target-exact-match", type=float, default=0.99)
    ttt.add_argument("--max-steps", type=int, default=None, help="override the config's")
    ttt.add_argument("--amp", choices=["auto", "bf16", "off"], default="auto")
    args = parser.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(
        ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    )
    if args.time_to_target:
        return run_time_to_target(args, device)
    config = BenchConfig(**{name: getattr(args, name) for name in asdict(BenchConfig())})
    rows = run_bench(config, device)
    print_rows(rows, device, config)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        context = {
            "device": str(device),
            "threads": torch.get_num_threads(),
            "batch_size": config.batch_size,
            "dropout": config.dropout,
        }
        (args.out / "bench.json").write_text(
            json.dumps([{**asdict(r), **context} for r in rows], indent=2) + "\n"
        )
    return rows


if __name__ == "__main__":
    main()
