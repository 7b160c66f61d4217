"""The training engine: train the course's Transformer on the toy translation task.

    python -m transformer_course.train --config tiny --device auto --out runs/tiny
    torchrun --nproc_per_node 2 -m transformer_course.train --config tiny --out runs/ddp

It trains on the train split only (valid, test and held-out sentences are never seen), with
the masked label-smoothed loss, Adam with the Noam schedule, gradient clipping, bf16 autocast
where it helps, and the fused attention kernel (``--attention scratch`` switches back to the
from-scratch one). It stops after ``max_steps`` or ``time_budget`` seconds of training,
whichever comes first, then decodes the test and held-out splits greedily and writes
``OUT/metrics.json``, ``OUT/loss.png`` and ``OUT/checkpoint.pt`` (``--resume`` continues
from it). Under torchrun (RANK / WORLD_SIZE set) it trains with DistributedDataParallel,
gloo on the CPU and nccl on CUDA; each rank takes its own share of every epoch's batches and
only rank 0 writes.
"""

import argparse
import dataclasses
import functools
import json
import os
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from transformer_course.data import (
    ENGLISH_VOCAB,
    KOREAN_VOCAB,
    PHENOMENA,
    Pair,
    generate_pairs,
    length_groups,
    make_splits,
    phenomena,
)
from transformer_course.fast import use_fused_attention
from transformer_course.model import ModelConfig, build_transformer
from transformer_course.training import greedy_decode, make_batch, noam_lr, pick_device, train_step


@dataclass(frozen=True)
class Config:
    """One training run's sizes and schedule.

    Args:
        d_model, num_heads, num_layers, d_ff, dropout: the Transformer's sizes.
        batch_size: sentence pairs per step (per process under DDP).
        warmup: Noam warm-up steps; lr_factor scales the Noam rate.
        label_smoothing: ε of the loss.
        max_norm: gradients are clipped to this total norm.
        max_steps: stop after this many steps ...
        time_budget: ... or after this many seconds of training (0: no limit).
        pool_size: sentence pairs generated; the train split of them is the training set.
        eval_size: at most this many test and held-out sentences are decoded.
        checkpoint_every: steps between checkpoints (one is always written at the end).
        target_exact_match: stop once the valid split's exact match reaches this (0: never
            evaluate during training), as MLPerf's time-to-train does.
        eval_every: steps between those evaluations.
        valid_size: at most this many valid sentences are decoded at each of them.
    """

    d_model: int = 128
    num_heads: int = 4
    num_layers: int = 2
    d_ff: int = 512
    dropout: float = 0.0
    batch_size: int = 64
    warmup: int = 400
    lr_factor: float = 1.0
    label_smoothing: float = 0.1
    max_norm: float = 1.0
    max_steps: int = 100_000
    time_budget: float = 0.0
    pool_size: int = 60_000
    eval_size: int = 1000
    checkpoint_every: int = 500
    target_exact_match: float = 0.0
    eval_every: int = 50
    valid_size: int = 300

    def model_config(self, src_vocab: int, tgt_vocab: int) -> ModelConfig:
        """The model this run trains, for vocabularies of these sizes."""
        return ModelConfig(
            src_vocab, tgt_vocab, self.d_model, self.num_heads, self.num_layers, self.d_ff, self.dropout
        )


# With unlimited generated data the model cannot memorise, so dropout (whose random draws
# cost about a quarter of a CPU step) is left out of the configs meant to be fast.
CONFIGS = {
    # Measured on a 2-core CPU (steps to 99 % valid exact match, seed 0): warm-up 200 at 0.7
    # took 750, warm-up 100 at 0.5 took 650 (valid dipped from 97.8 % to 95.2 % on the way:
    # the rate was too high once the model was nearly right; test 98.4 %); at 0.35 it takes
    # 400-450 over seeds 0-2, test 99.3-99.5 %; 0.3 is slower (550), 0.4 noisier (650).
    "tiny": Config(d_ff=256, batch_size=64, warmup=100, lr_factor=0.35, time_budget=300.0, valid_size=500),
    "base": Config(
        d_model=256,
        num_heads=8,
        num_layers=3,
        d_ff=1024,
        dropout=0.1,
        batch_size=128,
        warmup=1000,
        max_steps=20_000,
        pool_size=200_000,
    ),
    "gpu": Config(
        d_model=256,
        num_heads=8,
        num_layers=3,
        d_ff=1024,
        batch_size=256,
        warmup=300,
        lr_factor=0.5,
        max_steps=5000,
        time_budget=60.0,
        pool_size=100_000,
    ),
}


