"""Realistic wrong versions of lesson 00's warm-up, `arrange`; each must lose points."""

from . import Wrong

LESSON = "00_welcome"

ARRANGE = '''def arrange(tokens, order):
    """out[..., i] = tokens[..., order[i]]."""
'''

WRONG = [
    Wrong(
        LESSON,
        "arrange",
        "indexes the first axis: right for one sentence, reorders the batch when there is one",
        ARRANGE + "    return tokens[order]\n",
    ),
    Wrong(
        LESSON,
        "arrange",
        "the inverse permutation: sends token i to place order[i]",
        ARRANGE + "    out = torch.empty_like(tokens)\n    out[..., order] = tokens\n    return out\n",
    ),
    Wrong(
        LESSON,
        "arrange",
        "torch.gather with a 1-D index: only works without batch dims",
        ARRANGE + "    return torch.gather(tokens, -1, torch.as_tensor(order))\n",
    ),
    Wrong(
        LESSON,
        "arrange",
        "stacks the picked columns along a new first axis",
        ARRANGE + "    return torch.stack([tokens[..., i] for i in order])\n",
    ),
    Wrong(
        LESSON,
        "arrange",
        "rearranges the input in place",
        ARRANGE + "    tokens[...] = tokens[..., order]\n    return tokens\n",
    ),
]
