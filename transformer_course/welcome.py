"""Lesson 00: the warm-up exercise, putting known words in order.

The notes: "'장미', '는', '꽃', '이다'를 어떻게 배열할 것인지에 대한 문제"
(the problem is how to arrange 장미, 는, 꽃, 이다).
"""

import torch


def arrange(tokens: torch.Tensor, order: list[int] | torch.Tensor) -> torch.Tensor:
    """Put the tokens of every sequence in a new order: out[..., i] = tokens[..., order[i]].

    Args:
        tokens: token ids (or any values), batch-first, with any leading batch dims.
        order: positions along the token axis, a list of ints or a 1-D long tensor;
            it may be shorter than T and may repeat a position.

    Shape:
        tokens: (..., T).
        order: (L,), each entry in [0, T).
        output: (..., L), the dtype and device of `tokens`.
    """
    return tokens[..., order]  # (..., L)
