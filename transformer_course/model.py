"""Lesson 07: positional encoding, the encoder and decoder layers, their stacks, the Transformer.

The notes (4-1): the input goes through encoder 1, whose output goes to encoder 2, and so
on through N encoders; the encoder's output is then used by every decoder: decoder 1 takes
the decoder input and the encoder output, decoder 2 takes decoder 1's output and the
encoder output, and so on.

Layers are post-norm as in the paper, x = LayerNorm(x + Dropout(sublayer(x))), so that each
equals nn.TransformerEncoderLayer / nn.TransformerDecoderLayer (batch_first=True,
norm_first=False, ReLU) once the weights are copied across (transformer_course.oracles).
"""

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from transformer_course.feed_forward import PositionwiseFeedForward
from transformer_course.multi_head import MultiHeadAttention


def positional_encoding(max_len: int, d_model: int) -> torch.Tensor:
    """The paper's sinusoidal positional encoding, one row per position.

    PE[pos, 2i] = sin(pos / 10000^(2i / d_model)) and
    PE[pos, 2i+1] = cos(pos / 10000^(2i / d_model)): each pair of columns (2i, 2i+1) turns
    at its own frequency, from a wavelength of 2π in the first pair to nearly 10000·2π in
    the last. An odd d_model has one cosine column fewer.

    Args:
        max_len: number of positions, 0 to max_len - 1.
        d_model: size of each position's vector.

    Shape:
        output: (max_len, d_model), float32.
    """
    # Angles in float64: at position 255, float32 would already be 1e-5 off.
    pos = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)  # (max_len, 1)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)  # (ceil(d_model / 2),)
    angles = pos / 10000 ** (two_i / d_model)  # (max_len, ceil(d_model / 2))
    pe = torch.zeros(max_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles[:, : d_model // 2])  # (max_len, floor(d_model / 2))
    return pe.float()


class EncoderLayer(nn.Module):
    """One encoder layer: self-attention, then the feed-forward network, each wrapped
    post-norm as x = LayerNorm(x + Dropout(sublayer(x))).

    Args:
        d_model: size of each token's vector.
        num_heads: h, the number of attention heads.
        d_ff: hidden size of the feed-forward network.
        dropout: dropout probability, on each sublayer's output and inside both sublayers.

    Attributes:
        self_attn: MultiHeadAttention; ffn: PositionwiseFeedForward;
        norm1, norm2: nn.LayerNorm(d_model), one per sublayer.

    Shape:
        x: (B, T, d_model).
        src_mask: boolean, True where attention is allowed, broadcasting against the
            scores (B, h, T, T), e.g. padding_mask's (B, 1, 1, T); None attends everywhere.
        output: (B, T, d_model).
    """

    def __init__(self, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.0):
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout)
        self.ffn = PositionwiseFeedForward(d_model, d_ff, dropout)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, src_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.norm1(x + self.dropout(self.self_attn(x, x, x, src_mask)))  # (B, T, d_model)
        return self.norm2(x + self.dropout(self.ffn(x)))  # (B, T, d_model)


class DecoderLayer(nn.Module):
    """One decoder layer: masked self-attention, cross-attention over the encoder's
    output, then the feed-forward network, each wrapped post-norm as
    x = LayerNorm(x + Dropout(sublayer(x))).

    Args:
        d_model: size of each token's vector.
        num_heads: h, the number of attention heads.
        d_ff: hidden size of the feed-forward network.
        dropout: dropout probability, on each sublayer's output and inside the sublayers.

    Attributes:
        self_attn, cross_attn: MultiHeadAttention; ffn: PositionwiseFeedForward;
        norm1, norm2, norm3: nn.LayerNorm(d_model), one per sublayer.

    Shape:
        x: (B, T_tgt, d_model), the decoder's input to this layer.
        memory: (B, T_src, d_model), the encoder's output.
        tgt_mask: boolean, True where allowed, broadcasting against (B, h, T_tgt, T_tgt),
            e.g. decoder_mask's (B, 1, T_tgt, T_tgt).
        src_mask: boolean, broadcasting against (B, h, T_tgt, T_src), e.g. padding_mask's
            (B, 1, 1, T_src).
        output: (B, T_tgt, d_model).
    """

    def __init__(self, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.0):
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout)
        self.cross_attn = MultiHeadAttention(d_model, num_heads, dropout)
        self.ffn = PositionwiseFeedForward(d_model, d_ff, dropout)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor,
        tgt_mask: torch.Tensor | None = None,
        src_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        x = self.norm1(x + self.dropout(self.self_attn(x, x, x, tgt_mask)))  # (B, T_tgt, d_model)
        # Queries from the decoder; keys and values from the encoder's output.
        x = self.norm2(x + self.dropout(self.cross_attn(x, memory, memory, src_mask)))
        return self.norm3(x + self.dropout(self.ffn(x)))  # (B, T_tgt, d_model)


class Encoder(nn.Module):
    """N encoder layers, each taking the previous one's output (no final norm: the
    last layer already ends in one).

    Args:
        d_model, num_heads, d_ff, dropout: as for EncoderLayer.
        num_layers: N, the number of layers.

    Attributes:
        layers: nn.ModuleList of num_layers distinct EncoderLayer.

    Shape:
        x: (B, T_src, d_model), the embedded source.
        src_mask: as for EncoderLayer.
        output: (B, T_src, d_model), the context vectors.
    """

    def __init__(self, d_model: int, num_heads: int, num_layers: int, d_ff: int, dropout: float = 0.0):
        super().__init__()
        self.layers = nn.ModuleList(
            EncoderLayer(d_model, num_heads, d_ff, dropout) for _ in range(num_layers)
        )

    def forward(self, x: torch.Tensor, src_mask: torch.Tensor | None = None) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, src_mask)  # (B, T_src, d_model)
        return x


