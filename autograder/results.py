"""What a grading run writes: grades.csv, integrity.csv, Gradescope's results format, and the
summary table on the terminal. Running the workers is ``grade``'s job; this module only writes."""

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from .worker import LessonResult


@dataclass(frozen=True)
class StudentGrades:
    student: str
    lessons: list[LessonResult]
    seconds: float


def gradescope_json(grades: StudentGrades, hidden: set[tuple[str, str]] = frozenset()) -> dict:
    """Gradescope's results format. A graded cell with hidden tests (in ``hidden``) is
    shown on Gradescope only once grades are published ("after_published"), and so is
    the total; every other test, including why a notebook could not be graded, at once."""
    tests = []
    for lesson in grades.lessons:
        if lesson.status != "graded":
            tests.append(
                {
                    "name": lesson.lesson,
                    "score": 0.0,
                    "max_score": lesson.max_score,
                    "status": "failed",
                    "output": lesson.message,
                    "visibility": "visible",
                }
            )
        for cell in lesson.cells:
            tests.append(
                {
                    "name": f"{lesson.lesson}: {cell.grade_id}",
                    "score": cell.score,
                    "max_score": cell.max_score,
                    "status": "passed" if cell.score == cell.max_score else "failed",
                    "output": cell.output,
                    "visibility": "after_published"
                    if (lesson.lesson, cell.grade_id) in hidden
                    else "visible",
                }
            )
    return {
        "score": sum(lesson.score for lesson in grades.lessons),
        "execution_time": round(grades.seconds, 1),
        "tests": tests,
    }


def write_grades(path: Path, rows: list[StudentGrades]) -> None:
    partial = path.with_suffix(".partial")
    with partial.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student_id", "lesson", "score", "max_score"])
        for grades in rows:
            for lesson in grades.lessons:
                writer.writerow([grades.student, lesson.lesson, f"{lesson.score:g}", f"{lesson.max_score:g}"])
    os.replace(partial, path)


def write_integrity(path: Path, rows: list[StudentGrades]) -> int:
    findings = [
        (g.student, lesson.lesson, finding)
        for g in rows
        for lesson in g.lessons
        for finding in lesson.integrity
    ]
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student_id", "lesson", "finding"])
        writer.writerows(findings)
    return len(findings)


def summary_table(rows: list[StudentGrades], lessons: list[str]) -> str:
    width = max([len("student")] + [len(r.student) for r in rows])
    lines = ["student".ljust(width) + "".join(f"  {lesson[:14]:>14}" for lesson in lessons) + "     total"]
    for grades in rows:
        by_lesson = {lesson.lesson: lesson for lesson in grades.lessons}
        cells = []
        for lesson in lessons:
            result = by_lesson[lesson]
            mark = "" if result.status == "graded" else f" ({result.status})"
            cells.append(f"  {f'{result.score:g}/{result.max_score:g}{mark}':>14}")
        total = sum(r.score for r in grades.lessons)
        total_max = sum(r.max_score for r in grades.lessons)
        lines.append(grades.student.ljust(width) + "".join(cells) + f"  {total:g}/{total_max:g}")
    return "\n".join(lines)
