"""A fresh nbgrader course built from ``solutions/`` in a temporary folder.

Every release and every grading run starts from one of these, so the gradebook
(which holds the hidden tests) never lives in the repository and grades of an
earlier run never leak into a later one. A grading run takes its template from
``cached_template``: built once for each content of the solutions (and of the grader),
kept in the user's temporary folder, and only ever read: every notebook is graded in
a copy of its gradebook, which holds source cells, never grades.
"""

import hashlib
import os
import shutil
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory

from .course import COURSE_ID, IGNORED, SOLUTIONS, lesson_ids
from .limits import Limits
from .nbconfig import course_config


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


def solutions_digest(solutions: Path, lessons: list[str]) -> str:
    """What the lessons' templates are made of: their solution folders' files."""
    h = hashlib.sha256()
    for lesson in lessons:
        for path in sorted((solutions / lesson).rglob("*")):
            name = path.relative_to(solutions)
            if path.is_file() and not IGNORED(str(path.parent), list(name.parts)):
                h.update(str(name).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def _grader_digest() -> str:
    """The code that shapes a template: this package and nbgrader's version."""
    h = hashlib.sha256(metadata.version("nbgrader").encode())
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()


def cached_template(solutions: Path, lessons: list[str]) -> Path:
    """``build_template``'s result for these solutions, built once and then reused."""
    key = hashlib.sha256(f"{solutions_digest(solutions, lessons)} {_grader_digest()} {lessons}".encode())
    cache = Path(tempfile.gettempdir()) / f"{COURSE_ID}-templates-{os.getuid()}"
    cache.mkdir(mode=0o700, exist_ok=True)
    if cache.stat().st_uid != os.getuid() or cache.stat().st_mode & 0o077:
        raise GradingError(f"{cache} is not this user's private folder: remove it and grade again")
    root = cache / key.hexdigest()[:32]
    if not (root / "ready").is_file():
        building = Path(tempfile.mkdtemp(prefix="building-", dir=cache))
        build_template(building, solutions, lessons)
        (building / "ready").touch()
        try:
            building.rename(root)
        except OSError:  # another run built it first: theirs is the same
            shutil.rmtree(building, ignore_errors=True)
    return root
