"""The hidden tests are themselves tested: each realistic wrong implementation
loses points, and every graded exercise has at least three of them."""

from collections import Counter

import pytest

from autograder.course import lesson_ids

from . import harness
from .wrong import Wrong, all_wrong

WRONG = all_wrong()


@pytest.fixture(scope="module")
def kernels():
    """lesson -> its LessonKernel; one lesson's kernel at a time, since each lesson's
    wrong implementations run together on one worker (their xdist group)."""
    open_ = {}

    def kernel(lesson: str) -> harness.LessonKernel:
        if lesson not in open_:
            while open_:
                open_.popitem()[1].close()
            open_[lesson] = harness.LessonKernel(lesson)
        return open_[lesson]

    yield kernel
    while open_:
        open_.popitem()[1].close()


@pytest.mark.slow
@pytest.mark.parametrize(
    "wrong", [pytest.param(w, id=w.id, marks=pytest.mark.xdist_group(f"wrong-{w.lesson}")) for w in WRONG]
)
def test_wrong_implementation_loses_points(wrong: Wrong, kernels, record_property):
    executed = kernels(wrong.lesson).run_wrong(wrong.target, wrong.code)
    lost = {cell: (score, most) for cell, (score, most) in harness.scores(executed).items() if score < most}
    assert lost, f"{wrong.mistake!r} ({wrong.target}) earned full marks: the hidden tests miss it"
    # conftest.py prints these at the end of the run.
    record_property(
        "caught",
        [
            f"{cell} −{most - score:g}  {harness.failure(executed, cell)[:90]}"
            for cell, (score, most) in lost.items()
        ],
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "lesson",
    [pytest.param(lesson, marks=pytest.mark.xdist_group(f"wrong-{lesson}")) for lesson in lesson_ids()],
)
def test_an_untouched_lesson_earns_zero_on_every_graded_cell(lesson, kernels):
    """Each lesson as released, with its hidden tests: nothing earns points without work
    (test_grading grades two untouched lessons end to end, and checks what their feedback says)."""
    executed = kernels(lesson).run_untouched()
    graded = harness.scores(executed)
    assert graded, f"{lesson}: no graded cells"
    earned = [cell for cell, (score, _) in graded.items() if score != 0]
    assert not earned, f"{lesson}: cells that earn points without any work: {earned}"


@pytest.mark.parametrize("lesson", lesson_ids())
def test_every_exercise_has_three_wrong_implementations(lesson):
    counts = Counter(w.target for w in WRONG if w.lesson == lesson)
    for target in harness.solution_ids(harness.load(lesson)):
        assert counts[target] >= 3, f"{lesson}: {target} has {counts[target]} wrong implementations"
