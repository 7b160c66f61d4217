"""Run a solution notebook outside nbgrader, with one exercise swapped for another
version, and score its grade cells by nbgrader's own rule.

Cheaper than a full grading run (no gradebook, no feedback), and the same rule:
``nbgrader.utils.determine_grade`` on the executed cells, after the grader's
``StderrToStdout``.
"""

import copy
import os
import tempfile

import nbformat
from nbclient import NotebookClient
from nbgrader.utils import determine_grade, is_grade, is_solution

from autograder.course import LESSONS, SOLUTIONS, notebook_path
from autograder.preprocessors import StderrToStdout


def load(lesson: str) -> nbformat.NotebookNode:
    return nbformat.read(notebook_path(SOLUTIONS, lesson), as_version=4)


def untouched(lesson: str) -> nbformat.NotebookNode:
    """The solution with every solution cell as the release gives it to students (the
    stubs), and the solution's test cells (hidden tests included), as the grader
    restores them: what grading an untouched lesson runs."""
    released = {
        grade_id(c): c.source
        for c in nbformat.read(notebook_path(LESSONS, lesson), as_version=4).cells
        if is_solution(c)
    }
    nb = copy.deepcopy(load(lesson))
    for cell in nb.cells:
        if is_solution(cell):
            cell.source = released[grade_id(cell)]
    return nb


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
    """One kernel that runs many wrong versions of a lesson's notebook in turn.

    Importing torch and the course costs seconds per fresh kernel, and most lessons'
    cells cost more again, so the wrong implementations of a lesson share one kernel
    and the solution's cells before them. The kernel holds the state of the solution
    run up to cell ``self._ran``; a wrong version of cell i runs the solution's cells up
    to i (those not run yet), then its own cell i and the cells after it up to the first
    one that loses points, and then the solution's cells i..k again, which put back
    every name those cells define. Global state a cell may change (grad mode, default
    dtype, open figures) is put back before each run. ``close`` proves nothing was left
    behind that matters: the solution, run last in the same kernel from a cleared
    namespace, must still earn full marks.
    """

    RESTORE = (
        "import matplotlib.pyplot, torch\n"
        "matplotlib.pyplot.close('all')\n"
        "torch.set_grad_enabled(True)\n"
        "torch.set_default_dtype(torch.float32)"
    )
    RESET = RESTORE + "\n%reset -f"

    def __init__(self, lesson: str, timeout: int = 300):
        self.lesson = lesson
        self.solution = load(lesson)
        self._ran = 0
        # The kernel writes where the grader's would (a folder of its own, not solutions/), and is
        # told it is being graded, as the grader tells it: lessons skip their long runs.
        self._folder = tempfile.TemporaryDirectory(prefix=f"wrong-{lesson}-")
        self._client = NotebookClient(
            nbformat.v4.new_notebook(),
            kernel_name="python3",
            timeout=timeout,
            allow_errors=True,
            resources={"metadata": {"path": self._folder.name}},
        )
        self._kernel = self._client.setup_kernel(env={**os.environ, "NBGRADER_EXECUTION": "autograde"})
        self._kernel.__enter__()
        self._execute(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(self.RESET)]))

    def run_wrong(self, target: str, code: str) -> nbformat.NotebookNode:
        """The solution with cell ``target`` replaced by ``code``, run as the class
        docstring says; the cells it did not reach keep no outputs."""
        nb = replace_solution(self.solution, target, code)
        index = next(i for i, c in enumerate(nb.cells) if is_solution(c) and grade_id(c) == target)
        self._execute(self.solution, range(self._ran, index))
        self._execute(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(self.RESTORE)]))
        last = self._execute(nb, range(index, len(nb.cells)), stop_at_loss=True)
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code" and not index <= i <= last:
                cell.outputs = []  # scored as not run: only this run's cells count
        self._execute(self.solution, range(index, last + 1))
        self._ran = max(self._ran, last + 1)
        repaired = {
            grade_id(c): _grade(c, i)
            for i, c in enumerate(self.solution.cells)
            if index <= i <= last and is_grade(c) and c.cell_type == "code"
        }
        if any(score < most for score, most in repaired.values()):
            # The wrong version left state the solution's cells do not redefine: start over.
            self._execute(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(self.RESET)]))
            self._ran = 0
        return nb

    def run_untouched(self) -> nbformat.NotebookNode:
        """The untouched lesson (``untouched``), every cell run from a cleared namespace;
        the solution's cells are run again from the start by the next ``run_wrong``."""
        nb = untouched(self.lesson)
        self._execute(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(self.RESET)]))
        self._execute(nb)
        self._execute(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(self.RESET)]))
        self._ran = 0
        return nb

    def close(self) -> None:
        try:
            self._execute(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(self.RESET)]))
            solution = copy.deepcopy(self.solution)
            self._execute(solution, range(len(solution.cells)))
            lost = {cell: score for cell, score in scores(solution).items() if score[0] < score[1]}
        finally:
            self._kernel.__exit__(None, None, None)
            self._folder.cleanup()
        if lost:
            raise AssertionError(
                f"{self.lesson}: after the wrong implementations ran, the solution lost points in "
                f"the same kernel {lost}: one of them left state behind that RESET does not clear"
            )

    def _execute(self, nb, indices=None, stop_at_loss: bool = False) -> int:
        """Run ``nb``'s cells at ``indices`` (all by default) in place, outputs stored in
        them; the index of the last cell run."""
        indices = range(len(nb.cells)) if indices is None else indices
        last = indices.start - 1 if isinstance(indices, range) else -1
        original, self._client.nb = self._client.nb, nb  # execute_cell stores outputs into client.nb
        try:
            for index in indices:
                cell = nb.cells[index]
                if cell.cell_type == "code":
                    cell.outputs = []
                self._client.execute_cell(cell, index)
                last = index
                if stop_at_loss and is_grade(cell) and cell.cell_type == "code":
                    score, most = _grade(cell, index)
                    if score < most:
                        break
        finally:
            self._client.nb = original
        return last


def _grade(cell, index: int) -> tuple[float, float]:
    StderrToStdout().preprocess_cell(cell, {}, index)
    score, max_score = determine_grade(cell)
    return float(score), float(max_score)


def scores(nb) -> dict[str, tuple[float, float]]:
    """grade_id -> (score, max_score) for every grade cell, as the grader scores it."""
    return {
        grade_id(cell): _grade(cell, index)
        for index, cell in enumerate(nb.cells)
        if is_grade(cell) and cell.cell_type == "code"
    }


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
    return [line for line in marked if len(line) > 25 and not line.startswith("#") and line not in visible]


def hidden_test_lines(lesson: str) -> list[str]:
    return _marked_lines(lesson, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


def solution_lines(lesson: str) -> list[str]:
    return _marked_lines(lesson, "BEGIN SOLUTION", "END SOLUTION")
