"""``python -m autograder validate``: a student's check of a notebook before submitting.

It works on a student's copy of the released lesson, with no solutions: the
released cells' nbgrader checksums tell which test and setup cells were changed
or deleted, and a kernel of its own runs the visible tests.
"""

import copy
import re
import subprocess
from pathlib import Path

import nbformat
import pytest
from nbgrader.server_extensions.validate_assignment.handlers import ValidateAssignmentHandler
from nbgrader.utils import compute_checksum, is_grade, is_solution
from nbgrader.validator import Validator

from autograder.cli import main as cli
from autograder.course import ROOT, SOLUTIONS, notebook_path
from autograder.template import build_template
from autograder.validate import as_graded, find_released, locked_cell_changes, main

from . import harness

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("validate")]
LESSON = "02_scaled_dot_product"


@pytest.fixture(scope="module")
def lessons(tmp_path_factory) -> Path:
    """A lessons/ folder as `release` writes it, holding this lesson."""
    return build_template(tmp_path_factory.mktemp("release"), SOLUTIONS, [LESSON]) / "release"


@pytest.fixture(scope="module")
def released(lessons):
    return nbformat.read(notebook_path(lessons, LESSON), as_version=4)


@pytest.fixture(scope="module")
def solved(released):
    """The released lesson with the solutions' code pasted into its exercise cells."""
    answers = {harness.grade_id(c): c.source for c in harness.load(LESSON).cells if is_solution(c)}
    nb = copy.deepcopy(released)
    for cell in nb.cells:
        if is_solution(cell):
            cell.source = "\n".join(
                line
                for line in answers[harness.grade_id(cell)].splitlines()
                if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line
            )
    return nb


def _test_ids(nb) -> list[str]:
    return [harness.grade_id(c) for c in nb.cells if is_grade(c)]


def _cell(nb, grade_id):
    return next(c for c in nb.cells if harness.grade_id(c) == grade_id)


def _tampered(nb):
    """``nb`` with its first test cell deleted, its second emptied, and its third edited
    together with the checksum it carries (which must not hide the edit)."""
    nb = copy.deepcopy(nb)
    first, second, third = _test_ids(nb)[:3]
    nb.cells.remove(_cell(nb, first))
    _cell(nb, second).source = "passed('nothing to check')"
    edited = _cell(nb, third)
    edited.source += "\nprint('an extra line')"
    edited.metadata.nbgrader["checksum"] = compute_checksum(edited)
    return nb, first, second, third


def _write(nb, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


# -- comparing with the released lesson (no kernel) --------------------------------


def test_untouched_and_solved_copies_change_no_locked_cell(released, solved):
    assert locked_cell_changes(released, released) == ([], [])
    assert locked_cell_changes(solved, released) == ([], [])


def test_edited_and_deleted_locked_cells_are_found(released, solved):
    nb, first, second, third = _tampered(solved)
    setup = next(c for c in nb.cells if harness.grade_id(c) == "setup")
    nb.cells.remove(setup)
    changed, deleted = locked_cell_changes(nb, released)
    assert changed == [second, third]
    assert deleted == ["setup", first]
    fourth = _test_ids(nb)[2]
    _cell(nb, fourth).metadata.nbgrader["points"] = 100
    assert fourth in locked_cell_changes(nb, released)[0], "changed points went unnoticed"


def test_the_run_uses_the_released_test_cells_as_the_grader_does(released, solved):
    nb, first, second, third = _tampered(solved)
    nb.cells.remove(_cell(nb, "setup"))
    graded = as_graded(nb, released)
    assert _test_ids(graded) == _test_ids(released)
    for grade_id in (first, second, third):
        assert _cell(graded, grade_id).source == _cell(released, grade_id).source
    # Put back where the release has them, as the grader does (autograder/restore.py).
    ids = [harness.grade_id(c) for c in graded.cells if harness.grade_id(c)]
    assert ids == [harness.grade_id(c) for c in released.cells if harness.grade_id(c)]
    assert _cell(graded, "setup").source == _cell(released, "setup").source


def test_a_renamed_copy_is_compared_with_its_lesson(solved, lessons, tmp_path):
    path = _write(solved, tmp_path / "Downloads" / "attention (1).ipynb")
    found = find_released(path, solved, lessons)
    assert found is not None and found.lesson == LESSON
    assert found.where == str(notebook_path(lessons, LESSON))


def test_a_lesson_edited_in_place_is_compared_with_its_last_commit(released, tmp_path):
    repo = tmp_path / "course"
    path = _write(released, notebook_path(repo / "lessons", LESSON))
    assert find_released(path, released, repo / "lessons") is None, "no git, no reference"
    git = ["git", "-c", "user.name=student", "-c", "user.email=s@example.org", "-C", str(repo)]
    for args in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "lessons"]):
        subprocess.run(git + args, check=True, capture_output=True)
    nb, first, _, _ = _tampered(released)
    _write(nb, path)
    found = find_released(path, nb, repo / "lessons")
    assert found is not None and "last committed" in found.where
    assert locked_cell_changes(nb, found.notebook)[1] == [first]


