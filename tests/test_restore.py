"""Deleted test cells and read-only code cells are put back where the release has them
(autograder/restore.py).

A correct notebook whose test cells or setup cell were deleted (by the student, or by an
editor that drops locked cells) keeps full marks: each test cell runs after the same code
cells as in the release, also when the prose was moved around, cells were added,
and ids renumbered. Here without a kernel, on the cell order; graded, every lesson, by
the grader itself, in the class of tests/test_grading.py (students ``no_locked`` and
``shuffled``, made by ``without_locked`` and ``shuffled``).
"""

import copy
import random
import shutil

import nbformat
import pytest
from nbformat.v4 import new_code_cell
from nbformat.v4.nbbase import random_cell_id
from nbgrader.nbgraderformat import MetadataValidator
from nbgrader.preprocessors import OverwriteCells
from nbgrader.utils import is_grade, is_locked, is_solution

from autograder.course import lesson_ids
from autograder.nbconfig import course_config
from autograder.restore import RestoreMissingCells, restorable, restore_missing
from autograder.template import build_template

from . import harness

LESSON_IDS = lesson_ids()
SHUFFLED = "02_scaled_dot_product"  # a test cell there checks what the demo cells before it computed
OWN = "# a cell of the student's own"


def without_locked(nb):
    """``nb`` with every test cell and every read-only code cell (its setup) deleted."""
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if not restorable(c)]
    return nb


def shuffled(nb, seed: int = 0):
    """``nb`` with two thirds of its test cells deleted one by one in a random order, its
    prose moved to random places, half its plain cells given new ids (as an editor that
    renumbers them does), and a cell of the student's own after every exercise."""
    rng = random.Random(seed)
    nb = copy.deepcopy(nb)
    tests = [c for c in nb.cells if is_grade(c)]
    for cell in rng.sample(tests, k=2 * len(tests) // 3):
        nb.cells.remove(cell)
    for cell in [c for c in nb.cells[1:] if c.cell_type == "markdown"]:
        nb.cells.remove(cell)
        nb.cells.insert(rng.randrange(len(nb.cells) + 1), cell)
    for cell in nb.cells:
        if not harness.grade_id(cell) and rng.random() < 0.5:
            cell.id = random_cell_id()
    for cell in [c for c in nb.cells if is_solution(c)]:
        own = new_code_cell(f"{OWN}\n_tried = {harness.grade_id(cell)!r}")
        nb.cells.insert(nb.cells.index(cell) + 1, own)
    return nb


def _code(nb) -> list[str]:
    """The code cells' sources in order, the student's own left out."""
    return [c.source for c in nb.cells if c.cell_type == "code" and not c.source.startswith(OWN)]


# -- the order, without a kernel ------------------------------------------------------------------


@pytest.mark.parametrize("lesson", LESSON_IDS)
def test_every_deleted_test_cell_goes_back_where_the_release_has_it(lesson):
    release = harness.load(lesson)
    nb = without_locked(release)
    restored = restore_missing(nb, release, copy.deepcopy)
    assert restored == [harness.grade_id(c) for c in release.cells if restorable(c)]
    assert "setup" in restored, "the lesson's read-only setup cell was not put back"
    assert [(c.id, c.source) for c in nb.cells] == [(c.id, c.source) for c in release.cells]


def test_moved_prose_own_cells_and_new_ids_move_no_test_cell():
    release = harness.load(SHUFFLED)
    nb = shuffled(release)
    restored = restore_missing(nb, release, copy.deepcopy)
    assert restored and len(restored) < len([c for c in release.cells if is_grade(c)])
    assert _code(nb) == _code(release), "a test cell runs after other code cells than in the release"
    for exercise in [c for c in release.cells if is_solution(c)]:
        # A student's cell below an exercise (a helper it calls) still runs before its tests.
        at = next(i for i, c in enumerate(nb.cells) if harness.grade_id(c) == harness.grade_id(exercise))
        assert nb.cells[at + 1].source.startswith(OWN)


def test_a_moved_code_cell_anchors_nothing():
    release = harness.load(SHUFFLED)
    nb = without_locked(release)
    last = next(c for c in reversed(nb.cells) if c.cell_type == "code" and not harness.grade_id(c))
    nb.cells.remove(last)
    nb.cells.insert(0, last)  # the experiment's plot, now at the top
    restore_missing(nb, release, copy.deepcopy)
    ids = [c.id for c in nb.cells]
    expected = [c.id for c in release.cells if c.id != last.id]
    assert ids[1:] == expected, "the test cells must keep their places among the cells in place"


def test_a_restored_cell_never_takes_an_id_in_use():
    release = harness.load(SHUFFLED)
    nb = without_locked(release)
    first = next(c for c in release.cells if is_grade(c))
    nb.cells[-1].id = first.id  # the student's own cell happens to carry it
    restore_missing(nb, release, copy.deepcopy)
    ids = [c.id for c in nb.cells]
    assert len(ids) == len(set(ids))
    nbformat.validate(nb)


def test_the_grader_restores_with_it():
    steps = course_config().Autograde.sanitize_preprocessors
    assert RestoreMissingCells in steps and OverwriteCells not in steps


@pytest.mark.slow
@pytest.mark.xdist_group("restore")
def test_the_grader_step_puts_them_in_the_release_order_or_falls_back_to_nbgrader(tmp_path):
    root = build_template(tmp_path / "course", lessons=[SHUFFLED])
    resources = {
        "nbgrader": {
            "notebook": SHUFFLED,
            "assignment": SHUFFLED,
            "db_url": f"sqlite:///{root / 'gradebook.db'}",
        }
    }
    release = harness.load(SHUFFLED)
    nb, _ = RestoreMissingCells(config=course_config(root)).preprocess(without_locked(release), resources)
    assert [c.id for c in nb.cells] == [c.id for c in release.cells]
    restored = next(c for c in nb.cells if is_grade(c))
    assert "was missing from the submission" in restored.source, "the student is not told"
    setup = next(c for c in nb.cells if harness.grade_id(c) == "setup")
    assert not is_grade(setup) and is_locked(setup) and not is_solution(setup), "setup is back, read-only"
    assert "points" not in setup.metadata.nbgrader
    MetadataValidator().validate_nb(nb)
    shutil.rmtree(root / "source")  # nbgrader's own placement: after the nbgrader cell before
    nb, _ = RestoreMissingCells(config=course_config(root)).preprocess(without_locked(release), resources)
    assert len([c for c in nb.cells if is_grade(c)]) == len([c for c in release.cells if is_grade(c)])
