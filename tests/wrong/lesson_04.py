"""Realistic wrong versions of lesson 04's exercises (padding, look-ahead and decoder
masks, teacher forcing's shift); each must lose points."""

from . import Wrong

LESSON = "04_masking"

PADDING = '''def padding_mask(tokens, pad_id):
    """(B, T) -> (B, 1, 1, T), True where tokens != pad_id."""
'''
LOOK_AHEAD = '''def look_ahead_mask(size):
    """(T, T), True on and below the diagonal."""
'''
DECODER = '''def decoder_mask(tgt_tokens, pad_id):
    """(B, T) -> (B, 1, T, T): look-ahead and key padding."""
    T = tgt_tokens.size(-1)
'''
SHIFT = '''def shift_right(tokens, bos_id):
    """bos_id, then the tokens without the last."""
'''

WRONG = [
    # padding_mask
    Wrong(
        LESSON,
        "padding_mask",
        "masks the queries: (B, 1, T, 1)",
        PADDING + "    return (tokens != pad_id)[:, None, :, None]\n",
    ),
    Wrong(
        LESSON,
        "padding_mask",
        "inverted: True at the padding",
        PADDING + "    return (tokens == pad_id)[:, None, None, :]\n",
    ),
    Wrong(
        LESSON,
        "padding_mask",
        "additive float mask: 0 for tokens, -inf for padding",
        PADDING + "    mask = torch.where(tokens != pad_id, 0.0, float('-inf'))\n"
        "    return mask[:, None, None, :]\n",
    ),
    Wrong(
        LESSON,
        "padding_mask",
        "0/1 float mask (0 instead of -inf when added to the scores)",
        PADDING + "    return (tokens != pad_id).float()[:, None, None, :]\n",
    ),
    Wrong(
        LESSON, "padding_mask", "forgot the broadcast axes: (B, T)", PADDING + "    return tokens != pad_id\n"
    ),
    Wrong(
        LESSON,
        "padding_mask",
        "pad id hard-coded as 0",
        PADDING + "    return (tokens != 0)[:, None, None, :]\n",
    ),
    Wrong(
        LESSON,
        "padding_mask",
        "builds the mask on the default device",
        PADDING + "    mask = torch.zeros(tokens.shape, dtype=torch.bool)\n"
        "    mask[tokens != pad_id] = True\n"
        "    return mask[:, None, None, :]\n",
    ),
    Wrong(
        LESSON,
        "padding_mask",
        "imports the course's reference (not from scratch)",
        "from transformer_course.masking import padding_mask\n",
    ),
    # look_ahead_mask
    Wrong(
        LESSON,
        "look_ahead_mask",
        "True on and above the diagonal (triu)",
        LOOK_AHEAD + "    return torch.ones(size, size, dtype=torch.bool).triu()\n",
    ),
    Wrong(
        LESSON,
        "look_ahead_mask",
        "off by one: strict lower triangle",
        LOOK_AHEAD + "    return torch.ones(size, size, dtype=torch.bool).tril(-1)\n",
    ),
    Wrong(
        LESSON,
        "look_ahead_mask",
        "nn.MultiheadAttention's rule: True above the diagonal",
        LOOK_AHEAD + "    return torch.ones(size, size, dtype=torch.bool).triu(1)\n",
    ),
    Wrong(
        LESSON,
        "look_ahead_mask",
        "a float 0/1 lower triangle",
        LOOK_AHEAD + "    return torch.tril(torch.ones(size, size))\n",
    ),
    Wrong(
        LESSON,
        "look_ahead_mask",
        "PyTorch's generate_square_subsequent_mask (not from scratch)",
        LOOK_AHEAD + "    return nn.Transformer.generate_square_subsequent_mask(size) == 0\n",
    ),
    # decoder_mask
    Wrong(
        LESSON,
        "decoder_mask",
        "padding on the queries instead of the keys",
        DECODER + "    rows = (tgt_tokens != pad_id)[:, None, :, None]\n"
        "    return rows & look_ahead_mask(T).to(tgt_tokens.device)\n",
    ),
    Wrong(
        LESSON,
        "decoder_mask",
        "padding on both queries and keys",
        DECODER + "    keys = padding_mask(tgt_tokens, pad_id)\n"
        "    future = look_ahead_mask(T).to(tgt_tokens.device)\n"
        "    return keys & keys.transpose(-1, -2) & future\n",
    ),
    Wrong(
        LESSON,
        "decoder_mask",
        "combined with | instead of &",
        DECODER + "    future = look_ahead_mask(T).to(tgt_tokens.device)\n"
        "    return padding_mask(tgt_tokens, pad_id) | future\n",
    ),
    Wrong(
        LESSON,
        "decoder_mask",
        "forgot the padding",
        DECODER + "    future = look_ahead_mask(T).to(tgt_tokens.device)\n"
        "    return future.expand(tgt_tokens.size(0), 1, T, T)\n",
    ),
    Wrong(
        LESSON,
        "decoder_mask",
        "forgot the look-ahead part",
        DECODER + "    return padding_mask(tgt_tokens, pad_id).expand(-1, -1, T, -1)\n",
    ),
    Wrong(
        LESSON,
        "decoder_mask",
        "look-ahead on the CPU whatever the tokens' device",
        DECODER + "    return padding_mask(tgt_tokens, pad_id) & look_ahead_mask(T)\n",
    ),
    Wrong(
        LESSON,
        "decoder_mask",
        "look-ahead transposed (True above the diagonal)",
        DECODER + "    future = look_ahead_mask(T).T.to(tgt_tokens.device)\n"
        "    return padding_mask(tgt_tokens, pad_id) & future\n",
    ),
    Wrong(
        LESSON,
        "decoder_mask",
        "imports the course's reference (not from scratch)",
        "from transformer_course.masking import decoder_mask\n",
    ),
    # shift_right
    Wrong(
        LESSON,
        "shift_right",
        "drops the first token instead of the last",
        SHIFT + "    start = torch.full_like(tokens[..., :1], bos_id)\n"
        "    return torch.cat([start, tokens[..., 1:]], dim=-1)\n",
    ),
    Wrong(
        LESSON,
        "shift_right",
        "rolls the tokens without putting bos_id first",
        SHIFT + "    return torch.roll(tokens, 1, dims=-1)\n",
    ),
    Wrong(
        LESSON,
        "shift_right",
        "prepends bos_id and keeps every token (one longer)",
        SHIFT + "    start = torch.full_like(tokens[..., :1], bos_id)\n"
        "    return torch.cat([start, tokens], dim=-1)\n",
    ),
    Wrong(
        LESSON,
        "shift_right",
        "shifts in place, changing the caller's targets",
        SHIFT + "    tokens[..., 1:] = tokens[..., :-1].clone()\n"
        "    tokens[..., 0] = bos_id\n"
        "    return tokens\n",
    ),
    Wrong(
        LESSON,
        "shift_right",
        "only for (B, T), with bos on the default device",
        SHIFT + "    start = torch.full((tokens.size(0), 1), bos_id)\n"
        "    return torch.cat([start, tokens[:, :-1]], dim=1)\n",
    ),
    Wrong(
        LESSON,
        "shift_right",
        "shifts left: the targets without the first, then bos_id",
        SHIFT + "    end = torch.full_like(tokens[..., :1], bos_id)\n"
        "    return torch.cat([tokens[..., 1:], end], dim=-1)\n",
    ),
    Wrong(
        LESSON,
        "shift_right",
        "imports the course's reference (not from scratch)",
        "from transformer_course.masking import shift_right\n",
    ),
]
