"""Every known mistake a lesson's test names has a stable tag (transformer_course/mistakes.py),
and the tag reaches what the test raises.

The messages are read from the solution notebooks' code: the keys of a dict given as
``mistakes=``, and every dict key that is a sentence (four words or more), which covers the
dicts built first and passed on later (``mistakes = {...}``, ``known.update(...)``).
"""

import ast
import re

import nbformat
import pytest
import torch

from autograder.course import SOLUTIONS, lesson_ids, notebook_path
from transformer_course.checks import expect_close
from transformer_course.mistakes import MISTAKES, tag_of, tagged

TAG = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")


def _text(node) -> str | None:
    """A string key as the test writes it; an f-string's fields become ``{placeholders}``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            v.value if isinstance(v, ast.Constant) else "{" + ast.unparse(v.value) + "}" for v in node.values
        )
    return None


def _keys(tree) -> list[ast.expr]:
    keys = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            keys += [k for k in node.keys if k is not None]
        elif isinstance(node, ast.DictComp):
            keys.append(node.key)
        elif isinstance(node, ast.Assign):
            keys += [t.slice for t in node.targets if isinstance(t, ast.Subscript)]
    return keys


def messages_in(source: str) -> set[str]:
    """The mistake messages of one cell's code."""
    tree = ast.parse(
        "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
    )
    given = {
        id(k)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        for kw in node.keywords
        if kw.arg == "mistakes"
        for k in _keys(kw.value)
    }
    return {
        text
        for key in _keys(tree)
        if (text := _text(key)) is not None and (id(key) in given or len(text.split()) >= 4)
    }


def solution_messages() -> dict[str, tuple[str, str]]:
    """message -> (lesson, grade_id of the cell) for every mistake message of solutions/."""
    found = {}
    for lesson in lesson_ids():
        for cell in nbformat.read(notebook_path(SOLUTIONS, lesson), as_version=4).cells:
            if cell.cell_type == "code":
                where = cell.metadata.get("nbgrader", {}).get("grade_id", "?")
                for message in messages_in(cell.source):
                    found.setdefault(message, (lesson, where))
    return found


def test_every_mistake_message_of_the_solutions_has_a_tag():
    untagged = {m: where for m, where in solution_messages().items() if tag_of(m) is None}
    assert not untagged, (
        f"{len(untagged)} mistake messages in solutions/ have no tag. Add each to MISTAKES in "
        "transformer_course/mistakes.py, under the tag of the same mistake if there is one "
        "(a reworded message: replace the old wording), else under a new kebab-case tag:\n"
        + "\n".join(
            f'    "<tag>": ({m!r},),  # {lesson}, cell {cell}'
            for m, (lesson, cell) in sorted(untagged.items(), key=lambda item: item[1])
        )
    )


def test_every_message_of_the_table_is_still_used():
    used = solution_messages()
    stale = [m for messages in MISTAKES.values() for m in messages if m not in used]
    assert not stale, (
        "messages in transformer_course/mistakes.py that no solution notebook uses "
        "any more (reworded? move the tag to the new wording):\n" + "\n".join(f"    {m!r}" for m in stale)
    )


def test_tags_are_kebab_case_and_messages_unique():
    assert all(TAG.fullmatch(tag) for tag in MISTAKES), [t for t in MISTAKES if not TAG.fullmatch(t)]
    messages = [m for group in MISTAKES.values() for m in group]
    assert len(messages) == len(set(messages))


def test_the_reader_finds_literal_f_string_and_built_dicts():
    source = (
        'expect_close(a, b, "w", mistakes={"short one": x, f"your {name} is off": y})\n'
        'wrong = {"a sentence of five words": z}\n'
        'wrong[f"another sentence for {dim} here"] = z\n'
        'curves = {"not a message": 1}\n'
    )
    assert messages_in(source) == {
        "short one",
        "your {name} is off",
        "a sentence of five words",
        "another sentence for {dim} here",
    }


def test_a_template_matches_any_text_in_its_placeholders():
    assert (
        tag_of("your v equals what k should be: compute v with w_v, and return (q, k, v) in that order.")
        == "qkv-outputs-swapped"
    )
    assert tag_of("your softmax ignores `dim`: with dim=-2, reduce along dimension -2") == (
        "softmax-ignores-dim"
    )
    assert tag_of("your scores equal QKᵀ/d_k: divide by √d_k, not by d_k") == "scale-by-dk"
    assert tag_of("a message nobody wrote") is None
    assert tagged("a message nobody wrote") == "a message nobody wrote"


@pytest.mark.parametrize(
    "hint, tag",
    [("your scores equal QKᵀ/d_k: divide by √d_k, not by d_k", "scale-by-dk"), ("an untagged hint", None)],
)
def test_expect_close_raises_the_message_with_its_tag(hint, tag):
    q = torch.randn(2, 3, 8, generator=torch.Generator().manual_seed(0))
    with pytest.raises(AssertionError) as raised:
        expect_close(q @ q.mT / 8, q @ q.mT / 8**0.5, "scores", mistakes={hint: q @ q.mT / 8})
    assert str(raised.value) == f"scores: {hint}" + (f" (mistake: {tag})" if tag else "")
