"""Lesson 06: the position-wise feed-forward network, and why it needs its ReLU.

The notes: "은닉층에서 비선형 활성화함수를 사용하기 때문에 비선형성을 추가할 수 있다"
(the hidden layer uses a nonlinear activation function, so it adds nonlinearity).
"""

import torch
from torch import nn


class PositionwiseFeedForward(nn.Module):
    """FFN(x) = max(0, x W_1 + b_1) W_2 + b_2, applied to every position on its own.

    Args:
        d_model: size of each token's vector, in and out.
        d_ff: size of the hidden layer (the paper: 2048 for d_model = 512).
        dropout: probability of zeroing a hidden unit while training; applied after
            the ReLU, as in ``nn.TransformerEncoderLayer``.

    Shape:
        x: (..., T, d_model).
        output: (..., T, d_model).
    """

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0):
        super().__init__()
        self.linear1 = nn.Linear(d_model, d_ff)
        self.linear2 = nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = torch.relu(self.linear1(x))  # (..., T, d_ff)
        return self.linear2(self.dropout(hidden))  # (..., T, d_model)


def collapse_linear(
    w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor, b2: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The one linear layer equal to two stacked linear layers with no activation between.

    In ``nn.Linear``'s layout, y = x Wᵀ + b, so
    (x W_1ᵀ + b_1) W_2ᵀ + b_2 = x (W_2 W_1)ᵀ + (W_2 b_1 + b_2).

    Shape:
        w1: (d_hidden, d_in); b1: (d_hidden,); w2: (d_out, d_hidden); b2: (d_out,).
        output: w (d_out, d_in), b (d_out,).
    """
    w = w2 @ w1  # (d_out, d_hidden) @ (d_hidden, d_in) -> (d_out, d_in)
    b = w2 @ b1 + b2  # (d_out, d_hidden) @ (d_hidden,) -> (d_out,)
    return w, b


def fit_regression(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int = 300, lr: float = 1e-2
) -> torch.Tensor:
    """Fit ``model`` to ``y`` with full-batch Adam on the mean squared error.

    Args:
        model: maps x to a tensor of y's shape; its parameters are trained in place.
        steps: number of Adam steps.
        lr: Adam's learning rate.

    Returns:
        the loss measured before each step.

    Shape:
        x: any shape the model takes; y: the model's output shape.
        output: (steps,), in y's dtype.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
    return torch.stack(losses)  # (steps,)
