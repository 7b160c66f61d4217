"""One call that measures the course on a GPU (``make gpu-check``) and writes one JSON.

    python -m transformer_course.gpu_check --device cuda --out runs/gpu_check
    python -m transformer_course.gpu_check --device cpu --smoke --out /tmp/check  # the test's

It trains ``--config gpu`` to 99 % valid exact match (bf16 autocast, fused attention: the
engine's defaults on CUDA), then runs the throughput benchmark on the same device, and writes
OUT/gpu_check.json: time and steps to target, test and held-out exact match, tokens per
second, and the benchmark's rows. ``--smoke`` shrinks everything to seconds, so that the
whole path runs on a CPU in the tests.
"""

import argparse
import dataclasses
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import torch

from transformer_course.bench import BenchConfig, print_rows, run_bench
from transformer_course.train import CONFIGS, Config, Run, train

# Sizes for --smoke: a model and data small enough that the whole check takes seconds.
SMOKE = dict(
    d_model=16,
    num_heads=2,
    num_layers=1,
    d_ff=32,
    batch_size=8,
    pool_size=400,
    eval_size=6,
    warmup=4,
    max_steps=6,
    time_budget=0.0,
    eval_every=3,
    valid_size=6,
)
SMOKE_BENCH = BenchConfig(
    d_model=16,
    num_heads=2,
    num_layers=1,
    d_ff=32,
    vocab=20,
    batch_size=4,
    src_len=5,
    tgt_len=3,
    steps=2,
    rounds=1,
    matmul_size=64,
)


def gpu_check(device: torch.device, out: Path, target: float = 0.99, smoke: bool = False) -> dict:
    """Train the gpu config to ``target`` on ``device``, benchmark, write OUT/gpu_check.json."""
    config: Config = dataclasses.replace(
        CONFIGS["gpu"], target_exact_match=target, **(SMOKE if smoke else {})
    )
    metrics = train(config, Run(out=out / "train", device=device, progress=not smoke)).metrics
    bench = SMOKE_BENCH if smoke else BenchConfig()
    rows = run_bench(bench, device)
    print_rows(rows, device, bench)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    summary = {
        "device": str(device),
        "device_name": name,
        "torch": torch.__version__,
        "smoke": smoke,
        "target_exact_match": target,
        **{
            k: metrics[k]
            for k in (
                "seconds_to_target",
                "steps_to_target",
                "exact_match",
                "heldout_exact_match",
                "bleu",
                "tokens_per_second",
                "train_seconds",
                "steps",
                "autocast",
                "attention",
                "eval_history",
            )
        },
        "train_config": metrics["config"],
        "bench": [asdict(r) for r in rows],
        "bench_config": asdict(bench),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_check.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        prog="python -m transformer_course.gpu_check", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cuda")
    parser.add_argument("--out", type=Path, default=Path("runs/gpu_check"))
    parser.add_argument("--target-exact-match", type=float, default=0.99)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: seconds, for tests")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error(
            "no CUDA device here: this check is for a machine with a GPU "
            "(--device cpu --smoke runs the same path on the CPU in seconds)"
        )
    summary = gpu_check(torch.device(args.device), args.out, args.target_exact_match, args.smoke)
    print(
        json.dumps(
            {
                k: summary[k]
                for k in (
                    "device_name",
                    "seconds_to_target",
                    "steps_to_target",
                    "exact_match",
                    "heldout_exact_match",
                    "tokens_per_second",
                )
            }
        )
    )
    print(f"wrote {args.out / 'gpu_check.json'}")
    return summary


if __name__ == "__main__":
    main()
