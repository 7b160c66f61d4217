"""``grade``: grade a folder of submissions.

SUBMISSIONS holds ``<student_id>/<lesson_id>/<lesson_id>.ipynb``. Each run builds
a fresh gradebook from ``solutions/``, grades every notebook in a process of its own
(``--jobs`` at a time) with a sandboxed, memory-capped kernel, and writes:

- ``OUT/grades.csv``: student_id, lesson, score, max_score (one row per student
  and lesson), rewritten as each notebook is graded;
- ``OUT/feedback/<student>/<lesson>/<lesson>.html``: nbgrader's feedback with
  the hidden tests removed;
- ``OUT/results/<student>.json``: one test per graded cell, in Gradescope's format;
- ``OUT/integrity.csv``: code that patches what the tests rely on, and test cells
  that did not run as written, for the instructor to look at.

``OUT/.grading/`` keeps each notebook's result as soon as it is known. A run that
is interrupted and started again reuses the results whose solutions and submitted
notebook are unchanged, and grades the rest; results of another run (other
solutions, other limits) are discarded, never mixed in.
"""

import contextlib
import hashlib
import json
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat
from nbgrader.preprocessors import ClearHiddenTests
from nbgrader.utils import is_grade

from .course import SOLUTIONS, lesson_ids, notebook_path
from .limits import Limits
from .results import StudentGrades, gradescope_json, summary_table, write_grades, write_integrity
from .sandbox import INSTALL_HINT, sandbox_problem
from .template import cached_template, solutions_digest
from .worker import LessonResult, lesson_cells, precheck, run_job

# Workers are forked from a server that imported the worker's modules once, not started afresh.
_FORKS = multiprocessing.get_context("forkserver")
_FORKS.set_forkserver_preload(["autograder.worker"])


@dataclass(frozen=True)
class Job:
    student: str
    lesson: str
    submitted: Path
    digest: str  # of the submitted file: a changed file is graded again


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


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"


def _run_digest(solutions: Path, lessons: list[str], limits: Limits) -> str:
    """What makes two runs' results comparable: the solutions and the limits."""
    limits_json = json.dumps(asdict(limits), sort_keys=True)
    return hashlib.sha256(f"{limits_json} {solutions_digest(solutions, lessons)}".encode()).hexdigest()


class State:
    """``OUT/.grading``: one result file a notebook, written atomically when it is known."""

    def __init__(self, out: Path, run_digest: str, fresh: bool):
        self.root = out / ".grading"
        manifest = self.root / "run.json"
        if fresh or not manifest.is_file() or json.loads(manifest.read_text())["run"] != run_digest:
            for folder in (self.root, out / "feedback", out / "results"):
                shutil.rmtree(folder, ignore_errors=True)
            (out / "grades.csv").unlink(missing_ok=True)
            self.root.mkdir(parents=True)
            manifest.write_text(json.dumps({"run": run_digest}))

    def _path(self, job: Job) -> Path:
        return self.root / job.student / f"{job.lesson}.json"

    def load(self, job: Job) -> LessonResult | None:
        path = self._path(job)
        if path.is_file():
            saved = json.loads(path.read_text())
            if saved["digest"] == job.digest:
                return LessonResult.from_json(saved["result"])
        return None

    def save(self, job: Job, result: LessonResult) -> None:
        path = self._path(job)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps({"digest": job.digest, "result": asdict(result)}))
        os.replace(partial, path)


