"""The course's support package: the reference building blocks later lessons import,
plus data, plots and training utilities.

Each module is the reference version of one lesson's exercises
(``tests/test_reference.py`` keeps it equal to the solution notebook).
"""

from .attention import attention_scores, scaled_dot_product_attention, softmax
from .qkv import QKVProjection, embed, qkv_matrix, qkv_per_token

__all__ = [
    "QKVProjection",
    "attention_scores",
    "embed",
    "qkv_matrix",
    "qkv_per_token",
    "scaled_dot_product_attention",
    "softmax",
]
