"""Grades one student's notebook for one lesson; ``grade`` runs it as a process of its own.

``run_job(JOB.json, LOG, env)`` (or ``python -m autograder.worker JOB.json``) reads what to
grade and writes ``WORKDIR/result.json``. A process per notebook means a notebook that brings
its grader down (a dead kernel, a run past its time) costs that notebook's points only.
``grade`` forks these processes from a server that has imported this module once (nbgrader,
nbconvert and their schemas take about two seconds to import, a fifth of a notebook's grading).
"""

import json
import os
import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook
from nbgrader.utils import is_grade

from .course import COURSE_ID, notebook_path
from .integrity import scan
from .limits import Limits
from .sandbox import RUNTIME_ENV, install_kernel
from .template import nbgrader_api

OUTPUT_LIMIT = 2000  # characters of a test's output shown to the student


@dataclass
class CellResult:
    grade_id: str
    score: float
    max_score: float
    output: str


@dataclass
class LessonResult:
    lesson: str
    status: str  # graded, missing, empty, invalid, wrong lesson, kernel died, timeout, error
    score: float
    max_score: float
    message: str = ""
    cells: list[CellResult] = field(default_factory=list)
    integrity: list[str] = field(default_factory=list)  # for the instructor's integrity report

    @classmethod
    def from_json(cls, data: dict) -> "LessonResult":
        return cls(**{**data, "cells": [CellResult(**c) for c in data["cells"]]})


def lesson_cells(gradebook_db: Path) -> dict[str, tuple[float, set[str]]]:
    """For each lesson: its maximum score and the names of its nbgrader cells."""
    with Gradebook(f"sqlite:///{gradebook_db}", COURSE_ID) as gb:
        return {
            a.name: (float(a.max_score), {c.name for nb in a.notebooks for c in nb.source_cells})
            for a in gb.assignments
        }


def _which_lesson(nb, lessons: dict[str, tuple[float, set[str]]]) -> str | None:
    names = {
        c.metadata["nbgrader"]["grade_id"]
        for c in nb.cells
        if "grade_id" in c.get("metadata", {}).get("nbgrader", {})
    }
    overlap = {lesson: len(names & cells) for lesson, (_, cells) in lessons.items()}
    best = max(overlap, key=overlap.get, default=None)
    return best if best is not None and overlap[best] > 0 else None


# What an error raised without a message most likely means, for the student.
_UNSAID = {"NotImplementedError": "an exercise this test uses is not written yet"}


def _cell_outputs(notebook: Path) -> dict[str, str]:
    """What each grade cell printed or raised, in notebook order, for the student's report.
    Tracebacks are cut to their last line: they would quote hidden tests."""
    texts = {}
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type != "code" or not is_grade(cell):
            continue
        parts = []
        for output in cell.outputs:
            if output.output_type == "stream":
                parts.append(output.text)
            elif output.output_type == "error":
                why = output.evalue or _UNSAID.get(output.ename, "")
                parts.append(f"{output.ename}: {why}\n")
        # Under load, the final newline of an earlier cell's print can be flushed after
        # that cell ends and land in this one: which cell gets it is timing, not the student.
        text = "".join(parts).strip("\n")
        text = f"{text}\n" if text else ""
        if len(text) > OUTPUT_LIMIT:
            text = text[:OUTPUT_LIMIT] + "\n… (output cut)\n"
        texts[cell.metadata.nbgrader["grade_id"]] = text
    return texts


def precheck(submitted: Path, lesson: str, lessons: dict) -> tuple[str, str] | None:
    """(status, message) when the file can't be graded as this lesson's notebook."""
    if not submitted.is_file():
        return "missing", f"no file {lesson}/{lesson}.ipynb was submitted"
    if submitted.stat().st_size == 0:
        return "empty", f"{lesson}.ipynb is an empty file"
    try:
        nb = nbformat.read(submitted, as_version=4)
        nbformat.validate(nb)
    except Exception as error:  # noqa: BLE001 - any unreadable file is the same case
        return "invalid", f"{lesson}.ipynb is not a valid notebook: {str(error)[:300]}"
    found = _which_lesson(nb, lessons)
    if found is not None and found != lesson:
        return "wrong lesson", (
            f"{lesson}.ipynb holds the notebook of lesson {found}: submit each lesson in its own folder"
        )
    return None