@dataclass(frozen=True)
class Run:
    """Where and how a config is run (everything that is not the model or the schedule)."""

    out: Path
    device: torch.device
    attention: str = "fused"
    amp: str = "auto"
    compile: bool = False
    resume: bool = False
    seed: int = 0
    progress: bool = True
    threads: int = 0


@dataclass(frozen=True)
class Result:
    """What a run leaves behind: the trained model (unwrapped from DDP and torch.compile)
    and, on rank 0, the metrics written to metrics.json (None on the other ranks)."""

    model: nn.Module
    metrics: dict | None


def amp_dtype_for(device: torch.device, amp: str) -> torch.dtype | None:
    """bfloat16 autocast on CUDA and, with ``auto``, on a CPU that has bfloat16 arithmetic
    (measured 1.5× faster per step on an AVX-512 CPU); None means plain float32."""
    if amp == "off":
        return None
    if amp == "bf16" or device.type == "cuda":
        return torch.bfloat16
    if device.type == "cpu" and torch.backends.mkldnn.is_available():
        supported = getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
        amx = getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
        return torch.bfloat16 if supported() or amx() else None
    return None


def epoch_groups(
    train: Sequence[Pair], batch_size: int, seed: int, epoch: int, rank: int, world: int
) -> list[tuple[Pair, ...]]:
    """This rank's batches of one epoch: length-bucketed, shuffled by (seed, epoch), and
    dealt round-robin to the ranks; every rank gets the same number."""
    groups = length_groups(train, batch_size, seed=seed * 100_003 + epoch)
    usable = len(groups) // world * world
    return groups[rank:usable:world]


def translate(
    model: nn.Module, pairs: Sequence[Pair], device: torch.device, batch_size: int = 256
) -> list[str]:
    """Greedy translations of the pairs' English, in the pairs' order."""
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i].english.split()))
    out = [""] * len(pairs)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        group = [pairs[i] for i in idx]
        src = make_batch(group, ENGLISH_VOCAB, KOREAN_VOCAB, device).src  # (B, S)
        longest = max(len(p.english.split()) for p in group)
        ids = greedy_decode(
            model,
            src,
            max_len=2 * longest + 4,
            bos_id=KOREAN_VOCAB.bos_id,
            eos_id=KOREAN_VOCAB.eos_id,
            pad_id=KOREAN_VOCAB.pad_id,
        )  # (B, L)
        for i, row in zip(idx, ids, strict=True):
            out[i] = KOREAN_VOCAB.decode(row)
    return out


def exact_match(model: nn.Module, pairs: Sequence[Pair], device: torch.device) -> float:
    """The share of ``pairs`` whose greedy translation equals the reference."""
    # One batch of a few hundred sentences: greedy decoding's cost is mostly per step, not
    # per sentence, so fewer, larger batches are cheaper.
    hyps = translate(model, pairs, device, batch_size=1024)
    return sum(h == p.korean for h, p in zip(hyps, pairs, strict=True)) / max(len(pairs), 1)


