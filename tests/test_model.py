"""The reference model of lesson 07 (transformer_course.model) against PyTorch's own layers.

PyTorch's weights are copied into ours (transformer_course.oracles), then both run in
float64 on the same inputs: forward values and gradients must agree to rounding.
"""

import copy
import dataclasses
import math

import pytest
import torch
from torch import nn

from transformer_course.masking import decoder_mask, padding_mask
from transformer_course.model import (
    Decoder,
    DecoderLayer,
    Encoder,
    EncoderLayer,
    ModelConfig,
    Transformer,
    build_transformer,
    positional_encoding,
)
from transformer_course.multi_head import MultiHeadAttention
from transformer_course.oracles import load_torch_weights, parameter_pairs, randomize_, torch_mask

F64 = {"dtype": torch.float64}


def _close(actual, expected):
    torch.testing.assert_close(actual, expected, rtol=1e-9, atol=1e-10)


def _padding(lengths, t):
    return (torch.arange(t) < torch.tensor(lengths)[:, None])[:, None, None, :]  # (B, 1, 1, T)


def _causal(lengths, t):
    return _padding(lengths, t) & torch.ones(t, t, dtype=torch.bool).tril()  # (B, 1, T, T)


def _torch_encoder_layer(d, h, ff, seed):
    layer = nn.TransformerEncoderLayer(d, h, ff, dropout=0.0, batch_first=True)
    return randomize_(layer.double(), seed)


def _torch_decoder_layer(d, h, ff, seed):
    layer = nn.TransformerDecoderLayer(d, h, ff, dropout=0.0, batch_first=True)
    return randomize_(layer.double(), seed)


def _sinusoid(max_len, d_model):
    table = torch.zeros(max_len, d_model, **F64)
    for pos in range(max_len):
        for j in range(d_model):
            angle = pos / 10000 ** ((j - j % 2) / d_model)
            table[pos, j] = math.sin(angle) if j % 2 == 0 else math.cos(angle)
    return table


@pytest.mark.parametrize(("max_len", "d_model"), [(1, 1), (7, 3), (50, 16), (256, 8)])
def test_positional_encoding_follows_the_formula(max_len, d_model):
    pe = positional_encoding(max_len, d_model)
    assert pe.dtype == torch.float32 and pe.shape == (max_len, d_model)
    torch.testing.assert_close(pe, _sinusoid(max_len, d_model).float(), rtol=0, atol=1e-6)


def test_positional_encoding_dot_product_depends_on_distance_only():
    pe = positional_encoding(100, 32).double()
    for k in (0, 1, 5, 20):
        products = (pe[: 100 - k] * pe[k:]).sum(-1)  # PE[p] · PE[p + k] for every p
        torch.testing.assert_close(products, products[:1].expand_as(products), rtol=0, atol=1e-5)


@pytest.mark.parametrize(("b", "t", "d", "h", "ff"), [(1, 1, 4, 1, 8), (3, 6, 8, 2, 16)])
def test_encoder_layer_equals_torch_forward_and_backward(b, t, d, h, ff):
    torch.manual_seed(0)
    theirs = _torch_encoder_layer(d, h, ff, seed=1)
    ours = EncoderLayer(d, h, ff).double()
    load_torch_weights(ours, theirs)
    x = torch.randn(b, t, d, **F64)
    mask = _padding([t] + [max(1, t - 2)] * (b - 1), t)
    x_ours, x_theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
    out = ours(x_ours, mask)
    expected = theirs(x_theirs, src_mask=torch_mask(mask, b, h, t, t))
    _close(out, expected)
    upstream = torch.randn_like(out)
    (out * upstream).sum().backward()
    (expected * upstream).sum().backward()
    _close(x_ours.grad, x_theirs.grad)
    for _, mine, other, rows in parameter_pairs(ours, theirs):
        _close(mine.grad, other.grad[rows])


def test_encoder_layer_is_post_norm_not_pre_norm():
    """The comparison can fail: the same weights in a pre-norm layer give other values."""
    theirs = _torch_encoder_layer(8, 2, 16, seed=2)
    ours = EncoderLayer(8, 2, 16).double()
    load_torch_weights(ours, theirs)
    pre_norm = copy.deepcopy(theirs)
    pre_norm.norm_first = True
    x = torch.randn(2, 5, 8, **F64)
    assert not torch.allclose(ours(x), pre_norm(x), atol=1e-3)


