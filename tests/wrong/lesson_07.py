"""Wrong implementations of lesson 07 (positional encoding, layers, stacks, Transformer).

Most are the reference cell with one realistic change, made by text replacement on
transformer_course/model.py's source (a replacement that no longer applies fails at import).
"""

import ast
import textwrap
from pathlib import Path

from . import Wrong

LESSON = "07_stacking"
_SOURCE = (Path(__file__).resolve().parents[2] / "transformer_course" / "model.py").read_text()
_NODES = {
    node.name: node for node in ast.parse(_SOURCE).body if isinstance(node, ast.FunctionDef | ast.ClassDef)
}


def _cell(name: str) -> str:
    """The definition of ``name`` in model.py, as the solution cell holds it."""
    return ast.get_source_segment(_SOURCE, _NODES[name])


def _changed(name: str, *replacements: tuple[str, str]) -> str:
    code = _cell(name)
    for old, new in replacements:
        if code.count(old) != 1:
            raise ValueError(f"{name}: {old!r} occurs {code.count(old)} times, expected once")
        code = code.replace(old, new)
    return code


def _wrong(target: str, mistake: str, *replacements: tuple[str, str]) -> Wrong:
    return Wrong(LESSON, target, mistake, _changed(target, *replacements))


def _code(target: str, mistake: str, code: str) -> Wrong:
    return Wrong(LESSON, target, mistake, textwrap.dedent(code))


_ENC_ATTN = "x = self.norm1(x + self.dropout(self.self_attn(x, x, x, src_mask)))"
_ENC_FFN = "return self.norm2(x + self.dropout(self.ffn(x)))"
_DEC_SELF = "x = self.norm1(x + self.dropout(self.self_attn(x, x, x, tgt_mask)))"
_DEC_CROSS = "x = self.norm2(x + self.dropout(self.cross_attn(x, memory, memory, src_mask)))"
_DEC_FFN = "return self.norm3(x + self.dropout(self.ffn(x)))"
_EMBED = "x = embedding(tokens) * math.sqrt(self.d_model) + self.pe[:T]"

