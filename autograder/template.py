"""A fresh nbgrader course built from ``solutions/`` in a temporary folder.

Every release and every grading run starts from one of these, so the gradebook
(which holds the hidden tests) never lives in the repository and grades of an
earlier run never leak into a later one.
"""

import os
import shutil
import sys
from pathlib import Path

from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory

from .course import IGNORED, SOLUTIONS, lesson_ids
from .nbconfig import course_config
from .sandbox import Limits


class GradingError(RuntimeError):
    """A step of nbgrader failed; the message carries its log."""


def nbgrader_api(root: Path, limits: Limits | None = None) -> NbGraderAPI:
    # nbgrader runs `alembic` from PATH; a venv's python started by its full path
    # (as make does) would not find it.
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ["PATH"].split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ["PATH"]
    config = course_config(root, limits)
    return NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)


def run_step(result: dict, what: str) -> None:
    if not result["success"]:
        raise GradingError(f"{what} failed:\n{result.get('error') or result.get('log', '')}")


def build_template(root: Path, solutions: Path = SOLUTIONS, lessons: list[str] | None = None) -> Path:
    """Copy the solutions to ``root/source`` and generate every lesson's student
    version (``root/release``) and gradebook entry (``root/gradebook.db``)."""
    lessons = lesson_ids(solutions) if lessons is None else lessons
    root.mkdir(parents=True, exist_ok=True)
    for lesson in lessons:
        shutil.copytree(solutions / lesson, root / "source" / lesson, ignore=IGNORED)
    api = nbgrader_api(root)
    for lesson in lessons:
        run_step(api.generate_assignment(lesson, force=True, create=True), f"generate_assignment {lesson}")
    return root
