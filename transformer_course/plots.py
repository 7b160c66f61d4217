"""Pictures the lessons share: attention heatmaps and Korean text in plots."""

import warnings
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from matplotlib import font_manager

HANGUL_FONTS = ("NanumGothic", "Noto Sans CJK KR", "Noto Sans KR", "UnDotum", "Malgun Gothic", "AppleGothic")
INSTALL_HINT = (
    "install a font with Hangul glyphs, e.g. `sudo apt-get install fonts-nanum` "
    "(Debian/Ubuntu), then restart the kernel"
)


def use_hangul_font() -> str | None:
    """Make matplotlib draw Korean text; returns the font's name, or None (with a
    warning saying what to install) when the machine has no font with Hangul."""
    names = {f.name for f in font_manager.fontManager.ttflist}
    if not names.intersection(HANGUL_FONTS):
        # matplotlib's font cache predates fonts installed later: add them by path.
        for path in font_manager.findSystemFonts():
            if any(key in Path(path).name.lower() for key in ("nanum", "notosanscjk", "notosanskr")):
                font_manager.fontManager.addfont(path)
        names = {f.name for f in font_manager.fontManager.ttflist}
    for name in HANGUL_FONTS:
        if name in names:
            plt.rcParams["font.family"] = [name, "DejaVu Sans"]
            plt.rcParams["axes.unicode_minus"] = False
            return name
    warnings.warn(
        f"No font with Hangul glyphs found: Korean labels will show as boxes; {INSTALL_HINT}.", stacklevel=2
    )
    return None


def attention_heatmap(
    weights: torch.Tensor,
    queries: Sequence[str],
    keys: Sequence[str],
    ax: plt.Axes | None = None,
    title: str | None = None,
    annotate: bool | None = None,
) -> plt.Axes:
    """Draw one attention matrix: a row per query token, a column per key token.

    Shape:
        weights: (T_q, T_k), each row a probability distribution.
    """
    weights = weights.detach().float().cpu()
    if weights.dim() != 2 or weights.shape != (len(queries), len(keys)):
        raise ValueError(
            f"weights of shape {tuple(weights.shape)} do not match "
            f"{len(queries)} query and {len(keys)} key labels"
        )
    if ax is None:
        _, ax = plt.subplots(figsize=(0.6 * len(keys) + 2, 0.5 * len(queries) + 1.5))
    image = ax.imshow(weights.numpy(), cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(keys)), keys, rotation=45, ha="right")
    ax.set_yticks(range(len(queries)), queries)
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (attending)")
    if title:
        ax.set_title(title)
    if annotate if annotate is not None else weights.numel() <= 100:
        for (i, j), w in zip(
            torch.cartesian_prod(torch.arange(weights.shape[0]), torch.arange(weights.shape[1])).tolist(),
            weights.flatten().tolist(),
            strict=True,
        ):
            ax.text(
                j, i, f"{w:.2f}", ha="center", va="center", fontsize=8, color="white" if w > 0.6 else "black"
            )
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return ax
