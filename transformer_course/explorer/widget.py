"""The attention explorer widget (anywidget): Python computes, the browser renders.

>>> softmax_explorer(softmax)                       # lesson 02: d_k and the divisor τ
>>> mask_explorer(padding_mask, look_ahead_mask)    # lesson 04: the masks and the leak test
>>> transformer_explorer(model, greedy_decode)      # lesson 08: a layer and head of every attention

Displayed, an explorer prints a static figure of its first state, then the live widget, whose
JavaScript (``static/explorer.js``, shipped in this package, nothing fetched) hides the figure.
Without a widget front end (nbgrader's feedback, nbconvert) the figure is what is shown.
The controls the learner moves come back as ``controls``; Python recomputes ``state``.
"""

import functools
import html
import uuid
from collections.abc import Callable
from pathlib import Path

import anywidget
import traitlets

from transformer_course import attention, masking
from transformer_course.explorer import figures
from transformer_course.explorer import state as st
from transformer_course.multi_head import MultiHeadAttention

STATIC = Path(__file__).parent / "static"


class Explorer(anywidget.AnyWidget):
    """One explorer view ("softmax", "masks" or "model"): ``compute(**controls)`` gives the
    state to render; an error in it (the learner's code, a sentence outside the grammar)
    is shown in the widget rather than lost in the kernel's log."""

    _esm = STATIC / "explorer.js"
    _css = STATIC / "explorer.css"
    view = traitlets.Unicode().tag(sync=True)
    title = traitlets.Unicode().tag(sync=True)
    controls = traitlets.Dict().tag(sync=True)
    options = traitlets.Dict().tag(sync=True)
    state = traitlets.Dict().tag(sync=True)
    fallback_id = traitlets.Unicode().tag(sync=True)

    def __init__(
        self,
        view: str,
        title: str,
        compute: Callable[..., dict],
        controls: dict,
        options: dict | None = None,
        static_states: Callable[[], list[dict]] | None = None,
    ):
        self._compute = compute
        self._static_states = static_states
        super().__init__(
            view=view, title=title, controls=controls, options=options or {}, fallback_id=uuid.uuid4().hex
        )
        self.state = self._safe_compute(controls)

    def _safe_compute(self, controls: dict) -> dict:
        try:
            return self._compute(**controls)
        except Exception as error:  # shown to the learner in the widget, the last good state kept
            return {**self.state, "error": f"{type(error).__name__}: {error}"}

    @traitlets.observe("controls")
    def _controls_changed(self, change) -> None:
        self.state = self._safe_compute(change["new"])

    def __repr__(self) -> str:
        return f"{self.title} (interactive in JupyterLab; the figure is its static view)"

    def static_figure(self):
        """The matplotlib figure shown where widgets are not."""
        if self._static_states:
            return figures.figure(self._static_states())
        s = self.state
        head = "mean of the heads" if s["head"] == "mean" else f"head {s['head'] + 1}"
        states = [{**s, "caption": f"{s['kind']}, layer {s['layer'] + 1}, {head}"}]
        return figures.figure(states)

    def _ipython_display_(self, **kwargs) -> None:
        from IPython.display import display

        fallback = (
            f'<div class="tc-explorer-fallback" data-explorer="{self.fallback_id}">'
            f'<img alt="{html.escape(self.title)}, static view" '
            f'src="data:image/png;base64,{figures.png_base64(self.static_figure())}"/></div>'
        )
        display({"text/html": fallback, "text/plain": f"[static view] {self.title}"}, raw=True)
        data, metadata = self._repr_mimebundle_()
        display(data, metadata=metadata, raw=True)