class Decoder(nn.Module):
    """N decoder layers, each taking the previous one's output and the encoder's output.

    Args:
        d_model, num_heads, d_ff, dropout: as for DecoderLayer.
        num_layers: N, the number of layers.

    Attributes:
        layers: nn.ModuleList of num_layers distinct DecoderLayer.

    Shape:
        x: (B, T_tgt, d_model), the embedded target.
        memory: (B, T_src, d_model), the encoder's output, given to every layer.
        tgt_mask, src_mask: as for DecoderLayer.
        output: (B, T_tgt, d_model).
    """

    def __init__(self, d_model: int, num_heads: int, num_layers: int, d_ff: int, dropout: float = 0.0):
        super().__init__()
        self.layers = nn.ModuleList(
            DecoderLayer(d_model, num_heads, d_ff, dropout) for _ in range(num_layers)
        )

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor,
        tgt_mask: torch.Tensor | None = None,
        src_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, memory, tgt_mask, src_mask)  # (B, T_tgt, d_model)
        return x


class Transformer(nn.Module):
    """The whole encoder-decoder model: embeddings, positional encoding, the two
    stacks, and a linear generator that turns each decoder output into logits.

    A token enters as embedding · √d_model + PE[position], then dropout. Every matrix
    starts Xavier-uniform, as nn.Transformer's are; the embeddings then start at
    N(0, 1/d_model), so that after the √d_model scale they are as large as the
    positional encoding.

    Args:
        src_vocab, tgt_vocab: vocabulary sizes of the source and target languages.
        d_model, num_heads, num_layers, d_ff, dropout: as for the layers.
        max_len: the longest sequence the positional encoding covers.

    Attributes:
        src_embed, tgt_embed: nn.Embedding; pe: buffer (max_len, d_model), not learned;
        dropout: nn.Dropout; encoder: Encoder; decoder: Decoder;
        generator: nn.Linear(d_model, tgt_vocab).

    Shape:
        src: (B, T_src) and tgt: (B, T_tgt), token ids.
        src_mask: (B, 1, 1, T_src) and tgt_mask: (B, 1, T_tgt, T_tgt), or anything that
            broadcasts like them; True where attention is allowed.
        encode: (B, T_src, d_model); decode: (B, T_tgt, d_model);
        forward: logits (B, T_tgt, tgt_vocab).
    """

    def __init__(
        self,
        src_vocab: int,
        tgt_vocab: int,
        d_model: int = 128,
        num_heads: int = 4,
        num_layers: int = 2,
        d_ff: int = 512,
        dropout: float = 0.1,
        max_len: int = 256,
    ):
        super().__init__()
        self.d_model = d_model
        self.src_embed = nn.Embedding(src_vocab, d_model)
        self.tgt_embed = nn.Embedding(tgt_vocab, d_model)
        # A buffer follows .to(device) and .double() but is not trained.
        self.register_buffer("pe", positional_encoding(max_len, d_model), persistent=False)
        self.dropout = nn.Dropout(dropout)
        self.encoder = Encoder(d_model, num_heads, num_layers, d_ff, dropout)
        self.decoder = Decoder(d_model, num_heads, num_layers, d_ff, dropout)
        self.generator = nn.Linear(d_model, tgt_vocab)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        nn.init.normal_(self.src_embed.weight, std=d_model**-0.5)
        nn.init.normal_(self.tgt_embed.weight, std=d_model**-0.5)

    def embed(self, tokens: torch.Tensor, embedding: nn.Embedding) -> torch.Tensor:
        """embedding(tokens) · √d_model + PE, then dropout.

        Shape:
            tokens: (B, T); output: (B, T, d_model).
        """
        T = tokens.size(-1)
        x = embedding(tokens) * math.sqrt(self.d_model) + self.pe[:T]  # (B, T, d_model)
        return self.dropout(x)

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor | None) -> torch.Tensor:
        return self.encoder(self.embed(src, self.src_embed), src_mask)  # (B, T_src, d_model)

    def decode(
        self,
        tgt: torch.Tensor,
        memory: torch.Tensor,
        tgt_mask: torch.Tensor | None,
        src_mask: torch.Tensor | None,
    ) -> torch.Tensor:
        x = self.embed(tgt, self.tgt_embed)  # (B, T_tgt, d_model)
        return self.decoder(x, memory, tgt_mask, src_mask)  # (B, T_tgt, d_model)

    def forward(
        self,
        src: torch.Tensor,
        tgt: torch.Tensor,
        src_mask: torch.Tensor | None,
        tgt_mask: torch.Tensor | None,
    ) -> torch.Tensor:
        memory = self.encode(src, src_mask)  # (B, T_src, d_model)
        return self.generator(self.decode(tgt, memory, tgt_mask, src_mask))  # (B, T_tgt, V)


@dataclass(frozen=True)
class ModelConfig:
    """The sizes of a Transformer, in one place (the training engine and the benchmark
    build their models from one of these rather than repeating eight arguments).

    Args:
        src_vocab, tgt_vocab: vocabulary sizes of the source and target languages.
        d_model, num_heads, num_layers, d_ff, dropout, max_len: as for Transformer.
    """

    src_vocab: int
    tgt_vocab: int
    d_model: int = 128
    num_heads: int = 4
    num_layers: int = 2
    d_ff: int = 512
    dropout: float = 0.1
    max_len: int = 256


def build_transformer(config: ModelConfig) -> Transformer:
    """The Transformer of ``config``'s sizes, freshly initialised."""
    return Transformer(**asdict(config))
