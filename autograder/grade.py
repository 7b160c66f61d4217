"""``grade``: grade a folder of submissions.

SUBMISSIONS holds ``<student_id>/<lesson_id>/<lesson_id>.ipynb``. Each run builds
a fresh gradebook from ``solutions/``, grades every student in a process of its
own (``--jobs`` at a time), and writes:

- ``OUT/grades.csv``: student_id, lesson, score, max_score (one row per student
  and lesson);
- ``OUT/feedback/<student>/<lesson>/<lesson>.html``: nbgrader's feedback with
  the hidden tests removed;
- ``OUT/results/<student>.json``: one test per graded cell, in Gradescope's format.
"""

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from .course import SOLUTIONS, lesson_ids
from .template import build_template
from .worker import CellResult, LessonResult, max_scores

STUDENT_TIMEOUT_S = 3600


@dataclass(frozen=True)
class StudentGrades:
    student: str
    lessons: list[LessonResult]
    seconds: float


def find_students(submissions: Path, known_lessons: list[str]) -> tuple[list[str], list[str]]:
    """Students (folders of SUBMISSIONS) and the course lessons any of them submitted."""
    if not submissions.is_dir():
        raise SystemExit(f"error: {submissions} is not a folder of submissions")
    students = sorted(d.name for d in submissions.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not students:
        raise SystemExit(f"error: {submissions} holds no student folders (<student_id>/<lesson_id>/)")
    submitted = {d.name for s in students for d in (submissions / s).iterdir() if d.is_dir()}
    unknown = sorted(name for name in submitted if name not in known_lessons)
    if unknown:
        print(f"warning: not lessons of this course, ignored: {', '.join(unknown)}", file=sys.stderr)
    return students, [lesson for lesson in known_lessons if lesson in submitted]


def _worker_env(jobs: int) -> dict[str, str]:
    env = dict(os.environ)
    # N kernels at once share the cores instead of each claiming all of them.
    env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // jobs))
    env.pop("JPY_PARENT_PID", None)
    return env


def _grade_one(template: Path, work: Path, submissions: Path, student: str,
               lessons: list[str], env: dict[str, str]) -> StudentGrades:
    workdir = work / student
    started = time.monotonic()
    cmd = [sys.executable, "-m", "autograder.worker", str(template), str(workdir), student,
           str(submissions / student), *lessons]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=STUDENT_TIMEOUT_S)
        failure = None if proc.returncode == 0 else (proc.stderr.strip().splitlines() or ["?"])[-1]
    except subprocess.TimeoutExpired:
        failure = f"grading took longer than {STUDENT_TIMEOUT_S} s"
    result_file = workdir / "result.json"
    if failure is None and result_file.is_file():
        results = [
            LessonResult(**{**r, "cells": [CellResult(**c) for c in r["cells"]]})
            for r in json.loads(result_file.read_text())
        ]
    else:
        maxima = max_scores(template / "gradebook.db", lessons)
        results = [LessonResult(lesson, "error", 0.0, maxima[lesson], f"grader failed: {failure}")
                   for lesson in lessons]
    return StudentGrades(student, results, time.monotonic() - started)


def _gradescope_json(grades: StudentGrades) -> dict:
    tests = []
    for lesson in grades.lessons:
        if lesson.status != "graded":
            tests.append({"name": lesson.lesson, "score": 0.0, "max_score": lesson.max_score,
                          "status": "failed", "output": lesson.message})
        for cell in lesson.cells:
            tests.append({
                "name": f"{lesson.lesson}: {cell.grade_id}",
                "score": cell.score,
                "max_score": cell.max_score,
                "status": "passed" if cell.score == cell.max_score else "failed",
                "output": cell.output,
            })
    return {
        "score": sum(lesson.score for lesson in grades.lessons),
        "execution_time": round(grades.seconds, 1),
        "tests": tests,
    }


def _write_csv(path: Path, rows: list[StudentGrades]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student_id", "lesson", "score", "max_score"])
        for grades in rows:
            for lesson in grades.lessons:
                writer.writerow([grades.student, lesson.lesson, f"{lesson.score:g}", f"{lesson.max_score:g}"])


def _copy_feedback(work: Path, out: Path, student: str, lessons: list[LessonResult]) -> None:
    for lesson in lessons:
        html = work / student / "feedback" / student / lesson.lesson / f"{lesson.lesson}.html"
        if html.is_file():
            dest = out / "feedback" / student / lesson.lesson / html.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(html, dest)


def summary_table(rows: list[StudentGrades], lessons: list[str]) -> str:
    width = max([len("student")] + [len(r.student) for r in rows])
    lines = ["student".ljust(width) + "".join(f"  {lesson[:14]:>14}" for lesson in lessons) + "     total"]
    for grades in rows:
        by_lesson = {lesson.lesson: lesson for lesson in grades.lessons}
        cells = []
        for lesson in lessons:
            result = by_lesson[lesson]
            mark = "" if result.status == "graded" else f" ({result.status})"
            cells.append(f"  {f'{result.score:g}/{result.max_score:g}{mark}':>14}")
        total = sum(r.score for r in grades.lessons)
        total_max = sum(r.max_score for r in grades.lessons)
        lines.append(grades.student.ljust(width) + "".join(cells) + f"  {total:g}/{total_max:g}")
    return "\n".join(lines)


def grade(submissions: Path, out: Path, jobs: int = 1, solutions: Path = SOLUTIONS,
          log=print) -> list[StudentGrades]:
    """Grade every student of ``submissions`` into ``out``; see the module's docstring."""
    if jobs < 1:
        raise SystemExit("error: --jobs must be at least 1")
    students, lessons = find_students(submissions, lesson_ids(solutions))
    if not lessons:
        raise SystemExit(f"error: no folder in {submissions} is named after a lesson of this course")
    out.mkdir(parents=True, exist_ok=True)
    (out / "results").mkdir(exist_ok=True)
    rows: list[StudentGrades] = []
    with tempfile.TemporaryDirectory(prefix="grading-") as tmp:
        template = build_template(Path(tmp) / "template", solutions, lessons)
        work = Path(tmp) / "students"
        env = _worker_env(jobs)
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(_grade_one, template, work, submissions, s, lessons, env)
                       for s in students]
            for future in as_completed(futures):
                grades = future.result()
                rows.append(grades)
                _copy_feedback(work, out, grades.student, grades.lessons)
                (out / "results" / f"{grades.student}.json").write_text(
                    json.dumps(_gradescope_json(grades), indent=1, ensure_ascii=False))
                _write_csv(out / "grades.csv", sorted(rows, key=lambda r: r.student))
                for lesson in grades.lessons:
                    if lesson.status != "graded":
                        log(f"{grades.student} {lesson.lesson}: {lesson.status}: {lesson.message}")
                log(f"graded {grades.student} ({len(rows)}/{len(students)}) in {grades.seconds:.1f} s")
    rows.sort(key=lambda r: r.student)
    log(summary_table(rows, lessons))
    return rows

