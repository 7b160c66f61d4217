"""Lesson 08's measurements: the notes' claims, checked on a trained model.

    maps = attention_maps(model, pairs)            # every layer's weights, teacher-forced
    reordering(model, pairs)                       # cross-attention aligns words, per layer
    it_resolution(model, pairs)                    # "it" onto its noun, per layer and head
    mapping_vs_order(outputs, references)          # word choice and order, apart
    claims_table(reorder, it, words)               # the verdicts, one row per claim

Each measurement compares with a chance level, so that a verdict says how far the model is
from guessing, and each is computed from the attention weights the from-scratch
MultiHeadAttention keeps (a model on the fused path is switched back for the pass).
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from transformer_course.cross_attention import alignment
from transformer_course.data import ENGLISH_VOCAB, KOREAN_VOCAB, Pair
from transformer_course.fast import FusedMultiHeadAttention, use_fused_attention
from transformer_course.grammar import ADJECTIVES, NOUNS, VERBS, Because, fitting_nouns, parse
from transformer_course.training import make_batch

# Each Korean content word and the English word it translates (a noun, an adjective, a verb
# in the simple present or past); particles, endings and "it"'s 그것 have no English twin.
KOREAN_SOURCE = {
    **{n.korean: n.english for n in NOUNS},
    **{a.korean: a.english for a in ADJECTIVES},
    **{v.korean_present: v.present for v in VERBS},
    **{v.korean_past: v.past for v in VERBS},
}
_VERB_FORMS = frozenset({v.korean_present for v in VERBS} | {v.korean_past for v in VERBS})


@dataclass(frozen=True)
class AttentionMaps:
    """Every attention layer's weights for a batch of sentence pairs (float32, CPU).

    Shape:
        encoder: one (B, h, S, S) per encoder layer; decoder_self: one (B, h, T, T) and
        cross: one (B, h, T, S) per decoder layer. Row i of the decoder's maps is the
        position that produces Korean token i (token T − 1 is <eos>); column j of S is
        English token j (S − 1 is <eos>). Padded rows and columns are zero-weight or junk.
        src_len, tgt_len: (B,) long, each pair's S and T without padding.
    """

    encoder: list[torch.Tensor]
    decoder_self: list[torch.Tensor]
    cross: list[torch.Tensor]
    src_len: torch.Tensor
    tgt_len: torch.Tensor


def attention_maps(model: nn.Module, pairs: Sequence[Pair | tuple[str, str]]) -> AttentionMaps:
    """One teacher-forced forward pass over the pairs in eval mode; every layer's weights.

    Args:
        model: a course Transformer (on the fused or the from-scratch path; it is left on
            the path it was on).
        pairs: (English, Korean) pairs of the grammar.
    """
    device = next(model.parameters()).device
    fused = any(isinstance(m, FusedMultiHeadAttention) for m in model.modules())
    was_training = model.training
    batch = make_batch(pairs, ENGLISH_VOCAB, KOREAN_VOCAB, device)
    use_fused_attention(model, False)
    try:
        model.eval()
        with torch.no_grad():
            model(batch.src, batch.tgt_input, batch.src_mask, batch.tgt_mask)

        def grab(layers, name):
            return [getattr(layer, name).attn_weights.float().cpu() for layer in layers]

        return AttentionMaps(
            encoder=grab(model.encoder.layers, "self_attn"),
            decoder_self=grab(model.decoder.layers, "self_attn"),
            cross=grab(model.decoder.layers, "cross_attn"),
            src_len=(batch.src != ENGLISH_VOCAB.pad_id).sum(1).cpu(),  # (B,)
            tgt_len=(batch.tgt_output != KOREAN_VOCAB.pad_id).sum(1).cpu(),  # (B,)
        )
    finally:
        use_fused_attention(model, fused)
        model.train(was_training)


def content_sources(english: str, korean: str) -> list[tuple[int, int]]:
    """(Korean index, English index) of every Korean content word whose English word occurs
    exactly once in the sentence."""
    words = english.split()
    found = []
    for i, token in enumerate(korean.split()):
        source = KOREAN_SOURCE.get(token)
        if source is not None and words.count(source) == 1:
            found.append((i, words.index(source)))
    return found


def reordering(model: nn.Module, pairs: Sequence[Pair]) -> dict:
    """How often a Korean content word's strongest cross-attention source is its English word.

    Per decoder layer, with the heads averaged and with the best single head, through lesson
    05's ``alignment`` (each target position's argmax over the source). ``verb`` is the same
    share for the sentence-final Korean verb alone, which sits at the end of the Korean but in
    the middle of the English. ``chance`` is the share a uniform pick over the source would
    get (the mean of 1/S).

    Returns:
        {"n": words counted, "per_layer": [share], "best_head": [(head, share)],
         "verb_n", "verb_per_layer": [share], "chance": float}
    """
    maps = attention_maps(model, pairs)
    sources = [content_sources(p.english, p.korean) for p in pairs]
    rows = [(b, k, e) for b, found in enumerate(sources) for k, e in found]
    verbs = [(b, k, e) for b, k, e in rows if pairs[b].korean.split()[k] in _VERB_FORMS]
    if not rows:
        raise ValueError("no Korean content word with a single English source in these pairs")
    b, k, e = (torch.tensor(x) for x in zip(*rows, strict=True))
    per_layer, best_head, verb_per_layer = [], [], []
    for weights in maps.cross:  # (B, h, T, S)
        hits = alignment(weights.mean(1))[b, k] == e  # (N,)
        per_layer.append(hits.float().mean().item())
        heads = alignment(weights)[b, :, k] == e[:, None]  # (N, h)
        share, head = heads.float().mean(0).max(0)
        best_head.append((int(head), share.item()))
        if verbs:
            vb, vk, ve = (torch.tensor(x) for x in zip(*verbs, strict=True))
            verb_per_layer.append((alignment(weights.mean(1))[vb, vk] == ve).float().mean().item())
    chance = (1.0 / maps.src_len[b].float()).mean().item()
    return {
        "n": len(rows),
        "per_layer": per_layer,
        "best_head": best_head,
        "verb_n": len(verbs),
        "verb_per_layer": verb_per_layer,
        "chance": chance,
    }


def it_positions(english: str) -> tuple[int, int, int | None] | None:
    """For a "... because it was STATE" sentence: the positions of "it", of the noun the
    grammar resolves it to, and of the other noun of the main clause (None if there is
    none); None when the sentence is not of that form or a noun is repeated."""
    sentence = parse(english)
    if not isinstance(sentence, Because):
        return None
    words = english.split()
    ((_, resolved),) = fitting_nouns(sentence)
    main = sentence.main
    others = [
        p.noun
        for p in (*main.subjects, *([main.complement] if main.complement else []))
        if p.noun != resolved.noun
    ]
    if words.count(resolved.noun) != 1 or any(words.count(o) != 1 for o in others):
        return None
    other = words.index(others[0]) if others else None
    return words.index("it"), words.index(resolved.noun), other


def it_resolution(model: nn.Module, pairs: Sequence[Pair]) -> dict:
    """Where the encoder self-attention of "it" lands, per layer and head.

    Returns:
        {"n": sentences, "on_noun": (L, h) mean weight from "it" onto the resolved noun,
         "on_other": (L, h) the same onto the main clause's other noun, "on_state": (L, h)
         onto the state at the end ("tired"), the word that decides in this grammar,
         "wins": (L, h) share of sentences where the resolved noun gets more weight than the
         other (chance 0.5), "chance": mean 1/S, the weight a uniform row gives any one word}
    """
    found = [(p, it_positions(p.english)) for p in pairs]
    found = [(p, pos) for p, pos in found if pos is not None and pos[2] is not None]
    if not found:
        raise ValueError('no "because it was ..." sentence with two nouns in these pairs')
    maps = attention_maps(model, [p for p, _ in found])
    it, noun, other = (torch.tensor(x) for x in zip(*(pos for _, pos in found), strict=True))
    b = torch.arange(len(found))
    state = maps.src_len - 2  # the last English word, before <eos>
    on_noun, on_other, on_state = [], [], []
    for weights in maps.encoder:  # (B, h, S, S)
        on_noun.append(weights[b, :, it, noun])  # (N, h)
        on_other.append(weights[b, :, it, other])  # (N, h)
        on_state.append(weights[b, :, it, state])  # (N, h)
    on_noun_t, on_other_t = torch.stack(on_noun, 1), torch.stack(on_other, 1)  # (N, L, h)
    return {
        "n": len(found),
        "on_noun": on_noun_t.mean(0),
        "on_other": on_other_t.mean(0),
        "on_state": torch.stack(on_state, 1).mean(0),
        "wins": (on_noun_t > on_other_t).float().mean(0),
        "chance": (1.0 / maps.src_len.float()).mean().item(),
    }


def mapping_vs_order(outputs: Sequence[str], references: Sequence[str]) -> dict:
    """Word choice and word order, measured apart.

    ``word_choice``: the output has exactly the reference's tokens, in any order (the
    mapping, particles and endings included). ``order``: of those, the share whose order is
    also the reference's. ``exact``: both; ``order_only_errors``: outputs with the right
    words in a wrong order.
    """
    same = [Counter(o.split()) == Counter(r.split()) for o, r in zip(outputs, references, strict=True)]
    exact = [o == r for o, r in zip(outputs, references, strict=True)]
    chosen = sum(same)
    return {
        "n": len(outputs),
        "word_choice": chosen / max(len(outputs), 1),
        "order": sum(exact) / chosen if chosen else 0.0,
        "exact": sum(exact) / max(len(outputs), 1),
        "order_only_errors": chosen - sum(exact),
    }


def _verdict(value: float, holds: float, weak: float) -> str:
    return "holds" if value >= holds else "weak" if value >= weak else "not shown"


def claims_table(reorder: dict, it: dict, words: dict) -> list[dict]:
    """One row per claim of the notes: the claim, a verdict, the measurement.

    The verdict thresholds: reordering holds when the best decoder layer aligns at least
    half of the content words (weak: twice chance); "it" holds when some head prefers the
    resolved noun over the other in 90 % of sentences (weak: 70 %); mapping and arranging
    hold when each is right in 95 % (weak: 70 %).
    """
    best = max(range(len(reorder["per_layer"])), key=lambda i: reorder["per_layer"][i])
    share = reorder["per_layer"][best]
    verb = reorder["verb_per_layer"][best] if reorder["verb_per_layer"] else float("nan")
    wins = it["wins"]
    layer, head = divmod(int(wins.argmax()), wins.size(1))
    top = wins[layer, head].item()
    # A head that reliably looks at the *other* noun also carries the referent.
    d_layer, d_head = divmod(int((wins - 0.5).abs().argmax()), wins.size(1))
    s_layer, s_head = divmod(int(it["on_state"].argmax()), wins.size(1))
    return [
        {
            "claim": "cross-attention relates each Korean word to its English word, "
            "the verb moved to the end (notes 3)",
            "verdict": _verdict(share, 0.5, 2 * reorder["chance"]),
            "measurement": f"decoder layer {best + 1}: {share:.0%} of {reorder['n']} content words "
            f"aligned (chance {reorder['chance']:.0%}); sentence-final verb "
            f"{verb:.0%} of {reorder['verb_n']}",
        },
        {
            "claim": '"it" is resolved from context (notes 3)',
            "verdict": _verdict(top, 0.9, 0.7),
            "measurement": f"encoder layer {layer + 1} head {head + 1}: the resolved noun outweighs "
            f"the other in {top:.0%} of {it['n']} sentences (chance 50%); weight "
            f"{it['on_noun'][layer, head]:.2f} vs "
            f"{it['on_other'][layer, head]:.2f} (uniform {it['chance']:.2f}); most "
            f"decisive: layer {d_layer + 1} head {d_head + 1}, "
            f"{wins[d_layer, d_head]:.0%}; most weight on the state word: layer "
            f"{s_layer + 1} head {s_head + 1}, {it['on_state'][s_layer, s_head]:.2f}",
        },
        {
            "claim": "the words are mapped: word choice (the notes say they are already known)",
            "verdict": _verdict(words["word_choice"], 0.95, 0.7),
            "measurement": f"{words['word_choice']:.1%} of {words['n']} translations have exactly "
            "the reference's words",
        },
        {
            "claim": "the words are arranged: order, given the right words (notes 1)",
            "verdict": _verdict(words["order"], 0.95, 0.7),
            "measurement": f"{words['order']:.1%} of those are also in the right order "
            f"({words['order_only_errors']} order-only errors)",
        },
    ]
