"""The instructor's class report (`python -m autograder report OUT`).

The class of tests/graded_class.py (graded once for this module and tests/test_grading.py:
full marks, untouched lessons, tampered and broken files, wrong implementations of tests/wrong/
whose mistake tag is known, a student who submitted nothing) and every number of its report is
checked against what was graded. The statistics and the bad inputs use hand-made OUT folders,
written by grade's own writers (tests/report_class.py).
"""

import csv
import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.course import ROOT, lesson_ids
from autograder.grade import StudentGrades
from autograder.report import diagnoses, report
from autograder.report_stats import Summary, correlation, histogram, item_analysis, summarize
from transformer_course.mistakes import MISTAKES

from . import graded_class as gc
from . import harness
from . import report_class as rc

LESSON_IDS = lesson_ids()


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _number(text: str) -> float | None:
    return float(text) if text else None


# -- statistics, on hand-made numbers --------------------------------------------------


def test_summary_and_histogram():
    assert summarize([]) == Summary(0, None, None)
    s = summarize([1.0, 2.0, 6.0])
    assert (s.count, s.mean, s.median) == (3, 3.0, 2.0)
    bins = histogram([0, 3, 3, 7, 6.5], 7)  # whole points up to 20: a bin per score
    assert [(low, n) for low, _, n in bins if n] == [(0, 1), (3, 2), (6, 1), (7, 1)]
    assert sum(n for *_, n in bins) == 5
    coarse = histogram([0, 16.5, 33, 32.9], 33)  # ten bins; the top score in the last one
    assert len(coarse) == 10 and coarse[-1] == (29.7, 33.0, 2) and coarse[5][2] == 1


def test_correlation_is_undefined_where_everyone_scored_the_same():
    assert correlation([1, 1, 1], [0, 2, 3]) is None
    assert correlation([0, 1], [0, 1]) is None  # two students: no correlation worth reporting
    assert correlation([0, 1, 1, 0], [1, 5, 4, 2]) == pytest.approx(
        statistics.correlation([0, 1, 1, 0], [1, 5, 4, 2])
    )


def test_item_analysis_puts_hard_and_weak_cells_first():
    cells = ["easy", "hard", "good", "odd"]
    rows = {"a": (1, 0, 2, 1), "b": (1, 0, 2, 0), "c": (1, 1, 0, 1), "d": (1, 0, 0, 0)}
    scores = {student: dict(zip(cells, row, strict=True)) for student, row in rows.items()}
    items = item_analysis("L", cells, {"easy": 1, "hard": 1, "good": 2, "odd": 1}, scores)
    assert [i.cell for i in items] == ["hard", "good", "odd", "easy"]
    by = {i.cell: i for i in items}
    assert (by["hard"].earned, by["hard"].share) == (1, 0.25) and "hard" in by["hard"].flags
    assert by["easy"].share == 1 and by["easy"].discrimination is None and by["easy"].flags == []
    # "good": the rest of the lesson for a, b, c, d is 2, 1, 3, 1; its own score 2, 2, 0, 0.
    assert by["good"].discrimination == pytest.approx(statistics.correlation([2, 2, 0, 0], [2, 1, 3, 1]))
    assert by["good"].discrimination < 0.2 and "weak discrimination" in by["good"].flags


def test_only_error_lines_count_as_diagnoses():
    output = (
        "✓ a check\nprint from the student (mistake: scale-by-dk)\n"
        "AssertionError: scores of x: your scores equal QKᵀ/d_k: divide by √d_k, not by d_k "
        "(mistake: scale-by-dk)\n"
    )
    assert diagnoses(output) == [
        ("scale-by-dk", "scores of x: your scores equal QKᵀ/d_k: divide by √d_k, not by d_k")
    ]
    assert diagnoses("AssertionError: values differ\n") == []


# -- hand-made OUT folders: a made-up class, and bad input -----------------------------------


@pytest.fixture(scope="module")
def made_up(tmp_path_factory) -> Path:
    out = rc.made_up_class(tmp_path_factory.mktemp("made-up") / "out")
    report(out)
    return out


