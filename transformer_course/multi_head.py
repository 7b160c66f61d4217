"""Lesson 03: multi-head attention, h scaled dot-product attentions side by side.

The notes: "병렬로 진행한 어텐션의 결과를 연결한다" (concatenate the results of the
attentions run in parallel); each head is (seq_len, d_model/h), the result
(seq_len, d_model), and d_k = d_v = d_model/h.
"""

import torch
from torch import nn

from transformer_course.attention import attention_scores, softmax


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """Cut each token's d_model features into h slices of d_k = d_model / h, one per head.

    Head i gets features i·d_k … (i+1)·d_k − 1 of every token.

    Args:
        x: token vectors, already projected (for example by W^Q).
        num_heads: h; must divide d_model.

    Shape:
        x: (B, T, d_model).
        output: (B, h, T, d_k).
    """
    # The features are cut as (h, d_k), then the head axis moves in front of the tokens.
    return x.unflatten(-1, (num_heads, -1)).transpose(-3, -2)  # (B, T, h, d_k) -> (B, h, T, d_k)


def combine_heads(x: torch.Tensor) -> torch.Tensor:
    """Concatenate the heads' outputs token by token: the inverse of ``split_heads``.

    Shape:
        x: (B, h, T, d_k).
        output: (B, T, h·d_k) = (B, T, d_model).
    """
    # The transpose makes the tensor non-contiguous, so flatten copies where view would fail.
    return x.transpose(-3, -2).flatten(-2)  # (B, T, h, d_k) -> (B, T, d_model)


class MultiHeadAttention(nn.Module):
    """Multi-head attention: h attentions over d_k-dimensional slices, concatenated, then W^O.

    MultiHead(Q, K, V) = Concat(head_1, …, head_h) W^O with
    head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V). The h projections W_i^Q of size
    (d_model, d_k) are the column blocks of one (d_model, d_model) layer ``w_q``
    (likewise ``w_k``, ``w_v``), so one matmul projects every head at once.

    Args:
        d_model: size of each token vector; must be divisible by ``num_heads``.
        num_heads: h, the number of heads; each works in d_k = d_v = d_model / h dimensions.
        dropout: probability of zeroing an attention weight while training.

    Shape:
        query: (B, T_q, d_model); key, value: (B, T_k, d_model).
        mask: boolean, True where attention is allowed, broadcasting against
            (B, h, T_q, T_k), e.g. (T_q, T_k), (B, 1, 1, T_k) or (B, 1, T_q, T_k).
        output: (B, T_q, d_model); ``self.attn_weights``: (B, h, T_q, T_k).
    """

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0):
        super().__init__()
        if d_model % num_heads != 0:
            raise ValueError(
                f"d_model = {d_model} is not divisible by num_heads = {num_heads}: every head "
                f"needs d_k = d_model / num_heads features. Pick num_heads among the divisors "
                f"of d_model."
            )
        self.num_heads = num_heads
        self.d_k = d_model // num_heads
        self.w_q = nn.Linear(d_model, d_model)
        self.w_k = nn.Linear(d_model, d_model)
        self.w_v = nn.Linear(d_model, d_model)
        self.w_o = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)
        self.attn_weights = None

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
        # Lesson 02's steps, written out so that dropout can act on the weights before the
        # one product with V.
        scores = attention_scores(q, k)  # (B, h, T_q, T_k), divided by √d_k
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = softmax(scores, dim=-1)  # (B, h, T_q, T_k)
        # Detached: kept for pictures, it must not hold the graph (and its memory) alive.
        self.attn_weights = weights.detach()
        heads = self.dropout(weights) @ v  # (B, h, T_q, T_k) @ (B, h, T_k, d_k)
        return self.w_o(combine_heads(heads))  # (B, T_q, d_model)
