"""Time to target, as MLPerf measures it: seconds of training until the valid split's exact
match reaches a target, for the course's Transformer and torch.nn.Transformer side by side.

    python -m transformer_course.bench --time-to-target [--device cpu] [--threads 1]

Both models have the same sizes, the same embeddings (drawn at std d_model^-0.5, scaled by
√d_model), the same positional encoding and generator, and are trained by the same engine
(``train.train``: same data, batches, schedule, evaluations), one after the other. Evaluation
time is left out of both clocks.
"""

import dataclasses
import math
from pathlib import Path

import torch
from torch import nn

from transformer_course.data import ENGLISH_VOCAB, KOREAN_VOCAB
from transformer_course.model import ModelConfig, positional_encoding
from transformer_course.train import Config, Run, train


class TorchTranslator(nn.Module):
    """torch.nn.Transformer behind the course model's interface (``encode``, ``decode``,
    ``generator``, boolean masks True where attention is allowed), so that the training
    engine and ``greedy_decode`` run it unchanged.

    Shape:
        src: (B, S) and tgt: (B, T), token ids.
        src_mask: (B, 1, 1, S); tgt_mask: (B, 1, T, T), decoder_mask's layout.
        forward: logits (B, T, tgt_vocab).
    """

    def __init__(self, c: ModelConfig):
        super().__init__()
        self.d_model = c.d_model
        self.src_embed = nn.Embedding(c.src_vocab, c.d_model)
        self.tgt_embed = nn.Embedding(c.tgt_vocab, c.d_model)
        nn.init.normal_(self.src_embed.weight, std=c.d_model**-0.5)
        nn.init.normal_(self.tgt_embed.weight, std=c.d_model**-0.5)
        self.register_buffer("pe", positional_encoding(c.max_len, c.d_model), persistent=False)
        self.transformer = nn.Transformer(
            c.d_model, c.num_heads, c.num_layers, c.num_layers, c.d_ff, c.dropout, batch_first=True
        )
        # Nested tensors skip padding in eval() but warn that they are a prototype; plain
        # padded tensors are what the course's model computes on too.
        self.transformer.encoder.use_nested_tensor = False
        self.generator = nn.Linear(c.d_model, c.tgt_vocab)

    def _embed(self, tokens: torch.Tensor, table: nn.Embedding) -> torch.Tensor:
        return table(tokens) * math.sqrt(self.d_model) + self.pe[: tokens.size(1)]  # (B, T, d)

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor | None) -> torch.Tensor:
        # nn.Transformer's rule is the opposite one: True where a key is *padding*.
        padding = None if src_mask is None else ~src_mask[:, 0, 0, :]  # (B, S)
        return self.transformer.encoder(
            self._embed(src, self.src_embed), src_key_padding_mask=padding
        )  # (B, S, d_model)

    def decode(
        self,
        tgt: torch.Tensor,
        memory: torch.Tensor,
        tgt_mask: torch.Tensor | None,
        src_mask: torch.Tensor | None,
    ) -> torch.Tensor:
        T = tgt.size(1)
        # Boolean like the padding masks (PyTorch warns when the two kinds are mixed).
        causal = torch.ones(T, T, dtype=torch.bool, device=tgt.device).triu(1)  # (T, T)
        # decoder_mask's last row allows every key that is not padding.
        tgt_padding = None if tgt_mask is None else ~tgt_mask[:, 0, -1, :]  # (B, T)
        src_padding = None if src_mask is None else ~src_mask[:, 0, 0, :]  # (B, S)
        return self.transformer.decoder(
            self._embed(tgt, self.tgt_embed),
            memory,
            tgt_mask=causal,
            tgt_is_causal=True,
            tgt_key_padding_mask=tgt_padding,
            memory_key_padding_mask=src_padding,
        )  # (B, T, d)

    def forward(
        self,
        src: torch.Tensor,
        tgt: torch.Tensor,
        src_mask: torch.Tensor | None,
        tgt_mask: torch.Tensor | None,
    ) -> torch.Tensor:
        memory = self.encode(src, src_mask)  # (B, S, d_model)
        return self.generator(self.decode(tgt, memory, tgt_mask, src_mask))  # (B, T, V)


def time_to_target(config: Config, run: Run) -> dict:
    """Train the course's Transformer (fused attention) and TorchTranslator to
    ``config.target_exact_match``, one after the other, and compare their times.

    Returns:
        {"course": metrics, "nn.Transformer": metrics, "ratio": the course's seconds to
        target over nn.Transformer's (None unless both reached it)}; each metrics dict is
        train.train's, written under run.out/course and run.out/nn_transformer.
    """
    if config.target_exact_match <= 0:
        raise ValueError("time to target needs a target: pass --target-exact-match, e.g. 0.99")
    out = Path(run.out)
    course = train(config, dataclasses.replace(run, out=out / "course", attention="fused"))
    torch.manual_seed(run.seed)  # the same seed as the course model's initialisation
    reference = TorchTranslator(config.model_config(len(ENGLISH_VOCAB), len(KOREAN_VOCAB)))
    torch_run = train(config, dataclasses.replace(run, out=out / "nn_transformer"), model=reference)
    ours, theirs = course.metrics["seconds_to_target"], torch_run.metrics["seconds_to_target"]
    return {
        "course": course.metrics,
        "nn.Transformer": torch_run.metrics,
        "ratio": ours / theirs if ours is not None and theirs else None,
    }
