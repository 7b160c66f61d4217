"""``check``: the instructor's solution run.

Every solution notebook is executed and graded as if a student had submitted it;
the run fails unless each earns full marks.
"""

import shutil
import tempfile
import time
from pathlib import Path

from .course import IGNORED, SOLUTIONS, lesson_ids
from .grade import grade
from .results import StudentGrades

STUDENT = "solution"


def check(
    solutions: Path = SOLUTIONS, lessons: list[str] | None = None, jobs: int = 1, log=print
) -> tuple[bool, StudentGrades]:
    lessons = lesson_ids(solutions) if lessons is None else lessons
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="check-") as tmp:
        submissions = Path(tmp) / "submitted"
        for lesson in lessons:
            shutil.copytree(solutions / lesson, submissions / STUDENT / lesson, ignore=IGNORED)
        [grades] = grade(submissions, Path(tmp) / "out", jobs=jobs, solutions=solutions, log=log)
    ok = True
    for lesson in grades.lessons:
        for cell in lesson.cells:
            if cell.score != cell.max_score:
                ok = False
                log(
                    f"FAIL {lesson.lesson}: {cell.grade_id} earned {cell.score:g}/{cell.max_score:g}\n"
                    f"{cell.output}"
                )
        if lesson.status != "graded" or lesson.score != lesson.max_score:
            ok = False
            log(
                f"FAIL {lesson.lesson}: {lesson.status} "
                f"{lesson.score:g}/{lesson.max_score:g} {lesson.message}"
            )
    seconds = time.monotonic() - started
    log(f"{'OK' if ok else 'FAILED'}: {len(lessons)} solution notebooks in {seconds:.0f} s")
    return ok, grades
