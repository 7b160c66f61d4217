"""The generated sentence pairs, their splits, vocabularies and length-bucketed batches."""

import random
from collections import Counter

import pytest
import torch

from transformer_course.data import (
    ENGLISH_VOCAB,
    HELDOUT,
    KOREAN_VOCAB,
    PHENOMENA,
    Pair,
    Vocab,
    batches,
    collate,
    generate_pairs,
    length_groups,
    make_splits,
    pad,
    phenomena,
    sample_sentence,
    split_of,
)
from transformer_course.grammar import (
    ADJECTIVES,
    NOUNS,
    STATES,
    VERBS,
    english,
    parse,
    translate,
)

N = 6_000


@pytest.fixture(scope="module")
def pairs():
    return generate_pairs(N, seed=7)


@pytest.fixture(scope="module")
def splits(pairs):
    return make_splits(pairs)


def test_generation_is_deterministic():
    assert generate_pairs(300, seed=1) == generate_pairs(300, seed=1)
    assert generate_pairs(300, seed=1) != generate_pairs(300, seed=2)


def test_every_pair_is_the_grammars_translation(pairs):
    for pair in pairs:
        assert translate(pair.english) == pair.korean, pair.english


def test_no_english_sentence_has_two_translations(pairs):
    seen: dict[str, str] = {}
    for pair in pairs:
        assert seen.setdefault(pair.english, pair.korean) == pair.korean
    # Reading a drawn tree back from its English gives the same tree, so the English
    # determines the tree and with it the Korean.
    rng = random.Random(11)
    for _ in range(3_000):
        tree = sample_sentence(rng)
        assert parse(english(tree)) == tree


def test_every_form_and_word_is_generated(pairs):
    counts = Counter(tag for pair in pairs for tag in phenomena(pair.english))
    assert set(counts) == set(PHENOMENA)
    assert min(counts.values()) > N // 100
    words = Counter(word for pair in pairs for word in pair.english.split())
    for entry in [*NOUNS, *STATES, *ADJECTIVES]:
        assert words[entry.english] > 0, entry.english
    for verb in VERBS:
        assert words[verb.present] and words[verb.past] and words[verb.base]
    tokens = Counter(token for pair in pairs for token in pair.korean.split())
    assert tokens["늙은"] > 50 and tokens["낡은"] > 50
    assert tokens["그것"] > 50 and tokens["그"] > 50 and tokens["이다"] > 50
    # the vocabularies hold no token the data never uses
    assert set(ENGLISH_VOCAB.tokens[3:]) == set(words)
    assert set(KOREAN_VOCAB.tokens[3:]) == set(tokens)


def test_spec_constraints_hold(pairs):
    korean_past = {v.korean_past for v in VERBS}
    nouns = {n.english for n in NOUNS}
    for pair in pairs:
        words = pair.english.split()
        main = words[: words.index("because")] if "because" in words else words
        if "because" in words:
            assert "and" not in main and "not" not in main  # single subject, plain verb
            assert not any(w.endswith("ing") for w in main)
            assert (words[-2] == "was") == (pair.korean.split()[-1] in korean_past)
        if "and" in words and "read" in words and "not" not in words:
            assert pair.korean.endswith("읽었다")  # never the simple present
        chase = [i for i, w in enumerate(main) if w.startswith("chas")]
        if chase:
            subjects = {w for w in main[: chase[0]] if w in nouns}
            assert main[-1] not in subjects


def test_split_is_a_hash_of_the_english():
    texts = [f"sentence {i}" for i in range(20_000)]
    names = Counter(split_of(t) for t in texts)
    assert abs(names["train"] / len(texts) - 0.90) < 0.01
    assert abs(names["valid"] / len(texts) - 0.05) < 0.005
    assert abs(names["test"] / len(texts) - 0.05) < 0.005
    assert [split_of(t) for t in texts[:100]] == [split_of(t) for t in texts[:100]]


