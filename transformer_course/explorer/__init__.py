"""An attention explorer for the notebooks: Python computes each view's state (``state``),
an anywidget renders it in JupyterLab (``widget``, JavaScript shipped in ``static/``), and
a matplotlib figure stands in where widgets are not (``figures``)."""

from transformer_course.explorer.widget import (
    Explorer,
    cross_attention_explorer,
    mask_explorer,
    multi_head_explorer,
    softmax_explorer,
    transformer_explorer,
)

__all__ = [
    "Explorer",
    "cross_attention_explorer",
    "mask_explorer",
    "multi_head_explorer",
    "softmax_explorer",
    "transformer_explorer",
]
