"""A two-lesson course small enough to grade in seconds, and submissions that
misbehave in every way the grader must survive (tests/test_isolation.py)."""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

LESSONS = ("01_probe", "02_probe")


def _meta(grade_id, *, grade=False, solution=False, locked=True, points=None):
    meta = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def solution_notebook(lesson: str) -> nbformat.NotebookNode:
    tag = lesson.split("_")[0]
    cells = [
        new_markdown_cell(f"# Probe {tag}"),
        new_code_cell(
            "import torch\nfrom transformer_course.checks import expect_close", metadata=_meta(f"setup_{tag}")
        ),
        new_code_cell(
            "def answer():\n    ### BEGIN SOLUTION\n    return 42\n    ### END SOLUTION",
            metadata=_meta(f"answer_{tag}", solution=True, locked=False),
        ),
        new_code_cell(
            'print("report:", globals().get("report"))\n'
            'expect_close(torch.tensor(float(answer())), torch.tensor(42.0), "answer()")',
            metadata=_meta(f"test_answer_{tag}", grade=True, points=2),
        ),
        new_code_cell(
            "### BEGIN HIDDEN TESTS\nassert answer() + 1 == 43, 'SECRET_PROBE_CHECK'\n### END HIDDEN TESTS",
            metadata=_meta(f"test_hidden_{tag}", grade=True, points=1),
        ),
    ]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def write_course(solutions: Path) -> None:
    for lesson in LESSONS:
        path = solutions / lesson / f"{lesson}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(solution_notebook(lesson), path)


def submission(lesson: str, code_before: str = "", answer: int = 42) -> nbformat.NotebookNode:
    """The probe lesson as a student would submit it, with ``code_before`` run in the
    answer cell before the function is defined, and ``answer()`` returning ``answer``."""
    nb = solution_notebook(lesson)
    cell = nb.cells[2]
    cell.source = cell.source.replace("return 42", f"return {answer}")
    cell.source = f"{code_before}\n{cell.source}" if code_before else cell.source
    return nb