@pytest.mark.parametrize(("b", "t_tgt", "t_src"), [(3, 4, 6), (2, 1, 5), (2, 5, 1)])
def test_decoder_layer_equals_torch_forward_and_backward(b, t_tgt, t_src):
    torch.manual_seed(3)
    d, h, ff = 8, 2, 12
    theirs = _torch_decoder_layer(d, h, ff, seed=4)
    ours = DecoderLayer(d, h, ff).double()
    load_torch_weights(ours, theirs)
    tgt_mask = _causal([t_tgt] + [max(1, t_tgt - 1)] * (b - 1), t_tgt)
    src_mask = _padding([t_src] + [max(1, t_src - 2)] * (b - 1), t_src)
    leaves = [torch.randn(b, t, d, **F64) for t in (t_tgt, t_src)]
    ours_in = [v.clone().requires_grad_() for v in leaves]
    theirs_in = [v.clone().requires_grad_() for v in leaves]
    out = ours(*ours_in, tgt_mask, src_mask)
    expected = theirs(
        *theirs_in,
        tgt_mask=torch_mask(tgt_mask, b, h, t_tgt, t_tgt),
        memory_mask=torch_mask(src_mask, b, h, t_tgt, t_src),
    )
    _close(out, expected)
    upstream = torch.randn_like(out)
    (out * upstream).sum().backward()
    (expected * upstream).sum().backward()
    for mine, other in zip(ours_in, theirs_in, strict=True):
        _close(mine.grad, other.grad)
    for _, mine, other, rows in parameter_pairs(ours, theirs):
        _close(mine.grad, other.grad[rows])


def test_encoder_stack_equals_torch():
    torch.manual_seed(5)
    theirs = nn.TransformerEncoder(
        nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True),
        3,
        norm=None,
        enable_nested_tensor=False,
    )
    theirs = randomize_(theirs.double(), 6)
    ours = Encoder(8, 2, 3, 16).double()
    load_torch_weights(ours, theirs)
    assert len({id(layer) for layer in ours.layers}) == 3
    x, mask = torch.randn(3, 5, 8, **F64), _padding([5, 2, 4], 5)
    _close(ours(x, mask), theirs(x, mask=torch_mask(mask, 3, 2, 5, 5)))


def test_decoder_stack_equals_torch_and_gives_memory_to_every_layer():
    torch.manual_seed(7)
    theirs = nn.TransformerDecoder(
        nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0, batch_first=True), 3, norm=None
    )
    theirs = randomize_(theirs.double(), 8)
    ours = Decoder(8, 2, 3, 16).double()
    load_torch_weights(ours, theirs)
    x, memory = torch.randn(2, 4, 8, **F64), torch.randn(2, 6, 8, **F64)
    tgt_mask, src_mask = _causal([4, 3], 4), _padding([6, 2], 6)
    seen = []
    hooks = [
        layer.cross_attn.register_forward_hook(lambda m, args, out: seen.append(args[1]))
        for layer in ours.layers
    ]
    out = ours(x, memory, tgt_mask, src_mask)
    for hook in hooks:
        hook.remove()
    assert len(seen) == 3 and all(key is memory for key in seen)
    _close(
        out,
        theirs(
            x, memory, tgt_mask=torch_mask(tgt_mask, 2, 2, 4, 4), memory_mask=torch_mask(src_mask, 2, 2, 4, 6)
        ),
    )


def _transformer_with_torch_stacks(src_vocab=10, tgt_vocab=12, d=8, h=2, n=2, ff=16, max_len=16):
    """Our Transformer in float64 with random weights, and the same weights in PyTorch's stacks."""
    torch.manual_seed(9)
    ours = Transformer(src_vocab, tgt_vocab, d, h, n, ff, dropout=0.0, max_len=max_len).double()
    encoder = nn.TransformerEncoder(
        nn.TransformerEncoderLayer(d, h, ff, 0.0, batch_first=True), n, norm=None, enable_nested_tensor=False
    )
    decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(d, h, ff, 0.0, batch_first=True), n, norm=None)
    encoder, decoder = randomize_(encoder.double(), 10), randomize_(decoder.double(), 11)
    load_torch_weights(ours.encoder, encoder)
    load_torch_weights(ours.decoder, decoder)
    with torch.no_grad():
        ours.pe.copy_(_sinusoid(max_len, d))
    return ours, encoder, decoder


def test_transformer_equals_embeddings_plus_torch_stacks():
    ours, encoder, decoder = _transformer_with_torch_stacks()
    ours.eval()
    src = torch.tensor([[3, 4, 5, 6, 7], [3, 4, 5, 0, 0]])
    tgt = torch.tensor([[1, 8, 9, 10], [1, 8, 0, 0]])
    src_mask, tgt_mask = padding_mask(src, 0), decoder_mask(tgt, 0)
    pe = _sinusoid(16, 8)
    memory = encoder(
        ours.src_embed.weight[src] * math.sqrt(8) + pe[:5], mask=torch_mask(src_mask, 2, 2, 5, 5)
    )
    y = decoder(
        ours.tgt_embed.weight[tgt] * math.sqrt(8) + pe[:4],
        memory,
        tgt_mask=torch_mask(tgt_mask, 2, 2, 4, 4),
        memory_mask=torch_mask(src_mask, 2, 2, 4, 5),
    )
    logits = ours(src, tgt, src_mask, tgt_mask)
    assert logits.shape == (2, 4, 12)
    _close(ours.encode(src, src_mask), memory)
    _close(logits, ours.generator(y))


