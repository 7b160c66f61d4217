"""PyTorch's own layers as oracles for the course's: weights copied across, masks converted.

nn.TransformerEncoderLayer / nn.TransformerDecoderLayer (batch_first=True, norm_first=False,
ReLU) and their stacks nn.TransformerEncoder / nn.TransformerDecoder (norm=None) compute
what lesson 07's layers compute. Two differences in bookkeeping: nn.MultiheadAttention keeps
W^Q, W^K, W^V stacked in one matrix, in_proj_weight (3·d_model, d_model), and its boolean
mask is True where attention is *blocked*.
"""

import torch
from torch import nn

# (our attribute, theirs) for each sublayer of a layer; attention modules are split below.
_ENCODER_LAYER = (
    ("self_attn", "self_attn"),
    ("ffn.linear1", "linear1"),
    ("ffn.linear2", "linear2"),
    ("norm1", "norm1"),
    ("norm2", "norm2"),
)
_DECODER_LAYER = _ENCODER_LAYER + (("cross_attn", "multihead_attn"), ("norm3", "norm3"))


def torch_mask(
    mask: torch.Tensor | None, batch: int, num_heads: int, t_q: int, t_k: int
) -> torch.Tensor | None:
    """Our boolean mask (True = allowed) as nn.MultiheadAttention's 3-D attn_mask
    (True = blocked), one (T_q, T_k) slice per batch element and head.

    Shape:
        mask: anything that broadcasts against (batch, num_heads, T_q, T_k).
        output: (batch · num_heads, T_q, T_k).
    """
    if mask is None:
        return None
    full = mask.expand(batch, num_heads, t_q, t_k)  # (B, h, T_q, T_k)
    return ~full.reshape(batch * num_heads, t_q, t_k)  # (B·h, T_q, T_k)


def _attribute(module: nn.Module, path: str, owner: str, shown: str = "") -> nn.Module:
    for name in path.split("."):
        if not hasattr(module, name):
            raise AssertionError(
                f"your {owner} has no `{shown or path}`: keep the attribute names its "
                "docstring lists (self_attn, cross_attn, ffn, norm1, norm2, norm3, layers)."
            )
        module = getattr(module, name)
    return module


def _attention_pairs(ours: nn.Module, theirs: nn.MultiheadAttention, path: str, owner: str):
    d = theirs.embed_dim
    pairs = []
    for i, name in enumerate(("w_q", "w_k", "w_v")):
        linear = _attribute(ours, name, owner, f"{path}.{name}".lstrip("."))
        rows = slice(i * d, (i + 1) * d)
        pairs.append((f"{path}.{name}.weight", linear.weight, theirs.in_proj_weight, rows))
        pairs.append((f"{path}.{name}.bias", linear.bias, theirs.in_proj_bias, rows))
    w_o = _attribute(ours, "w_o", owner, f"{path}.w_o".lstrip("."))
    pairs.append((f"{path}.w_o.weight", w_o.weight, theirs.out_proj.weight, slice(None)))
    pairs.append((f"{path}.w_o.bias", w_o.bias, theirs.out_proj.bias, slice(None)))
    return pairs


def parameter_pairs(
    ours: nn.Module, theirs: nn.Module, path: str = ""
) -> list[tuple[str, torch.Tensor, torch.Tensor, slice]]:
    """Match each parameter of ``ours`` with the rows of ``theirs`` that hold it.

    ``theirs`` is nn.TransformerEncoderLayer, nn.TransformerDecoderLayer, one of their
    stacks, or nn.MultiheadAttention; ``ours`` the course's counterpart.

    Returns:
        (name, our parameter, their parameter, rows): ``theirs[rows]`` is ours.
    """
    owner = type(ours).__name__
    prefix = f"{path}." if path else ""
    if isinstance(theirs, nn.TransformerEncoder | nn.TransformerDecoder):
        layers = _attribute(ours, "layers", owner)
        if len(layers) != len(theirs.layers):
            raise AssertionError(
                f"your {owner} has {len(layers)} layers in `layers`, "
                f"expected {len(theirs.layers)} (num_layers)."
            )
        return [
            pair
            for i, (mine, other) in enumerate(zip(layers, theirs.layers, strict=True))
            for pair in parameter_pairs(mine, other, f"{prefix}layers.{i}")
        ]
    if isinstance(theirs, nn.MultiheadAttention):
        return _attention_pairs(ours, theirs, path, owner)
    names = _DECODER_LAYER if isinstance(theirs, nn.TransformerDecoderLayer) else _ENCODER_LAYER
    pairs = []
    for mine, other in names:
        module, twin = _attribute(ours, mine, owner), getattr(theirs, other)
        if isinstance(twin, nn.MultiheadAttention):
            pairs += _attention_pairs(module, twin, prefix + mine, owner)
        else:
            pairs += [
                (f"{prefix}{mine}.{name}", getattr(module, name), getattr(twin, name), slice(None))
                for name in ("weight", "bias")
            ]
    return pairs


@torch.no_grad()
def load_torch_weights(ours: nn.Module, theirs: nn.Module) -> None:
    """Copy the weights of PyTorch's layer (or stack) ``theirs`` into ours."""
    for name, mine, other, rows in parameter_pairs(ours, theirs):
        if mine.shape != other[rows].shape:
            raise AssertionError(
                f"your `{name}` has shape {tuple(mine.shape)}, expected {tuple(other[rows].shape)}."
            )
        mine.copy_(other[rows])


@torch.no_grad()
def randomize_(module: nn.Module, seed: int) -> nn.Module:
    """Give every parameter fresh random values, LayerNorm's included (their defaults,
    ones and zeros, would hide a norm used in the wrong place)."""
    generator = torch.Generator().manual_seed(seed)
    for sub in module.modules():
        for name, p in sub.named_parameters(recurse=False):
            noise = torch.randn(p.shape, generator=generator, dtype=p.dtype)
            if isinstance(sub, nn.LayerNorm):
                p.copy_((1.0 if name == "weight" else 0.0) + 0.3 * noise)
            elif p.dim() > 1:
                p.copy_(noise / p.shape[-1] ** 0.5)  # keeps each output's variance near 1
            else:
                p.copy_(0.3 * noise)
    return module
