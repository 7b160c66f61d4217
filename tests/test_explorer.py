"""The attention explorer's Python side: the states it computes, its controls, its static view.
The browser side is driven in tests/test_browser.py (test_explorer_*)."""

import math

import pytest
import torch

from transformer_course.cross_attention import cross_attention
from transformer_course.data import ENGLISH_VOCAB, KOREAN_VOCAB, phenomena
from transformer_course.explorer import (
    cross_attention_explorer,
    mask_explorer,
    multi_head_explorer,
    softmax_explorer,
    transformer_explorer,
)
from transformer_course.explorer import state as st
from transformer_course.model import Transformer
from transformer_course.training import greedy_decode


def test_entropy_of_uniform_and_one_hot_rows():
    weights = torch.tensor([[0.25, 0.25, 0.25, 0.25], [1.0, 0.0, 0.0, 0.0]])
    torch.testing.assert_close(st.entropy(weights), torch.tensor([math.log(4), 0.0]))


def test_softmax_state_is_the_softmax_of_scaled_scores():
    state = st.softmax_state(16, "sqrt_d_k")
    scores, weights = torch.tensor(state["scores"]), torch.tensor(state["weights"])
    torch.testing.assert_close(weights, torch.softmax(scores, -1), atol=2e-3, rtol=0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(len(state["tokens"])), atol=1e-3, rtol=0)
    assert state["tau"] == 4.0 and state["max_entropy"] == round(math.log(6), 4)


def test_without_scaling_a_larger_d_k_saturates_the_softmax():
    small, large = st.softmax_state(4, "none"), st.softmax_state(1024, "none")
    assert large["max_weight"] > 0.9 > small["max_weight"]
    assert large["mean_entropy"] < 0.25 * small["mean_entropy"]
    scaled = [st.softmax_state(d_k, "sqrt_d_k")["max_weight"] for d_k in (4, 64, 1024)]
    assert max(scaled) < 0.7  # √d_k keeps the weights spread whatever d_k
    assert st.softmax_state(1024, "d_k")["mean_entropy"] > 0.95 * math.log(6)  # dividing by d_k: uniform


def test_softmax_state_uses_the_softmax_it_is_given():
    def wrong_axis(x, dim=-1):
        return torch.softmax(x, dim=0)

    columns = torch.tensor(st.softmax_state(16, softmax=wrong_axis)["weights"]).sum(0)
    torch.testing.assert_close(columns, torch.ones(6), atol=1e-3, rtol=0)
    with pytest.raises(ValueError, match="scaling"):
        st.softmax_state(16, "square")


def test_mask_state_hides_the_future_and_the_padding():
    both = st.mask_state(padding=True, look_ahead=True)
    T = len(both["tokens"])
    allowed = torch.tensor(both["allowed"])
    expected = torch.ones(T, T, dtype=torch.bool).tril()
    expected[:, -1] = False  # the last token is <pad>
    assert torch.equal(allowed, expected) and both["hidden"] == int((~expected).sum())
    weights = torch.tensor(both["weights"])
    assert (weights[~allowed] == 0).all()
    assert not both["leak"] and both["leaks"] == [] and both["pad_weight"] == 0.0


def test_the_leak_test_finds_leaks_without_the_look_ahead_mask():
    padding_only = st.mask_state(padding=True, look_ahead=False)
    T = len(padding_only["tokens"])
    assert padding_only["leak"]
    # Every later real token leaks into every earlier output; the padded key leaks nowhere.
    assert sorted(map(tuple, padding_only["leaks"])) == [
        (i, j) for i in range(T) for j in range(i + 1, T - 1)
    ]
    none = st.mask_state(padding=False, look_ahead=False)
    assert none["hidden"] == 0 and none["pad_weight"] > 0 and len(none["leaks"]) == T * (T - 1) // 2


def test_mask_state_uses_the_learners_masks():
    def look_ahead_off_by_one(size):  # hides the diagonal too: rows see only the past
        return torch.ones(size, size, dtype=torch.bool).tril(-1)

    state = st.mask_state(look_ahead_mask=look_ahead_off_by_one)
    assert not state["allowed"][1][1] and state["hidden"] == 28


@pytest.fixture(scope="module")
def tiny_transformer():
    torch.manual_seed(0)
    return Transformer(
        len(ENGLISH_VOCAB), len(KOREAN_VOCAB), d_model=16, num_heads=2, num_layers=2, d_ff=32, dropout=0.0
    )


def test_transformer_maps_hold_every_attention_of_the_sentence(tiny_transformer):
    english = "the cat sat on the mat because it was tired"
    maps = st.transformer_maps(tiny_transformer, english, greedy_decode)
    S, T = len(english.split()) + 1, len(maps.target)
    assert maps.source == english.split() + ["<eos>"] and 1 <= T <= 15
    assert {k: tuple(v.shape) for k, v in maps.maps.items()} == {
        "encoder self-attention": (2, 2, S, S),
        "decoder self-attention": (2, 2, T, T),
        "cross-attention": (2, 2, T, S),
    }
    torch.testing.assert_close(maps.maps["cross-attention"].sum(-1), torch.ones(2, 2, T))
    assert (maps.maps["decoder self-attention"].triu(1) == 0).all()  # the look-ahead mask held
    assert "reference: 고양이 는 피곤해서 매트 위 에 앉았다" == maps.note or maps.note.startswith("✓")


