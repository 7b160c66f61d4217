"""Decoding speed and quality, side by side in one run (lesson 09).

    python -m transformer_course.bench --decode [--device cpu] [--checkpoint PATH] [--out DIR]

1. Greedy decoding without a cache (lesson 08's ``greedy_decode``, the whole decoder at every
   step) against ``cached_greedy_decode``, on the same model and sentences, for outputs of
   16, 64 and 256 tokens (EOS is never chosen, so every row runs to the length): tokens per
   second, the speed-up and the fraction of tokens that agree. Rounds alternate the two, so
   a machine that other work slows slows both alike; each figure is the best round.
2. Beam search with 1, 2, 4 and 8 beams on the test and held-out splits of a trained model
   (``--checkpoint``, a transformer_course.train checkpoint; without one a model is trained
   here for ``--train-seconds``): exact match, BLEU (sacrebleu) and the cost.
3. The fused attention kernel (transformer_course.fast) against the from-scratch one, and
   bfloat16 autocast against float32 where the hardware has bfloat16 arithmetic (CUDA, or a
   CPU with AVX-512-BF16 / AMX), both on cached greedy decoding of 64 tokens.

Rows (``--out DIR`` writes DIR/bench.json and DIR/decode_cost.png): ``greedy_uncached_L{n}``,
``greedy_cached_L{n}`` (with ``speedup_vs_uncached``), ``beam{k}_test`` / ``beam{k}_heldout``
(``exact_match``, ``bleu``, ``length_ratio``: output tokens / reference tokens),
``cached_fused_L64`` (``speedup_vs_scratch``), ``cached_bf16_L64`` (``speedup_vs_fp32``).
"""

import argparse
import copy
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from transformer_course.data import ENGLISH_VOCAB, KOREAN_VOCAB, Pair, batches, generate_pairs, make_splits
from transformer_course.decoding import beam_search, cached_greedy_decode
from transformer_course.fast import use_fused_attention
from transformer_course.model import ModelConfig, build_transformer
from transformer_course.train import load_model
from transformer_course.training import greedy_decode, make_batch, noam_lr, train_step


@dataclass(frozen=True)
class DecodeBenchConfig:
    """Sizes of the decoding benchmark (the model is the `tiny` training config's)."""

    d_model: int = 128
    num_heads: int = 4
    num_layers: int = 2
    d_ff: int = 256
    batch_size: int = 16
    src_len: int = 12
    lengths: tuple[int, ...] = (16, 64, 256)
    beams: tuple[int, ...] = (1, 2, 4, 8)
    rounds: int = 2
    eval_size: int = 300
    train_seconds: float = 120.0
    pool_size: int = 30_000

    def model_config(self) -> ModelConfig:
        """The benchmark's model: these sizes, the course's vocabularies, no dropout."""
        return ModelConfig(
            len(ENGLISH_VOCAB),
            len(KOREAN_VOCAB),
            self.d_model,
            self.num_heads,
            self.num_layers,
            self.d_ff,
            0.0,
        )


@dataclass(frozen=True)
class Row:
    name: str
    seconds: float
    tokens_per_second: float | None = None
    speedup_vs_uncached: float | None = None
    speedup_vs_scratch: float | None = None
    speedup_vs_fp32: float | None = None
    same_tokens: float | None = None
    exact_match: float | None = None
    bleu: float | None = None
    length_ratio: float | None = None  # output tokens / reference tokens
    sentences: int | None = None


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _best_of(fns: dict[str, Callable[[], torch.Tensor]], rounds: int, device: torch.device):
    """name -> (best seconds, last output), running the functions in turns each round."""
    best, outputs = dict.fromkeys(fns, math.inf), {}
    for _ in range(rounds):
        for name, fn in fns.items():
            _sync(device)
            start = time.perf_counter()
            outputs[name] = fn()
            _sync(device)
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: (best[name], outputs[name]) for name in fns}


