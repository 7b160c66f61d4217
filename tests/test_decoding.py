"""The reference decoding module (lesson 09) and its benchmark's rows."""

import json

import pytest
import torch

from transformer_course.bench_decode import DecodeBenchConfig, main, train_quickly
from transformer_course.data import ENGLISH_VOCAB, KOREAN_VOCAB, generate_pairs, make_splits
from transformer_course.decoding import (
    KVCache,
    attend,
    beam_search,
    cached_greedy_decode,
    decode_step,
    length_penalty_gnmt,
    project_kv,
)
from transformer_course.fast import use_fused_attention
from transformer_course.masking import look_ahead_mask, padding_mask
from transformer_course.model import Transformer
from transformer_course.multi_head import MultiHeadAttention
from transformer_course.training import greedy_decode


def _model(seed: int, fused: bool = False, eos_bias: float = 1.0, **sizes) -> Transformer:
    torch.manual_seed(seed)
    sizes = {"d_model": 16, "num_heads": 2, "num_layers": 2, "d_ff": 32, **sizes}
    model = Transformer(20, 15, dropout=0.0, **sizes).double().eval()
    with torch.no_grad():
        model.generator.bias[2] += eos_bias  # <eos> now and then, so rows stop at different places
    return use_fused_attention(model, fused)