def test_transformer_hides_the_future_and_the_padding():
    torch.manual_seed(12)
    model = Transformer(10, 12, d_model=16, num_heads=2, num_layers=2, d_ff=32).double().eval()
    src = torch.tensor([[4, 5, 6, 0, 0]])
    tgt = torch.tensor([[1, 7, 8, 9]])
    logits = model(src, tgt, padding_mask(src, 0), decoder_mask(tgt, 0))
    other_future = torch.tensor([[1, 7, 2, 3]])
    _close(
        model(src, other_future, padding_mask(src, 0), decoder_mask(other_future, 0))[:, :2], logits[:, :2]
    )
    other_padding = torch.tensor([[4, 5, 6, 9, 9]])  # same real tokens, ids under the mask differ
    _close(model(other_padding, tgt, padding_mask(src, 0), decoder_mask(tgt, 0)), logits)
    assert not torch.allclose(model(other_padding, tgt, None, decoder_mask(tgt, 0)), logits)


def test_transformer_parameters_buffers_and_initialisation():
    torch.manual_seed(13)
    d = 64
    model = Transformer(300, 200, d_model=d, num_heads=4, num_layers=2, d_ff=128)
    assert "pe" in dict(model.named_buffers()) and "pe" not in dict(model.named_parameters())
    assert isinstance(model.encoder.layers[0].self_attn, MultiHeadAttention)
    assert isinstance(model.decoder.layers[1].cross_attn, MultiHeadAttention)
    layers = sum(p.numel() for p in nn.TransformerEncoderLayer(d, 4, 128).parameters())
    layers += sum(p.numel() for p in nn.TransformerDecoderLayer(d, 4, 128).parameters())
    assert sum(p.numel() for p in model.parameters()) == 2 * layers + 500 * d + d * 200 + 200
    for table in (model.src_embed.weight, model.tgt_embed.weight):
        assert abs(table.std().item() - d**-0.5) < 0.05 * d**-0.5
    embeddings = {id(model.src_embed.weight), id(model.tgt_embed.weight)}
    for p in model.parameters():
        if p.dim() == 2 and id(p) not in embeddings:
            bound = math.sqrt(6 / sum(p.shape))
            assert p.abs().max() <= bound
            assert abs(p.std().item() - bound / math.sqrt(3)) < 0.05 * bound / math.sqrt(3)


def test_transformer_dtype_and_dropout():
    torch.manual_seed(14)
    model = Transformer(10, 12, d_model=16, num_heads=2, num_layers=1, d_ff=32, dropout=0.5)
    src, tgt = torch.randint(1, 10, (2, 6)), torch.randint(1, 12, (2, 3))
    assert model(src, tgt, None, None).dtype == torch.float32
    assert not torch.equal(model(src, tgt, None, None), model(src, tgt, None, None))
    model.eval().double()
    assert model.pe.dtype == torch.float64
    assert torch.equal(model(src, tgt, None, None), model(src, tgt, None, None))


def test_torch_mask_matches_key_padding_mask():
    torch.manual_seed(15)
    attention = nn.MultiheadAttention(8, 2, batch_first=True).double()
    x = torch.randn(2, 5, 8, **F64)
    keep = _padding([5, 3], 5)
    by_attn_mask = attention(x, x, x, attn_mask=torch_mask(keep, 2, 2, 5, 5))[0]
    by_padding = attention(x, x, x, key_padding_mask=~keep[:, 0, 0])[0]
    _close(by_attn_mask, by_padding)
    assert torch_mask(None, 2, 2, 5, 5) is None


def test_load_torch_weights_names_a_missing_attribute():
    class Renamed(nn.Module):
        def __init__(self):
            super().__init__()
            self.attention = MultiHeadAttention(8, 2)

    with pytest.raises(AssertionError, match="has no `self_attn`"):
        load_torch_weights(Renamed(), nn.TransformerEncoderLayer(8, 2, 16, batch_first=True))


def test_build_transformer_from_a_model_config_equals_the_positional_call():
    config = ModelConfig(10, 12, d_model=16, num_heads=2, num_layers=1, d_ff=32, dropout=0.0)
    torch.manual_seed(3)
    built = build_transformer(config)
    torch.manual_seed(3)
    direct = Transformer(10, 12, 16, 2, 1, 32, 0.0)
    assert built.state_dict().keys() == direct.state_dict().keys()
    for name, value in direct.state_dict().items():
        torch.testing.assert_close(built.state_dict()[name], value, rtol=0, atol=0, msg=name)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.d_model = 32


def test_attention_weights_are_detached_and_dropout_hits_them_once():
    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 2, dropout=0.5).double().train()
    x = torch.randn(2, 3, 8, **F64, requires_grad=True)
    torch.manual_seed(1)
    out = mha(x, x, x)
    assert not mha.attn_weights.requires_grad  # a picture must not keep the graph alive
    # The same output from the kept weights, dropped with the same random draw, times V once.
    torch.manual_seed(1)
    dropped = mha.dropout(mha.attn_weights)  # (B, h, T, T)
    v = mha.w_v(x).unflatten(-1, (2, 4)).transpose(1, 2)  # (B, h, T, d_k)
    expected = mha.w_o((dropped @ v).transpose(1, 2).flatten(-2))  # (B, T, d_model)
    _close(out, expected)
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
