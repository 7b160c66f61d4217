"""Grades one student's lessons; run as its own process by ``grade``.

``python -m autograder.worker TEMPLATE WORKDIR STUDENT SUBMISSION_DIR LESSON...``
writes ``WORKDIR/result.json``. A process per student means a student whose code
brings the grader down costs that student's grades only.
"""

import json
import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook
from nbgrader.utils import is_grade

from .course import COURSE_ID, notebook_path
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
    status: str  # "graded", "missing", "invalid" or "error"
    score: float
    max_score: float
    message: str = ""
    cells: list[CellResult] = field(default_factory=list)


def max_scores(gradebook_db: Path, lessons: list[str]) -> dict[str, float]:
    with Gradebook(f"sqlite:///{gradebook_db}", COURSE_ID) as gb:
        return {lesson: float(gb.find_assignment(lesson).max_score) for lesson in lessons}


def _cell_outputs(notebook: Path) -> dict[str, str]:
    """What each grade cell printed or raised, for the student's report.
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
                parts.append(f"{output.ename}: {output.evalue}\n")
        text = "".join(parts)
        if len(text) > OUTPUT_LIMIT:
            text = text[:OUTPUT_LIMIT] + "\n… (output cut)\n"
        texts[cell.metadata.nbgrader["grade_id"]] = text
    return texts


def grade_student(
    template: Path, workdir: Path, student: str, submission: Path, lessons: list[str]
) -> list[LessonResult]:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "source").symlink_to(template / "source")
    shutil.copy(template / "gradebook.db", workdir / "gradebook.db")
    maxima = max_scores(workdir / "gradebook.db", lessons)
    api = nbgrader_api(workdir)
    results = []
    for lesson in lessons:
        submitted = notebook_path(submission, lesson)
        if not submitted.is_file():
            results.append(LessonResult(lesson, "missing", 0.0, maxima[lesson],
                                        f"no file {lesson}/{lesson}.ipynb was submitted"))
            continue
        try:
            nbformat.validate(nbformat.read(submitted, as_version=4))
        except Exception as error:  # noqa: BLE001 - any unreadable file is the same case
            results.append(LessonResult(lesson, "invalid", 0.0, maxima[lesson],
                                        f"{lesson}.ipynb is not a valid notebook: {error}"))
            continue
        target = notebook_path(workdir / "submitted" / student, lesson)
        target.parent.mkdir(parents=True)
        shutil.copy(submitted, target)
        graded = api.autograde(lesson, student, force=True, create=True)
        if not graded["success"]:
            results.append(LessonResult(lesson, "error", 0.0, maxima[lesson],
                                        f"the grader could not run {lesson}.ipynb"))
            continue
        api.generate_feedback(lesson, student, force=True)
        outputs = _cell_outputs(notebook_path(workdir / "autograded" / student, lesson))
        with Gradebook(f"sqlite:///{workdir / 'gradebook.db'}", COURSE_ID) as gb:
            notebook = gb.find_submission_notebook(lesson, lesson, student)
            order = list(outputs)  # notebook order
            grades = sorted(notebook.grades, key=lambda g: order.index(g.name)
                            if g.name in order else len(order))
            cells = [
                CellResult(g.name, float(g.score), float(g.max_score), outputs.get(g.name, ""))
                for g in grades
            ]
            results.append(LessonResult(lesson, "graded", float(notebook.score),
                                        float(notebook.max_score), cells=cells))
    return results


def main(argv: list[str]) -> None:
    template, workdir, student, submission, *lessons = argv
    results = grade_student(Path(template), Path(workdir), student, Path(submission), lessons)
    (Path(workdir) / "result.json").write_text(json.dumps([asdict(r) for r in results], indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