def has_bf16(device: torch.device) -> bool:
    """Whether ``device`` has bfloat16 arithmetic (CUDA, or a CPU with AVX-512-BF16 or AMX)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu" and torch.backends.mkldnn.is_available():
        supported = getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
        amx = getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
        return bool(supported() or amx())
    return False


def cache_rows(model: nn.Module, c: DecodeBenchConfig, device: torch.device) -> list[Row]:
    """Uncached against cached greedy decoding at every output length of ``c.lengths``."""
    src = torch.randint(3, len(ENGLISH_VOCAB), (c.batch_size, c.src_len), device=device)  # (B, S)
    rows = []
    for L in c.lengths:
        timed = _best_of(
            {
                "uncached": lambda L=L: greedy_decode(model, src, L, 1, -1),
                "cached": lambda L=L: cached_greedy_decode(model, src, L, 1, -1),
            },
            c.rounds,
            device,
        )
        (t_plain, plain), (t_cached, cached) = timed["uncached"], timed["cached"]
        tokens = c.batch_size * (L - 1)
        same = (plain == cached).float().mean().item()
        rows.append(Row(f"greedy_uncached_L{L}", t_plain, tokens / t_plain))
        rows.append(
            Row(f"greedy_cached_L{L}", t_cached, tokens / t_cached, t_plain / t_cached, same_tokens=same)
        )
    return rows


def kernel_rows(model: nn.Module, c: DecodeBenchConfig, device: torch.device) -> list[Row]:
    """Cached greedy decoding of 64 tokens: fused against from-scratch attention, and bfloat16
    autocast against float32 where the hardware has it."""
    src = torch.randint(3, len(ENGLISH_VOCAB), (c.batch_size, c.src_len), device=device)  # (B, S)
    L, tokens = 64, c.batch_size * 63
    fused = use_fused_attention(copy.deepcopy(model))  # the same weights, the fused kernel
    fns = {
        "scratch": lambda: cached_greedy_decode(model, src, L, 1, -1),
        "fused": lambda: cached_greedy_decode(fused, src, L, 1, -1),
    }
    bf16 = has_bf16(device)
    if bf16:

        def in_bf16() -> torch.Tensor:
            with torch.autocast(device.type, dtype=torch.bfloat16):
                return cached_greedy_decode(model, src, L, 1, -1)

        fns["bf16"] = in_bf16
    timed = _best_of(fns, c.rounds, device)
    t_scratch, scratch = timed["scratch"]
    t_fused, out = timed["fused"]
    rows = [
        Row("cached_scratch_L64", t_scratch, tokens / t_scratch),
        Row(
            "cached_fused_L64",
            t_fused,
            tokens / t_fused,
            speedup_vs_scratch=t_scratch / t_fused,
            same_tokens=(out == scratch).float().mean().item(),
        ),
    ]
    if bf16:
        t_bf16, out = timed["bf16"]
        rows.append(
            Row(
                "cached_bf16_L64",
                t_bf16,
                tokens / t_bf16,
                speedup_vs_fp32=t_scratch / t_bf16,
                same_tokens=(out == scratch).float().mean().item(),
            )
        )
    return rows


def train_quickly(c: DecodeBenchConfig, train_pairs: Sequence[Pair], device: torch.device) -> nn.Module:
    """A model trained for ``c.train_seconds`` as transformer_course.train trains the `tiny`
    config (fused attention, Noam schedule, label smoothing 0.1), for the beam rows."""
    torch.manual_seed(0)
    model = use_fused_attention(build_transformer(c.model_config()).to(device))
    optimizer = torch.optim.Adam(model.parameters(), lr=1.0, betas=(0.9, 0.98), eps=1e-9)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.7 * noam_lr(s + 1, c.d_model, 200))
    amp = torch.bfloat16 if has_bf16(device) else None
    started, epoch, steps = time.perf_counter(), 0, 0
    while time.perf_counter() - started < c.train_seconds:
        for group in batches(train_pairs, ENGLISH_VOCAB, KOREAN_VOCAB, 64, seed=epoch):
            batch = make_batch(group.pairs, ENGLISH_VOCAB, KOREAN_VOCAB, device)
            train_step(model, batch, optimizer, scheduler, label_smoothing=0.1, amp_dtype=amp)
            steps += 1
            if time.perf_counter() - started >= c.train_seconds:
                break
        epoch += 1
    print(f"trained {steps} steps in {time.perf_counter() - started:.0f} s")
    return use_fused_attention(model, False).eval()


def beam_rows(
    model: nn.Module,
    splits: dict[str, Sequence[Pair]],
    beams: Sequence[int],
    device: torch.device,
    length_penalty: float = 0.0,
) -> list[Row]:
    """Exact match, BLEU and cost of beam search with each beam size, on each split."""
    import sacrebleu

    rows = []
    for name, pairs in splits.items():
        order = sorted(range(len(pairs)), key=lambda i: len(pairs[i].english.split()))
        for K in beams:
            found = [""] * len(pairs)
            _sync(device)
            start = time.perf_counter()
            for first in range(0, len(order), 64):
                idx = order[first : first + 64]
                group = [pairs[i] for i in idx]
                src = make_batch(group, ENGLISH_VOCAB, KOREAN_VOCAB, device).src  # (B, S)
                longest = max(len(p.english.split()) for p in group)
                ids, _ = beam_search(
                    model,
                    src,
                    K,
                    2 * longest + 4,
                    KOREAN_VOCAB.bos_id,
                    KOREAN_VOCAB.eos_id,
                    length_penalty,
                    KOREAN_VOCAB.pad_id,
                )
                for i, row in zip(idx, ids, strict=True):
                    found[i] = KOREAN_VOCAB.decode(row)
            _sync(device)
            seconds = time.perf_counter() - start
            refs = [p.korean for p in pairs]
            exact = sum(f == r for f, r in zip(found, refs, strict=True)) / len(pairs)
            # The tokens are already separated by spaces; sacrebleu must not split them again.
            bleu = sacrebleu.corpus_bleu(found, [refs], tokenize="none").score
            tokens = sum(len(f.split()) + 1 for f in found)
            ratio = sum(len(f.split()) for f in found) / sum(len(r.split()) for r in refs)
            rows.append(
                Row(
                    f"beam{K}_{name}",
                    seconds,
                    tokens / seconds,
                    exact_match=exact,
                    bleu=bleu,
                    sentences=len(pairs),
                    length_ratio=ratio,
                )
            )
    return rows


def plot_cost(rows: Sequence[Row], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for kind in ("uncached", "cached"):
        picked = [r for r in rows if r.name.startswith(f"greedy_{kind}_L")]
        ax.plot(
            [int(r.name.rsplit("L", 1)[1]) for r in picked], [r.seconds for r in picked], "o-", label=kind
        )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("output length (tokens)")
    ax.set_ylabel("seconds per batch")
    ax.set_title("greedy decoding: uncached ~L², cached ~L")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(
        prog="python -m transformer_course.bench --decode", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--out", type=Path, default=None, help="write DIR/bench.json, DIR/decode_cost.png")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: default)")
    parser.add_argument("--checkpoint", type=Path, default=None, help="a trained model for the beam rows")
    parser.add_argument("--length-penalty", type=float, default=0.0, help="α of the beam rows")
    for name, default in asdict(DecodeBenchConfig()).items():
        kind = int if isinstance(default, tuple) else type(default)
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=kind,
            default=default,
            nargs="+" if isinstance(default, tuple) else None,
        )
    args = parser.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(
        ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    )
    c = DecodeBenchConfig(
        **{
            name: tuple(value) if isinstance(value, list) else value
            for name in asdict(DecodeBenchConfig())
            for value in [getattr(args, name)]
        }
    )
    print(f"device {device}, {torch.get_num_threads()} threads, {c}")
    splits = make_splits(generate_pairs(c.pool_size, seed=0))
    if args.checkpoint is not None:
        model = load_model(args.checkpoint, device)
    else:
        model = train_quickly(c, splits.train, device)
    if hasattr(os, "getloadavg"):  # the machine may be shared: say how busy it was
        print("load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    rows = cache_rows(model, c, device)
    rows += kernel_rows(model, c, device)
    rows += beam_rows(
        model,
        {"test": splits.test[: c.eval_size], "heldout": splits.heldout[: c.eval_size]},
        c.beams,
        device,
        args.length_penalty,
    )
    heads = ["seconds", "tokens/s", "speed-up", "same", "exact", "BLEU", "length"]
    print(f"{'':22s} " + " ".join(f"{h:>{w}s}" for h, w in zip(heads, [8, 9, 9, 6, 6, 6, 6], strict=True)))
    for r in rows:
        speedup = r.speedup_vs_uncached or r.speedup_vs_scratch or r.speedup_vs_fp32
        cells = [
            f"{speedup:8.2f}×" if speedup else "",
            f"{r.same_tokens:6.1%}" if r.same_tokens is not None else "",
            f"{r.exact_match:6.1%}" if r.exact_match is not None else "",
            f"{r.bleu:6.1f}" if r.bleu is not None else "",
            f"{r.length_ratio:6.2f}" if r.length_ratio is not None else "",
        ]
        print(
            f"{r.name:22s} {r.seconds:8.3f} {r.tokens_per_second or 0:9.0f} {cells[0]:>9s} "
            f"{cells[1]:>6s} {cells[2]:>6s} {cells[3]:>6s} {cells[4]:>6s}"
        )
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        context = {"device": str(device), "threads": torch.get_num_threads(), "batch_size": c.batch_size}
        (args.out / "bench.json").write_text(
            json.dumps([{**asdict(r), **context} for r in rows], indent=2) + "\n"
        )
        plot_cost(rows, args.out / "decode_cost.png")
    return rows


if __name__ == "__main__":
    main()
