"""lessons/ is exactly what `release` makes of solutions/, and carries nothing it must not."""

import ast
import filecmp
import json
import re
import shutil
import subprocess
from pathlib import Path

import jupytext
import nbformat
import pytest
from nbgrader.nbgraderformat import MetadataValidator
from nbgrader.utils import is_grade, is_locked, is_solution

from autograder.course import LESSONS, ROOT, SOLUTIONS, lesson_ids, notebook_path
from autograder.pairs import FORMAT, pair_path, pair_text
from autograder.release import release
from autograder.template import solutions_digest

from . import harness

LESSON_IDS = lesson_ids()
SOLUTION_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


@pytest.fixture(scope="module")
def fresh_release(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("release")
    release(dest=dest)
    return dest


def test_every_lesson_is_released():
    assert LESSON_IDS, "no lessons found in solutions/"
    assert lesson_ids(LESSONS) == LESSON_IDS


def test_lessons_are_exactly_what_release_produces(fresh_release):
    comparison = filecmp.dircmp(fresh_release, LESSONS, ignore=[".ipynb_checkpoints", "__pycache__"])

    def differences(cmp, prefix=""):
        found = [prefix + name for name in cmp.left_only + cmp.right_only + cmp.diff_files]
        for name, sub in cmp.subdirs.items():
            found += differences(sub, f"{prefix}{name}/")
        return found

    assert differences(comparison) == [], "lessons/ is stale: run `make release` and commit it"


@pytest.mark.parametrize("lesson", LESSON_IDS)
def test_no_solution_or_hidden_test_reaches_the_lesson(lesson):
    released = (LESSONS / lesson / f"{lesson}.ipynb").read_text()
    for marker in SOLUTION_MARKERS:
        assert marker not in released
    released_lines = {
        line.strip()
        for c in nbformat.read(LESSONS / lesson / f"{lesson}.ipynb", 4).cells
        for line in c.source.splitlines()
    }
    secret = harness.hidden_test_lines(lesson) + harness.solution_lines(lesson)
    leaked = [line for line in secret if line in released_lines]
    assert not leaked, f"solution or hidden-test lines in lessons/{lesson}: {leaked[:3]}"


@pytest.mark.parametrize("folder", [SOLUTIONS, LESSONS], ids=["solutions", "lessons"])
@pytest.mark.parametrize("lesson", LESSON_IDS)
def test_notebooks_are_committed_without_outputs(folder, lesson):
    nb = json.loads((folder / lesson / f"{lesson}.ipynb").read_text())
    with_outputs = [
        i
        for i, c in enumerate(nb["cells"])
        if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))
    ]
    assert not with_outputs, f"cells {with_outputs} have outputs: strip them (nbstripout)"


@pytest.mark.parametrize("lesson", LESSON_IDS)
def test_solution_notebook_has_valid_nbgrader_metadata(lesson):
    nb = nbformat.read(SOLUTIONS / lesson / f"{lesson}.ipynb", as_version=4)
    nbformat.validate(nb)
    MetadataValidator().validate_nb(nb)
    assert nb.metadata.kernelspec.name == "python3"
    ids = [c.metadata.nbgrader["grade_id"] for c in nb.cells if "nbgrader" in c.metadata]
    assert len(ids) == len(set(ids)), "grade_ids must be unique"
    graded = [c for c in nb.cells if is_grade(c)]
    assert graded, "every lesson has graded tests"
    for cell in graded:
        assert is_locked(cell) and cell.cell_type == "code" and not is_solution(cell)
        assert cell.metadata.nbgrader["points"] > 0
    for cell in nb.cells:
        if is_solution(cell):
            assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source


def _top_level_calls(source: str) -> bool:
    tree = ast.parse(re.sub(r"^\s*[%!].*$", "", source, flags=re.MULTILINE))
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)):
            continue
        if any(isinstance(n, (ast.Call, ast.Assert, ast.Raise)) for n in ast.walk(node)):
            return True
    return False


