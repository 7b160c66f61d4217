"""Realistic wrong versions of lesson 01's exercises (embedding, Q, K, V per token and
as matrices, the QKVProjection module); each must lose points."""

from . import Wrong

LESSON = "01_qkv"

EMBED = '''def embed(tokens, table):
    """Each token's row of the table."""
'''
PER_TOKEN = '''def qkv_per_token(x, w_q, w_k, w_v):
    """q, k, v one token at a time."""
'''
MATRIX = '''def qkv_matrix(x, w_q, w_k, w_v):
    """Q = XW^Q, K = XW^K, V = XW^V."""
'''


def _projection(init: str, forward: str) -> str:
    return (
        "class QKVProjection(nn.Module):\n"
        "    def __init__(self, d_model, d_k):\n"
        "        super().__init__()\n" + init + "\n    def forward(self, x):\n" + forward
    )


LINEARS = (
    "        self.w_q = nn.Linear(d_model, d_k, bias=False)\n"
    "        self.w_k = nn.Linear(d_model, d_k, bias=False)\n"
    "        self.w_v = nn.Linear(d_model, d_k, bias=False)\n"
)
CALLS = "        return self.w_q(x), self.w_k(x), self.w_v(x)\n"

WRONG = [
    # embed
    Wrong(
        LESSON,
        "embed",
        "calls torch.nn.functional.embedding instead of writing it",
        EMBED + "    return F.embedding(tokens, table)\n",
    ),
    Wrong(
        LESSON,
        "embed",
        "imports the course's reference version",
        EMBED + "    from transformer_course.qkv import embed as reference\n"
        "    return reference(tokens, table)\n",
    ),
    Wrong(
        LESSON,
        "embed",
        "one-hot without num_classes: its width is the largest id + 1, not V",
        EMBED + "    return F.one_hot(tokens).to(table.dtype) @ table\n",
    ),
    Wrong(
        LESSON,
        "embed",
        "one-hot cast to float32: fails for a float64 table",
        EMBED + "    return F.one_hot(tokens, table.shape[0]).float() @ table\n",
    ),
    Wrong(
        LESSON,
        "embed",
        "builds a new tensor from Python lists: no gradient reaches the table",
        EMBED + "    return torch.tensor(table[tokens].tolist(), dtype=table.dtype)\n",
    ),
    Wrong(
        LESSON,
        "embed",
        "flattens the tokens: loses the batch dims",
        EMBED + "    return table[tokens.flatten()]\n",
    ),
    # qkv_per_token
    Wrong(
        LESSON,
        "qkv_per_token",
        "v computed with w_k",
        PER_TOKEN + "    qs, ks, vs = [], [], []\n"
        "    for x_t in x:\n"
        "        qs.append(x_t @ w_q)\n"
        "        ks.append(x_t @ w_k)\n"
        "        vs.append(x_t @ w_k)\n"
        "    return torch.stack(qs), torch.stack(ks), torch.stack(vs)\n",
    ),
    Wrong(
        LESSON,
        "qkv_per_token",
        "torch.cat instead of torch.stack: one long vector",
        PER_TOKEN + "    qs, ks, vs = [], [], []\n"
        "    for x_t in x:\n"
        "        qs.append(x_t @ w_q)\n"
        "        ks.append(x_t @ w_k)\n"
        "        vs.append(x_t @ w_v)\n"
        "    return torch.cat(qs), torch.cat(ks), torch.cat(vs)\n",
    ),
    Wrong(
        LESSON,
        "qkv_per_token",
        "results preallocated with torch.zeros: always float32",
        PER_TOKEN + "    T, d_k = x.shape[0], w_q.shape[1]\n"
        "    q, k, v = torch.zeros(T, d_k), torch.zeros(T, d_k), torch.zeros(T, d_k)\n"
        "    for t in range(T):\n"
        "        q[t] = x[t] @ w_q\n"
        "        k[t] = x[t] @ w_k\n"
        "        v[t] = x[t] @ w_v\n"
        "    return q, k, v\n",
    ),
    Wrong(
        LESSON,
        "qkv_per_token",
        "rows gathered with .tolist(): no gradient",
        PER_TOKEN + "    q = torch.tensor([(x_t @ w_q).tolist() for x_t in x], dtype=x.dtype)\n"
        "    k = torch.tensor([(x_t @ w_k).tolist() for x_t in x], dtype=x.dtype)\n"
        "    v = torch.tensor([(x_t @ w_v).tolist() for x_t in x], dtype=x.dtype)\n"
        "    return q, k, v\n",
    ),
    Wrong(
        LESSON,
        "qkv_per_token",
        "multiplies by the transposed weights (nn.Linear's layout)",
        PER_TOKEN + "    qs, ks, vs = [], [], []\n"
        "    for x_t in x:\n"
        "        qs.append(x_t @ w_q.T)\n"
        "        ks.append(x_t @ w_k.T)\n"
        "        vs.append(x_t @ w_v.T)\n"
        "    return torch.stack(qs), torch.stack(ks), torch.stack(vs)\n",
    ),
    # qkv_matrix
    Wrong(
        LESSON,
        "qkv_matrix",
        "torch.mm: only works without batch dims",
        MATRIX + "    return torch.mm(x, w_q), torch.mm(x, w_k), torch.mm(x, w_v)\n",
    ),
    Wrong(
        LESSON,
        "qkv_matrix",
        "einsum written for exactly one batch dim",
        MATRIX + "    return (torch.einsum('btd,dk->btk', x, w_q), torch.einsum('btd,dk->btk', x, w_k),\n"
        "            torch.einsum('btd,dk->btk', x, w_v))\n",
    ),
    Wrong(LESSON, "qkv_matrix", "returns (q, v, k)", MATRIX + "    return x @ w_q, x @ w_v, x @ w_k\n"),
    Wrong(
        LESSON,
        "qkv_matrix",
        "flattens the batch dims and never restores them",
        MATRIX + "    flat = x.reshape(-1, x.shape[-1])\n    return flat @ w_q, flat @ w_k, flat @ w_v\n",
    ),
    Wrong(
        LESSON,
        "qkv_matrix",
        "multiplies by the transposed weights (nn.Linear's layout)",
        MATRIX + "    return x @ w_q.T, x @ w_k.T, x @ w_v.T\n",
    ),
    # QKVProjection
    Wrong(
        LESSON,
        "QKVProjection",
        "nn.Linear with its default bias",
        _projection(
            "        self.w_q = nn.Linear(d_model, d_k)\n"
            "        self.w_k = nn.Linear(d_model, d_k)\n"
            "        self.w_v = nn.Linear(d_model, d_k)\n",
            CALLS,
        ),
    ),
    Wrong(
        LESSON,
        "QKVProjection",
        "multiplies by .weight without transposing (square case only runs)",
        _projection(
            LINEARS, "        return x @ self.w_q.weight, x @ self.w_k.weight, x @ self.w_v.weight\n"
        ),
    ),
    Wrong(
        LESSON,
        "QKVProjection",
        "k used for v",
        _projection(LINEARS, "        return self.w_q(x), self.w_k(x), self.w_k(x)\n"),
    ),
    Wrong(
        LESSON,
        "QKVProjection",
        "returns (k, q, v)",
        _projection(LINEARS, "        return self.w_k(x), self.w_q(x), self.w_v(x)\n"),
    ),
    Wrong(
        LESSON,
        "QKVProjection",
        "nn.Linear(d_k, d_model): in and out features swapped",
        _projection(
            "        self.w_q = nn.Linear(d_k, d_model, bias=False)\n"
            "        self.w_k = nn.Linear(d_k, d_model, bias=False)\n"
            "        self.w_v = nn.Linear(d_k, d_model, bias=False)\n",
            "        return x @ self.w_q.weight, x @ self.w_k.weight, x @ self.w_v.weight\n",
        ),
    ),
    Wrong(
        LESSON,
        "QKVProjection",
        "raw (d_model, d_k) parameters instead of nn.Linear layers",
        _projection(
            "        self.w_q = nn.Parameter(torch.randn(d_model, d_k))\n"
            "        self.w_k = nn.Parameter(torch.randn(d_model, d_k))\n"
            "        self.w_v = nn.Parameter(torch.randn(d_model, d_k))\n",
            "        return x @ self.w_q, x @ self.w_k, x @ self.w_v\n",
        ),
    ),
    Wrong(
        LESSON,
        "QKVProjection",
        "subclasses the course's reference module",
        "import transformer_course.qkv\n\n\n"
        "class QKVProjection(transformer_course.qkv.QKVProjection):\n"
        "    pass\n",
    ),
]
