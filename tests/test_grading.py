"""End to end: a class of submissions graded by `python -m autograder grade`.

Modelled on nbgrader's own tests/apps/test_nbgrader_autograde.py: fixture
submissions of every kind, graded, and the grades and feedback checked.
"""

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.utils import is_grade

from autograder.course import LESSONS, ROOT, lesson_ids, notebook_path
from autograder.grade import grade

from . import harness
from .test_restore import SHUFFLED, shuffled, without_tests
from .wrong import all_wrong

pytestmark = [pytest.mark.slow, pytest.mark.requires("sandbox")]
LESSON_IDS = lesson_ids()
SPECIAL = "01_qkv"  # the lesson the tampered and broken submissions use


def _write(folder: Path, student: str, lesson: str, nb) -> None:
    path = notebook_path(folder / student, lesson)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(nb, str):
        path.write_text(nb)
    else:
        nbformat.write(nb, path)


def _released(lesson: str):
    return nbformat.read(notebook_path(LESSONS, lesson), as_version=4)


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


def _results(out: Path, student: str) -> dict:
    return json.loads((out / "results" / f"{student}.json").read_text())


def _rows(out: Path) -> dict[tuple[str, str], tuple[float, float]]:
    with (out / "grades.csv").open() as f:
        return {
            (r["student_id"], r["lesson"]): (float(r["score"]), float(r["max_score"]))
            for r in csv.DictReader(f)
        }


@pytest.fixture(scope="module")
def wrong_02():
    return next(w for w in all_wrong() if w.lesson == "02_scaled_dot_product")


@pytest.fixture(scope="module")
def submissions(tmp_path_factory, wrong_02) -> Path:
    folder = tmp_path_factory.mktemp("submissions")
    for lesson in LESSON_IDS:
        # Every lesson's solution with all its test cells deleted: restored where the release has
        # them, it must earn full marks. (The solutions as they are earn full marks in
        # test_report's class; every lesson untouched earns nothing in test_wrong_implementations.)
        _write(folder, "no_tests", lesson, without_tests(harness.load(lesson)))
    for lesson in (SPECIAL, wrong_02.lesson):
        _write(folder, "untouched", lesson, _released(lesson))
    _write(folder, "shuffled", SHUFFLED, shuffled(harness.load(SHUFFLED)))
    _write(folder, "tamper_ok", SPECIAL, _tamper(harness.load(SPECIAL), warn_in="embed"))
    _write(folder, "tamper_cheat", SPECIAL, _tamper(_released(SPECIAL)))
    _write(folder, "broken", SPECIAL, "{ this is not json")
    _write(folder, "broken", "02_scaled_dot_product", "")
    mixed = harness.replace_solution(harness.load(wrong_02.lesson), wrong_02.target, wrong_02.code)
    _write(folder, "mixed", wrong_02.lesson, mixed)
    _write(folder, "mixed", SPECIAL, harness.load(SPECIAL))
    return folder


