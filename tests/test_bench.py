"""The benchmark: rows and bench.json, the FLOP count, the reference model's equivalence."""

import json

import torch

from transformer_course.bench import BenchConfig, TorchTransformer, main, step_flops

SMALL = [
    "--device",
    "cpu",
    "--threads",
    "1",
    "--d-model",
    "16",
    "--num-heads",
    "2",
    "--num-layers",
    "1",
    "--d-ff",
    "32",
    "--vocab",
    "20",
    "--batch-size",
    "4",
    "--src-len",
    "5",
    "--tgt-len",
    "3",
    "--steps",
    "2",
    "--rounds",
    "1",
    "--matmul-size",
    "64",
]


def test_bench_json_rows_have_the_keys(tmp_path):
    rows = main([*SMALL, "--out", str(tmp_path)])
    written = json.loads((tmp_path / "bench.json").read_text())
    assert isinstance(written, list) and len(written) == len(rows) == 7
    for row in written:
        for key in (
            "name",
            "tokens_per_second",
            "ratio_vs_nn_transformer",
            "gflops",
            "fraction_of_matmul_peak",
        ):
            assert key in row, key
        assert row["gflops"] > 0
    by_name = {r["name"]: r for r in written}
    assert by_name["nn.Transformer"]["ratio_vs_nn_transformer"] == 1.0
    fused = by_name["course Transformer, fused attention"]
    assert fused["tokens_per_second"] > 0 and fused["ratio_vs_nn_transformer"] > 0
    assert 0 < fused["fraction_of_matmul_peak"]
    assert by_name["attention, F.scaled_dot_product_attention"]["ratio_vs_nn_transformer"] is None


def test_step_flops_counts_every_linear_layer():
    # Independent count: 2 FLOPs per multiply-add of every Linear applied to each token it
    # sees, plus the two attention matmuls; forward + backward = 3 forwards.
    c = BenchConfig(
        d_model=8, num_heads=2, num_layers=3, d_ff=12, vocab=10, batch_size=2, src_len=5, tgt_len=4
    )
    model = TorchTransformer(c)
    linear_macs = 0
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear):
            tokens = c.tgt_len if name.startswith(("transformer.decoder", "generator")) else c.src_len
            linear_macs += module.in_features * module.out_features * tokens
        if isinstance(module, torch.nn.MultiheadAttention):
            d = c.d_model
            if ".multihead_attn" in name:  # cross-attention: queries T, keys and values S
                linear_macs += d * d * c.tgt_len + 2 * d * d * c.src_len
                attn = c.tgt_len * c.src_len
            else:
                tokens = c.tgt_len if "decoder" in name else c.src_len
                linear_macs += 3 * d * d * tokens
                attn = tokens * tokens
            linear_macs += 2 * attn * d  # QKᵀ and weights·V, summed over the heads
    assert step_flops(c) == 3 * c.batch_size * 2 * linear_macs


def test_reference_model_is_causal():
    torch.manual_seed(0)
    c = BenchConfig(d_model=8, num_heads=2, num_layers=1, d_ff=12, vocab=10)
    model = TorchTransformer(c).eval()
    src = torch.randint(3, 10, (2, 5))
    tgt = torch.randint(3, 10, (2, 4))
    changed = tgt.clone()
    changed[:, -1] = (changed[:, -1] + 1) % 10
    # Changing the last target token must not change the earlier positions' logits.
    torch.testing.assert_close(model(src, tgt)[:, :-1], model(src, changed)[:, :-1])
