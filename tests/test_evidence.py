"""Lesson 08's measurements (transformer_course.evidence), the time-to-target benchmark and
the GPU check's CPU path."""

import dataclasses
import json

import pytest
import torch

from transformer_course.data import ENGLISH_VOCAB, KOREAN_VOCAB, Pair
from transformer_course.evidence import (
    attention_maps,
    claims_table,
    content_sources,
    it_positions,
    it_resolution,
    mapping_vs_order,
    reordering,
)
from transformer_course.fast import FusedMultiHeadAttention, use_fused_attention
from transformer_course.gpu_check import SMOKE
from transformer_course.gpu_check import main as gpu_check_main
from transformer_course.model import ModelConfig, build_transformer
from transformer_course.time_to_target import TorchTranslator, time_to_target
from transformer_course.train import CONFIGS, Run
from transformer_course.training import greedy_decode, make_batch

PAIRS = [
    Pair("the big dog saw the small bird", "큰 개 는 작은 새 를 봤다"),
    Pair("the cat sat on the mat because it was tired", "고양이 는 피곤해서 매트 위 에 앉았다"),
    Pair("the cat sat on the mat because it was soft", "매트 가 부드러워서 고양이 는 그 위 에 앉았다"),
    Pair("the girl eats the apple", "소녀 는 사과 를 먹는다"),
]
SMALL = ModelConfig(
    len(ENGLISH_VOCAB), len(KOREAN_VOCAB), d_model=16, num_heads=2, num_layers=2, d_ff=32, dropout=0.0
)


def _model():
    torch.manual_seed(0)
    return build_transformer(SMALL)


def test_content_sources_pair_each_korean_word_with_its_english_one():
    assert content_sources(*PAIRS[0].__dict__.values()) == [(0, 1), (1, 2), (3, 5), (4, 6), (6, 3)]
    # 고양이 → cat, 매트 → mat, 앉았다 → sat; particles, 피곤해서, 위, 에 have no twin.
    assert content_sources(PAIRS[1].english, PAIRS[1].korean) == [(0, 1), (3, 5), (6, 2)]


def test_it_positions_name_it_the_resolved_noun_and_the_other():
    assert it_positions(PAIRS[1].english) == (7, 1, 5)  # tired: the cat
    assert it_positions(PAIRS[2].english) == (7, 5, 1)  # soft: the mat
    assert it_positions(PAIRS[0].english) is None


def test_attention_maps_shapes_and_the_fused_path_restored():
    model = use_fused_attention(_model())
    maps = attention_maps(model, PAIRS)
    assert len(maps.encoder) == len(maps.cross) == len(maps.decoder_self) == 2
    S, T = int(maps.src_len.max()), int(maps.tgt_len.max())
    assert maps.encoder[0].shape == (4, 2, S, S) and maps.cross[1].shape == (4, 2, T, S)
    torch.testing.assert_close(maps.cross[0].sum(-1), torch.ones(4, 2, T))
    assert maps.src_len.tolist() == [len(p.english.split()) + 1 for p in PAIRS]
    assert all(type(m) is FusedMultiHeadAttention for m in model.modules() if hasattr(m, "num_heads"))
    assert model.training


def test_reordering_counts_an_aligned_model_as_aligned():
    model = _model()
    result = reordering(model, PAIRS)
    assert result["n"] == 5 + 3 + 3 + 3 and len(result["per_layer"]) == 2
    assert all(0.0 <= share <= 1.0 for share in result["per_layer"])
    assert 0.0 < result["chance"] < 0.2
    # Force every cross-attention to put all its weight on the source position that the
    # content word comes from: the measurement must then read 100 %.
    maps = attention_maps(model, PAIRS)

    def aligned(*_args, **_kwargs):
        return maps

    wanted = torch.zeros_like(maps.cross[0])  # (B, h, T, S)
    for b, pair in enumerate(PAIRS):
        for k, e in content_sources(pair.english, pair.korean):
            wanted[b, :, k, e] = 1.0
    for weights in maps.cross:
        weights.copy_(wanted)
    import transformer_course.evidence as evidence

    original = evidence.attention_maps
    evidence.attention_maps = aligned
    try:
        perfect = reordering(model, PAIRS)
    finally:
        evidence.attention_maps = original
    assert perfect["per_layer"] == [1.0, 1.0] and perfect["verb_per_layer"] == [1.0, 1.0]
    assert perfect["best_head"] == [(0, 1.0), (0, 1.0)]


