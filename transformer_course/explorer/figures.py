"""The explorer's static view: a matplotlib figure of the same states the widget renders,
shown where no widget front end runs (nbgrader's feedback, a plain `jupyter nbconvert`)."""

import base64
import io
from collections.abc import Sequence

import torch
from matplotlib.figure import Figure

from transformer_course.plots import attention_heatmap, use_hangul_font


def _panel(ax, state: dict) -> None:
    """One state as an attention heatmap, hidden (masked) cells hatched."""
    rows = state.get("rows", state.get("tokens"))
    columns = state.get("columns", state.get("tokens"))
    attention_heatmap(torch.tensor(state["weights"]), rows, columns, ax=ax, title=state["caption"])
    if "allowed" in state:
        hidden = ~torch.tensor(state["allowed"])
        ax.imshow(hidden.float().numpy(), cmap="Greys", vmin=0, vmax=2.5, alpha=hidden.float().numpy() * 0.8)


def figure(states: Sequence[dict], columns: int = 3) -> Figure:
    """A panel per state; each state carries its panel's title in ``caption``."""
    use_hangul_font()
    n = len(states)
    cols = min(columns, n)
    rows = (n + cols - 1) // cols
    size = max(len(states[0]["weights"][0]), len(states[0]["weights"]))
    fig = Figure(figsize=(cols * (0.45 * size + 2.6), rows * (0.4 * size + 2.2)))
    axes = fig.subplots(rows, cols, squeeze=False).flatten()
    for ax, state in zip(axes, states, strict=False):
        _panel(ax, state)
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def png_base64(fig: Figure, dpi: int = 60) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")