WRONG = [
    # positional_encoding
    _wrong(
        "positional_encoding",
        "sine and cosine swapped",
        ("pe[:, 0::2] = torch.sin(angles)", "pe[:, 0::2] = torch.cos(angles)"),
        (
            "pe[:, 1::2] = torch.cos(angles[:, : d_model // 2])",
            "pe[:, 1::2] = torch.sin(angles[:, : d_model // 2])",
        ),
    ),
    _wrong(
        "positional_encoding",
        "exponent i / d_model instead of 2i / d_model",
        (
            "two_i = torch.arange(0, d_model, 2, dtype=torch.float64)",
            "two_i = torch.arange(0, (d_model + 1) // 2, dtype=torch.float64)",
        ),
    ),
    _wrong(
        "positional_encoding",
        "sines in the first half, cosines in the second",
        (
            "pe[:, 0::2] = torch.sin(angles)\n    pe[:, 1::2] = torch.cos(angles[:, : d_model // 2])",
            "pe = torch.cat([torch.sin(angles), torch.cos(angles[:, : d_model // 2])], dim=-1)",
        ),
    ),
    _wrong(
        "positional_encoding",
        "positions counted from 1",
        ("torch.arange(max_len, dtype=torch.float64)", "torch.arange(1, max_len + 1, dtype=torch.float64)"),
    ),
    _code(
        "positional_encoding",
        "each column its own exponent j / d_model",
        """
        def positional_encoding(max_len, d_model):
            pos = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)  # (max_len, 1)
            j = torch.arange(d_model, dtype=torch.float32)  # (d_model,)
            angles = pos / 10000 ** (j / d_model)  # (max_len, d_model)
            pe = torch.cos(angles)
            pe[:, 0::2] = torch.sin(angles[:, 0::2])
            return pe
        """,
    ),
    _wrong("positional_encoding", "returns float64", ("return pe.float()", "return pe")),
    # EncoderLayer
    _wrong(
        "EncoderLayer",
        "pre-norm instead of post-norm",
        (_ENC_ATTN, "y = self.norm1(x)\n        x = x + self.dropout(self.self_attn(y, y, y, src_mask))"),
        (_ENC_FFN, "return x + self.dropout(self.ffn(self.norm2(x)))"),
    ),
    _wrong(
        "EncoderLayer",
        "residual added after the norm",
        (_ENC_ATTN, "x = x + self.norm1(self.dropout(self.self_attn(x, x, x, src_mask)))"),
        (_ENC_FFN, "return x + self.norm2(self.dropout(self.ffn(x)))"),
    ),
    _wrong(
        "EncoderLayer",
        "no residual around the attention",
        (_ENC_ATTN, "x = self.norm1(self.dropout(self.self_attn(x, x, x, src_mask)))"),
    ),
    _wrong(
        "EncoderLayer",
        "norm1 shared by both sublayers",
        (_ENC_FFN, "return self.norm1(x + self.dropout(self.ffn(x)))"),
    ),
    _wrong(
        "EncoderLayer",
        "one LayerNorm module for both sublayers",
        ("self.norm2 = nn.LayerNorm(d_model)", "self.norm2 = self.norm1"),
    ),
    _wrong(
        "EncoderLayer",
        "src_mask ignored",
        (_ENC_ATTN, "x = self.norm1(x + self.dropout(self.self_attn(x, x, x)))"),
    ),
    _code(
        "EncoderLayer",
        "delegates to nn.TransformerEncoderLayer",
        """
        class EncoderLayer(nn.Module):
            def __init__(self, d_model, num_heads, d_ff, dropout=0.0):
                super().__init__()
                self.layer = nn.TransformerEncoderLayer(d_model, num_heads, d_ff, dropout,
                                                        batch_first=True)
                self.self_attn = self.layer.self_attn
                self.norm1, self.norm2 = self.layer.norm1, self.layer.norm2

            def forward(self, x, src_mask=None):
                b, t = x.shape[:2]
                h = self.layer.self_attn.num_heads
                mask = None
                if src_mask is not None:
                    mask = ~src_mask.expand(b, h, t, t).reshape(b * h, t, t)
                return self.layer(x, src_mask=mask)
        """,
    ),
    _code(
        "EncoderLayer",
        "imports the course's reference",
        """
        from transformer_course.model import EncoderLayer
        """,
    ),
    # DecoderLayer
    _wrong(
        "DecoderLayer",
        "cross-attention with queries from the encoder",
        (_DEC_CROSS, "x = self.norm2(x + self.dropout(self.cross_attn(memory, x, x, src_mask)))"),
    ),
    _wrong(
        "DecoderLayer",
        "cross-attention keys and values from the decoder",
        (_DEC_CROSS, "x = self.norm2(x + self.dropout(self.cross_attn(x, x, x, src_mask)))"),
    ),
    _wrong(
        "DecoderLayer",
        "tgt_mask and src_mask swapped",
        (_DEC_SELF, "x = self.norm1(x + self.dropout(self.self_attn(x, x, x, src_mask)))"),
        (_DEC_CROSS, "x = self.norm2(x + self.dropout(self.cross_attn(x, memory, memory, tgt_mask)))"),
    ),
    _wrong(
        "DecoderLayer",
        "no look-ahead mask",
        (_DEC_SELF, "x = self.norm1(x + self.dropout(self.self_attn(x, x, x)))"),
    ),
    _wrong(
        "DecoderLayer",
        "pre-norm instead of post-norm",
        (_DEC_SELF, "y = self.norm1(x)\n        x = x + self.dropout(self.self_attn(y, y, y, tgt_mask))"),
        (_DEC_CROSS, "x = x + self.dropout(self.cross_attn(self.norm2(x), memory, memory, src_mask))"),
        (_DEC_FFN, "return x + self.dropout(self.ffn(self.norm3(x)))"),
    ),
    _wrong(
        "DecoderLayer",
        "norm2 reused after the feed-forward network",
        (_DEC_FFN, "return self.norm2(x + self.dropout(self.ffn(x)))"),
    ),
    _wrong(
        "DecoderLayer",
        "no residual around the cross-attention",
        (_DEC_CROSS, "x = self.norm2(self.dropout(self.cross_attn(x, memory, memory, src_mask)))"),
    ),
    _code(
        "DecoderLayer",
        "imports the course's reference",
        """
        from transformer_course.model import DecoderLayer
        """,
    ),
    # Encoder
    _wrong(
        "Encoder",
        "layers not chained: each reads the encoder's input",
        (
            "for layer in self.layers:\n            x = layer(x, src_mask)  # (B, T_src, d_model)\n"
            "        return x",
            "out = x\n        for layer in self.layers:\n            out = layer(x, src_mask)\n"
            "        return out",
        ),
    ),
    _wrong(
        "Encoder",
        "one layer repeated num_layers times",
        (
            "nn.ModuleList(\n            EncoderLayer(d_model, num_heads, d_ff, dropout) "
            "for _ in range(num_layers)\n        )",
            "nn.ModuleList([EncoderLayer(d_model, num_heads, d_ff, dropout)] * num_layers)",
        ),
    ),
    _wrong(
        "Encoder",
        "a final LayerNorm after the stack",
        (
            "for layer in self.layers:",
            "self.norm = nn.LayerNorm(x.size(-1)).to(x)\n        for layer in self.layers:",
        ),
        ("        return x", "        return self.norm(x)"),
    ),
    _wrong("Encoder", "src_mask not passed to the layers", ("x = layer(x, src_mask)", "x = layer(x)")),
    _wrong("Encoder", "one layer too few", ("for _ in range(num_layers)", "for _ in range(num_layers - 1)")),
    _code(
        "Encoder",
        "imports the course's reference",
        """
        from transformer_course.model import Encoder
        """,
    ),
    # Decoder
    _wrong(
        "Decoder",
        "later layers get the previous decoder output as memory",
        (
            "x = layer(x, memory, tgt_mask, src_mask)  # (B, T_tgt, d_model)",
            "x = layer(x, memory, tgt_mask, src_mask)\n            memory = x",
        ),
    ),
    _wrong(
        "Decoder",
        "layers not chained: each reads the decoder's input",
        (
            "for layer in self.layers:\n            x = layer(x, memory, tgt_mask, src_mask)"
            "  # (B, T_tgt, d_model)\n        return x",
            "out = x\n        for layer in self.layers:\n"
            "            out = layer(x, memory, tgt_mask, src_mask)\n        return out",
        ),
    ),
    _wrong(
        "Decoder",
        "one layer repeated num_layers times",
        (
            "nn.ModuleList(\n            DecoderLayer(d_model, num_heads, d_ff, dropout) "
            "for _ in range(num_layers)\n        )",
            "nn.ModuleList([DecoderLayer(d_model, num_heads, d_ff, dropout)] * num_layers)",
        ),
    ),
    _wrong(
        "Decoder",
        "src_mask not passed to the layers",
        ("x = layer(x, memory, tgt_mask, src_mask)", "x = layer(x, memory, tgt_mask)"),
    ),
    _wrong(
        "Decoder",
        "a final LayerNorm after the stack",
        (
            "for layer in self.layers:",
            "self.norm = nn.LayerNorm(x.size(-1)).to(x)\n        for layer in self.layers:",
        ),
        ("        return x", "        return self.norm(x)"),
    ),
    _code(
        "Decoder",
        "imports the course's reference",
        """
        from transformer_course.model import Decoder
        """,
    ),
    # Transformer
    _wrong(
        "Transformer",
        "embeddings not scaled by sqrt(d_model)",
        (_EMBED, "x = embedding(tokens) + self.pe[:T]"),
    ),
    _wrong(
        "Transformer",
        "embeddings scaled by d_model",
        (_EMBED, "x = embedding(tokens) * self.d_model + self.pe[:T]"),
    ),
    _wrong(
        "Transformer",
        "positional encoding missing",
        (_EMBED, "x = embedding(tokens) * math.sqrt(self.d_model)"),
    ),
    _wrong(
        "Transformer",
        "positional encoding added twice",
        (
            "return self.encoder(self.embed(src, self.src_embed), src_mask)",
            "return self.encoder(self.embed(src, self.src_embed) + self.pe[: src.size(-1)], src_mask)",
        ),
        (
            "return self.decoder(x, memory, tgt_mask, src_mask)",
            "return self.decoder(x + self.pe[: tgt.size(-1)], memory, tgt_mask, src_mask)",
        ),
    ),
    _wrong(
        "Transformer", "positional encoding indexed by batch", ("T = tokens.size(-1)", "T = tokens.size(0)")
    ),
    _wrong(
        "Transformer",
        "forward returns probabilities",
        (
            "return self.generator(self.decode(tgt, memory, tgt_mask, src_mask))",
            "return self.generator(self.decode(tgt, memory, tgt_mask, src_mask)).softmax(-1)",
        ),
    ),
    _wrong(
        "Transformer",
        "decode embeds the target with the source table",
        ("x = self.embed(tgt, self.tgt_embed)", "x = self.embed(tgt, self.src_embed)"),
    ),
    _wrong(
        "Transformer",
        "tgt_mask given to the cross-attention",
        (
            "return self.generator(self.decode(tgt, memory, tgt_mask, src_mask))",
            "return self.generator(self.decode(tgt, memory, tgt_mask, tgt_mask))",
        ),
    ),
    _wrong(
        "Transformer",
        "learned positional encoding",
        (
            'self.register_buffer("pe", positional_encoding(max_len, d_model), persistent=False)',
            "self.pe = nn.Parameter(positional_encoding(max_len, d_model))",
        ),
    ),
    _wrong(
        "Transformer",
        "embeddings left at N(0, 1)",
        (
            "nn.init.normal_(self.src_embed.weight, std=d_model**-0.5)\n"
            "        nn.init.normal_(self.tgt_embed.weight, std=d_model**-0.5)",
            "pass",
        ),
    ),
    _wrong(
        "Transformer",
        "no Xavier initialisation",
        (
            "for p in self.parameters():\n            if p.dim() > 1:\n"
            "                nn.init.xavier_uniform_(p)\n        ",
            "",
        ),
    ),
]
