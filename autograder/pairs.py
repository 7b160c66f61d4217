"""Each solution notebook's review copy: ``solutions/<id>/<id>.py``, jupytext's percent format.

A review reads Python, not JSON: the pair holds every cell (solutions and hidden tests too) with
its nbgrader metadata, and nothing else of the notebook's metadata, so it changes only where a
cell does. The notebook stays the source: ``release`` rewrites the pairs from it, and
``tests/test_release.py`` proves they agree. To edit through the pair instead, change the .py
and update the notebook from it (``jupytext --update --to ipynb``), which keeps the cell ids.
The pairs never reach a release or a grading template (``course.IGNORED``).
"""

from pathlib import Path

import jupytext
import nbformat

from .course import SOLUTIONS, lesson_ids, notebook_path

FORMAT = "py:percent"
# Only nbgrader's cell metadata travels; the notebook's own (kernelspec, jupytext's version) doesn't.
FILTERS = {"notebook_metadata_filter": "-all", "cell_metadata_filter": "nbgrader"}


def pair_path(solutions: Path, lesson: str) -> Path:
    return notebook_path(solutions, lesson).with_suffix(".py")


def pair_text(notebook: Path) -> str:
    """The percent-format text of ``notebook``, as its pair must hold it."""
    nb = nbformat.read(notebook, as_version=4)
    nb.metadata["jupytext"] = dict(FILTERS)
    return jupytext.writes(nb, fmt=FORMAT)


def write_pairs(solutions: Path = SOLUTIONS) -> list[Path]:
    """(Re)write every lesson's pair from its notebook; the paths written."""
    written = []
    for lesson in lesson_ids(solutions):
        path = pair_path(solutions, lesson)
        path.write_text(pair_text(notebook_path(solutions, lesson)))
        written.append(path)
    return written
