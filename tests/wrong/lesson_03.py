"""Realistic wrong versions of lesson 03's exercises (split and combine the heads,
multi-head attention); each must lose points."""

from . import Wrong

LESSON = "03_multi_head"

SPLIT = '''def split_heads(x, num_heads):
    """(B, T, d_model) -> (B, h, T, d_k)."""
    B, T, d_model = x.shape
    d_k = d_model // num_heads
'''
COMBINE = '''def combine_heads(x):
    """(B, h, T, d_k) -> (B, T, d_model)."""
    B, h, T, d_k = x.shape
'''

# A correct module that the variants below break in one place each.
MHA = '''import math

import torch.nn.functional as F

from transformer_course.attention import softmax


class MultiHeadAttention(nn.Module):
    """h attentions over d_k-dimensional slices, concatenated, then W^O."""

    def __init__(self, d_model, num_heads, dropout=0.0):
        super().__init__()
        if d_model % num_heads != 0:
            raise ValueError(f"num_heads = {num_heads} must divide d_model = {d_model}")
        self.num_heads = num_heads
        self.d_model = d_model
        self.d_k = d_model // num_heads
        self.w_q = nn.Linear(d_model, d_model)
        self.w_k = nn.Linear(d_model, d_model)
        self.w_v = nn.Linear(d_model, d_model)
        self.w_o = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)
        self.attn_weights = None

    def forward(self, query, key, value, mask=None):
        q = split_heads(self.w_q(query), self.num_heads)
        k = split_heads(self.w_k(key), self.num_heads)
        v = split_heads(self.w_v(value), self.num_heads)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_k)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = softmax(scores, dim=-1)
        self.attn_weights = weights.detach()
        heads = self.dropout(weights) @ v
        return self.w_o(combine_heads(heads))
'''


def _mha(*edits: tuple[str, str]) -> str:
    """MHA with each (old, new) edit applied; fails loudly if an edit no longer applies."""
    code = MHA
    for old, new in edits:
        if old not in code:
            raise ValueError(f"edit does not apply: {old!r}")
        code = code.replace(old, new)
    return code


