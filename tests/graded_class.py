"""The class that tests/test_grading.py and tests/test_report.py both check, graded once by
`python -m autograder grade --jobs 2 --report` (the session fixture ``graded_class`` of
tests/conftest.py): submissions of every kind, modelled on nbgrader's own
tests/apps/test_nbgrader_autograde.py.

- no_locked: every lesson's solution with all its test cells and read-only code cells (its
  setup) deleted (restored, full marks);
- untouched: lessons 01 and 02 as released (zero on every graded cell);
- shuffled, tamper_ok, tamper_cheat: test cells moved, deleted, emptied or re-pointed;
- broken: a lesson 01 that is not JSON and an empty lesson 02;
- mixed, columns, swapped_v: wrong implementations of tests/wrong/ whose mistake tag is known
  (mixed has lesson 01 right beside its wrong lesson 02);
- nothing: a student folder with nothing in it.
"""

import nbformat
from nbgrader.utils import is_grade

from autograder.course import LESSONS, lesson_ids, notebook_path

from . import harness
from .test_restore import SHUFFLED, shuffled, without_locked
from .wrong import all_wrong

QKV, SDPA = "01_qkv", "02_scaled_dot_product"
SPECIAL = QKV  # the lesson the tampered and broken submissions use
# student -> (lesson, the wrong implementation's mistake as tests/wrong/ words it, its tag)
WRONG = {
    "mixed": (SDPA, "divides by d_k instead of √d_k (the notes' wording)", "scale-by-dk"),
    "columns": (SDPA, "over the first dimension (columns of a matrix)", "softmax-wrong-dim"),
    "swapped_v": (QKV, "v computed with w_k", "qkv-outputs-swapped"),
}
NOTHING = "nothing"
NOT_GRADED = {("broken", QKV): "invalid", ("broken", SDPA): "empty"}  # submitted, not notebooks


def _write(folder, student: str, lesson: str, nb) -> None:
    path = notebook_path(folder / student, lesson)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(nb, str):
        path.write_text(nb)
    else:
        nbformat.write(nb, path)


def released(lesson: str):
    return nbformat.read(notebook_path(LESSONS, lesson), as_version=4)


def wrong(student: str):
    """The wrong implementation of tests/wrong/ that ``student`` submitted."""
    lesson, mistake, _ = WRONG[student]
    return next(w for w in all_wrong() if (w.lesson, w.mistake) == (lesson, mistake))


def _tamper(nb, warn_in: str | None = None):
    """Delete the first grade cell, replace the second's code with `pass`, change a third's points."""
    grade_cells = [c for c in nb.cells if is_grade(c)]
    nb.cells.remove(grade_cells[0])
    grade_cells[1].source = "pass"
    grade_cells[2].metadata.nbgrader["points"] = 100
    if warn_in:
        cell = next(c for c in nb.cells if harness.grade_id(c) == warn_in)
        cell.source = cell.source.replace(
            "### BEGIN SOLUTION",
            "### BEGIN SOLUTION\n    import warnings\n"
            "    warnings.warn('a harmless warning from the student')",
        )
    return nb


def build(folder):
    for lesson in lesson_ids():
        # Restored where the release has them, the deleted test cells must earn full marks.
        _write(folder, "no_locked", lesson, without_locked(harness.load(lesson)))
    for lesson in (QKV, SDPA):
        _write(folder, "untouched", lesson, released(lesson))
    _write(folder, "shuffled", SHUFFLED, shuffled(harness.load(SHUFFLED)))
    _write(folder, "tamper_ok", SPECIAL, _tamper(harness.load(SPECIAL), warn_in="embed"))
    _write(folder, "tamper_cheat", SPECIAL, _tamper(released(SPECIAL)))
    _write(folder, "broken", QKV, "{ this is not json")
    _write(folder, "broken", SDPA, "")
    for student in WRONG:
        w = wrong(student)
        _write(folder, student, w.lesson, harness.replace_solution(harness.load(w.lesson), w.target, w.code))
    _write(folder, "mixed", QKV, harness.load(QKV))
    (folder / NOTHING).mkdir()
    return folder
