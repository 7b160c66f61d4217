"""End to end: the class of tests/graded_class.py graded by `python -m autograder grade`,
and its grades and feedback checked (tests/test_report.py checks the report of the same run).
"""

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from nbgrader.utils import is_grade

from autograder.course import ROOT, lesson_ids
from autograder.grade import grade

from . import harness
from .graded_class import SDPA, SPECIAL, wrong
from .test_restore import SHUFFLED

pytestmark = [pytest.mark.slow, pytest.mark.requires("sandbox")]
LESSON_IDS = lesson_ids()


def _results(out: Path, student: str) -> dict:
    return json.loads((out / "results" / f"{student}.json").read_text())


def _rows(out: Path) -> dict[tuple[str, str], tuple[float, float]]:
    with (out / "grades.csv").open() as f:
        return {
            (r["student_id"], r["lesson"]): (float(r["score"]), float(r["max_score"]))
            for r in csv.DictReader(f)
        }


@pytest.mark.xdist_group("grading")
def test_grading_completes_and_prints_a_summary(graded_class):
    out, proc = graded_class
    assert "student" in proc.stdout and "no_locked" in proc.stdout and "total" in proc.stdout


@pytest.mark.xdist_group("grading")
def test_one_row_per_student_and_lesson(graded_class, class_submissions):
    rows = _rows(graded_class[0])
    students = [d.name for d in class_submissions.iterdir()]
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
def test_a_solution_without_its_test_cells_earns_full_marks(graded_class, lesson):
    assert not _lost(_results(graded_class[0], "no_locked"), lesson)
    score, most = _rows(graded_class[0])["no_locked", lesson]
    assert most > 0 and score == most, f"{lesson}: {score}/{most}"


@pytest.mark.xdist_group("grading")
def test_a_shuffled_solution_without_most_test_cells_earns_full_marks(graded_class):
    assert not _lost(_results(graded_class[0], "shuffled"), SHUFFLED)


@pytest.mark.xdist_group("grading")
def test_untouched_lessons_earn_zero_on_every_graded_cell(graded_class):
    results = _results(graded_class[0], "untouched")
    assert results["tests"], "no graded cells reported"
    earned = [t["name"] for t in results["tests"] if t["score"] != 0]
    assert not earned, f"cells that earn points without any work: {earned}"
    unsaid = [t["name"] for t in results["tests"] if t["output"].strip() == "NotImplementedError:"]
    assert not unsaid, f"a bare NotImplementedError does not tell the student why: {unsaid}"


@pytest.mark.xdist_group("grading")
def test_tampered_tests_are_restored(graded_class):
    rows = _rows(graded_class[0])
    # Deleted, emptied and re-pointed test cells are all restored from the gradebook:
    # the correct solution (which also writes a warning to stderr) keeps full marks...
    score, most = rows["tamper_ok", SPECIAL]
    assert score == most == rows["no_locked", SPECIAL][1]
    # ...and the untouched lesson gains nothing from emptying its tests.
    assert rows["tamper_cheat", SPECIAL] == (0.0, most)
    names = {
        t["name"]
        for t in _results(graded_class[0], "tamper_cheat")["tests"]
        if t["name"].startswith(f"{SPECIAL}:")
    }
    assert names == {
        f"{SPECIAL}: {harness.grade_id(c)}" for c in harness.load(SPECIAL).cells if is_grade(c)
    }, "the deleted test cell was not graded"


@pytest.mark.xdist_group("grading")
def test_broken_and_missing_files_cost_only_their_own_points(graded_class):
    rows = _rows(graded_class[0])
    assert rows["broken", SPECIAL][0] == 0
    assert rows["broken", SDPA][0] == 0
    assert rows["broken", "00_welcome"][0] == 0  # not submitted
    outputs = " ".join(t["output"] for t in _results(graded_class[0], "broken")["tests"])
    assert "not a valid notebook" in outputs and "no file" in outputs
    assert rows["mixed", SPECIAL] == rows["no_locked", SPECIAL]


@pytest.mark.xdist_group("grading")
def test_a_wrong_implementation_loses_points(graded_class):
    rows = _rows(graded_class[0])
    score, most = rows["mixed", SDPA]
    assert score < most, f"{wrong('mixed').mistake} kept {score}/{most}"


@pytest.mark.xdist_group("grading")
def test_feedback_never_shows_hidden_tests(graded_class):
    out = graded_class[0]
    pages = list((out / "feedback").rglob("*.html"))
    assert {p.parent.parent.name for p in pages} >= {"no_locked", "untouched", "tamper_cheat"}
    for page in pages:
        html = page.read_text()
        lesson = page.parent.name
        for line in harness.hidden_test_lines(lesson):
            assert line not in html, f"{page}: shows hidden test line {line!r}"
        assert "HIDDEN TESTS" not in html
        assert "Traceback (most recent call last)" not in html


@pytest.mark.xdist_group("grading")
def test_results_are_in_gradescope_format(graded_class):
    results = _results(graded_class[0], "untouched")
    assert set(results) >= {"score", "tests", "execution_time"}
    for test in results["tests"]:
        assert set(test) >= {"name", "score", "max_score", "status", "output"}
        assert test["status"] in {"passed", "failed"}
        for line in harness.hidden_test_lines(test["name"].split(":")[0]):
            assert line not in test["output"]


@pytest.mark.xdist_group("grading")
def test_parallel_grading_gives_the_same_results(graded_class, class_submissions, tmp_path):
    """The class was graded with --jobs 2; these students again, one at a time: broken and
    missing notebooks, a wrong implementation graded, and a student who submitted nothing."""
    students = ("broken", "swapped_v", "nothing")
    subset, one = tmp_path / "subset", tmp_path / "one"
    for student in students:
        shutil.copytree(class_submissions / student, subset / student)
    grade(subset, one, jobs=1, log=lambda *_: None)
    alone = _rows(one)  # only the lessons these students submitted; the class has more
    assert {student for student, _ in alone} == set(students)
    assert alone == {key: row for key, row in _rows(graded_class[0]).items() if key in alone}
    for student in students:
        a, b = _results(one, student), _results(graded_class[0], student)
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