def _src(seed: int, B: int = 4, S: int = 6) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    src = torch.randint(3, 20, (B, S), generator=gen)
    src[1, S // 2 :] = 0  # a padded row
    return src


def _log_prob(model, src, seqs, eos_id=2):
    """log P of each row (up to its first <eos>) by one teacher-forced pass of the whole model."""
    with torch.no_grad():
        tgt = seqs[:, :-1]
        logits = model(src, tgt, padding_mask(src, 0), look_ahead_mask(tgt.size(1)))
        picked = logits.log_softmax(-1).gather(-1, seqs[:, 1:, None])[..., 0]  # (B, L - 1)
        counted = torch.ones_like(picked, dtype=torch.bool)
        for b, row in enumerate(seqs[:, 1:].tolist()):
            if eos_id in row:
                counted[b, row.index(eos_id) + 1 :] = False
        return (picked * counted).sum(-1)


@pytest.mark.parametrize("fused", [False, True], ids=["scratch", "fused"])
def test_attend_equals_multi_head_attention(fused):
    torch.manual_seed(0)
    attn = MultiHeadAttention(12, 3).double().eval()
    if fused:
        use_fused_attention(attn)
    query, memory = torch.randn(2, 4, 12).double(), torch.randn(2, 7, 12).double()
    mask = torch.rand(2, 1, 4, 7) > 0.3
    mask[..., 0] = True
    k, v = project_kv(attn, memory)
    torch.testing.assert_close(attend(attn, query, k, v, mask), attn(query, memory, memory, mask))


@pytest.mark.parametrize("fused", [False, True], ids=["scratch", "fused"])
@pytest.mark.parametrize("layers,T", [(1, 1), (2, 7), (3, 4)])
def test_decode_step_equals_the_full_decoder_at_every_step(fused, layers, T):
    model = _model(layers, fused, num_layers=layers)
    src = _src(layers)
    tgt = torch.randint(1, 15, (src.size(0), T))
    src_mask = padding_mask(src, 0)
    cache = KVCache(layers)
    with torch.no_grad():
        memory = model.encode(src, src_mask)
        full = model.generator(model.decode(tgt, memory, look_ahead_mask(T), src_mask))  # (B, T, V)
        for t in range(T):
            logits = decode_step(model, tgt[:, t], memory, src_mask, cache, t)
            torch.testing.assert_close(logits, full[:, t], atol=1e-10, rtol=1e-8)
    assert cache.length == T


def test_cross_attention_is_projected_once_per_layer():
    model = _model(1, num_layers=3)
    calls = []
    for layer in model.decoder.layers:
        layer.cross_attn.w_k.register_forward_hook(lambda m, a, o: calls.append(1))
    out = cached_greedy_decode(model, _src(1), max_len=9, bos_id=1, eos_id=-1)
    assert out.shape == (4, 9) and len(calls) == 3


def test_kv_cache_reorder_moves_every_kept_tensor():
    torch.manual_seed(0)
    attn = MultiHeadAttention(6, 2).eval()
    cache = KVCache(2)
    k, v = torch.randn(3, 2, 2, 3), torch.randn(3, 2, 2, 3)
    cache.extend(0, k, v)
    cross_k, _ = cache.cross(1, attn, torch.randn(3, 4, 6))
    rows = torch.tensor([2, 0, 0, 1])
    cache.reorder(rows)
    torch.testing.assert_close(cache.self_keys[0], k[rows])
    torch.testing.assert_close(cache.self_values[0], v[rows])
    torch.testing.assert_close(cache.cross_keys[1], cross_k[rows])
    assert cache.self_keys[1] is None and cache.cross_keys[0] is None


@pytest.mark.parametrize("max_len", [1, 2, 9])
def test_cached_greedy_equals_greedy_token_for_token(max_len):
    model = _model(3, eos_bias=1.5).train()
    src = _src(3, B=5)
    expected = greedy_decode(model, src, max_len, 1, 2)
    assert cached_greedy_decode(model, src, max_len, 1, 2).tolist() == expected.tolist()
    assert model.training  # the mode is restored


def test_length_penalty_gnmt():
    assert length_penalty_gnmt(3, 0.0) == 1.0
    assert length_penalty_gnmt(7, 1.0) == pytest.approx(2.0)
    assert length_penalty_gnmt(13, 0.5) == pytest.approx(3**0.5)


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_one_beam_is_greedy(alpha):
    model = _model(4, eos_bias=1.5)
    src = _src(4, B=5)
    sequences, log_probs = beam_search(model, src, 1, 9, 1, 2, length_penalty=alpha)
    assert sequences.tolist() == greedy_decode(model, src, 9, 1, 2).tolist()
    torch.testing.assert_close(log_probs, _log_prob(model, src, sequences))


@pytest.mark.parametrize("K,alpha", [(2, 0.0), (4, 0.0), (4, 1.0), (8, 0.6)])
def test_beam_search_returns_finished_hypotheses_and_their_log_prob(K, alpha):
    model = _model(5)
    src = _src(5)
    sequences, log_probs = beam_search(model, src, K, 10, 1, 2, length_penalty=alpha)
    assert (sequences[:, 0] == 1).all() and sequences.size(1) <= 10
    for row in sequences.tolist():
        if 2 in row:  # nothing but padding after <eos>
            assert set(row[row.index(2) + 1 :]) <= {0}
    torch.testing.assert_close(log_probs, _log_prob(model, src, sequences))


def test_beam_search_finds_more_probable_translations_than_greedy():
    # On this model greedy decoding misses the most likely translation of every sentence.
    torch.manual_seed(150)
    model = Transformer(20, 15, d_model=16, num_heads=2, num_layers=2, d_ff=32).double().eval()
    with torch.no_grad():
        model.generator.bias[2] += 1.0
    src = torch.randint(3, 20, (4, 5))
    greedy = _log_prob(model, src, greedy_decode(model, src, 10, 1, 2))
    _, beam = beam_search(model, src, 4, 10, 1, 2)
    assert (beam > greedy + 0.5).all(), (beam, greedy)


def test_longer_beams_win_with_a_length_penalty():
    model = _model(6, eos_bias=2.0)
    src = _src(6, B=8)
    lengths = {}
    for alpha in (0.0, 3.0):
        sequences, _ = beam_search(model, src, 4, 12, 1, 2, length_penalty=alpha)
        lengths[alpha] = (sequences != 0).sum().item()
    assert lengths[3.0] > lengths[0.0]


def test_bench_decode_rows(tmp_path):
    torch.manual_seed(0)
    model = Transformer(
        len(ENGLISH_VOCAB), len(KOREAN_VOCAB), d_model=16, num_heads=2, num_layers=1, d_ff=32, dropout=0.0
    )
    config = {"d_model": 16, "num_heads": 2, "num_layers": 1, "d_ff": 32}
    torch.save({"model": model.state_dict(), "config": config}, tmp_path / "checkpoint.pt")
    rows = main(
        [
            "--device",
            "cpu",
            "--threads",
            "1",
            "--checkpoint",
            str(tmp_path / "checkpoint.pt"),
            "--batch-size",
            "2",
            "--src-len",
            "4",
            "--lengths",
            "4",
            "6",
            "--beams",
            "1",
            "2",
            "--rounds",
            "1",
            "--eval-size",
            "5",
            "--pool-size",
            "2000",
            "--out",
            str(tmp_path),
        ]
    )
    written = {r["name"]: r for r in json.loads((tmp_path / "bench.json").read_text())}
    assert set(written) == {r.name for r in rows}
    for L in (4, 6):
        assert written[f"greedy_uncached_L{L}"]["tokens_per_second"] > 0
        cached = written[f"greedy_cached_L{L}"]
        assert cached["speedup_vs_uncached"] > 0 and cached["same_tokens"] == 1.0
    assert written["cached_fused_L64"]["speedup_vs_scratch"] > 0
    for K in (1, 2):
        for split in ("test", "heldout"):
            row = written[f"beam{K}_{split}"]
            assert 0 <= row["exact_match"] <= 1 and 0 <= row["bleu"] <= 100 and row["sentences"] == 5
            assert row["length_ratio"] >= 0
    assert (tmp_path / "decode_cost.png").stat().st_size > 0
    assert DecodeBenchConfig().lengths == (16, 64, 256)  # the rows the README reports


def test_bench_trains_a_model_when_given_no_checkpoint():
    c = DecodeBenchConfig(d_model=16, num_heads=2, num_layers=1, d_ff=32, train_seconds=0.2)
    before = Transformer(
        len(ENGLISH_VOCAB), len(KOREAN_VOCAB), d_model=16, num_heads=2, num_layers=1, d_ff=32
    )
    model = train_quickly(c, make_splits(generate_pairs(300, seed=0)).train, torch.device("cpu"))
    assert not model.training
    assert type(model.decoder.layers[0].self_attn) is MultiHeadAttention  # from-scratch again
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in before.parameters())
