"""``release``: regenerate ``lessons/`` from ``solutions/``."""

import shutil
import tempfile
from pathlib import Path

from .course import IGNORED, LESSONS, SOLUTIONS, lesson_ids
from .template import build_template


def release(solutions: Path = SOLUTIONS, dest: Path = LESSONS) -> list[str]:
    """Write the student version of every lesson to ``dest``, replacing what was there.

    nbgrader's generate_assignment strips solutions, hidden tests and outputs.
    """
    lessons = lesson_ids(solutions)
    with tempfile.TemporaryDirectory(prefix="release-") as tmp:
        template = build_template(Path(tmp), solutions, lessons)
        dest.mkdir(parents=True, exist_ok=True)
        for stale in dest.iterdir():
            if stale.is_dir():
                shutil.rmtree(stale)
        for lesson in lessons:
            shutil.copytree(template / "release" / lesson, dest / lesson, ignore=IGNORED)
    return lessons