def test_an_unreadable_file_fails_without_running_anything(tmp_path, capsys):
    broken = tmp_path / f"{LESSON}.ipynb"
    broken.write_text("{ not json")
    assert cli(["validate", str(broken), str(tmp_path / "missing.ipynb")]) == 1
    out = capsys.readouterr().out
    assert out.count("not a readable notebook") == 2 and "Not ready" in out


# -- running the notebook ----------------------------------------------------------


def test_a_correct_notebook_passes(solved, lessons, tmp_path, capsys):
    path = _write(solved, tmp_path / "mine" / f"{LESSON}.ipynb")
    assert main([path], lessons=lessons) == 0
    out = capsys.readouterr().out
    for grade_id in _test_ids(solved):
        assert f"✓ {grade_id}\n" in out
    assert "✗" not in out and "Ready to submit" in out


def test_the_untouched_lesson_fails_and_names_the_failing_tests(released, lessons, tmp_path, capsys):
    path = _write(released, tmp_path / f"{LESSON}.ipynb")
    assert main([path], lessons=lessons) == 1
    out = capsys.readouterr().out
    failing = re.findall(r"✗ (test_\w+): (.*)", out)
    assert [grade_id for grade_id, _ in failing] == _test_ids(released)
    assert all(error for _, error in failing), "every failing test says why"
    assert "NotImplementedError" in out and "Not ready" in out


def test_changed_and_deleted_test_cells_are_reported(solved, lessons, tmp_path, capsys):
    nb, first, second, third = _tampered(solved)
    path = _write(nb, tmp_path / f"{LESSON}.ipynb")
    assert main([path], lessons=lessons) == 1
    out = capsys.readouterr().out
    assert f"✗ changed: {second}" in out and f"✗ changed: {third}" in out
    assert f"✗ deleted: {first}" in out
    # The code is right, and the tests ran as released: each passes, the deleted one included.
    for grade_id in _test_ids(solved):
        assert f"✓ {grade_id}\n" in out
    assert "Not ready" in out


@pytest.mark.parametrize(
    "noise",
    ["import warnings\n    warnings.warn('harmless')", "import sys\n    print('progress', file=sys.stderr)"],
    ids=["warning", "stderr"],
)
def test_the_validate_button_forgives_stderr_as_the_grader_does(tmp_path, monkeypatch, noise):
    """JupyterLab's Validate button builds nbgrader's Validator from the nbgrader_config.py
    of the folder `make lab` starts in; it must not fail a correct answer that writes to stderr."""
    lesson = "00_welcome"
    nb = harness.load(lesson)
    exercise = next(c for c in nb.cells if is_solution(c))
    exercise.source = exercise.source.replace("### BEGIN SOLUTION", f"### BEGIN SOLUTION\n    {noise}")
    path = _write(nb, tmp_path / lesson / f"{lesson}.ipynb")
    monkeypatch.chdir(ROOT)
    config = ValidateAssignmentHandler.load_config(None)  # what the button runs; self is unused
    assert Validator(config=config).validate(str(path)) == {}, "Validate failed a correct answer"
    # nbgrader's stock Validator fails the same notebook: the noise really is there.
    assert Validator().validate(str(path)).get("failed")
