"""Lesson 04: the masks that hide padding and the future, and teacher forcing's shift.

The notes: the decoder's self-attention masks QKᵀ, setting scores to −∞ "정보의
유출을 막기 위해" (to stop information leaking), and training uses teacher forcing
with a look-ahead mask so that every position is computed in parallel.

Every mask is boolean, True where attention is allowed, and broadcasts against
scores of shape (B, h, T_q, T_k).
"""

import torch


def padding_mask(tokens: torch.Tensor, pad_id: int) -> torch.Tensor:
    """Allow attention to every real token and to no padding token.

    Padding is hidden as a key (a column of the scores): no query may read it.

    Args:
        tokens: token ids, padded at the end with ``pad_id``.
        pad_id: the id of the padding token.

    Shape:
        tokens: (B, T).
        output: (B, 1, 1, T), boolean; broadcasts over heads and queries.
    """
    return (tokens != pad_id)[:, None, None, :]  # (B, 1, 1, T)


def look_ahead_mask(size: int) -> torch.Tensor:
    """Allow query i to attend to keys 0 … i: itself and what came before, never after.

    Args:
        size: T, the sequence length.

    Shape:
        output: (T, T), boolean, True on and below the diagonal.
    """
    return torch.ones(size, size, dtype=torch.bool).tril()  # (T, T)


def decoder_mask(tgt_tokens: torch.Tensor, pad_id: int) -> torch.Tensor:
    """The decoder self-attention's mask: no future keys and no padding keys.

    Args:
        tgt_tokens: the decoder's input ids, padded at the end with ``pad_id``.
        pad_id: the id of the padding token.

    Shape:
        tgt_tokens: (B, T).
        output: (B, 1, T, T), boolean, on ``tgt_tokens``' device.
    """
    future = look_ahead_mask(tgt_tokens.size(-1)).to(tgt_tokens.device)  # (T, T)
    return padding_mask(tgt_tokens, pad_id) & future  # (B, 1, 1, T) & (T, T) -> (B, 1, T, T)


def shift_right(tokens: torch.Tensor, bos_id: int) -> torch.Tensor:
    """Teacher forcing's decoder input: ``bos_id``, then the targets without their last token.

    Position i of the result holds target i − 1, so the decoder that reads it
    predicts target i from the targets before it.

    Shape:
        tokens: (..., T).
        output: (..., T), same dtype and device.
    """
    start = torch.full_like(tokens[..., :1], bos_id)  # (..., 1)
    return torch.cat([start, tokens[..., :-1]], dim=-1)  # (..., 1) + (..., T - 1) -> (..., T)
