"""Hand-made classes for the class report's tests: OUT folders as ``grade`` writes them, by
grade's own writers, with the scores, statuses and diagnoses chosen by the test."""

import json
from pathlib import Path

from autograder.grade import Job, State
from autograder.results import StudentGrades, gradescope_json, write_grades, write_integrity
from autograder.worker import CellResult, LessonResult
from transformer_course.mistakes import tagged

QKV, SDPA = "01_qkv", "02_scaled_dot_product"


def cell(grade_id: str, score: float, most: float, output: str = "") -> CellResult:
    return CellResult(grade_id, score, most, output)


def lesson(
    name: str,
    cells: list[CellResult] | None = None,
    status: str = "graded",
    message: str = "",
    most: float | None = None,
    integrity: list[str] | None = None,
) -> LessonResult:
    cells = cells or []
    most = sum(c.max_score for c in cells) if most is None else most
    return LessonResult(name, status, sum(c.score for c in cells), most, message, cells, integrity or [])


def write_out(out: Path, grades: list[StudentGrades], finished: bool = True) -> Path:
    """OUT as ``grade`` writes it, by grade's own writers, for a class made by hand."""
    out.mkdir(parents=True, exist_ok=True)
    state = State(out, "hand-made", fresh=True)
    (out / "results").mkdir()
    for student in grades:
        for result in student.lessons:
            state.save(Job(student.student, result.lesson, out / "none", "digest"), result)
    write_grades(out / "grades.csv", grades)
    for student in grades:
        (out / "results" / f"{student.student}.json").write_text(json.dumps(gradescope_json(student)))
    if finished:
        write_integrity(out / "integrity.csv", grades)
    return out


def tagged_error(what: str, message: str) -> str:
    """A failing cell's output as the feedback shows it, with the mistake's tag."""
    return f"✓ an earlier check\nAssertionError: {what}: {tagged(message)}\n"


def made_up_class(out: Path, students: int = 12) -> Path:
    """A plausible class for the page's screenshot: two lessons, typical mistakes."""
    scale = "your scores equal QKᵀ/d_k: divide by √d_k, not by d_k"
    column = "your weights sum to one down each column: take the softmax over the last dimension (keys)"
    swapped = "your v equals what k should be: compute v with w_v, and return (q, k, v) in that order."
    rows = []
    for i in range(students):
        qkv = [
            cell("test_embed", 2, 2),
            cell(
                "test_qkv_per_token",
                2 if i % 3 else 0,
                2,
                "" if i % 3 else tagged_error("qkv_per_token", swapped),
            ),
            cell("test_projection", 3 if i % 4 else 0, 3),
        ]
        sdpa = [
            cell(
                "test_scores", 0 if i % 5 == 1 else 2, 2, tagged_error("scores", scale) if i % 5 == 1 else ""
            ),
            cell(
                "test_softmax",
                0 if i % 4 == 2 else 2,
                2,
                tagged_error("softmax", column) if i % 4 == 2 else "",
            ),
            cell("test_attention", 3 if i % 2 else 0, 3),
            cell("test_gradients", 1 if i > 2 else 0, 1),
        ]
        lessons = [lesson(QKV, qkv), lesson(SDPA, sdpa)]
        if i == students - 1:
            lessons = [
                lesson(QKV, status="missing", message="no file 01_qkv/01_qkv.ipynb was submitted", most=7),
                lesson(
                    SDPA,
                    status="invalid",
                    message="02_scaled_dot_product.ipynb is not a valid "
                    "notebook: Expecting value: line 1 column 1",
                    most=8,
                ),
            ]
        if i == 4:
            lessons[0].integrity.append("cell 5, line 2: changes torch.allclose")
        rows.append(StudentGrades(f"s{i + 1:02d}", lessons, 1.0))
    return write_out(out, rows)