def softmax_explorer(
    softmax: Callable = attention.softmax, d_k: int = 64, scaling: str = "sqrt_d_k"
) -> Explorer:
    """Lesson 02: a d_k slider and the divisor τ over one score matrix; weights and entropies."""
    compute = functools.partial(st.softmax_state, softmax=softmax)

    def static_states():
        return [{**compute(d_k, s), "caption": f"d_k = {d_k}, {st.SCALING_LABELS[s]}"} for s in st.SCALINGS]

    return Explorer(
        "softmax",
        "softmax(QKᵀ/τ): how d_k and τ sharpen the weights",
        compute,
        {"d_k": d_k, "scaling": scaling},
        {"d_ks": list(st.D_KS), "scalings": st.SCALING_LABELS},
        static_states,
    )


def mask_explorer(
    padding_mask: Callable = masking.padding_mask,
    look_ahead_mask: Callable = masking.look_ahead_mask,
    tokens: tuple[str, ...] = st.MASK_TOKENS,
) -> Explorer:
    """Lesson 04: the padding and look-ahead masks switched on and off, and the leak test."""
    compute = functools.partial(
        st.mask_state, tokens, padding_mask=padding_mask, look_ahead_mask=look_ahead_mask
    )

    def static_states():
        states = []
        for padding, look_ahead in ((True, True), (True, False)):
            state = compute(padding=padding, look_ahead=look_ahead)
            masks = (
                " + ".join(n for n, on in (("padding", padding), ("look-ahead", look_ahead)) if on)
                or "no mask"
            )
            states.append({**state, "caption": f"{masks}: {'leaks' if state['leak'] else 'no leak'}"})
        return states

    return Explorer(
        "masks",
        "The decoder's masks: what is hidden, and does the future leak?",
        compute,
        {"padding": True, "look_ahead": True},
        static_states=static_states,
    )


def model_explorer(
    run: Callable[[str], st.AttentionMaps],
    title: str,
    sentence: str,
    kind: str | None = None,
    examples: bool = True,
) -> Explorer:
    """A layer and head (or their mean) of every attention of ``run(sentence)``'s maps; the
    sentence typed, or picked from the toy task by phenomenon (``examples``)."""
    run = functools.lru_cache(maxsize=16)(run)  # changing the layer or head reuses the forward pass

    def compute(sentence, kind=None, layer=0, head="mean", phenomenon=None):
        maps = run(sentence.strip())
        kind = kind if kind in maps.maps else next(iter(maps.maps))
        return st.select(maps, kind, min(layer, maps.maps[kind].size(0) - 1), head)

    first = run(sentence)
    kind = kind or next(iter(first.maps))
    options = {"examples": {k: list(v) for k, v in st.example_sentences().items()}} if examples else {}
    return Explorer(
        "model", title, compute, {"sentence": sentence, "kind": kind, "layer": 0, "head": "mean"}, options
    )


def transformer_explorer(
    model, greedy_decode: Callable, sentence: str = "the cat sat on the mat because it was tired"
) -> Explorer:
    """Lesson 08: the trained Transformer's encoder self-, decoder self- and cross-attention."""
    return model_explorer(
        lambda s: st.transformer_maps(model, s, greedy_decode),
        "Your Transformer's attention: pick a sentence, a layer and a head",
        sentence,
        kind="cross-attention",
    )


def multi_head_explorer(
    attention_class: type = MultiHeadAttention, sentence: str = "the cat sat on the mat because it was tired"
) -> Explorer:
    """Lesson 03: the four hand-set heads of section 4, on any sentence, in your MultiHeadAttention."""
    return model_explorer(
        lambda s: st.rule_heads_maps(s, attention_class),
        "Your MultiHeadAttention, four hand-set heads: pick a sentence and a head",
        sentence,
    )


def cross_attention_explorer(
    cross_attention: Callable, sentence: str = "the big dog saw the small bird"
) -> Explorer:
    """Lesson 05: your cross_attention between a sentence of the grammar and its translation."""
    return model_explorer(
        lambda s: st.dictionary_maps(s, cross_attention),
        "Your cross_attention, Korean queries over English keys: pick a sentence",
        sentence,
    )
