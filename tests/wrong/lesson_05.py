"""Wrong implementations of lesson 05 (cross-attention and alignment)."""

from . import Wrong

LESSON = "05_cross_attention"


def _cross_attention(body: str) -> Wrong:
    return "def cross_attention(decoder_x, encoder_out, w_q, w_k, w_v, src_mask=None):\n" + body


WRONG = [
    Wrong(
        LESSON,
        "cross_attention",
        "queries from the encoder, keys and values from the decoder",
        _cross_attention(
            "    q = encoder_out @ w_q\n"
            "    k = decoder_x @ w_k\n"
            "    v = decoder_x @ w_v\n"
            "    return scaled_dot_product_attention(q, k, v, src_mask)\n"
        ),
    ),
    Wrong(
        LESSON,
        "cross_attention",
        "keys and values from the decoder (self-attention)",
        _cross_attention(
            "    q = decoder_x @ w_q\n"
            "    k = decoder_x @ w_k\n"
            "    v = decoder_x @ w_v\n"
            "    return scaled_dot_product_attention(q, k, v)\n"
        ),
    ),
    Wrong(
        LESSON,
        "cross_attention",
        "keys from the decoder, values from the encoder",
        _cross_attention(
            "    q = decoder_x @ w_q\n"
            "    k = decoder_x @ w_k\n"
            "    v = encoder_out @ w_v\n"
            "    return scaled_dot_product_attention(q, k, v, src_mask)\n"
        ),
    ),
    # Right whenever T_tgt != T_src: only equal lengths with different sequences catch these.
    Wrong(
        LESSON,
        "cross_attention",
        "equal lengths taken for self-attention",
        _cross_attention(
            "    q = decoder_x @ w_q\n"
            "    if encoder_out.shape == decoder_x.shape:  # meant: encoder_out is decoder_x\n"
            "        encoder_out = decoder_x\n"
            "    k = encoder_out @ w_k\n"
            "    v = encoder_out @ w_v\n"
            "    return scaled_dot_product_attention(q, k, v, src_mask)\n"
        ),
    ),
    Wrong(
        LESSON,
        "cross_attention",
        "values from the decoder when the lengths match",
        _cross_attention(
            "    q = decoder_x @ w_q\n"
            "    k = encoder_out @ w_k\n"
            "    same = decoder_x.size(-2) == encoder_out.size(-2)\n"
            "    v = (decoder_x if same else encoder_out) @ w_v\n"
            "    return scaled_dot_product_attention(q, k, v, src_mask)\n"
        ),
    ),
    Wrong(
        LESSON,
        "cross_attention",
        "mask on the queries (transposed)",
        _cross_attention(
            "    q = decoder_x @ w_q\n"
            "    k = encoder_out @ w_k\n"
            "    v = encoder_out @ w_v\n"
            "    if src_mask is not None:\n"
            "        src_mask = src_mask.transpose(-2, -1)\n"
            "    return scaled_dot_product_attention(q, k, v, src_mask)\n"
        ),
    ),
    Wrong(
        LESSON,
        "cross_attention",
        "source mask ignored",
        _cross_attention(
            "    q = decoder_x @ w_q\n"
            "    k = encoder_out @ w_k\n"
            "    v = encoder_out @ w_v\n"
            "    return scaled_dot_product_attention(q, k, v)\n"
        ),
    ),
    Wrong(
        LESSON,
        "cross_attention",
        "mask applied after the softmax",
        _cross_attention(
            "    q = decoder_x @ w_q\n"
            "    k = encoder_out @ w_k\n"
            "    v = encoder_out @ w_v\n"
            "    weights = torch.softmax(q @ k.transpose(-2, -1) / q.size(-1) ** 0.5, dim=-1)\n"
            "    if src_mask is not None:\n"
            "        weights = weights * src_mask\n"
            "    return weights @ v, weights\n"
        ),
    ),
    Wrong(
        LESSON,
        "cross_attention",
        "values projected with w_k",
        _cross_attention(
            "    q = decoder_x @ w_q\n"
            "    k = encoder_out @ w_k\n"
            "    return scaled_dot_product_attention(q, k, k, src_mask)\n"
        ),
    ),
    Wrong(
        LESSON,
        "cross_attention",
        "scores not scaled by sqrt(d_k)",
        _cross_attention(
            "    q = decoder_x @ w_q\n"
            "    k = encoder_out @ w_k\n"
            "    v = encoder_out @ w_v\n"
            "    scores = q @ k.transpose(-2, -1)\n"
            "    if src_mask is not None:\n"
            "        scores = scores.masked_fill(~src_mask, float('-inf'))\n"
            "    weights = torch.softmax(scores, dim=-1)\n"
            "    return weights @ v, weights\n"
        ),
    ),
    Wrong(
        LESSON,
        "cross_attention",
        "calls torch's fused scaled_dot_product_attention",
        "import torch.nn.functional as F\n\n\n"
        + _cross_attention(
            "    q = decoder_x @ w_q\n"
            "    k = encoder_out @ w_k\n"
            "    v = encoder_out @ w_v\n"
            "    scores = q @ k.transpose(-2, -1) / q.size(-1) ** 0.5\n"
            "    if src_mask is not None:\n"
            "        scores = scores.masked_fill(~src_mask, float('-inf'))\n"
            "    weights = torch.softmax(scores, dim=-1)\n"
            "    return F.scaled_dot_product_attention(q, k, v, attn_mask=src_mask), weights\n"
        ),
    ),
    Wrong(
        LESSON,
        "cross_attention",
        "imports the course's reference cross_attention",
        "from transformer_course.cross_attention import cross_attention  # noqa: F401\n",
    ),
    Wrong(
        LESSON,
        "alignment",
        "argmax over the queries",
        "def alignment(weights):\n    return weights.argmax(dim=-2)\n",
    ),
    Wrong(
        LESSON,
        "alignment",
        "argmax over dim=1 (right only for 2-D weights)",
        "def alignment(weights):\n    return weights.argmax(dim=1)\n",
    ),
    Wrong(
        LESSON,
        "alignment",
        "returns the largest weights instead of their indices",
        "def alignment(weights):\n    return weights.max(dim=-1).values\n",
    ),
    Wrong(
        LESSON,
        "alignment",
        "argmax of the flattened weights",
        "def alignment(weights):\n    return weights.argmax()\n",
    ),
    Wrong(
        LESSON,
        "alignment",
        "imports the course's reference alignment",
        "from transformer_course.cross_attention import alignment  # noqa: F401\n",
    ),
]