def test_select_picks_a_layer_and_a_head_or_their_mean(tiny_transformer):
    maps = st.transformer_maps(tiny_transformer, "the big dog saw the small bird", greedy_decode)
    cross = maps.maps["cross-attention"]
    one = st.select(maps, "cross-attention", layer=1, head=0)
    mean = st.select(maps, "cross-attention", layer=1, head="mean")
    torch.testing.assert_close(torch.tensor(one["weights"]), cross[1, 0], atol=1e-4, rtol=0)
    torch.testing.assert_close(torch.tensor(mean["weights"]), cross[1].mean(0), atol=1e-4, rtol=0)
    assert one["rows"] == maps.target and one["columns"] == maps.source
    assert one["top"] == cross[1, 0].argmax(-1).tolist()
    encoder = st.select(maps, "encoder self-attention", 0, 1)
    assert encoder["rows"] == encoder["columns"] == maps.source
    with pytest.raises(ValueError, match="head 3 does not exist"):
        st.select(maps, "cross-attention", 0, 2)
    with pytest.raises(ValueError, match="layer 3 does not exist"):
        st.select(maps, "cross-attention", 2, 0)


def test_rule_heads_point_where_lesson_03_says():
    english = "the cat sat on the mat because it was tired"
    words = english.split()
    weights = st.rule_heads_maps(english).maps["encoder self-attention"][0]  # (h, T, T)
    top = weights.argmax(-1)  # (h, T)
    assert top[0, 3].item() == 2 and top[3, 3].item() == 4  # previous and next word
    assert weights[1, 4, [0, 4]].sum() > 0.99  # "the" looks at both "the"s
    it = words.index("it")
    assert weights[2, it, [words.index("cat"), words.index("mat")]].sum() > 0.99  # "it" → the nouns


def test_dictionary_maps_align_translations_and_reorder_the_verb():
    maps = st.dictionary_maps("the big dog saw the small bird", cross_attention)
    state = st.select(maps, "cross-attention")
    aligned = {k: state["columns"][j] for k, j in zip(state["rows"], state["top"], strict=True)}
    assert maps.target == ["큰", "개", "는", "작은", "새", "를", "봤다", "<eos>"]
    assert {k: aligned[k] for k in ("큰", "개", "작은", "새", "봤다")} == {
        "큰": "big",
        "개": "dog",
        "작은": "small",
        "새": "bird",
        "봤다": "saw",
    }  # the verb moves to the end
    with pytest.raises(ValueError):
        st.dictionary_maps("the cat flew away", cross_attention)


def test_example_sentences_show_their_phenomenon():
    examples = st.example_sentences()
    assert set(examples) == set(st.EXAMPLE_PHENOMENA)
    for tag, sentences in examples.items():
        assert sentences and all(tag in phenomena(s) for s in sentences)


def test_the_widget_recomputes_its_state_when_a_control_moves():
    explorer = softmax_explorer(d_k=4, scaling="none")
    before = explorer.state["max_weight"]
    explorer.controls = {**explorer.controls, "d_k": 1024}
    assert explorer.state["d_k"] == 1024 and explorer.state["max_weight"] > before
    masks = mask_explorer()
    masks.controls = {"padding": True, "look_ahead": False}
    assert masks.state["leak"] and masks.state["look_ahead"] is False


def test_an_error_in_the_learners_code_is_shown_and_the_last_state_kept():
    def broken(x, dim=-1):
        raise NotImplementedError()

    explorer = softmax_explorer(softmax=broken)
    assert explorer.state["error"].startswith("NotImplementedError")
    heads = multi_head_explorer()
    heads.controls = {**heads.controls, "sentence": ""}
    assert "empty" in heads.state["error"] and heads.state["rows"][0] == "the"
    cross = cross_attention_explorer(cross_attention)
    cross.controls = {**cross.controls, "sentence": "the cat flew"}
    assert "flew" in cross.state["error"]


def test_the_model_explorer_switches_kind_layer_and_head(tiny_transformer):
    explorer = transformer_explorer(tiny_transformer, greedy_decode)
    assert explorer.state["kind"] == "cross-attention" and explorer.state["head"] == "mean"
    explorer.controls = {**explorer.controls, "kind": "encoder self-attention", "layer": 1, "head": 1}
    state = explorer.state
    assert (state["kind"], state["layer"], state["head"]) == ("encoder self-attention", 1, 1)
    assert state["rows"] == state["columns"] == state["source"]
    assert "examples" in explorer.options and explorer.options["examples"]["reordering"]


def test_the_static_view_is_a_figure_and_shown_before_the_widget(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda data, **kwargs: shown.append(data))
    explorer = mask_explorer()
    assert len(explorer.static_figure().axes) >= 2  # a panel per state, colorbars too
    explorer._ipython_display_()
    fallback, widget = shown
    assert f'data-explorer="{explorer.fallback_id}"' in fallback["text/html"]
    assert "data:image/png;base64," in fallback["text/html"]
    assert widget["application/vnd.jupyter.widget-view+json"]["model_id"] == explorer.model_id


def test_the_javascript_is_shipped_in_the_package_and_fetches_nothing():
    from transformer_course.explorer.widget import STATIC

    source = (STATIC / "explorer.js").read_text()
    assert "export default" in source
    for forbidden in ("http://", "https://", "import ", "fetch("):
        assert forbidden not in source, f"explorer.js must not load anything: found {forbidden!r}"
