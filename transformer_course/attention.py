"""Lesson 02: attention scores, a numerically stable softmax, scaled dot-product attention.

The notes' formula: Attention(Q, K, V) = softmax(QKᵀ / √d_k) V.
"""

import math

import torch


def attention_scores(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Scaled similarity of every query with every key, QKᵀ / √d_k.

    Shape:
        q: (..., T_q, d_k).
        k: (..., T_k, d_k).
        output: (..., T_q, T_k).
    """
    d_k = q.size(-1)
    return q @ k.transpose(-2, -1) / math.sqrt(d_k)  # (..., T_q, d_k) @ (..., d_k, T_k)


def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Softmax along ``dim``, stable for large inputs.

    Subtracting the maximum leaves the result unchanged (it cancels in the ratio)
    and keeps ``exp`` from overflowing. A slice that is entirely -inf (every key
    masked) gets all-zero weights rather than NaN, as PyTorch's fused attention does.

    Shape:
        x: any shape; output: the same.
    """
    peak = x.amax(dim=dim, keepdim=True)
    peak = torch.where(torch.isfinite(peak), peak, torch.zeros_like(peak))
    e = torch.exp(x - peak)
    return e / e.sum(dim=dim, keepdim=True).clamp_min(torch.finfo(e.dtype).tiny)


def scaled_dot_product_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(QKᵀ / √d_k) V, with an optional boolean mask.

    Args:
        mask: boolean, True where attention is allowed; broadcasts against the
            scores (..., T_q, T_k). Masked scores become -inf before the softmax.

    Shape:
        q: (..., T_q, d_k); k: (..., T_k, d_k); v: (..., T_k, d_v).
        output: (..., T_q, d_v); weights: (..., T_q, T_k).
    """
    scores = attention_scores(q, k)  # (..., T_q, T_k)
    if mask is not None:
        if mask.dtype != torch.bool:
            raise TypeError(
                f"mask must be a boolean tensor, True where attention is allowed; got {mask.dtype}. "
                "An additive float mask (0 / -inf) is a different convention: use mask == 0 to convert."
            )
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = softmax(scores, dim=-1)  # (..., T_q, T_k)
    return weights @ v, weights  # (..., T_q, T_k) @ (..., T_k, d_v) -> (..., T_q, d_v)
