"""``benchmark``: students graded per minute with one worker and with N, side by side.

Grades the same class (copies of the solution notebooks of the chosen lessons) once
per worker count in one run, so the ratio compares like with like.
"""

import shutil
import tempfile
import time
from pathlib import Path

from .course import IGNORED, SOLUTIONS, notebook_path
from .grade import grade
from .limits import Limits


def benchmark(
    lessons: list[str], students: int, workers: list[int], limits: Limits | None = None, log=print
) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="grading-benchmark-") as tmp:
        submissions = Path(tmp) / "submissions"
        for n in range(students):
            for lesson in lessons:
                shutil.copytree(
                    notebook_path(SOLUTIONS, lesson).parent,
                    submissions / f"student{n:03d}" / lesson,
                    ignore=IGNORED,
                )
        for jobs in workers:
            started = time.monotonic()
            graded = grade(
                submissions, Path(tmp) / f"out{jobs}", jobs=jobs, limits=limits, log=lambda *_: None
            )
            seconds = time.monotonic() - started
            if any(lesson.score != lesson.max_score for g in graded for lesson in g.lessons):
                raise SystemExit("error: a solution lost points while benchmarking; run `make check`")
            rows.append({"workers": jobs, "seconds": seconds, "students_per_minute": 60 * students / seconds})
    base = rows[0]["students_per_minute"]
    log(f"{students} students × {len(lessons)} lessons ({', '.join(lessons)})")
    log(f"{'workers':>8} {'seconds':>9} {'students/min':>13} {'speed-up':>9}")
    for row in rows:
        log(
            f"{row['workers']:>8} {row['seconds']:>9.1f} {row['students_per_minute']:>13.2f} "
            f"{row['students_per_minute'] / base:>8.2f}×"
        )
    return rows