@pytest.fixture(scope="module")
def graded(submissions, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("out")
    proc = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", str(submissions), "--out", str(out), "--jobs", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    return out, proc


@pytest.mark.xdist_group("grading")
def test_grading_completes_and_prints_a_summary(graded):
    out, proc = graded
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "student" in proc.stdout and "no_tests" in proc.stdout and "total" in proc.stdout


@pytest.mark.xdist_group("grading")
def test_one_row_per_student_and_lesson(graded, submissions):
    rows = _rows(graded[0])
    students = [d.name for d in submissions.iterdir()]
    assert {s for s, _ in rows} == set(students)
    lessons = {lesson for _, lesson in rows}
    assert lessons == set(LESSON_IDS)
    assert len(rows) == len(students) * len(lessons)


def _lost(results: dict, lesson: str) -> dict[str, str]:
    tests = [t for t in results["tests"] if t["name"].split(":")[0] == lesson]
    expected = {f"{lesson}: {harness.grade_id(c)}" for c in harness.load(lesson).cells if is_grade(c)}
    assert {t["name"] for t in tests} >= expected, f"{lesson}: a test cell was not graded"
    return {t["name"]: t["output"][-200:] for t in tests if t["score"] != t["max_score"]}


@pytest.mark.xdist_group("grading")
@pytest.mark.parametrize("lesson", LESSON_IDS)
def test_a_solution_without_its_test_cells_earns_full_marks(graded, lesson):
    assert not _lost(_results(graded[0], "no_tests"), lesson)
    score, most = _rows(graded[0])["no_tests", lesson]
    assert most > 0 and score == most, f"{lesson}: {score}/{most}"


@pytest.mark.xdist_group("grading")
def test_a_shuffled_solution_without_most_test_cells_earns_full_marks(graded):
    assert not _lost(_results(graded[0], "shuffled"), SHUFFLED)


@pytest.mark.xdist_group("grading")
def test_untouched_lessons_earn_zero_on_every_graded_cell(graded):
    results = _results(graded[0], "untouched")
    assert results["tests"], "no graded cells reported"
    earned = [t["name"] for t in results["tests"] if t["score"] != 0]
    assert not earned, f"cells that earn points without any work: {earned}"
    unsaid = [t["name"] for t in results["tests"] if t["output"].strip() == "NotImplementedError:"]
    assert not unsaid, f"a bare NotImplementedError does not tell the student why: {unsaid}"


@pytest.mark.xdist_group("grading")
def test_tampered_tests_are_restored(graded):
    rows = _rows(graded[0])
    # Deleted, emptied and re-pointed test cells are all restored from the gradebook:
    # the correct solution (which also writes a warning to stderr) keeps full marks...
    score, most = rows["tamper_ok", SPECIAL]
    assert score == most == rows["no_tests", SPECIAL][1]
    # ...and the untouched lesson gains nothing from emptying its tests.
    assert rows["tamper_cheat", SPECIAL] == (0.0, most)
    names = {
        t["name"] for t in _results(graded[0], "tamper_cheat")["tests"] if t["name"].startswith(f"{SPECIAL}:")
    }
    assert names == {
        f"{SPECIAL}: {harness.grade_id(c)}" for c in harness.load(SPECIAL).cells if is_grade(c)
    }, "the deleted test cell was not graded"


@pytest.mark.xdist_group("grading")
def test_broken_and_missing_files_cost_only_their_own_points(graded):
    rows = _rows(graded[0])
    assert rows["broken", SPECIAL][0] == 0
    assert rows["broken", "02_scaled_dot_product"][0] == 0
    assert rows["broken", "00_welcome"][0] == 0  # not submitted
    outputs = " ".join(t["output"] for t in _results(graded[0], "broken")["tests"])
    assert "not a valid notebook" in outputs and "no file" in outputs
    assert rows["mixed", SPECIAL] == rows["no_tests", SPECIAL]


@pytest.mark.xdist_group("grading")
def test_a_wrong_implementation_loses_points(graded, wrong_02):
    rows = _rows(graded[0])
    score, most = rows["mixed", wrong_02.lesson]
    assert score < most, f"{wrong_02.mistake} kept {score}/{most}"


@pytest.mark.xdist_group("grading")
def test_feedback_never_shows_hidden_tests(graded):
    out = graded[0]
    pages = list((out / "feedback").rglob("*.html"))
    assert {p.parent.parent.name for p in pages} >= {"no_tests", "untouched", "tamper_cheat"}
    for page in pages:
        html = page.read_text()
        lesson = page.parent.name
        for line in harness.hidden_test_lines(lesson):
            assert line not in html, f"{page}: shows hidden test line {line!r}"
        assert "HIDDEN TESTS" not in html
        assert "Traceback (most recent call last)" not in html


@pytest.mark.xdist_group("grading")
def test_results_are_in_gradescope_format(graded):
    results = _results(graded[0], "untouched")
    assert set(results) >= {"score", "tests", "execution_time"}
    for test in results["tests"]:
        assert set(test) >= {"name", "score", "max_score", "status", "output"}
        assert test["status"] in {"passed", "failed"}
        for line in harness.hidden_test_lines(test["name"].split(":")[0]):
            assert line not in test["output"]


@pytest.mark.xdist_group("grading")
def test_parallel_grading_gives_the_same_results(graded, submissions, tmp_path):
    """The class was graded with --jobs 2; these students again, one at a time: a broken and
    a missing notebook, and two lessons graded."""
    students = ("broken", "mixed")
    subset, one = tmp_path / "subset", tmp_path / "one"
    for student in students:
        shutil.copytree(submissions / student, subset / student)
    grade(subset, one, jobs=1, log=lambda *_: None)
    alone = _rows(one)  # only the lessons these students submitted; the class has more
    assert {student for student, _ in alone} == set(students)
    assert alone == {key: row for key, row in _rows(graded[0]).items() if key in alone}
    for student in students:
        a, b = _results(one, student), _results(graded[0], student)
        a.pop("execution_time"), b.pop("execution_time")
        submitted = {lesson for who, lesson in alone if who == student}
        b["tests"] = [t for t in b["tests"] if t["name"].split(":")[0] in submitted]
        assert a == b


def test_bad_submissions_folder_is_a_clear_error(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", str(tmp_path / "nope"), "--out", str(tmp_path / "out")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    assert "is not a folder of submissions" in proc.stderr