def test_splits_are_disjoint_and_sized(pairs, splits):
    parts = {
        name: [p.english for p in getattr(splits, name)] for name in ("train", "valid", "test", "heldout")
    }
    for name, texts in parts.items():
        assert len(texts) == len(set(texts)), f"repeated sentence in {name}"
    all_texts = [t for texts in parts.values() for t in texts]
    assert len(all_texts) == len(set(all_texts)) == len({p.english for p in pairs})
    plain = len(parts["train"]) + len(parts["valid"]) + len(parts["test"])
    assert abs(len(parts["train"]) / plain - 0.90) < 0.02
    assert abs(len(parts["valid"]) / plain - 0.05) < 0.01
    assert abs(len(parts["test"]) / plain - 0.05) < 0.01
    # a sentence's split does not depend on what else was drawn
    again = make_splits(pairs[: N // 3])
    assert set(again.test) <= set(splits.test) and set(again.train) <= set(splits.train)


def _held_out_uses(pair: Pair) -> set:
    """Held-out combinations, read off the text rather than the parse: "ADJ N" in the
    English; for "because", the noun two tokens before the state's Korean."""
    found = {(a, n) for a, n in HELDOUT.adjective_nouns if f" {a} {n}" in f" {pair.english}"}
    tokens = pair.korean.split()
    korean_noun = {n.korean: n.english for n in NOUNS}
    for state in STATES:
        if state.korean in tokens:
            it = korean_noun[tokens[tokens.index(state.korean) - 2]]
            found |= {(it, state.english)} & HELDOUT.noun_states
    return found


def test_held_out_combinations_never_reach_training(splits):
    for part in (splits.train, splits.valid, splits.test):
        assert not any(_held_out_uses(pair) for pair in part)
    assert splits.heldout and all(_held_out_uses(pair) for pair in splits.heldout)
    used = set().union(*map(_held_out_uses, splits.heldout))
    assert used == HELDOUT.adjective_nouns | HELDOUT.noun_states


def test_vocab_round_trip(pairs):
    for vocab in (ENGLISH_VOCAB, KOREAN_VOCAB):
        assert vocab.tokens[:3] == ("<pad>", "<bos>", "<eos>")
        assert (vocab.pad_id, vocab.bos_id, vocab.eos_id) == (0, 1, 2)
    for pair in pairs[:2_000]:
        assert ENGLISH_VOCAB.decode(ENGLISH_VOCAB.encode(pair.english)) == pair.english
        ids = KOREAN_VOCAB.encode(pair.korean)
        assert min(ids) >= 3
        assert KOREAN_VOCAB.decode(torch.tensor([1, *ids, 2, 0, 0])) == pair.korean
    assert KOREAN_VOCAB.decode([5, 6, 2, 7]) == " ".join(KOREAN_VOCAB.tokens[5:7])
    with pytest.raises(ValueError, match="'dogs' is not in the vocabulary"):
        ENGLISH_VOCAB.encode("the dogs")
    with pytest.raises(ValueError, match="starts with"):
        Vocab(("a", "b"))


def test_pad():
    out = pad([[5, 6, 7], [8]], pad_id=0)
    assert out.dtype == torch.long
    assert out.tolist() == [[5, 6, 7], [8, 0, 0]]


def test_collate_layout():
    batch = collate(
        [
            Pair("the cat is sleeping", "고양이 는 자고 있다"),
            Pair("the dog eats the bread", "개 는 빵 을 먹는다"),
        ],
        ENGLISH_VOCAB,
        KOREAN_VOCAB,
    )
    assert batch.src.shape == (2, 6) and batch.tgt.shape == (2, 7)
    assert batch.src[0, 4].item() == ENGLISH_VOCAB.eos_id and batch.src[0, 5].item() == 0
    assert batch.tgt[:, 0].tolist() == [1, 1]
    assert batch.tgt[0, 5].item() == 2 and batch.tgt[0, 6].item() == 0
    assert batch.tgt[1, 6].item() == 2
    assert ENGLISH_VOCAB.decode(batch.src[1]) == "the dog eats the bread"


def test_batches_cover_every_pair_once_with_little_padding(splits):
    train = splits.train[:2_000]
    got = list(batches(train, ENGLISH_VOCAB, KOREAN_VOCAB, batch_size=64, seed=0))
    assert Counter(p for b in got for p in b.pairs) == Counter(train)
    assert sum(len(b.pairs) < 64 for b in got) <= 1
    for b in got:
        assert b.src.dtype == b.tgt.dtype == torch.long
        for row_src, row_tgt, pair in zip(b.src, b.tgt, b.pairs, strict=True):
            n_src, n_tgt = len(pair.english.split()) + 1, len(pair.korean.split()) + 2
            assert (row_src[n_src:] == 0).all() and (row_src[:n_src] != 0).all()
            assert (row_tgt[n_tgt:] == 0).all() and (row_tgt[:n_tgt] != 0).all()
            assert ENGLISH_VOCAB.decode(row_src) == pair.english
            assert KOREAN_VOCAB.decode(row_tgt) == pair.korean
    bucketed = sum((b.src == 0).sum().item() for b in got)
    shuffled = list(train)
    random.Random(0).shuffle(shuffled)
    unsorted = sum(
        (collate(shuffled[i : i + 64], ENGLISH_VOCAB, KOREAN_VOCAB).src == 0).sum().item()
        for i in range(0, len(shuffled), 64)
    )
    assert bucketed < unsorted / 5


def test_batches_shuffle_by_seed(splits):
    train = splits.train[:1_000]
    first = [b.pairs for b in batches(train, ENGLISH_VOCAB, KOREAN_VOCAB, 32, seed=1)]
    assert first == [b.pairs for b in batches(train, ENGLISH_VOCAB, KOREAN_VOCAB, 32, seed=1)]
    assert first != [b.pairs for b in batches(train, ENGLISH_VOCAB, KOREAN_VOCAB, 32, seed=2)]
    fixed = [b.pairs for b in batches(train, ENGLISH_VOCAB, KOREAN_VOCAB, 32)]
    lengths = [len(p.english.split()) for group in fixed for p in group]
    assert lengths == sorted(lengths)  # without a seed: shortest first, for evaluation


@pytest.mark.parametrize(
    ("source", "tags"),
    [
        ("the rose is a flower", {"copula"}),
        ("the cat is not a flower", {"copula", "negation", "particles"}),
        ("the bear and the rabbit ate the bread", {"joined", "reordering", "particles"}),
        ("the old teacher read the old book", {"old", "reordering"}),
        ("the cat is sleeping", {"progressive"}),
        ("the girl did not eat the apple", {"negation", "reordering"}),
        ("the cat sat on the mat because it was tired", {"it", "it:subject", "reordering"}),
        ("the cat sat on the mat because it was soft", {"it", "it:place", "reordering"}),
        ("the bird slept because it was tired", {"it", "it:subject"}),
        (
            "the dog ate the fresh fish because it was delicious",
            {"it", "it:object", "reordering", "particles"},
        ),
    ],
)
def test_phenomena(source, tags):
    assert phenomena(source) == tags


def test_length_groups_are_the_batches_pairs_unencoded(splits):
    train = splits.train[:500]
    groups = length_groups(train, batch_size=32, seed=4)
    assert all(isinstance(g, tuple) and isinstance(g[0], Pair) for g in groups)
    assert groups == [b.pairs for b in batches(train, ENGLISH_VOCAB, KOREAN_VOCAB, 32, seed=4)]
    assert sorted(p.english for g in groups for p in g) == sorted(p.english for p in train)
    assert groups != length_groups(train, batch_size=32, seed=5)
