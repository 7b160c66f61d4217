"""Realistic wrong versions of lesson 02's exercises (scores, softmax, attention, the
√d_k experiment); each must lose points."""

from . import Wrong

LESSON = "02_scaled_dot_product"

SCORES = '''def attention_scores(q, k):
    """QKᵀ / √d_k."""
'''
SOFTMAX = '''def softmax(x, dim=-1):
    """Softmax along dim."""
'''
ATTENTION = '''def scaled_dot_product_attention(q, k, v, mask=None):
    """softmax(QKᵀ / √d_k) V."""
'''
CHECKED_MASK = """    if mask is not None and mask.dtype != torch.bool:
        raise TypeError("mask must be boolean")
"""
VARIANCE = '''def dot_product_variance(q, k):
    """Variance of the dot products q_i · k_i."""
'''
MAX_WEIGHT = '''def max_weight(scores):
    """Mean of each row's largest softmax weight."""
'''
GRADIENT = '''def score_gradient_norm(scores, upstream):
    """Mean length of each row's gradient of Σ softmax(scores) ⊙ upstream."""
'''


def _attention(body: str, check: str = CHECKED_MASK) -> str:
    return ATTENTION + check + body


WRONG = [
    # attention_scores
    Wrong(
        LESSON,
        "attention_scores",
        "forgot to divide by √d_k",
        SCORES + "    return q @ k.transpose(-2, -1)\n",
    ),
    Wrong(
        LESSON,
        "attention_scores",
        "divides by d_k instead of √d_k (the notes' wording)",
        SCORES + "    return q @ k.transpose(-2, -1) / q.size(-1)\n",
    ),
    Wrong(
        LESSON,
        "attention_scores",
        "transposes q instead of k",
        SCORES + "    return q.transpose(-2, -1) @ k / math.sqrt(q.size(-1))\n",
    ),
    Wrong(
        LESSON,
        "attention_scores",
        "scores transposed: K Qᵀ, a row per key",
        SCORES + "    return k @ q.transpose(-2, -1) / math.sqrt(q.size(-1))\n",
    ),
    Wrong(
        LESSON,
        "attention_scores",
        "scales by √T (the sequence length) instead of √d_k",
        SCORES + "    return q @ k.transpose(-2, -1) / math.sqrt(q.size(-2))\n",
    ),
    Wrong(
        LESSON,
        "attention_scores",
        "k.T, which only works without batch dimensions",
        SCORES + "    return q @ k.T / math.sqrt(q.size(-1))\n",
    ),
    # softmax
    Wrong(
        LESSON,
        "softmax",
        "unstable: no max subtraction, exp overflows to nan",
        SOFTMAX + "    e = torch.exp(x)\n    return e / e.sum(dim=dim, keepdim=True)\n",
    ),
    Wrong(
        LESSON,
        "softmax",
        "always over the last dimension, ignoring dim",
        SOFTMAX + "    e = torch.exp(x - x.amax(dim=-1, keepdim=True))\n"
        "    return e / e.sum(dim=-1, keepdim=True)\n",
    ),
    Wrong(
        LESSON,
        "softmax",
        "over the first dimension (columns of a matrix)",
        SOFTMAX + "    e = torch.exp(x - x.amax(dim=0, keepdim=True))\n"
        "    return e / e.sum(dim=0, keepdim=True)\n",
    ),
    Wrong(
        LESSON,
        "softmax",
        "max and sum without keepdim: broadcasts along the wrong axis",
        SOFTMAX + "    e = torch.exp(x - x.amax(dim=dim))\n    return e / e.sum(dim=dim)\n",
    ),
    Wrong(
        LESSON,
        "softmax",
        "stable, but an all -inf row gives nan instead of zeros",
        SOFTMAX + "    e = torch.exp(x - x.amax(dim=dim, keepdim=True))\n"
        "    return e / e.sum(dim=dim, keepdim=True)\n",
    ),
    Wrong(
        LESSON,
        "softmax",
        "calls torch.softmax (not from scratch)",
        SOFTMAX + "    return torch.softmax(x, dim=dim).nan_to_num(0.0)\n",
    ),
    Wrong(
        LESSON,
        "softmax",
        "imports the course's reference softmax (not from scratch)",
        "from transformer_course.attention import softmax\n",
    ),
    # scaled_dot_product_attention
    Wrong(
        LESSON,
        "scaled_dot_product_attention",
        "forgot to divide the scores by √d_k",
        _attention(
            "    scores = q @ k.transpose(-2, -1)\n"
            "    if mask is not None:\n"
            "        scores = scores.masked_fill(~mask, float('-inf'))\n"
            "    weights = softmax(scores, dim=-1)\n"
            "    return weights @ v, weights\n"
        ),
    ),
    Wrong(
        LESSON,
        "scaled_dot_product_attention",
        "softmax over the queries (dim=-2)",
        _attention(
            "    scores = attention_scores(q, k)\n"
            "    if mask is not None:\n"
            "        scores = scores.masked_fill(~mask, float('-inf'))\n"
            "    weights = softmax(scores, dim=-2)\n"
            "    return weights @ v, weights\n"
        ),
    ),
    Wrong(
        LESSON,
        "scaled_dot_product_attention",
        "mask applied to the weights after the softmax",
        _attention(
            "    weights = softmax(attention_scores(q, k), dim=-1)\n"
            "    if mask is not None:\n"
            "        weights = weights.masked_fill(~mask, 0.0)\n"
            "    return weights @ v, weights\n"
        ),
    ),
    Wrong(
        LESSON,
        "scaled_dot_product_attention",
        "mask with inverted meaning (True = blocked)",
        _attention(
            "    scores = attention_scores(q, k)\n"
            "    if mask is not None:\n"
            "        scores = scores.masked_fill(mask, float('-inf'))\n"
            "    weights = softmax(scores, dim=-1)\n"
            "    return weights @ v, weights\n"
        ),
    ),
    Wrong(
        LESSON,
        "scaled_dot_product_attention",
        "masked_fill with 0 instead of -inf",
        _attention(
            "    scores = attention_scores(q, k)\n"
            "    if mask is not None:\n"
            "        scores = scores.masked_fill(~mask, 0.0)\n"
            "    weights = softmax(scores, dim=-1)\n"
            "    return weights @ v, weights\n"
        ),
    ),
    Wrong(
        LESSON,
        "scaled_dot_product_attention",
        "masked_fill with -1e9: a fully masked query gets uniform weights instead of zeros",
        _attention(
            "    scores = attention_scores(q, k)\n"
            "    if mask is not None:\n"
            "        scores = scores.masked_fill(~mask, -1e9)\n"
            "    weights = softmax(scores, dim=-1)\n"
            "    return weights @ v, weights\n"
        ),
    ),
    Wrong(
        LESSON,
        "scaled_dot_product_attention",
        "returns (weights, output), swapped",
        _attention(
            "    scores = attention_scores(q, k)\n"
            "    if mask is not None:\n"
            "        scores = scores.masked_fill(~mask, float('-inf'))\n"
            "    weights = softmax(scores, dim=-1)\n"
            "    return weights, weights @ v\n"
        ),
    ),
    Wrong(
        LESSON,
        "scaled_dot_product_attention",
        "accepts any mask (mask == 0), no TypeError",
        _attention(
            "    scores = attention_scores(q, k)\n"
            "    if mask is not None:\n"
            "        scores = scores.masked_fill(mask == 0, float('-inf'))\n"
            "    weights = softmax(scores, dim=-1)\n"
            "    return weights @ v, weights\n",
            check="",
        ),
    ),
    Wrong(
        LESSON,
        "scaled_dot_product_attention",
        "output from F.scaled_dot_product_attention (not from scratch)",
        _attention(
            "    scores = attention_scores(q, k)\n"
            "    if mask is not None:\n"
            "        scores = scores.masked_fill(~mask, float('-inf'))\n"
            "    weights = softmax(scores, dim=-1)\n"
            "    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask), weights\n"
        ),
    ),
    # dot_product_variance
    Wrong(
        LESSON,
        "dot_product_variance",
        "variance of the elementwise products, not summed",
        VARIANCE + "    return (q * k).var()\n",
    ),
    Wrong(
        LESSON,
        "dot_product_variance",
        "standard deviation instead of variance",
        VARIANCE + "    return (q * k).sum(dim=-1).std()\n",
    ),
    Wrong(
        LESSON,
        "dot_product_variance",
        "measures the scaled dot products q·k/√d_k",
        VARIANCE + "    return ((q * k).sum(dim=-1) / math.sqrt(q.size(-1))).var()\n",
    ),
    Wrong(
        LESSON,
        "dot_product_variance",
        "variance of every pair q_i·k_j (q @ kᵀ)",
        VARIANCE + "    return (q @ k.T).var()\n",
    ),
    # max_weight
    Wrong(
        LESSON,
        "max_weight",
        "largest weight of each column",
        MAX_WEIGHT + "    return torch.softmax(scores, dim=-1).amax(dim=-2).mean()\n",
    ),
    Wrong(
        LESSON,
        "max_weight",
        "softmax over the queries (dim=-2)",
        MAX_WEIGHT + "    return torch.softmax(scores, dim=-2).amax(dim=-1).mean()\n",
    ),
    Wrong(
        LESSON,
        "max_weight",
        "the largest weight overall instead of the mean over rows",
        MAX_WEIGHT + "    return torch.softmax(scores, dim=-1).max()\n",
    ),
    Wrong(
        LESSON,
        "max_weight",
        "forgot the softmax: averages the largest scores",
        MAX_WEIGHT + "    return scores.amax(dim=-1).mean()\n",
    ),
    # score_gradient_norm
    Wrong(
        LESSON,
        "score_gradient_norm",
        "differentiates with respect to the weights, not the scores",
        GRADIENT + "    weights = torch.softmax(scores.detach(), dim=-1).requires_grad_()\n"
        "    (grad,) = torch.autograd.grad((weights * upstream).sum(), weights)\n"
        "    return grad.norm(dim=-1).mean()\n",
    ),
    Wrong(
        LESSON,
        "score_gradient_norm",
        "loss is the sum of the weights (always T_q): zero gradient",
        GRADIENT + "    scores = scores.detach().requires_grad_()\n"
        "    (grad,) = torch.autograd.grad(torch.softmax(scores, dim=-1).sum(), scores)\n"
        "    return grad.norm(dim=-1).mean()\n",
    ),
    Wrong(
        LESSON,
        "score_gradient_norm",
        "norm of the whole gradient instead of the mean row norm",
        GRADIENT + "    scores = scores.detach().requires_grad_()\n"
        "    loss = (torch.softmax(scores, dim=-1) * upstream).sum()\n"
        "    (grad,) = torch.autograd.grad(loss, scores)\n"
        "    return grad.norm()\n",
    ),
    Wrong(
        LESSON,
        "score_gradient_norm",
        "mean of squared row norms (forgot the square root)",
        GRADIENT + "    scores = scores.detach().requires_grad_()\n"
        "    loss = (torch.softmax(scores, dim=-1) * upstream).sum()\n"
        "    (grad,) = torch.autograd.grad(loss, scores)\n"
        "    return grad.pow(2).sum(dim=-1).mean()\n",
    ),
]