WRONG = [
    # split_heads
    Wrong(
        LESSON,
        "split_heads",
        "views (B, T, d_model) directly as (B, h, T, d_k), no transpose",
        SPLIT + "    return x.reshape(B, num_heads, T, d_k)\n",
    ),
    Wrong(
        LESSON,
        "split_heads",
        "splits d_model as (d_k, h): interleaved features per head",
        SPLIT + "    return x.view(B, T, d_k, num_heads).permute(0, 3, 1, 2)\n",
    ),
    Wrong(
        LESSON,
        "split_heads",
        "forgot the transpose: returns (B, T, h, d_k)",
        SPLIT + "    return x.view(B, T, num_heads, d_k)\n",
    ),
    Wrong(
        LESSON,
        "split_heads",
        "transposes the last two axes instead of tokens and heads",
        SPLIT + "    return x.view(B, T, num_heads, d_k).transpose(2, 3)\n",
    ),
    Wrong(
        LESSON,
        "split_heads",
        "imports the course's reference split_heads (not from scratch)",
        "from transformer_course.multi_head import split_heads\n",
    ),
    # combine_heads
    Wrong(
        LESSON,
        "combine_heads",
        "reshapes (B, h, T, d_k) straight to (B, T, d_model)",
        COMBINE + "    return x.reshape(B, T, h * d_k)\n",
    ),
    Wrong(
        LESSON,
        "combine_heads",
        "view after the transpose (fails on non-contiguous input)",
        COMBINE + "    return x.transpose(1, 2).view(B, T, h * d_k)\n",
    ),
    Wrong(
        LESSON,
        "combine_heads",
        "merges the axes as (d_k, h): interleaves the heads",
        COMBINE + "    return x.permute(0, 2, 3, 1).reshape(B, T, h * d_k)\n",
    ),
    Wrong(
        LESSON,
        "combine_heads",
        "averages the heads instead of concatenating them",
        COMBINE + "    return x.mean(dim=1)\n",
    ),
    Wrong(
        LESSON,
        "combine_heads",
        "imports the reference combine_heads (not from scratch)",
        "from transformer_course.multi_head import combine_heads\n",
    ),
    # MultiHeadAttention
    Wrong(
        LESSON,
        "MultiHeadAttention",
        "scales the scores by √d_model instead of √d_k",
        _mha(("/ math.sqrt(self.d_k)", "/ math.sqrt(self.d_model)")),
    ),
    Wrong(
        LESSON,
        "MultiHeadAttention",
        "forgot W^O",
        _mha(("return self.w_o(combine_heads(heads))", "return combine_heads(heads)")),
    ),
    Wrong(
        LESSON,
        "MultiHeadAttention",
        "W^O applied per head, a (d_k, d_k) layer",
        _mha(
            ("self.w_o = nn.Linear(d_model, d_model)", "self.w_o = nn.Linear(self.d_k, self.d_k)"),
            ("self.w_o(combine_heads(heads))", "combine_heads(self.w_o(heads))"),
        ),
    ),
    Wrong(
        LESSON,
        "MultiHeadAttention",
        "heads split inline without the transpose",
        _mha(
            (
                "q = split_heads(self.w_q(query), self.num_heads)",
                "q = self.w_q(query).view(query.size(0), self.num_heads, query.size(1), self.d_k)",
            ),
            (
                "k = split_heads(self.w_k(key), self.num_heads)",
                "k = self.w_k(key).view(key.size(0), self.num_heads, key.size(1), self.d_k)",
            ),
            (
                "v = split_heads(self.w_v(value), self.num_heads)",
                "v = self.w_v(value).view(value.size(0), self.num_heads, value.size(1), self.d_k)",
            ),
            ("self.w_o(combine_heads(heads))", "self.w_o(heads.reshape(query.size(0), query.size(1), -1))"),
        ),
    ),
    Wrong(
        LESSON,
        "MultiHeadAttention",
        "ignores the mask",
        _mha(
            (
                "        if mask is not None:\n            scores = scores.masked_fill"
                '(~mask, float("-inf"))\n',
                "",
            )
        ),
    ),
    Wrong(
        LESSON,
        "MultiHeadAttention",
        "mask with nn.MultiheadAttention's rule (True = blocked)",
        _mha(("masked_fill(~mask,", "masked_fill(mask,")),
    ),
    Wrong(
        LESSON,
        "MultiHeadAttention",
        "masked scores set to 0 instead of -inf",
        _mha(('masked_fill(~mask, float("-inf"))', "masked_fill(~mask, 0.0)")),
    ),
    Wrong(
        LESSON,
        "MultiHeadAttention",
        "mask applied to the weights after the softmax",
        _mha(
            (
                "        if mask is not None:\n            scores = scores.masked_fill"
                '(~mask, float("-inf"))\n',
                "",
            ),
            (
                "        weights = softmax(scores, dim=-1)\n",
                "        weights = softmax(scores, dim=-1)\n"
                "        if mask is not None:\n"
                "            weights = weights * mask\n",
            ),
        ),
    ),
    Wrong(
        LESSON,
        "MultiHeadAttention",
        "softmax over the queries (dim=-2) instead of the keys",
        _mha(("weights = softmax(scores, dim=-1)", "weights = softmax(scores, dim=-2)")),
    ),
    Wrong(
        LESSON,
        "MultiHeadAttention",
        "key and value swapped",
        _mha(("self.w_k(key)", "self.w_k(value)"), ("self.w_v(value)", "self.w_v(key)")),
    ),
    # Right whenever T_q != T_k or query is key is value: only a cross-attention with equal
    # lengths and three different tensors catches these.
    Wrong(
        LESSON,
        "MultiHeadAttention",
        "keys projected from the query when the lengths match",
        _mha(
            (
                "k = split_heads(self.w_k(key), self.num_heads)",
                "k = split_heads(self.w_k(query if query.size(1) == key.size(1) else key), self.num_heads)",
            )
        ),
    ),
    Wrong(
        LESSON,
        "MultiHeadAttention",
        "self-attention shortcut taken on equal shapes",
        _mha(
            (
                "        q = split_heads(self.w_q(query), self.num_heads)\n",
                "        if key.shape == query.shape:  # meant: query is key is value\n"
                "            key = value = query\n"
                "        q = split_heads(self.w_q(query), self.num_heads)\n",
            )
        ),
    ),
    Wrong(
        LESSON,
        "MultiHeadAttention",
        "projections without bias",
        _mha(
            *[
                (
                    f"self.{n} = nn.Linear(d_model, d_model)",
                    f"self.{n} = nn.Linear(d_model, d_model, bias=False)",
                )
                for n in ("w_q", "w_k", "w_v", "w_o")
            ]
        ),
    ),
    Wrong(
        LESSON,
        "MultiHeadAttention",
        "keeps the weights averaged over the heads",
        _mha(("self.attn_weights = weights.detach()", "self.attn_weights = weights.mean(dim=1).detach()")),
    ),
    Wrong(
        LESSON,
        "MultiHeadAttention",
        "assert instead of a ValueError for d_model % h != 0",
        _mha(
            (
                "        if d_model % num_heads != 0:\n            raise ValueError("
                'f"num_heads = {num_heads} must divide d_model = {d_model}")\n',
                '        assert d_model % num_heads == 0, "num_heads must divide d_model"\n',
            )
        ),
    ),
    Wrong(
        LESSON,
        "MultiHeadAttention",
        "F.dropout without training=self.training: drops in eval",
        _mha(("heads = self.dropout(weights) @ v", "heads = F.dropout(weights, self.dropout.p) @ v")),
    ),
    Wrong(
        LESSON,
        "MultiHeadAttention",
        "dropout on the output instead of the attention weights",
        _mha(
            ("heads = self.dropout(weights) @ v", "heads = weights @ v"),
            ("return self.w_o(combine_heads(heads))", "return self.dropout(self.w_o(combine_heads(heads)))"),
        ),
    ),
    Wrong(
        LESSON,
        "MultiHeadAttention",
        "no dropout at all",
        _mha(("heads = self.dropout(weights) @ v", "heads = weights @ v")),
    ),
    Wrong(
        LESSON,
        "MultiHeadAttention",
        "detaches the kept weights and reuses them",
        _mha(
            (
                "self.attn_weights = weights.detach()\n        heads = self.dropout(weights) @ v",
                "self.attn_weights = weights.detach()\n        heads = self.dropout(self.attn_weights) @ v",
            )
        ),
    ),
    Wrong(
        LESSON,
        "MultiHeadAttention",
        "keeps the weights attached to the graph (no detach)",
        _mha(("self.attn_weights = weights.detach()", "self.attn_weights = weights")),
    ),
    Wrong(
        LESSON,
        "MultiHeadAttention",
        "weights from lesson 02's scaled_dot_product_attention, then multiplied by V again",
        _mha(
            (
                "        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_k)\n"
                "        if mask is not None:\n"
                '            scores = scores.masked_fill(~mask, float("-inf"))\n'
                "        weights = softmax(scores, dim=-1)\n",
                "        _, weights = scaled_dot_product_attention(q, k, v, mask)\n",
            )
        ),
    ),
    Wrong(
        LESSON,
        "MultiHeadAttention",
        "calls F.scaled_dot_product_attention (not from scratch)",
        _mha(
            (
                "heads = self.dropout(weights) @ v",
                "heads = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)",
            )
        ),
    ),
    Wrong(
        LESSON,
        "MultiHeadAttention",
        "calls F.multi_head_attention_forward (not from scratch)",
        _mha(
            (
                "        q = split_heads(self.w_q(query), self.num_heads)\n",
                "        out, w = F.multi_head_attention_forward(\n"
                "            query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1),\n"
                "            self.d_model, self.num_heads,\n"
                "            torch.cat([self.w_q.weight, self.w_k.weight, self.w_v.weight]),\n"
                "            torch.cat([self.w_q.bias, self.w_k.bias, self.w_v.bias]),\n"
                "            None, None, False, self.dropout.p, self.w_o.weight, self.w_o.bias,\n"
                "            training=self.training, need_weights=True,\n"
                "            attn_mask=None if mask is None else (~mask).expand(\n"
                "                query.size(0), self.num_heads, query.size(1), key.size(1)\n"
                "            ).reshape(-1, query.size(1), key.size(1)),\n"
                "            average_attn_weights=False)\n"
                "        self.attn_weights = w\n"
                "        return out.transpose(0, 1)\n"
                "        q = split_heads(self.w_q(query), self.num_heads)\n",
            )
        ),
    ),
    Wrong(
        LESSON,
        "MultiHeadAttention",
        "wraps nn.MultiheadAttention (not from scratch)",
        """class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, num_heads, dropout=0.0):
        super().__init__()
        if d_model % num_heads != 0:
            raise ValueError("num_heads must divide d_model")
        self.num_heads = num_heads
        self.w_q = nn.Linear(d_model, d_model)
        self.w_k = nn.Linear(d_model, d_model)
        self.w_v = nn.Linear(d_model, d_model)
        self.w_o = nn.Linear(d_model, d_model)
        self.torch_mha = nn.MultiheadAttention(d_model, num_heads, dropout, batch_first=True)

    def forward(self, query, key, value, mask=None):
        mha = self.torch_mha
        mha.in_proj_weight = nn.Parameter(torch.cat([self.w_q.weight, self.w_k.weight,
                                                     self.w_v.weight]))
        mha.in_proj_bias = nn.Parameter(torch.cat([self.w_q.bias, self.w_k.bias, self.w_v.bias]))
        mha.out_proj = self.w_o
        attn_mask = None
        if mask is not None:
            attn_mask = (~mask).expand(query.size(0), self.num_heads, query.size(1),
                                       key.size(1)).reshape(-1, query.size(1), key.size(1))
        out, self.attn_weights = mha(query, key, value, attn_mask=attn_mask,
                                     need_weights=True, average_attn_weights=False)
        return out
""",
    ),
    Wrong(
        LESSON,
        "MultiHeadAttention",
        "imports the course's reference module (not from scratch)",
        "from transformer_course.multi_head import MultiHeadAttention\n",
    ),
]