def test_mistakes_are_counted_per_lesson_and_across_the_class(made_up):
    per_lesson = {(r["lesson"], r["tag"]): r for r in _csv(made_up / "report" / "mistakes.csv")}
    # made_up_class: qkv-outputs-swapped for i % 3 == 0 (s01 s04 s07 s10), scale-by-dk for
    # i % 5 == 1 (s02 s07), softmax-wrong-dim for i % 4 == 2 (s03 s07 s11); s12 graded nothing.
    expected = {
        (rc.QKV, "qkv-outputs-swapped"): "s01 s04 s07 s10",
        (rc.SDPA, "scale-by-dk"): "s02 s07",
        (rc.SDPA, "softmax-wrong-dim"): "s03 s07 s11",
    }
    assert {key: r["who"] for key, r in per_lesson.items()} == expected
    assert float(per_lesson[rc.SDPA, "scale-by-dk"]["share"]) == pytest.approx(2 / 11, rel=1e-3)
    assert per_lesson[rc.SDPA, "scale-by-dk"]["message"] == (
        "scores: your scores equal QKᵀ/d_k: divide by √d_k, not by d_k"
    )
    across = _csv(made_up / "report" / "mistakes_class.csv")
    assert [(r["tag"], r["students"]) for r in across] == [
        ("qkv-outputs-swapped", "4"),
        ("softmax-wrong-dim", "3"),
        ("scale-by-dk", "2"),
    ]


def test_flags_list_integrity_findings_and_notebooks_not_graded(made_up):
    flags = _csv(made_up / "report" / "flags.csv")
    assert [(r["student"], r["lesson"], r["kind"]) for r in flags] == [
        ("s05", rc.QKV, "integrity"),
        ("s12", rc.SDPA, "invalid"),
    ]
    assert "changes torch.allclose" in flags[0]["why"] and "not a valid notebook" in flags[1]["why"]


def test_the_page_is_self_contained(made_up):
    html = (made_up / "report" / "index.html").read_text()
    assert "http://" not in html and "https://" not in html and "<script" not in html
    assert html.count('src="data:image/png;base64,') == 2
    for tag in ("qkv-outputs-swapped", "scale-by-dk", "softmax-wrong-dim", "changes torch.allclose"):
        assert tag in html