def _failure(log: str, limits: Limits) -> tuple[str, str]:
    if "CellTimeoutError" in log:
        return "timeout", (
            f"a cell ran longer than {limits.cell_timeout_s} s and did not stop when "
            "interrupted (an endless loop?); every cell must finish in that time"
        )
    if "DeadKernelError" in log or "Kernel died" in log or "kernel died" in log:
        return "kernel died", (
            "the Python kernel died while running your notebook (os._exit, sys.exit "
            "in a loop, running out of memory, or a crash); run it top to bottom "
            "with Restart Kernel and Run All Cells to find the cell"
        )
    return "error", "the grader could not run your notebook: run it top to bottom and fix the first error"


def grade_notebook(
    template: Path, workdir: Path, student: str, submitted: Path, lesson: str, limits: Limits
) -> LessonResult:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "source").symlink_to(template / "source")
    shutil.copy(template / "gradebook.db", workdir / "gradebook.db")
    lessons = lesson_cells(workdir / "gradebook.db")
    max_score = lessons[lesson][0]
    problem = precheck(submitted, lesson, lessons)
    if problem:
        return LessonResult(lesson, problem[0], 0.0, max_score, problem[1])
    target = notebook_path(workdir / "submitted" / student, lesson)
    target.parent.mkdir(parents=True)
    shutil.copy(submitted, target)
    findings = scan(nbformat.read(target, as_version=4))

    scratch = notebook_path(workdir / "autograded" / student, lesson).parent
    scratch.mkdir(parents=True)  # nbgrader writes here; the kernel may write here only
    runtime = workdir / "runtime"
    install_kernel(workdir / "jupyter", scratch, runtime, limits)
    os.environ["JUPYTER_PATH"] = str(workdir / "jupyter")
    os.environ[RUNTIME_ENV] = str(runtime)

    api = nbgrader_api(workdir, limits)
    graded = api.autograde(lesson, student, force=True, create=True)
    if not graded["success"]:
        status, message = _failure(graded.get("log", "") + graded.get("error", ""), limits)
        return LessonResult(lesson, status, 0.0, max_score, message, integrity=findings)
    api.generate_feedback(lesson, student, force=True)
    outputs = _cell_outputs(notebook_path(workdir / "autograded" / student, lesson))
    with Gradebook(f"sqlite:///{workdir / 'gradebook.db'}", COURSE_ID) as gb:
        notebook = gb.find_submission_notebook(lesson, lesson, student)
        order = list(outputs)
        grades = sorted(notebook.grades, key=lambda g: order.index(g.name) if g.name in order else len(order))
        cells = [
            CellResult(g.name, float(g.score), float(g.max_score), outputs.get(g.name, "")) for g in grades
        ]
        findings += [
            f"{c.grade_id}: {c.output.strip().splitlines()[-1]}"
            for c in cells
            if "IntegrityError" in c.output
        ]
        return LessonResult(
            lesson,
            "graded",
            float(notebook.score),
            float(notebook.max_score),
            cells=cells,
            integrity=findings,
        )


def run_job(job_file: str, log_file: str, env: dict[str, str]) -> None:
    """``main`` in a forked process: a session of its own (so that a run past its time is
    killed with its kernel), its output and the kernel's into ``log_file``, and ``env``."""
    os.setsid()
    with open(log_file, "ab", buffering=0) as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    os.environ.clear()
    os.environ.update(env)
    main(job_file)


def main(job_file: str) -> None:
    job = json.loads(Path(job_file).read_text())
    workdir = Path(job["workdir"])
    result = grade_notebook(
        Path(job["template"]),
        workdir,
        job["student"],
        Path(job["submitted"]),
        job["lesson"],
        Limits(**job["limits"]),
    )
    (workdir / "result.json").write_text(json.dumps(asdict(result), indent=1))


if __name__ == "__main__":
    main(sys.argv[1])
