"""``report``: the instructor's class report of a graded folder.

``python -m autograder report OUT`` reads what ``grade`` wrote to OUT (``grades.csv``,
``results/<student>.json``, ``integrity.csv``, and each notebook's status from the resume
store ``.grading/``) and writes ``OUT/report/``:

- ``index.html``: one self-contained page (plots embedded, no network) with all of the below;
- ``lessons.csv``: per lesson, how many submitted and were graded, mean and median score;
  ``histogram.csv``: each lesson's score distribution in ten bins;
- ``items.csv``: item analysis per graded cell (share of students with its points, and its
  discrimination), hardest and least discriminating first;
- ``mistakes.csv`` (per lesson) and ``mistakes_class.csv`` (across the class): every known
  mistake the tests diagnosed, by its stable tag (``(mistake: scale-by-dk)`` in the feedback,
  see transformer_course/mistakes.py), with the message the student saw and who made it;
- ``integrity.csv``'s findings and the notebooks that could not be graded, with why:
  ``flags.csv``;
- ``scores.csv``: student × lesson, and ``canvas.csv``: the same in Canvas's gradebook import
  layout (Student, ID, SIS User ID, SIS Login ID, Section, a column per lesson, and a
  "Points Possible" row). The student's id goes into SIS Login ID, by which Canvas matches
  the row; a lesson not submitted is left blank, so the import leaves that grade as it is.
"""

import csv
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .report_stats import Item, difficulty, histogram, item_analysis, summarize

TAG = re.compile(r"^(?:\w+: )?(?P<message>.*) \(mistake: (?P<tag>[a-z0-9]+(?:-[a-z0-9]+)*)\)$")
NOT_SUBMITTED = "missing"
CANVAS_FIELDS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]


class ReportError(SystemExit):
    """OUT cannot be reported on; the message says why and what to run."""

    def __init__(self, message: str):
        super().__init__(f"error: {message}")


@dataclass(frozen=True)
class Cell:
    grade_id: str
    score: float
    max_score: float
    output: str


@dataclass(frozen=True)
class Notebook:
    """One student's result for one lesson."""

    student: str
    lesson: str
    score: float
    max_score: float
    status: str  # as grade's LessonResult: graded, missing, invalid, timeout, ...
    message: str = ""
    cells: tuple[Cell, ...] = ()


@dataclass(frozen=True)
class Mistake:
    tag: str
    lesson: str
    message: str  # the first one a student saw: the test's message, never its code
    cells: list[str] = field(default_factory=list)
    students: list[str] = field(default_factory=list)


@dataclass
class ClassResults:
    students: list[str]
    lessons: list[str]
    notebooks: dict[tuple[str, str], Notebook]
    integrity: list[dict[str, str]]

    def of_lesson(self, lesson: str) -> list[Notebook]:
        return [self.notebooks[s, lesson] for s in self.students if (s, lesson) in self.notebooks]


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _status(out: Path, student: str, lesson: str) -> tuple[str, str] | None:
    saved = out / ".grading" / student / f"{lesson}.json"
    try:
        result = json.loads(saved.read_text())["result"]
        return result["status"], result.get("message", "")
    except (OSError, ValueError, KeyError, TypeError):
        return None


def load(out: Path) -> ClassResults:
    """What ``grade`` wrote to ``out``; a clear error for a folder it did not finish."""
    grades = out / "grades.csv"
    if not out.is_dir():
        raise ReportError(f"{out} is not a folder: give the --out folder of `python -m autograder grade`")
    if not grades.is_file():
        if (out / ".grading").is_dir():
            done = len(list((out / ".grading").glob("*/*.json")))
            raise ReportError(
                f"{out} holds a grading run that did not finish ({done} notebooks graded, no "
                "grades.csv): run `python -m autograder grade SUBMISSIONS --out "
                f"{out}` again; it resumes where it stopped"
            )
        raise ReportError(
            f"{out} holds no grades.csv: grade the class first, "
            f"`python -m autograder grade SUBMISSIONS --out {out}`"
        )
    rows = _read_csv(grades)
    if not rows:
        raise ReportError(f"{grades} lists no grades: grade the class again")
    if not {"student_id", "lesson", "score", "max_score"} <= set(rows[0]):
        raise ReportError(
            f"{grades} is not the grades.csv of `python -m autograder grade` "
            "(columns student_id, lesson, score, max_score)"
        )
    students = list(dict.fromkeys(r["student_id"] for r in rows))
    lessons = list(dict.fromkeys(r["lesson"] for r in rows))
    if not (out / "integrity.csv").is_file() or len(rows) < len(students) * len(lessons):
        raise ReportError(
            f"the grading run into {out} did not finish ({len(rows)} of "
            f"{len(students) * len(lessons)} notebooks graded): run `python -m autograder "
            f"grade SUBMISSIONS --out {out}` again; it resumes where it stopped"
        )
    tests: dict[str, list[dict]] = {}
    for student in students:
        path = out / "results" / f"{student}.json"
        try:
            tests[student] = json.loads(path.read_text())["tests"] if path.is_file() else []
        except (ValueError, KeyError, TypeError) as error:
            raise ReportError(
                f"{path} is not a results file of grade ({error}): grade the class again with --fresh"
            ) from None
    notebooks = {}
    for row in rows:
        student, lesson = row["student_id"], row["lesson"]
        mine = [t for t in tests[student] if t["name"].startswith(f"{lesson}: ")]
        unable = [t["output"] for t in tests[student] if t["name"] == lesson]
        cells = tuple(
            Cell(t["name"].split(": ", 1)[1], float(t["score"]), float(t["max_score"]), t.get("output", ""))
            for t in mine
        )
        status, message = _status(out, student, lesson) or (
            ("graded", "") if cells else ("not graded", unable[0] if unable else "no result was found")
        )
        notebooks[student, lesson] = Notebook(
            student,
            lesson,
            float(row["score"]),
            float(row["max_score"]),
            status,
            message or (unable[0] if unable else ""),
            cells,
        )
    return ClassResults(students, lessons, notebooks, _read_csv(out / "integrity.csv"))


