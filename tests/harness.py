"""Run a solution notebook outside nbgrader, optionally with one exercise swapped
for another version, and score its grade cells by nbgrader's own rule.

Cheaper than a full grading run (no gradebook, no feedback), and the same rule:
``nbgrader.utils.determine_grade`` on the executed cells, after the grader's
``StderrToStdout``.
"""

import copy

import nbformat
from nbclient import NotebookClient
from nbgrader.utils import determine_grade, is_grade, is_solution

from autograder.course import SOLUTIONS, notebook_path
from autograder.preprocessors import StderrToStdout


def load(lesson: str) -> nbformat.NotebookNode:
    return nbformat.read(notebook_path(SOLUTIONS, lesson), as_version=4)


def grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def solution_ids(nb) -> list[str]:
    return [grade_id(c) for c in nb.cells if is_solution(c)]


def replace_solution(nb, target: str, code: str) -> nbformat.NotebookNode:
    """A copy of ``nb`` whose solution cell ``target`` holds ``code`` instead."""
    nb = copy.deepcopy(nb)
    cells = [c for c in nb.cells if is_solution(c) and grade_id(c) == target]
    if len(cells) != 1:
        raise KeyError(f"no solution cell {target!r}; there are {solution_ids(nb)}")
    cells[0].source = code
    return nb


def execute(nb, lesson: str, timeout: int = 300) -> nbformat.NotebookNode:
    nb = copy.deepcopy(nb)
    client = NotebookClient(nb, kernel_name="python3", timeout=timeout, allow_errors=True,
                            resources={"metadata": {"path": str(SOLUTIONS / lesson)}})
    return client.execute()


def scores(nb) -> dict[str, tuple[float, float]]:
    """grade_id -> (score, max_score) for every grade cell, as the grader scores it."""
    result = {}
    for index, cell in enumerate(nb.cells):
        if is_grade(cell) and cell.cell_type == "code":
            StderrToStdout().preprocess_cell(cell, {}, index)
            score, max_score = determine_grade(cell)
            result[grade_id(cell)] = (float(score), float(max_score))
    return result


def failure(nb, cell_id: str) -> str:
    """The error a grade cell raised, for a test's message."""
    for cell in nb.cells:
        if grade_id(cell) == cell_id:
            return " ".join(f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error")
    return ""


def _marked_lines(lesson: str, begin: str, end: str) -> list[str]:
    """Substantial code lines found only between the markers in the solution notebook
    (a line that the visible part also holds, even inside a longer line, is no secret)."""
    marked, public, inside = [], set(), False
    for cell in load(lesson).cells:
        for line in cell.source.splitlines():
            if begin in line:
                inside = True
            elif end in line:
                inside = False
            elif inside:
                marked.append(line.strip())
            else:
                public.add(line.strip())
    visible = "\n".join(public)
    return [line for line in marked
            if len(line) > 25 and not line.startswith("#") and line not in visible]


def hidden_test_lines(lesson: str) -> list[str]:
    return _marked_lines(lesson, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


def solution_lines(lesson: str) -> list[str]:
    return _marked_lines(lesson, "BEGIN SOLUTION", "END SOLUTION")
