"""Where the course's files are, and which lessons it has."""

import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
LESSONS = ROOT / "lessons"
COURSE_ID = "transformer-course"
PACKAGE = "transformer_course"  # the course's Python package, named here only
LESSON_ID = re.compile(r"^\d\d_[a-z0-9_]+$")
# Never copied into a release, a grading template or a Gradescope bundle: caches, the gradebook,
# each solution's review copy in jupytext's percent format (autograder/pairs.py), and the training
# runs lesson 08 saves beside itself (a model trained by the solution, once it has been run there).
IGNORED = shutil.ignore_patterns(
    ".ipynb_checkpoints", "__pycache__", "*.pyc", "gradebook.db", "[0-9][0-9]_*.py", "runs"
)


def lesson_ids(source: Path = SOLUTIONS) -> list[str]:
    """The lessons of ``source``: folders named like ``02_scaled_dot_product``
    that hold a notebook of the same name."""
    return sorted(
        d.name
        for d in source.iterdir()
        if d.is_dir() and LESSON_ID.match(d.name) and (d / f"{d.name}.ipynb").is_file()
    )


def notebook_path(folder: Path, lesson: str) -> Path:
    return folder / lesson / f"{lesson}.ipynb"
