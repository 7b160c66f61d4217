"""Run a solution notebook outside nbgrader, with one exercise swapped for another
version, and score its grade cells by nbgrader's own rule.

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


class LessonKernel:
    """One kernel that runs many versions of a lesson's notebook in turn.

    Importing torch and the course costs seconds per fresh kernel, more than most
    lessons take to run, so the wrong implementations of a lesson share one kernel:
    before each run its namespace is cleared (``%reset``) and the global state a
    notebook may change (grad mode, default dtype, open figures) is put back.
    ``close`` proves nothing was left behind that matters: the solution, run last in
    the same kernel, must still earn full marks.
    """

    RESET = ("import matplotlib.pyplot, torch\n"
             "matplotlib.pyplot.close('all')\n"
             "torch.set_grad_enabled(True)\n"
             "torch.set_default_dtype(torch.float32)\n"
             "%reset -f")

    def __init__(self, lesson: str, timeout: int = 300):
        self.lesson = lesson
        self._client = NotebookClient(nbformat.v4.new_notebook(), kernel_name="python3",
                                      timeout=timeout, allow_errors=True,
                                      resources={"metadata": {"path": str(SOLUTIONS / lesson)}})
        self._kernel = self._client.setup_kernel()
        self._kernel.__enter__()

    def run_until_loss(self, nb) -> nbformat.NotebookNode:
        """``nb`` run top to bottom, errors kept in the cells, up to the first grade cell
        that loses points: enough to show that a wrong implementation is caught, without
        the later cells (often the lesson's slow experiments)."""
        self._execute(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(self.RESET)]))
        return self._execute(nb, stop_at_loss=True)

    def close(self) -> None:
        try:
            self._execute(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(self.RESET)]))
            lost = {cell: score for cell, score in scores(self._execute(load(self.lesson))).items()
                    if score[0] < score[1]}
        finally:
            self._kernel.__exit__(None, None, None)
        if lost:
            raise AssertionError(
                f"{self.lesson}: after the wrong implementations ran, the solution lost points in "
                f"the same kernel {lost}: one of them left state behind that RESET does not clear")

    def _execute(self, nb, stop_at_loss: bool = False) -> nbformat.NotebookNode:
        nb = copy.deepcopy(nb)
        self._client.nb = nb  # execute_cell stores each executed cell back into client.nb
        for index, cell in enumerate(nb.cells):
            self._client.execute_cell(cell, index)
            if stop_at_loss and is_grade(cell) and cell.cell_type == "code":
                score, most = _grade(cell, index)
                if score < most:
                    break
        return nb


def _grade(cell, index: int) -> tuple[float, float]:
    StderrToStdout().preprocess_cell(cell, {}, index)
    score, max_score = determine_grade(cell)
    return float(score), float(max_score)


def scores(nb) -> dict[str, tuple[float, float]]:
    """grade_id -> (score, max_score) for every grade cell, as the grader scores it."""
    return {grade_id(cell): _grade(cell, index) for index, cell in enumerate(nb.cells)
            if is_grade(cell) and cell.cell_type == "code"}


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