def lesson_rows(results: ClassResults) -> list[dict]:
    rows = []
    for lesson in results.lessons:
        books = results.of_lesson(lesson)
        submitted = [b for b in books if b.status != NOT_SUBMITTED]
        summary = summarize([b.score for b in submitted])
        rows.append(
            {
                "lesson": lesson,
                "max_score": books[0].max_score,
                "students": len(books),
                "submitted": len(submitted),
                "graded": sum(b.status == "graded" for b in books),
                "not_graded": sum(b.status not in ("graded", NOT_SUBMITTED) for b in books),
                "mean": summary.mean,
                "median": summary.median,
            }
        )
    return rows


def histogram_rows(results: ClassResults) -> list[dict]:
    rows = []
    for lesson in results.lessons:
        books = [b for b in results.of_lesson(lesson) if b.status != NOT_SUBMITTED]
        for low, high, count in histogram([b.score for b in books], results.of_lesson(lesson)[0].max_score):
            rows.append({"lesson": lesson, "low": low, "high": high, "students": count})
    return rows


def items(results: ClassResults) -> dict[str, list[Item]]:
    """lesson -> its items, hardest first; over the students whose notebook was graded."""
    found = {}
    for lesson in results.lessons:
        graded = [b for b in results.of_lesson(lesson) if b.status == "graded" and b.cells]
        cells = list(dict.fromkeys(c.grade_id for b in graded for c in b.cells))
        points = {c.grade_id: c.max_score for b in graded for c in b.cells}
        scores = {b.student: {c.grade_id: c.score for c in b.cells} for b in graded}
        found[lesson] = item_analysis(lesson, cells, points, scores)
    return found


def diagnoses(output: str) -> list[tuple[str, str]]:
    """(tag, message) of each tagged mistake in a cell's output; only the error lines count,
    so that a student's own print cannot pose as a diagnosis."""
    return [
        (m["tag"], m["message"])
        for line in output.splitlines()
        if (m := TAG.match(line.strip())) and re.match(r"^\w+(Error|Exception): ", line.strip())
    ]


def mistakes(results: ClassResults) -> list[Mistake]:
    """Per lesson, each diagnosed mistake; most students first."""
    found: dict[tuple[str, str], Mistake] = {}
    for (student, lesson), book in results.notebooks.items():
        for cell in book.cells:
            for tag, message in diagnoses(cell.output):
                mistake = found.setdefault((lesson, tag), Mistake(tag, lesson, message))
                if cell.grade_id not in mistake.cells:
                    mistake.cells.append(cell.grade_id)
                if student not in mistake.students:
                    mistake.students.append(student)
    return sorted(found.values(), key=lambda m: (-len(m.students), m.lesson, m.tag))


def mistake_rows(results: ClassResults, per_lesson: list[Mistake]) -> list[dict]:
    """One row per lesson and mistake; share: of the students whose notebook was graded."""
    graded = {
        lesson: sum(b.status == "graded" for b in results.of_lesson(lesson)) for lesson in results.lessons
    }
    return [
        {
            "lesson": m.lesson,
            "tag": m.tag,
            "students": len(m.students),
            "share": len(m.students) / graded[m.lesson],
            "cells": " ".join(m.cells),
            "message": m.message,
            "who": " ".join(m.students),
        }
        for m in per_lesson
    ]