def evaluate(model: nn.Module, pairs: Sequence[Pair], device: torch.device) -> dict:
    """Exact match (the decoded string equals the reference), sacrebleu corpus BLEU, and
    exact match per phenomenon (data.phenomena) over ``pairs``."""
    import sacrebleu  # imported here: only rank 0 evaluates

    if not pairs:
        return {"n": 0, "exact_match": None, "bleu": None, "per_phenomenon": {}}
    hyps = translate(model, pairs, device)
    refs = [p.korean for p in pairs]
    hits = [h == r for h, r in zip(hyps, refs, strict=True)]
    per = {}
    tags = [phenomena(p.english) for p in pairs]
    for name in PHENOMENA:
        chosen = [hit for hit, t in zip(hits, tags, strict=True) if name in t]
        if chosen:
            per[name] = {"n": len(chosen), "exact_match": sum(chosen) / len(chosen)}
    # The tokens are already separated by spaces; sacrebleu must not split them again.
    bleu = sacrebleu.corpus_bleu(hyps, [refs], tokenize="none").score
    errors = [
        {"english": p.english, "reference": p.korean, "output": h}
        for p, h, hit in zip(pairs, hyps, hits, strict=True)
        if not hit
    ][:10]
    return {
        "n": len(pairs),
        "exact_match": sum(hits) / len(hits),
        "bleu": bleu,
        "per_phenomenon": per,
        "errors": errors,
    }