def threads_each(processes: int) -> int:
    """torch's threads for each of ``processes`` running at once: they share the cores instead
    of each claiming all of them (and spinning against each other)."""
    return max(1, (os.cpu_count() or 1) // processes)


def _worker_env(jobs: int) -> dict[str, str]:
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(threads_each(jobs))
    env.pop("JPY_PARENT_PID", None)
    return env


def _grade_job(
    job: Job, template: Path, work: Path, out: Path, limits: Limits, max_score: float, env: dict[str, str]
) -> tuple[LessonResult, float]:
    started = time.monotonic()
    result = _run_worker(job, template, work, out, limits, max_score, env)
    return result, time.monotonic() - started


def _run_worker(
    job: Job, template: Path, work: Path, out: Path, limits: Limits, max_score: float, env: dict[str, str]
) -> LessonResult:
    workdir = work / job.student / job.lesson
    workdir.mkdir(parents=True)
    spec = workdir / "job.json"
    spec.write_text(
        json.dumps(
            {
                "template": str(template),
                "workdir": str(workdir),
                "student": job.student,
                "submitted": str(job.submitted),
                "lesson": job.lesson,
                "limits": asdict(limits),
            }
        )
    )
    log_file = workdir / "worker.log"
    process = _FORKS.Process(target=run_job, args=(str(spec), str(log_file), env))
    process.start()
    process.join(limits.notebook_timeout_s)
    if process.is_alive():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # run_job made it a session of its own
        process.join()
        return LessonResult(
            job.lesson,
            "timeout",
            0.0,
            max_score,
            f"your notebook ran longer than {limits.notebook_timeout_s} s "
            "(an endless loop?); it must run top to bottom in that time",
        )
    log = log_file.read_text(errors="replace") if log_file.is_file() else ""
    result = workdir / "result.json"
    if process.exitcode != 0 or not result.is_file():
        last = (log.strip().splitlines() or ["no output"])[-1]
        return LessonResult(job.lesson, "error", 0.0, max_score, f"the grader failed: {last[:300]}")
    html = workdir / "feedback" / job.student / job.lesson / f"{job.lesson}.html"
    if html.is_file():
        dest = out / "feedback" / job.student / job.lesson / html.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(html, dest)
    return LessonResult.from_json(json.loads(result.read_text()))


def cells_with_hidden_tests(solutions: Path, lessons: list[str]) -> set[tuple[str, str]]:
    """(lesson, grade_id) of every graded cell that holds hidden tests."""
    marker = ClearHiddenTests().begin_test_delimeter
    return {
        (lesson, cell.metadata.nbgrader["grade_id"])
        for lesson in lessons
        for cell in nbformat.read(notebook_path(solutions, lesson), as_version=4).cells
        if is_grade(cell) and marker in cell.source
    }


def grade(
    submissions: Path,
    out: Path,
    jobs: int = 1,
    solutions: Path = SOLUTIONS,
    limits: Limits | None = None,
    fresh: bool = False,
    log=print,
) -> list[StudentGrades]:
    """Grade every student of ``submissions`` into ``out``; see the module's docstring."""
    limits = limits or Limits()
    if jobs < 1:
        raise SystemExit("error: --jobs must be at least 1")
    if limits.sandbox and (problem := sandbox_problem()):
        raise SystemExit(f"error: no sandbox for student code: {problem}; {INSTALL_HINT}")
    students, lessons = find_students(submissions, lesson_ids(solutions))
    if not lessons:
        raise SystemExit(f"error: no folder in {submissions} is named after a lesson of this course")
    out.mkdir(parents=True, exist_ok=True)
    state = State(out, _run_digest(solutions, lessons, limits), fresh)
    (out / "results").mkdir(exist_ok=True)
    todo = [
        Job(
            s, lesson, notebook_path(submissions / s, lesson), _digest(notebook_path(submissions / s, lesson))
        )
        for s in students
        for lesson in lessons
    ]
    done: dict[tuple[str, str], LessonResult] = {}
    for job in todo:
        if (saved := state.load(job)) is not None:
            done[job.student, job.lesson] = saved
    if done:
        log(f"resuming: {len(done)} of {len(todo)} notebooks were graded by an earlier, interrupted run")
    seconds: dict[str, float] = {}
    hidden = cells_with_hidden_tests(solutions, lessons)

    def record(student: str | None = None) -> list[StudentGrades]:
        """Write grades.csv, and the results of ``student`` (of everyone when None)."""
        rows = [
            StudentGrades(
                s, [done[s, lesson] for lesson in lessons if (s, lesson) in done], seconds.get(s, 0.0)
            )
            for s in students
        ]
        write_grades(out / "grades.csv", rows)
        for grades in rows:
            if student in (None, grades.student):
                (out / "results" / f"{grades.student}.json").write_text(
                    json.dumps(gradescope_json(grades, hidden), indent=1, ensure_ascii=False)
                )
        return rows

    with tempfile.TemporaryDirectory(prefix="grading-") as tmp:
        template = cached_template(solutions, lessons)
        cells = lesson_cells(template / "gradebook.db")
        env = _worker_env(jobs)

        def finished(job: Job, result: LessonResult, took: float) -> None:
            state.save(job, result)
            done[job.student, job.lesson] = result
            seconds[job.student] = seconds.get(job.student, 0.0) + took
            record(job.student)
            if result.status != "graded":
                log(f"{job.student} {job.lesson}: {result.status}: {result.message}")
            log(
                f"graded {job.student} {job.lesson} ({len(done)}/{len(todo)}): "
                f"{result.score:g}/{result.max_score:g}"
            )

        remaining = []
        for job in todo:
            if (job.student, job.lesson) in done:
                continue
            # A missing, empty, unreadable or other lesson's file needs no worker of its own.
            if problem := precheck(job.submitted, job.lesson, cells):
                status, message = problem
                finished(job, LessonResult(job.lesson, status, 0.0, cells[job.lesson][0], message), 0.0)
            else:
                remaining.append(job)
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = {
                pool.submit(
                    _grade_job, job, template, Path(tmp) / "work", out, limits, cells[job.lesson][0], env
                ): job
                for job in remaining
            }
            for future in as_completed(futures):
                finished(futures[future], *future.result())
    rows = record()
    log(summary_table(rows, lessons))
    if flagged := write_integrity(out / "integrity.csv", rows):
        log(f"integrity: {flagged} findings to look at in {out / 'integrity.csv'}")
    return rows
