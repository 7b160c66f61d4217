"""Deleted test cells and read-only code cells put back where the release has them.

nbgrader's ``OverwriteCells.add_missing_cells`` puts a deleted test cell right after
the nbgrader cell before it in the source. The plain cells in between (a demo that
computes what the test checks) then run after the test, and a correct notebook loses
points. Here every cell of the submission is matched with the release's cells, by
grade_id for nbgrader cells, else by cell id, else by unchanged source. The cells in
place are the longest common subsequence of the two, counting code cells first (they
make the state a test sees; a moved markdown cell must not displace one). A deleted
test cell goes after the release cell before it that is in place and the student's
own cells that follow that one, so it runs after the same code cells as in the
release; a cell the student moved anchors nothing.

A deleted read-only code cell (a lesson's ``setup`` imports, an example the tests use) is put
back the same way: nbgrader restores only grade cells, and without its imports every test of
a correct notebook fails.

The grader (``RestoreMissingCells``, nbgrader's sanitize step) and ``validate``
(``as_graded``) both place cells with ``restore_missing``, so the two agree.
"""

from collections.abc import Callable
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell
from nbformat.v4.nbbase import random_cell_id
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import OverwriteCells
from nbgrader.utils import is_grade, is_locked, is_solution
from traitlets import Bool


def _grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def restorable(cell) -> bool:
    """A cell the grader puts back when it was deleted: a test cell, or a locked code cell."""
    return bool(_grade_id(cell)) and (
        is_grade(cell) or (is_locked(cell) and not is_solution(cell) and cell.cell_type == "code")
    )


def _keys(nb, release) -> list[str]:
    """One key per cell of ``nb``, equal to the key of the release cell it is a copy of."""
    ids = {cell.get("id") for cell in release.cells if not _grade_id(cell)}
    by_source = {}
    for cell in release.cells:
        if not _grade_id(cell):
            by_source.setdefault((cell.cell_type, cell.source), f"id:{cell.get('id')}")
    keys = []
    for index, cell in enumerate(nb.cells):
        if _grade_id(cell):
            keys.append(f"nbgrader:{_grade_id(cell)}")
        elif cell.get("id") in ids:
            keys.append(f"id:{cell.get('id')}")
        else:  # an editor that renumbers ids keeps the text; a cell of the student's own matches nothing
            keys.append(by_source.get((cell.cell_type, cell.source), f"own:{index}"))
    return keys


def _common_subsequence(wanted: list[str], ours: list[str], weights: list[int]) -> dict[int, int]:
    """The heaviest common subsequence of ``wanted`` and ``ours``, as {index in wanted:
    index in ours}; an item of ``wanted`` weighs ``weights[i]``."""
    n, m = len(wanted), len(ours)
    best = [[0] * (m + 1) for _ in range(n + 1)]  # best[i][j]: of wanted[i:] and ours[j:]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            match = best[i + 1][j + 1] + weights[i] if wanted[i] == ours[j] else 0
            best[i][j] = max(best[i + 1][j], best[i][j + 1], match)
    pairs, i, j = {}, 0, 0
    while i < n and j < m:
        if wanted[i] == ours[j] and best[i][j] == best[i + 1][j + 1] + weights[i]:
            pairs[i] = j
            i, j = i + 1, j + 1
        elif best[i + 1][j] >= best[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


def restore_missing(nb, release, make_cell: Callable) -> list[str]:
    """Insert into ``nb`` (in place) every ``restorable`` cell of ``release`` it lacks, made by
    ``make_cell(release_cell)``: each just before the first release cell after it that
    ``nb`` holds in place (after the student's own cells in between); return their
    grade_ids, in the release's order."""
    present = {_grade_id(cell) for cell in nb.cells}
    # One code cell outweighs all markdown cells together.
    weights = [len(release.cells) + 1 if cell.cell_type == "code" else 1 for cell in release.cells]
    in_place = _common_subsequence(_keys(release, release), _keys(nb, release), weights)
    placed = set(in_place.values())
    after: dict[int, list] = {}  # index in nb (-1: the top) -> cells to insert after it
    anchor, restored = -1, []
    for index, cell in enumerate(release.cells):
        if index in in_place:
            anchor = in_place[index]
            # Past the student's own cells after it (a helper the exercise calls), up to the
            # next cell in place.
            while anchor + 1 < len(nb.cells) and anchor + 1 not in placed:
                anchor += 1
        elif restorable(cell) and _grade_id(cell) not in present:
            after.setdefault(anchor, []).append(make_cell(cell))
            restored.append(_grade_id(cell))
    used = {cell.get("id") for cell in nb.cells}
    for cell in (c for made in after.values() for c in made):
        if cell.get("id") in used or not cell.get("id"):  # the student's cell took it: ids must be unique
            cell.id = random_cell_id()
        used.add(cell.id)
    cells = after.get(-1, [])
    for index, cell in enumerate(nb.cells):
        cells += [cell, *after.get(index, [])]
    nb.cells = cells
    return restored


class RestoreMissingCells(OverwriteCells):
    """nbgrader's ``OverwriteCells`` that puts deleted test cells and read-only code cells back
    where the source notebook has them (``restore_missing``), with nbgrader's note that it did."""

    add_missing_cells = Bool(True).tag(config=True)

    def add_missing_grade_cells(self, nb, resources):
        coursedir = CourseDirectory(parent=self)
        folder = coursedir.format_path(coursedir.source_directory, ".", self.assignment_id)
        path = Path(folder) / f"{self.notebook_id}.ipynb"
        if not path.is_file():  # a gradebook without its source folder: nbgrader's own placement
            self.log.warning("No source notebook %s: missing cells go after the cell before them", path)
            return super().add_missing_grade_cells(nb, resources)
        layout = nbformat.read(path, as_version=4)
        source = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        cells = {cell.name: cell for cell in source.source_cells}
        points = {cell.name: cell.max_score for cell in source.grade_cells}

        def make_cell(released):
            name = _grade_id(released)
            if is_grade(released):
                cell = self.missing_cell_transform(
                    cells[name], points[name], is_solution=is_solution(released)
                )
            else:  # nbgrader's transform makes a grade cell of everything
                cell = self._read_only_cell(cells[name])
            cell.id = released.get("id")
            return cell

        for name in restore_missing(nb, layout, make_cell):
            self.log.warning("Missing cell %s encountered, put back where the source has it", name)
        return nb, resources

    def _read_only_cell(self, source_cell):
        """A deleted read-only code cell as the source has it, with nbgrader's note."""
        note = self.missing_cell_notification.format(cell_id=source_cell.name)
        nbgrader = {
            "grade": False,
            "solution": False,
            "locked": True,
            "grade_id": source_cell.name,
            "checksum": source_cell.checksum,
            "schema_version": 3,
            "task": False,
        }
        metadata = {"deletable": False, "editable": False, "nbgrader": nbgrader}
        return new_code_cell(f"# {note}{source_cell.source}", metadata=metadata)
