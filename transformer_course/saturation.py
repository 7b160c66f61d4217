"""Lesson 02's experiment: why the scores are divided by √d_k.

Three measurements: how widely the raw dot products q·k spread as d_k grows, how
close the softmax comes to putting all its weight on one key (saturation), and how
much gradient still reaches the scores through a saturated softmax.
"""

import torch


def dot_product_variance(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Sample variance (torch.var's default) of the dot products q_i · k_i of n pairs.

    Args:
        q, k: n sampled vectors each; row i of ``q`` is paired with row i of ``k``.

    Shape:
        q: (n, d_k); k: (n, d_k).
        output: () a scalar tensor.
    """
    return (q * k).sum(dim=-1).var()  # (n, d_k) -> (n,) -> ()


def max_weight(scores: torch.Tensor) -> torch.Tensor:
    """How saturated the softmax is: each row's largest weight, averaged over all rows.

    1 / T_k means every row is uniform; 1 means every row gives all its weight to one key.

    Shape:
        scores: (..., T_q, T_k).
        output: () a scalar tensor.
    """
    weights = torch.softmax(scores, dim=-1)  # (..., T_q, T_k)
    return weights.amax(dim=-1).mean()  # (..., T_q) -> ()


def score_gradient_norm(scores: torch.Tensor, upstream: torch.Tensor) -> torch.Tensor:
    """How much gradient reaches the scores through the softmax.

    The loss is L = Σ softmax(scores) ⊙ upstream: ``upstream`` plays the gradient that
    arrives at the weights from the layers above. Returns the length ‖∂L/∂scores‖ of
    each row's gradient, averaged over all rows.

    Shape:
        scores: (..., T_q, T_k); upstream: the same.
        output: () a scalar tensor.
    """
    scores = scores.detach().requires_grad_()
    loss = (torch.softmax(scores, dim=-1) * upstream).sum()
    (grad,) = torch.autograd.grad(loss, scores)  # (..., T_q, T_k)
    return grad.norm(dim=-1).mean()  # (..., T_q) -> ()
