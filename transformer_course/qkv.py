"""Lesson 01: token embeddings and the query, key and value projections.

The notes: "입력값을 임베딩하고, 쿼리 가중치, 키 가중치, 밸류 가중치를 내적한 것이다"
(embed the input, then multiply by the query, key and value weights).
"""

import torch
from torch import nn


def embed(tokens: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Look up each token's row of the embedding table.

    Args:
        tokens: integer token ids in [0, V), with any leading batch dims.
        table: the embedding table, one row of size d_model per token id.

    Shape:
        tokens: (..., T).
        table: (V, d_model).
        output: (..., T, d_model), the dtype and device of `table`.
    """
    return table[tokens]  # (..., T, d_model)


def qkv_per_token(
    x: torch.Tensor, w_q: torch.Tensor, w_k: torch.Tensor, w_v: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Compute q, k, v one token at a time, as the notes first describe it.

    Args:
        x: the embedded tokens of one sentence, one row per token.
        w_q, w_k, w_v: the query, key and value weights W^Q, W^K, W^V.

    Shape:
        x: (T, d_model).
        w_q, w_k, w_v: (d_model, d_k).
        output: three tensors of shape (T, d_k).
    """
    qs, ks, vs = [], [], []
    for x_t in x:  # x_t: (d_model,)
        qs.append(x_t @ w_q)  # (d_k,)
        ks.append(x_t @ w_k)  # (d_k,)
        vs.append(x_t @ w_v)  # (d_k,)
    return torch.stack(qs), torch.stack(ks), torch.stack(vs)  # each (T, d_k)


def qkv_matrix(
    x: torch.Tensor, w_q: torch.Tensor, w_k: torch.Tensor, w_v: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Compute Q = XW^Q, K = XW^K, V = XW^V for every token at once.

    Args:
        x: the embedded tokens, one row per token, with any leading batch dims.
        w_q, w_k, w_v: the query, key and value weights W^Q, W^K, W^V.

    Shape:
        x: (..., T, d_model).
        w_q, w_k, w_v: (d_model, d_k).
        output: three tensors of shape (..., T, d_k).
    """
    return x @ w_q, x @ w_k, x @ w_v  # each (..., T, d_model) @ (d_model, d_k) -> (..., T, d_k)


class QKVProjection(nn.Module):
    """The three learned projections W^Q, W^K, W^V as bias-free linear layers.

    ``nn.Linear`` keeps its weight as (out_features, in_features) = (d_k, d_model)
    and computes x @ weight.T, so ``self.w_q.weight`` is (W^Q)ᵀ.

    Args:
        d_model: size of each token's embedding.
        d_k: size of each query, key and value vector.

    Shape:
        x: (..., T, d_model).
        output: (q, k, v), each (..., T, d_k).
    """

    def __init__(self, d_model: int, d_k: int):
        super().__init__()
        self.w_q = nn.Linear(d_model, d_k, bias=False)
        self.w_k = nn.Linear(d_model, d_k, bias=False)
        self.w_v = nn.Linear(d_model, d_k, bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.w_q(x), self.w_k(x), self.w_v(x)  # each (..., T, d_k)