def test_it_resolution_and_the_claims_table():
    model = _model()
    it = it_resolution(model, PAIRS)
    assert it["n"] == 2 and it["wins"].shape == it["on_noun"].shape == (2, 2)
    assert ((it["wins"] >= 0) & (it["wins"] <= 1)).all()
    words = mapping_vs_order(
        ["개 는 큰 봤다", "소녀 는 사과 를 먹는다", "새 는"],
        ["큰 개 는 봤다", "소녀 는 사과 를 먹는다", "새 를"],
    )
    assert words == {"n": 3, "word_choice": 2 / 3, "order": 0.5, "exact": 1 / 3, "order_only_errors": 1}
    rows = claims_table(reordering(model, PAIRS), it, words)
    assert [r["verdict"] for r in rows][2:] == ["not shown", "not shown"]
    assert all(r["verdict"] in ("holds", "weak", "not shown") and r["measurement"] for r in rows)
    with pytest.raises(ValueError, match="because it was"):
        it_resolution(model, PAIRS[:1])


def test_torch_translator_decodes_with_the_course_masks():
    torch.manual_seed(0)
    model = TorchTranslator(SMALL).eval()
    batch = make_batch(PAIRS, ENGLISH_VOCAB, KOREAN_VOCAB, "cpu")
    logits = model(batch.src, batch.tgt_input, batch.src_mask, batch.tgt_mask)  # (B, T, V)
    assert logits.shape == (4, batch.tgt_input.size(1), len(KOREAN_VOCAB))
    # The first pair alone, without the others' padding, gives the same logits.
    alone = make_batch(PAIRS[:1], ENGLISH_VOCAB, KOREAN_VOCAB, "cpu")
    T = alone.tgt_input.size(1)
    torch.testing.assert_close(
        model(alone.src, alone.tgt_input, alone.src_mask, alone.tgt_mask),
        logits[:1, :T],
        atol=1e-5,
        rtol=1e-5,
    )
    out = greedy_decode(model, batch.src, 6, KOREAN_VOCAB.bos_id, KOREAN_VOCAB.eos_id)
    assert out.shape[0] == 4 and (out[:, 0] == KOREAN_VOCAB.bos_id).all()


# gpu_check's smoke sizes, with one valid sentence fewer than its evaluation.
TINY = {**SMOKE, "valid_size": 5}


def test_time_to_target_trains_both_models_and_gives_a_ratio(tmp_path, monkeypatch):
    import transformer_course.train as engine

    # Every evaluation scores 0.5, then 1.0: each model reaches the target at its 2nd.
    scores = iter([0.5, 1.0, 0.5, 1.0])
    monkeypatch.setattr(engine, "exact_match", lambda model, pairs, device: next(scores))
    config = dataclasses.replace(CONFIGS["tiny"], target_exact_match=0.99, **TINY)
    result = time_to_target(config, Run(out=tmp_path, device=torch.device("cpu"), progress=False))
    for name in ("course", "nn.Transformer"):
        assert result[name]["steps_to_target"] == 6, name
    assert result["ratio"] == pytest.approx(
        result["course"]["seconds_to_target"] / result["nn.Transformer"]["seconds_to_target"]
    )
    assert (tmp_path / "nn_transformer" / "metrics.json").exists()
    with pytest.raises(ValueError, match="target"):
        time_to_target(
            dataclasses.replace(config, target_exact_match=0.0), Run(out=tmp_path, device=torch.device("cpu"))
        )


def test_gpu_check_runs_on_the_cpu_and_writes_one_json(tmp_path):
    gpu_check_main(["--device", "cpu", "--smoke", "--out", str(tmp_path)])
    summary = json.loads((tmp_path / "gpu_check.json").read_text())
    for key in (
        "seconds_to_target",
        "steps_to_target",
        "exact_match",
        "heldout_exact_match",
        "tokens_per_second",
        "bench",
        "eval_history",
    ):
        assert key in summary, key
    assert summary["device"] == "cpu" and summary["smoke"] is True
    assert summary["steps"] == 6 and len(summary["eval_history"]) == 2
    names = [row["name"] for row in summary["bench"]]
    assert "course Transformer, fused, bf16 autocast" in names and "nn.Transformer" in names