@pytest.mark.parametrize("lesson", LESSON_IDS)
def test_every_grade_cell_runs_a_check(lesson):
    """A grade cell that only defines a test function earns its points without testing
    anything; one that ends in an expression is read by nbgrader as a partial score."""
    for cell in nbformat.read(SOLUTIONS / lesson / f"{lesson}.ipynb", as_version=4).cells:
        if not is_grade(cell):
            continue
        name = cell.metadata.nbgrader["grade_id"]
        assert _top_level_calls(cell.source), f"{name} defines tests but never runs one"
        last = ast.parse(cell.source).body[-1]
        assert not isinstance(last, ast.Expr) or isinstance(last.value, ast.Call) and _returns_none(last), (
            f"{name} ends with an expression: nbgrader would read its value as a partial score"
        )


def _returns_none(statement) -> bool:
    """Calls of the checks (passed, expect_*) print and return None."""
    func = statement.value.func
    name = getattr(func, "id", getattr(func, "attr", ""))
    return name == "passed" or name.startswith("expect_") or name == "print"


def test_a_solution_run_in_place_releases_nothing_it_saved(tmp_path):
    """Lesson 08 saves its trained model in runs/ beside the notebook: a solution run there must
    neither reach the students nor change what a grading template is made of."""
    lesson = "00_welcome"
    shutil.copytree(SOLUTIONS / lesson, tmp_path / "solutions" / lesson)
    before = solutions_digest(tmp_path / "solutions", [lesson])
    saved = tmp_path / "solutions" / lesson / "runs" / "target"
    saved.mkdir(parents=True)
    (saved / "checkpoint.pt").write_bytes(b"a model the solution trained")
    release(solutions=tmp_path / "solutions", dest=tmp_path / "lessons")
    assert (tmp_path / "lessons" / lesson / f"{lesson}.ipynb").is_file()
    assert not (tmp_path / "lessons" / lesson / "runs").exists(), "a solution's runs/ was released"
    assert solutions_digest(tmp_path / "solutions", [lesson]) == before


def test_no_gradebook_is_tracked():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout
    assert "gradebook.db" not in tracked


@pytest.mark.parametrize("lesson", LESSON_IDS)
def test_each_solution_has_its_percent_pair(lesson):
    """solutions/<id>/<id>.py is the notebook in jupytext's percent format (what a review reads):
    the same cells, sources and nbgrader metadata, and it round-trips to the notebook."""
    pair = pair_path(SOLUTIONS, lesson)
    assert pair.is_file(), f"{pair} is missing: run `make release`"
    notebook = notebook_path(SOLUTIONS, lesson)
    assert pair.read_text() == pair_text(notebook), f"{pair} differs from its notebook: run `make release`"
    cells = [
        (c.cell_type, c.source, c.metadata.get("nbgrader"))
        for c in nbformat.read(notebook, as_version=4).cells
    ]
    assert [
        (c.cell_type, c.source, c.metadata.get("nbgrader")) for c in jupytext.read(pair, fmt=FORMAT).cells
    ] == cells


def test_no_pair_reaches_the_release(fresh_release):
    assert not list(fresh_release.rglob("*.py")), "a solution's .py pair was released"


def test_lesson_09_reads_the_model_lesson_08_saves():
    """Lesson 09 compares beams on the model lesson 08's training cell saved: same folder."""

    def assigned(lesson: str, name: str) -> Path:
        source = pair_path(SOLUTIONS, lesson).read_text()
        line = next(line for line in source.splitlines() if line.startswith(f"{name} = "))
        return eval(line.split(" = ", 1)[1], {"Path": Path})  # a Path expression, nothing else

    saved = Path("..") / "08_gpu_training" / assigned("08_gpu_training", "TARGET_RUN") / "checkpoint.pt"
    assert assigned("09_inference", "checkpoint") == saved
