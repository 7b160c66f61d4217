"""The fast path: the course's MultiHeadAttention computed by PyTorch's fused kernel.

``use_fused_attention(model)`` switches every MultiHeadAttention inside ``model`` to
FusedMultiHeadAttention, which keeps the same parameters (w_q, w_k, w_v, w_o) and the same
mask rule (True = attention allowed) but calls F.scaled_dot_product_attention instead of the
from-scratch softmax(QKᵀ/√d_k)V. The fused kernel never writes the (B, h, T_q, T_k) weights
to memory, so ``attn_weights`` is not kept; ``use_fused_attention(model, False)`` switches
back, e.g. to draw attention maps. Checkpoints are interchangeable between the two.
"""

import torch
import torch.nn.functional as F
from torch import nn

from transformer_course.multi_head import MultiHeadAttention, combine_heads, split_heads


class FusedMultiHeadAttention(MultiHeadAttention):
    """MultiHeadAttention whose attention is F.scaled_dot_product_attention.

    Dropout is applied to the attention weights inside the kernel, as the from-scratch
    version applies it to its weights.

    Shape:
        query: (B, T_q, d_model); key, value: (B, T_k, d_model).
        mask: boolean, True where attention is allowed, broadcasting against (B, h, T_q, T_k).
        output: (B, T_q, d_model).
    """

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        q = split_heads(self.w_q(query), self.num_heads)  # (B, h, T_q, d_k)
        k = split_heads(self.w_k(key), self.num_heads)  # (B, h, T_k, d_k)
        v = split_heads(self.w_v(value), self.num_heads)  # (B, h, T_k, d_k)
        p = self.dropout.p if self.training else 0.0
        heads = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        self.attn_weights = None  # (B, h, T_q, d_k) heads; the weights are never formed
        return self.w_o(combine_heads(heads))  # (B, T_q, d_model)


def use_fused_attention(model: nn.Module, enabled: bool = True) -> nn.Module:
    """Switch every MultiHeadAttention in ``model`` to the fused kernel, or back.

    The modules change class in place (their parameters and buffers are untouched), so
    optimizers and checkpoints that refer to them stay valid.

    Args:
        model: any module containing MultiHeadAttention layers.
        enabled: True for FusedMultiHeadAttention, False for the from-scratch version.

    Returns:
        ``model`` itself.
    """
    target = FusedMultiHeadAttention if enabled else MultiHeadAttention
    for module in model.modules():
        if isinstance(module, MultiHeadAttention):
            module.__class__ = target
    return model