def plot_loss(
    history: list[tuple[int, float]], path: Path, eval_history: Sequence[dict] = (), target: float = 0.0
) -> None:
    """The training loss per step and its running mean and, beside it when there is one,
    the valid split's exact match at each evaluation; saved as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [s for s, _ in history]
    losses = [x for _, x in history]
    window = max(1, len(losses) // 50)
    smooth = [
        sum(losses[max(0, i - window + 1) : i + 1]) / len(losses[max(0, i - window + 1) : i + 1])
        for i in range(len(losses))
    ]
    fig, axes = plt.subplots(
        1, 2 if eval_history else 1, figsize=(12 if eval_history else 7, 4), squeeze=False
    )
    ax = axes[0, 0]
    ax.plot(steps, losses, alpha=0.3, label="loss per step")
    ax.plot(steps, smooth, label=f"running mean ({window} steps)")
    ax.set_xlabel("step")
    ax.set_ylabel("label-smoothed cross-entropy")
    ax.set_yscale("log")
    ax.legend()
    if eval_history:
        ax = axes[0, 1]
        ax.plot(
            [e["step"] for e in eval_history],
            [e["valid_exact_match"] for e in eval_history],
            marker="o",
            label="valid exact match",
        )
        if target > 0:
            ax.axhline(target, color="grey", linestyle="--", label=f"target {target:.0%}")
        ax.set_xlabel("step")
        ax.set_ylabel("exact match (greedy decoding)")
        ax.set_ylim(0, 1.02)
        ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def load_model(checkpoint: Path, device: torch.device | str = "cpu") -> nn.Module:
    """The model a run saved in ``checkpoint`` (its ``OUT/checkpoint.pt``), in eval mode,
    with from-scratch attention (``use_fused_attention`` switches it)."""
    state = torch.load(checkpoint, map_location=device, weights_only=False)
    known = {f.name for f in dataclasses.fields(Config)}
    config = Config(**{name: value for name, value in state["config"].items() if name in known})
    model = build_transformer(config.model_config(len(ENGLISH_VOCAB), len(KOREAN_VOCAB)))
    model.load_state_dict(state["model"])
    return model.to(device).eval()


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def train(config: Config, run: Run, model: nn.Module | None = None) -> Result:
    """Train, evaluate on rank 0 and write the outputs there.

    Args:
        config: sizes and schedule (see CONFIGS).
        run: output folder, device, attention kind, autocast, compile, resume, seed.
        model: a model to train instead of a fresh course Transformer of config's sizes
            (the time-to-target benchmark passes torch.nn.Transformer's); it is called and
            decoded as the course's is (forward, encode, decode, generator).
    """
    distributed = "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1
    rank, world = 0, 1
    device = run.device
    if distributed:
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)))
            torch.cuda.set_device(device)
    if run.threads > 0:
        torch.set_num_threads(run.threads)
    out = Path(run.out)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)

    random.seed(run.seed)
    torch.manual_seed(run.seed)
    splits = make_splits(generate_pairs(config.pool_size, seed=run.seed))
    train_pairs = splits.train

    if model is None:
        model = build_transformer(config.model_config(len(ENGLISH_VOCAB), len(KOREAN_VOCAB)))
    model = model.to(device)
    use_fused_attention(model, run.attention == "fused")
    optimizer = torch.optim.Adam(model.parameters(), lr=1.0, betas=(0.9, 0.98), eps=1e-9)
    # LambdaLR counts from 0, the Noam formula from 1.
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: config.lr_factor * noam_lr(s + 1, config.d_model, config.warmup)
    )

    step, train_seconds, tokens, history = 0, 0.0, 0, []
    eval_history: list[dict] = []  # {step, seconds, valid_exact_match}
    checkpoint = out / "checkpoint.pt"
    if run.resume and checkpoint.exists():
        state = torch.load(checkpoint, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step, train_seconds = state["step"], state["train_seconds"]
        tokens, history = state["tokens"], state["history"]
        eval_history = state.get("eval_history", [])
        _set_rng_state(state["rng"][rank] if rank < len(state["rng"]) else state["rng"][0])

    net: nn.Module = model
    if distributed:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    if run.compile:
        net = torch.compile(net)

    def save() -> None:
        rngs = [None] * world
        if distributed:
            dist.all_gather_object(rngs, _rng_state())
        else:
            rngs = [_rng_state()]
        if rank == 0:
            torch.save(
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "step": step,
                    "train_seconds": train_seconds,
                    "tokens": tokens,
                    "history": history,
                    "eval_history": eval_history,
                    "rng": rngs,
                    "config": dataclasses.asdict(config),
                },
                checkpoint.with_suffix(".tmp"),
            )
            # Rename is atomic, so an interrupted save leaves the previous checkpoint intact.
            checkpoint.with_suffix(".tmp").replace(checkpoint)

    amp_dtype = amp_dtype_for(device, run.amp)
    groups = functools.lru_cache(maxsize=2)(
        lambda epoch: epoch_groups(train_pairs, config.batch_size, run.seed, epoch, rank, world)
    )
    steps_per_epoch = len(groups(0))
    if steps_per_epoch == 0:
        raise ValueError(
            f"the train split has {len(train_pairs)} pairs, fewer than "
            f"{world} batches of {config.batch_size}: raise pool_size or lower "
            "batch_size."
        )
    bar = tqdm(
        # Training to a target ends at an unknown step: no total, so no made-up time left.
        total=None if config.target_exact_match > 0 else config.max_steps,
        initial=step,
        disable=not run.progress or rank != 0,
        dynamic_ncols=True,
        desc=f"train {device.type}",
    )
    start_step, start_tokens, start_seconds = step, tokens, train_seconds
    valid = splits.valid[: config.valid_size]
    target = config.target_exact_match
    reached = (
        next((e for e in eval_history if e["valid_exact_match"] >= target), None) if target > 0 else None
    )
    eval_seconds = 0.0
    started = time.perf_counter()
    while step < config.max_steps and reached is None:
        epoch, index = divmod(step, steps_per_epoch)
        batch = make_batch(groups(epoch)[index], ENGLISH_VOCAB, KOREAN_VOCAB, device)
        loss = train_step(
            net,
            batch,
            optimizer,
            scheduler,
            max_norm=config.max_norm,
            label_smoothing=config.label_smoothing,
            amp_dtype=amp_dtype,
        )
        step += 1
        tokens += batch.n_tokens * world  # batches are length-bucketed, so about equal
        # The clock of training excludes the evaluations, which are measured apart.
        train_seconds = start_seconds + time.perf_counter() - started - eval_seconds
        history.append((step, loss))
        done = config.time_budget > 0 and train_seconds >= config.time_budget
        if target > 0 and step % config.eval_every == 0:
            evaluated = time.perf_counter()
            score = exact_match(model, valid, device) if rank == 0 else 0.0
            eval_history.append({"step": step, "seconds": train_seconds, "valid_exact_match": score})
            if score >= target:
                reached, done = eval_history[-1], True
            eval_seconds += time.perf_counter() - evaluated
        if distributed:
            # Every rank must stop at the same step, or the others wait forever in all-reduce.
            flag = torch.tensor([float(done)], device=device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            done = bool(flag.item())
        rate = (tokens - start_tokens) / max(train_seconds - start_seconds, 1e-9)
        bar.update(1)
        em = f", valid em {eval_history[-1]['valid_exact_match']:.1%}" if eval_history else ""
        bar.set_postfix_str(f"loss {loss:.3f}, {rate:,.0f} tok/s{em}")
        if step % config.checkpoint_every == 0 and step < config.max_steps and not done:
            save()
        if done:
            break
    bar.close()
    save()

    if rank != 0:
        dist.barrier()  # rank 0 evaluates and writes meanwhile
        return Result(model, None)
    evaluated = time.perf_counter()
    test = evaluate(model, splits.test[: config.eval_size], device)
    heldout = evaluate(model, splits.heldout[: config.eval_size], device)
    metrics = {
        "exact_match": test["exact_match"],
        "bleu": test["bleu"],
        "heldout_exact_match": heldout["exact_match"],
        "heldout_bleu": heldout["bleu"],
        "tokens_per_second": tokens / max(train_seconds, 1e-9),
        "train_seconds": train_seconds,
        "eval_seconds": time.perf_counter() - evaluated,
        "steps": step,
        "target_exact_match": target or None,
        "steps_to_target": reached["step"] if reached else None,
        "seconds_to_target": reached["seconds"] if reached else None,
        "eval_history": eval_history,
        "valid_eval_seconds": eval_seconds,
        "resumed_from_step": start_step,
        "final_loss": history[-1][1] if history else None,
        "device": str(device),
        "world_size": world,
        "attention": run.attention,
        "autocast": str(amp_dtype).removeprefix("torch.") if amp_dtype else "off",
        "compile": run.compile,
        "seed": run.seed,
        "train_pairs": len(train_pairs),
        "config": dataclasses.asdict(config),
        "test": test,
        "heldout": heldout,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    if history:
        plot_loss(history, out / "loss.png", eval_history, target)
    if distributed:
        dist.barrier()
    return Result(model, metrics)


def parse_args(argv: Sequence[str] | None = None) -> tuple[Config, Run]:
    parser = argparse.ArgumentParser(
        prog="python -m transformer_course.train", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--config", choices=sorted(CONFIGS), default="tiny")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--out", type=Path, default=Path("runs/tiny"))
    parser.add_argument("--attention", choices=["fused", "scratch"], default="fused")
    parser.add_argument(
        "--amp",
        choices=["auto", "bf16", "off"],
        default="auto",
        help="bf16 autocast: auto = on CUDA and on CPUs with bf16 arithmetic",
    )
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="CPU threads (0: PyTorch's default); 1 is far faster on a CPU that other processes keep busy",
    )
    overrides = {f.name: f.type for f in dataclasses.fields(Config)}
    for name, kind in overrides.items():
        parser.add_argument(
            "--" + name.replace("_", "-"), type=kind, default=None, help=f"override the config's {name}"
        )
    args = parser.parse_args(argv)
    config = dataclasses.replace(
        CONFIGS[args.config],
        **{name: getattr(args, name) for name in overrides if getattr(args, name) is not None},
    )
    device = pick_device() if args.device == "auto" else torch.device(args.device)
    run = Run(
        out=args.out,
        device=device,
        attention=args.attention,
        amp=args.amp,
        compile=args.compile,
        resume=args.resume,
        seed=args.seed,
        progress=not args.no_progress,
        threads=args.threads,
    )
    return config, run


def main(argv: Sequence[str] | None = None) -> None:
    config, run = parse_args(argv)
    try:
        metrics = train(config, run).metrics
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    if metrics is not None:
        print(
            json.dumps(
                {
                    k: metrics[k]
                    for k in (
                        "exact_match",
                        "heldout_exact_match",
                        "bleu",
                        "tokens_per_second",
                        "train_seconds",
                        "steps",
                        "device",
                    )
                }
            )
        )


if __name__ == "__main__":
    main()