def test_an_out_folder_without_grades_is_a_clear_error(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "autograder", "report", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "holds no grades.csv: grade the class first" in proc.stderr


def test_other_files_in_out_are_a_clear_error(tmp_path):
    ann = StudentGrades("ann", [rc.lesson(rc.QKV, [rc.cell("a", 1, 1)])], 1.0)
    out = rc.write_out(tmp_path / "out", [ann])
    (out / "results" / "ann.json").write_text("{ not json")
    with pytest.raises(SystemExit, match=r"ann.json is not a results file of grade .*--fresh"):
        report(out)
    (out / "grades.csv").write_text("name,points\nann,3\n")
    with pytest.raises(SystemExit, match="is not the grades.csv of `python -m autograder grade`"):
        report(out)


def test_a_half_finished_run_is_a_clear_error(tmp_path):
    resumed = tmp_path / "resume-only"
    rc.write_out(resumed, [StudentGrades("ann", [rc.lesson(rc.QKV, [rc.cell("test_embed", 1, 1)])], 1.0)])
    (resumed / "grades.csv").unlink()
    with pytest.raises(SystemExit, match=r"did not finish \(1 notebooks graded, no grades.csv\).*resumes"):
        report(resumed)
    partial = tmp_path / "partial"  # grades.csv is rewritten as notebooks finish; integrity.csv at the end
    rc.write_out(
        partial,
        [StudentGrades("ann", [rc.lesson(rc.QKV, [rc.cell("test_embed", 1, 1)])], 1.0)],
        finished=False,
    )
    with pytest.raises(SystemExit, match=r"did not finish \(1 of 1 notebooks graded\).*resumes"):
        report(partial)
    assert not (partial / "report").exists()


def test_a_student_with_no_submissions_gets_a_row_that_says_so(tmp_path):
    missing = [
        rc.lesson(lesson, status="missing", message="no file was submitted", most=3)
        for lesson in (rc.QKV, rc.SDPA)
    ]
    ann = [rc.lesson(rc.QKV, [rc.cell("a", 3, 3)]), rc.lesson(rc.SDPA, [rc.cell("b", 1, 3)])]
    out = rc.write_out(tmp_path / "out", [StudentGrades("ann", ann, 1.0), StudentGrades("bob", missing, 0.0)])
    report(out)
    scores = {r["student"]: r for r in _csv(out / "report" / "scores.csv")}
    assert scores["bob"]["note"] == "submitted nothing" and scores["ann"]["note"] == ""
    lessons = {r["lesson"]: r for r in _csv(out / "report" / "lessons.csv")}
    assert lessons[rc.QKV]["students"] == "2" and lessons[rc.QKV]["submitted"] == "1"
    assert lessons[rc.QKV]["mean"] == "3"  # bob's missing notebook is not a score of 0 in the statistics
    with (out / "report" / "canvas.csv").open() as f:
        rows = list(csv.reader(f))
    assert rows[2:] == [["ann", "", "", "ann", "", "3", "1"], ["bob", "", "", "bob", "", "", ""]]


# -- a class graded for real: tests/graded_class.py's, graded once (tests/conftest.py) ----------


def _submitted(submissions: Path) -> dict[str, set[str]]:
    """lesson -> the students who handed in a file for it."""
    found = {}
    for path in submissions.glob("*/*/*.ipynb"):
        found.setdefault(path.parent.name, set()).add(path.parent.parent.name)
    return found


def _grades(out: Path) -> dict[tuple[str, str], tuple[float, float]]:
    return {
        (r["student_id"], r["lesson"]): (float(r["score"]), float(r["max_score"]))
        for r in _csv(out / "grades.csv")
    }


def _cells(out: Path) -> dict[tuple[str, str], dict[str, tuple[float, float]]]:
    """(student, lesson) -> cell -> (score, max_score), from results/<student>.json."""
    found = {}
    for path in (out / "results").glob("*.json"):
        for test in json.loads(path.read_text())["tests"]:
            if ": " in test["name"]:
                lesson, cell = test["name"].split(": ", 1)
                found.setdefault((path.stem, lesson), {})[cell] = (test["score"], test["max_score"])
    return found


@pytest.mark.slow
@pytest.mark.requires("sandbox")
@pytest.mark.xdist_group("grading")
class TestAGradedClass:
    def test_grade_prints_where_the_report_is(self, graded_class):
        out, proc = graded_class
        assert f"class report: {out / 'report' / 'index.html'}" in proc.stdout
        assert (out / "report" / "index.html").is_file()

    def test_lesson_counts_and_statistics(self, graded_class, class_submissions):
        out, _ = graded_class
        grades = _grades(out)
        submitted = _submitted(class_submissions)
        students = {s for s, _ in grades}
        assert students == {d.name for d in class_submissions.iterdir()}
        for row in _csv(out / "report" / "lessons.csv"):
            lesson = row["lesson"]
            scores = [grades[s, lesson][0] for s in sorted(submitted[lesson])]
            not_graded = sum(lesson == lost for _, lost in gc.NOT_GRADED)
            assert (row["students"], row["submitted"], row["graded"], row["not_graded"]) == (
                str(len(students)),
                str(len(scores)),
                str(len(scores) - not_graded),
                str(not_graded),
            )
            assert float(row["mean"]) == pytest.approx(statistics.fmean(scores), rel=1e-3)
            assert float(row["median"]) == pytest.approx(statistics.median(scores), rel=1e-3)
            assert float(row["max_score"]) == grades["no_locked", lesson][1] == grades["no_locked", lesson][0]
            bins = [r for r in _csv(out / "report" / "histogram.csv") if r["lesson"] == lesson]
            assert sum(int(r["students"]) for r in bins) == len(scores)
            for score in scores:
                top = float(bins[-1]["high"])  # the last bin holds its upper edge too
                [hit] = [
                    r
                    for r in bins
                    if float(r["low"]) <= score < float(r["high"]) or score == top == float(r["high"])
                ]
                assert int(hit["students"]) >= 1

    def test_item_analysis_matches_the_graded_cells(self, graded_class):
        out, _ = graded_class
        cells = _cells(out)
        items = _csv(out / "report" / "items.csv")
        assert {(r["lesson"], r["cell"]) for r in items} == {
            (lesson, c) for (_, lesson), cs in cells.items() for c in cs
        }
        for row in items:
            mine = {s: cs[row["cell"]] for (s, lesson), cs in cells.items() if lesson == row["lesson"]}
            earned = sum(score == most for score, most in mine.values())
            assert (int(row["students"]), int(row["earned"])) == (len(mine), earned)
            assert float(row["share"]) == pytest.approx(earned / len(mine), rel=1e-3)
            own = [mine[s][0] for s in sorted(mine)]
            rest = [sum(v[0] for v in cells[s, row["lesson"]].values()) - mine[s][0] for s in sorted(mine)]
            expected = (
                statistics.correlation(own, rest)
                if len(own) > 2 and len(set(own)) > 1 and len(set(rest)) > 1
                else None
            )
            assert _number(row["discrimination"]) == pytest.approx(expected, rel=1e-3)
        shares = [float(r["share"]) for r in items]
        assert shares == sorted(shares), "the hardest cells come first"

    def test_each_wrong_implementation_is_diagnosed_by_its_tag(self, graded_class):
        out, _ = graded_class
        rows = _csv(out / "report" / "mistakes.csv")
        assert {(r["lesson"], r["tag"], r["who"]) for r in rows} == {
            (lesson, tag, student) for student, (lesson, _, tag) in gc.WRONG.items()
        }
        for row in rows:
            assert any(m.split("{")[0] in row["message"] for m in MISTAKES[row["tag"]]), row
            for line in harness.hidden_test_lines(row["lesson"]):
                assert line not in row["message"]
        across = {r["tag"]: r for r in _csv(out / "report" / "mistakes_class.csv")}
        assert {tag: (r["students"], r["who"]) for tag, r in across.items()} == {
            tag: ("1", student) for student, (_, _, tag) in gc.WRONG.items()
        }

    def test_the_feedback_keeps_the_tag_and_the_message_but_not_the_test(self, graded_class):
        out, _ = graded_class
        for student, (lesson, _, tag) in gc.WRONG.items():
            html = (out / "feedback" / student / lesson / f"{lesson}.html").read_text()
            assert f"(mistake: {tag})" in html
            assert any(m.split("{")[0].replace("`", "") in html for m in MISTAKES[tag])
            for line in harness.hidden_test_lines(lesson):
                assert line not in html

    def test_flags_and_notes_say_what_went_wrong(self, graded_class):
        out, _ = graded_class
        flagged = {(r["student"], r["lesson"], r["kind"]) for r in _csv(out / "report" / "flags.csv")}
        # No one in this class patches what the tests rely on (test_isolation's cheats do).
        assert _csv(out / "integrity.csv") == []
        assert flagged == {(s, lesson, status) for (s, lesson), status in gc.NOT_GRADED.items()}
        scores = {r["student"]: r for r in _csv(out / "report" / "scores.csv")}
        assert scores["nothing"]["note"] == "submitted nothing"
        others = " ".join(lesson for lesson in LESSON_IDS if lesson != gc.QKV)
        assert scores["swapped_v"]["note"] == f"not submitted: {others}"
        assert scores["broken"]["note"].endswith(f"{gc.QKV}: invalid; {gc.SDPA}: empty")
        grades = _grades(out)
        for student, row in scores.items():
            assert float(row["total"]) == sum(grades[student, lesson][0] for lesson in LESSON_IDS)

    def test_canvas_import_layout(self, graded_class, class_submissions):
        out, _ = graded_class
        grades = _grades(out)
        with (out / "report" / "canvas.csv").open(newline="") as f:
            header, possible, *rows = list(csv.reader(f))
        assert header == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *LESSON_IDS]
        assert possible[:5] == ["Points Possible", "", "", "", ""]
        most = [grades["no_locked", lesson][1] for lesson in LESSON_IDS]
        assert [float(p) for p in possible[5:]] == most
        submitted = _submitted(class_submissions)
        for row in rows:
            student = row[0]
            assert row[3] == student
            for lesson, value in zip(LESSON_IDS, row[5:], strict=True):
                # a lesson not submitted is blank, so the import leaves that grade as it is
                expected = grades[student, lesson][0] if student in submitted.get(lesson, ()) else None
                assert _number(value) == expected, (student, lesson)

    def test_report_again_gives_the_same_files(self, graded_class, tmp_path):
        out, _ = graded_class
        before = {p.name: p.read_bytes() for p in (out / "report").glob("*.csv")}
        proc = subprocess.run(
            [sys.executable, "-m", "autograder", "report", str(out)], cwd=ROOT, capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr
        assert {p.name: p.read_bytes() for p in (out / "report").glob("*.csv")} == before