def class_mistakes(per_lesson: list[Mistake]) -> list[dict]:
    by_tag: dict[str, dict] = defaultdict(lambda: {"lessons": [], "students": set(), "notebooks": 0})
    for m in per_lesson:
        entry = by_tag[m.tag]
        entry["lessons"].append(m.lesson)
        entry["students"].update(m.students)
        entry["notebooks"] += len(m.students)
        entry.setdefault("message", m.message)
    rows = [
        {
            "tag": tag,
            "students": len(e["students"]),
            "notebooks": e["notebooks"],
            "lessons": " ".join(sorted(e["lessons"])),
            "message": e["message"],
            "who": " ".join(sorted(e["students"])),
        }
        for tag, e in by_tag.items()
    ]
    return sorted(rows, key=lambda r: (-r["students"], r["tag"]))


def flags(results: ClassResults) -> list[dict]:
    """Integrity findings, then the notebooks that were submitted but could not be graded."""
    rows = [
        {"student": r["student_id"], "lesson": r["lesson"], "kind": "integrity", "why": r["finding"]}
        for r in results.integrity
    ]
    rows += [
        {"student": b.student, "lesson": b.lesson, "kind": b.status, "why": b.message}
        for b in results.notebooks.values()
        if b.status not in ("graded", NOT_SUBMITTED)
    ]
    return rows


def score_rows(results: ClassResults) -> list[dict]:
    rows = []
    for student in results.students:
        books = [results.notebooks[student, lesson] for lesson in results.lessons]
        missing = [b.lesson for b in books if b.status == NOT_SUBMITTED]
        unable = [f"{b.lesson}: {b.status}" for b in books if b.status not in ("graded", NOT_SUBMITTED)]
        note = (
            "submitted nothing"
            if len(missing) == len(books)
            else "; ".join(([f"not submitted: {' '.join(missing)}"] if missing else []) + unable)
        )
        rows.append(
            {
                "student": student,
                **{b.lesson: b.score for b in books},
                "total": sum(b.score for b in books),
                "max_total": sum(b.max_score for b in books),
                "note": note,
            }
        )
    return rows


def _number(value) -> str:
    if value is None:
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def write_csv(path: Path, rows: list[dict], fields: list[str]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fields)
        writer.writeheader()
        writer.writerows({k: _number(row.get(k)) for k in fields} for row in rows)


def write_canvas(path: Path, results: ClassResults) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CANVAS_FIELDS + results.lessons)
        writer.writerow(
            ["Points Possible", "", "", "", ""]
            + [_number(results.of_lesson(lesson)[0].max_score) for lesson in results.lessons]
        )
        for student in results.students:
            books = [results.notebooks[student, lesson] for lesson in results.lessons]
            writer.writerow(
                [student, "", "", student, ""]
                + ["" if b.status == NOT_SUBMITTED else _number(b.score) for b in books]
            )


def report(out: Path) -> Path:
    """Write ``out/report/`` (see the module's docstring); returns the page's path."""
    from .report_html import page  # matplotlib, only when a report is written

    results = load(out)
    folder = out / "report"
    folder.mkdir(exist_ok=True)
    by_lesson = items(results)
    per_lesson = mistakes(results)
    lessons, across, flagged, scores = (
        lesson_rows(results),
        class_mistakes(per_lesson),
        flags(results),
        score_rows(results),
    )
    write_csv(
        folder / "lessons.csv",
        lessons,
        ["lesson", "max_score", "students", "submitted", "graded", "not_graded", "mean", "median"],
    )
    write_csv(folder / "histogram.csv", histogram_rows(results), ["lesson", "low", "high", "students"])
    hardest_first = sorted((i for lesson_items in by_lesson.values() for i in lesson_items), key=difficulty)
    write_csv(
        folder / "items.csv",
        [{**vars(i), "flags": " ".join(i.flags)} for i in hardest_first],
        ["lesson", "cell", "points", "students", "earned", "share", "discrimination", "flags"],
    )
    write_csv(
        folder / "mistakes.csv",
        mistake_rows(results, per_lesson),
        ["lesson", "tag", "students", "share", "cells", "message", "who"],
    )
    write_csv(
        folder / "mistakes_class.csv", across, ["tag", "students", "notebooks", "lessons", "message", "who"]
    )
    write_csv(folder / "flags.csv", flagged, ["student", "lesson", "kind", "why"])
    write_csv(folder / "scores.csv", scores, ["student", *results.lessons, "total", "max_total", "note"])
    write_canvas(folder / "canvas.csv", results)
    index = folder / "index.html"
    index.write_text(page(results, lessons, by_lesson, per_lesson, across, flagged, scores), encoding="utf-8")
    return index
