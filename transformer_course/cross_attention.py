"""Lesson 05: encoder–decoder (cross) attention, and the alignment read out of its weights.

The notes: "인코더의 출력과 디코더의 입력간의 관계를 학습" (it learns the relation between
the encoder's output and the decoder's input).
"""

import torch

from transformer_course.attention import scaled_dot_product_attention


def cross_attention(
    decoder_x: torch.Tensor,
    encoder_out: torch.Tensor,
    w_q: torch.Tensor,
    w_k: torch.Tensor,
    w_v: torch.Tensor,
    src_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention whose queries come from the decoder and whose keys and values come
    from the encoder: every target position gathers what it needs from the source.

    Args:
        decoder_x: the decoder's vectors, one per target position.
        encoder_out: the encoder's output (context vectors), one per source position.
        w_q, w_k, w_v: projection matrices, applied as ``x @ w``.
        src_mask: boolean, True where a source position may be attended to (False on
            padding); broadcasts against the weights (..., T_tgt, T_src). For inputs
            (B, T, d_model) pass (B, 1, T_src); lesson 04's padding mask (B, 1, 1, T_src)
            fits inputs with one more dimension, such as heads (B, h, T, d_model).

    Shape:
        decoder_x: (..., T_tgt, d_model); encoder_out: (..., T_src, d_model).
        w_q, w_k, w_v: (d_model, d_k).
        output: (..., T_tgt, d_k); weights: (..., T_tgt, T_src).
    """
    q = decoder_x @ w_q  # (..., T_tgt, d_k)
    k = encoder_out @ w_k  # (..., T_src, d_k)
    v = encoder_out @ w_v  # (..., T_src, d_k)
    return scaled_dot_product_attention(q, k, v, src_mask)  # (..., T_tgt, d_k), (..., T_tgt, T_src)


def alignment(weights: torch.Tensor) -> torch.Tensor:
    """For each query (target) position, the key (source) position it attends to most.

    Shape:
        weights: (..., T_q, T_k).
        output: (..., T_q), long.
    """
    return weights.argmax(dim=-1)  # (..., T_q)
