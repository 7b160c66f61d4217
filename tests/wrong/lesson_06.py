"""Wrong implementations of lesson 06 (position-wise FFN, collapse_linear, fit_regression)."""

from . import Wrong

LESSON = "06_feed_forward"


def _ffn(init: str, forward: str) -> str:
    return (
        "class PositionwiseFeedForward(nn.Module):\n"
        "    def __init__(self, d_model, d_ff, dropout=0.0):\n"
        "        super().__init__()\n" + init + "\n"
        "    def forward(self, x):\n" + forward
    )


_INIT = (
    "        self.linear1 = nn.Linear(d_model, d_ff)\n"
    "        self.linear2 = nn.Linear(d_ff, d_model)\n"
    "        self.dropout = nn.Dropout(dropout)\n"
)


def _fit(body: str) -> str:
    return "def fit_regression(model, x, y, steps=300, lr=1e-2):\n" + body


_LOOP_END = (
    "        loss.backward()\n"
    "        optimizer.step()\n"
    "        losses.append(loss.detach())\n"
    "    return torch.stack(losses)\n"
)

WRONG = [
    Wrong(
        LESSON,
        "PositionwiseFeedForward",
        "missing ReLU",
        _ffn(_INIT, "        return self.linear2(self.dropout(self.linear1(x)))\n"),
    ),
    Wrong(
        LESSON,
        "PositionwiseFeedForward",
        "ReLU after linear2 as well",
        _ffn(
            _INIT,
            "        h = self.dropout(torch.relu(self.linear1(x)))\n"
            "        return torch.relu(self.linear2(h))\n",
        ),
    ),
    Wrong(
        LESSON,
        "PositionwiseFeedForward",
        "ReLU after linear2 instead of between",
        _ffn(_INIT, "        return torch.relu(self.linear2(self.dropout(self.linear1(x))))\n"),
    ),
    Wrong(
        LESSON,
        "PositionwiseFeedForward",
        "linear layers without bias",
        _ffn(
            "        self.linear1 = nn.Linear(d_model, d_ff, bias=False)\n"
            "        self.linear2 = nn.Linear(d_ff, d_model, bias=False)\n"
            "        self.dropout = nn.Dropout(dropout)\n",
            "        return self.linear2(self.dropout(torch.relu(self.linear1(x))))\n",
        ),
    ),
    Wrong(
        LESSON,
        "PositionwiseFeedForward",
        "dropout on the output of linear2",
        _ffn(_INIT, "        return self.dropout(self.linear2(torch.relu(self.linear1(x))))\n"),
    ),
    Wrong(
        LESSON,
        "PositionwiseFeedForward",
        "GELU instead of ReLU",
        _ffn(
            _INIT,
            "        h = nn.functional.gelu(self.linear1(x))\n        return self.linear2(self.dropout(h))\n",
        ),
    ),
    Wrong(
        LESSON,
        "PositionwiseFeedForward",
        "imports the course's reference module",
        "from transformer_course.feed_forward import PositionwiseFeedForward  # noqa: F401\n",
    ),
    Wrong(
        LESSON,
        "collapse_linear",
        "weights multiplied in the wrong order (W1 W2)",
        "def collapse_linear(w1, b1, w2, b2):\n    return w1 @ w2, w2 @ b1 + b2\n",
    ),
    Wrong(
        LESSON,
        "collapse_linear",
        "bias b1 dropped",
        "def collapse_linear(w1, b1, w2, b2):\n    return w2 @ w1, b2\n",
    ),
    Wrong(
        LESSON,
        "collapse_linear",
        "b1 added without passing through W2",
        "def collapse_linear(w1, b1, w2, b2):\n    return w2 @ w1, b1 + b2\n",
    ),
    Wrong(
        LESSON,
        "collapse_linear",
        "x @ W layout instead of nn.Linear's",
        "def collapse_linear(w1, b1, w2, b2):\n    return w1.T @ w2.T, b1 @ w2.T + b2\n",
    ),
    Wrong(
        LESSON,
        "collapse_linear",
        "imports the course's reference collapse_linear",
        "from transformer_course.feed_forward import collapse_linear  # noqa: F401\n",
    ),
    Wrong(
        LESSON,
        "fit_regression",
        "gradients never zeroed",
        _fit(
            "    optimizer = torch.optim.Adam(model.parameters(), lr=lr)\n"
            "    losses = []\n"
            "    for _ in range(steps):\n"
            "        loss = nn.functional.mse_loss(model(x), y)\n" + _LOOP_END
        ),
    ),
    Wrong(
        LESSON,
        "fit_regression",
        "SGD instead of Adam",
        _fit(
            "    optimizer = torch.optim.SGD(model.parameters(), lr=lr)\n"
            "    losses = []\n"
            "    for _ in range(steps):\n"
            "        optimizer.zero_grad()\n"
            "        loss = nn.functional.mse_loss(model(x), y)\n" + _LOOP_END
        ),
    ),
    Wrong(
        LESSON,
        "fit_regression",
        "summed squared error instead of the mean",
        _fit(
            "    optimizer = torch.optim.Adam(model.parameters(), lr=lr)\n"
            "    losses = []\n"
            "    for _ in range(steps):\n"
            "        optimizer.zero_grad()\n"
            "        loss = ((model(x) - y) ** 2).sum()\n" + _LOOP_END
        ),
    ),
    Wrong(
        LESSON,
        "fit_regression",
        "loss recorded after the step",
        _fit(
            "    optimizer = torch.optim.Adam(model.parameters(), lr=lr)\n"
            "    losses = []\n"
            "    for _ in range(steps):\n"
            "        optimizer.zero_grad()\n"
            "        nn.functional.mse_loss(model(x), y).backward()\n"
            "        optimizer.step()\n"
            "        with torch.no_grad():\n"
            "            losses.append(nn.functional.mse_loss(model(x), y))\n"
            "    return torch.stack(losses)\n"
        ),
    ),
    Wrong(
        LESSON,
        "fit_regression",
        "optimizer.step() never called",
        _fit(
            "    optimizer = torch.optim.Adam(model.parameters(), lr=lr)\n"
            "    losses = []\n"
            "    for _ in range(steps):\n"
            "        optimizer.zero_grad()\n"
            "        loss = nn.functional.mse_loss(model(x), y)\n"
            "        loss.backward()\n"
            "        losses.append(loss.detach())\n"
            "    return torch.stack(losses)\n"
        ),
    ),
    Wrong(
        LESSON,
        "fit_regression",
        "learning rate argument ignored",
        _fit(
            "    optimizer = torch.optim.Adam(model.parameters())\n"
            "    losses = []\n"
            "    for _ in range(steps):\n"
            "        optimizer.zero_grad()\n"
            "        loss = nn.functional.mse_loss(model(x), y)\n" + _LOOP_END
        ),
    ),
    Wrong(
        LESSON,
        "fit_regression",
        "returns a list of floats",
        _fit(
            "    optimizer = torch.optim.Adam(model.parameters(), lr=lr)\n"
            "    losses = []\n"
            "    for _ in range(steps):\n"
            "        optimizer.zero_grad()\n"
            "        loss = nn.functional.mse_loss(model(x), y)\n"
            "        loss.backward()\n"
            "        optimizer.step()\n"
            "        losses.append(loss.item())\n"
            "    return losses\n"
        ),
    ),
    Wrong(
        LESSON,
        "fit_regression",
        "imports the course's reference fit_regression",
        "from transformer_course.feed_forward import fit_regression  # noqa: F401\n",
    ),
]
