"""``validate``: what a student runs before submitting.

``python -m autograder validate NOTEBOOK...`` (or ``make validate NB=NOTEBOOK``)
runs each notebook in a kernel of its own and reports:

- every test cell: ✓ when its visible tests pass, ✗ with the error otherwise;
- locked cells (test and setup cells) whose content was changed, found by
  nbgrader's checksum against the released lesson;
- locked cells that were deleted.

It exits 1 when anything is wrong. No solutions are needed: the released lesson
(``lessons/<id>/<id>.ipynb``) carries each locked cell's checksum in its
metadata. When the notebook checked *is* the released file, edited in place, the
reference is its last committed version (git); without one, changed cells are
still found by the checksums the notebook carries, deleted ones cannot be.

The run matches the grader: a changed test cell is run as released, a deleted
test cell or setup cell is put back where the release has it (``restore.py``, as when grading),
and what a test writes to stderr does not fail it (``StderrToStdout``). nbgrader's
own ``Validator`` does the running (kernel, timeout, ``NBGRADER_VALIDATING``) and
finds cells changed against their own checksums.
"""

import copy
import subprocess
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbgrader import utils
from nbgrader.preprocessors import CheckCellMetadata, ClearOutput, Execute
from nbgrader.validator import Validator

from .course import LESSON_ID, LESSONS, lesson_ids, notebook_path
from .nbconfig import course_config
from .preprocessors import StderrToStdout
from .restore import restore_missing

CELL_TIMEOUT_S = 120


@dataclass(frozen=True)
class Released:
    """The released lesson a notebook is compared with."""

    lesson: str
    notebook: nbformat.NotebookNode
    where: str  # for the report


@dataclass(frozen=True)
class TestResult:
    grade_id: str
    passed: bool
    error: str = ""


@dataclass(frozen=True)
class Report:
    notebook: Path
    released: Released | None
    tests: tuple[TestResult, ...] = ()
    changed: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    problem: str = ""  # why the notebook could not be checked at all

    @property
    def ok(self) -> bool:
        return (
            not self.problem
            and not self.changed
            and not self.deleted
            and bool(self.tests)
            and all(t.passed for t in self.tests)
        )


def _grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _locked_ids(nb) -> list[str]:
    return [_grade_id(c) for c in nb.cells if utils.is_locked(c) and _grade_id(c)]


# -- which released lesson ----------------------------------------------------


def _committed(path: Path) -> nbformat.NotebookNode | None:
    """``path`` as last committed to git, if it is tracked."""
    try:
        shown = subprocess.run(
            ["git", "show", f"HEAD:./{path.name}"],
            cwd=path.parent,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if shown.returncode != 0:
        return None
    try:
        return nbformat.reads(shown.stdout, as_version=4)
    except Exception:  # noqa: BLE001 - a committed file that is not a notebook is no reference
        return None


def _guess_lesson(notebook: Path, nb, lessons: Path) -> str | None:
    """The lesson a notebook is a copy of: by its file or folder name, else the released
    lesson that shares the most locked cells with it."""
    known = lesson_ids(lessons) if lessons.is_dir() else []
    for name in (notebook.stem, notebook.parent.name):
        if name in known:
            return name
    ours = set(_locked_ids(nb))
    overlaps = {
        lesson: len(ours & set(_locked_ids(nbformat.read(notebook_path(lessons, lesson), 4))))
        for lesson in known
    }
    best = max(overlaps, key=overlaps.get, default=None)
    return best if best is not None and overlaps[best] > 0 else None


def find_released(notebook: Path, nb, lessons: Path = LESSONS) -> Released | None:
    lesson = _guess_lesson(notebook, nb, lessons)
    if lesson is None:
        return None
    released = notebook_path(lessons, lesson)
    if notebook.resolve() != released.resolve():
        return Released(lesson, nbformat.read(released, as_version=4), str(released))
    committed = _committed(released)
    if committed is None:
        return None
    return Released(lesson, committed, f"{released} as last committed")


# -- comparing with it ----------------------------------------------------------


def locked_cell_changes(nb, released) -> tuple[list[str], list[str]]:
    """(changed, deleted): grade_ids of the released lesson's locked cells that ``nb``
    changed (checksum differs) or lacks, in the released order."""
    ours = {}
    for cell in nb.cells:
        ours.setdefault(_grade_id(cell), cell)
    changed, deleted = [], []
    for cell in released.cells:
        grade_id = _grade_id(cell)
        if not (grade_id and utils.is_locked(cell)):
            continue
        if grade_id not in ours:
            deleted.append(grade_id)
        elif utils.compute_checksum(ours[grade_id]) != cell.metadata.nbgrader["checksum"]:
            changed.append(grade_id)
    return changed, deleted


def as_graded(nb, released) -> nbformat.NotebookNode:
    """A copy of ``nb`` as the grader will run it: changed locked cells as released,
    deleted test and read-only code cells put back where the release has them (``restore_missing``)."""
    nb = copy.deepcopy(nb)
    original = {_grade_id(c): c for c in released.cells if _grade_id(c)}
    for index, cell in enumerate(nb.cells):
        source = original.get(_grade_id(cell))
        if (
            source is not None
            and utils.is_locked(source)
            and utils.compute_checksum(cell) != source.metadata.nbgrader["checksum"]
        ):
            nb.cells[index] = copy.deepcopy(source)
    restore_missing(nb, released, copy.deepcopy)
    return nb


# -- running it -------------------------------------------------------------------


def _validator(timeout: int) -> Validator:
    config = course_config()  # the grader's Execute settings, in the student's own kernel
    config.Execute.timeout = timeout
    return Validator(config=config, preprocessors=[CheckCellMetadata, ClearOutput, Execute, StderrToStdout])


def _error(cell) -> str:
    errors = [
        f"{o.ename}: {o.evalue}" if o.evalue else o.ename for o in cell.outputs if o.output_type == "error"
    ]
    if any(e.startswith("NotImplementedError") for e in errors):
        errors.append("(an exercise it uses is not written yet)")
    return " ".join(errors) or "passed only some of its checks"


def run_tests(nb, folder: Path, timeout: int = CELL_TIMEOUT_S) -> list[TestResult]:
    """Execute ``nb`` in ``folder`` with a fresh kernel; the result of each test cell."""
    with utils.chdir(str(folder)):
        executed = _validator(timeout)._preprocess(copy.deepcopy(nb))
    results = []
    for cell in executed.cells:
        if utils.is_grade(cell) and cell.cell_type == "code":
            score, max_score = utils.determine_grade(cell)
            passed = score is not None and score >= max_score
            results.append(TestResult(_grade_id(cell), passed, "" if passed else _error(cell)))
    return results


def validate_notebook(notebook: Path, lessons: Path = LESSONS, timeout: int = CELL_TIMEOUT_S) -> Report:
    try:
        nb = nbformat.read(notebook, as_version=4)
        nbformat.validate(nb)
    except Exception as error:  # noqa: BLE001 - whatever makes it unreadable, the student must fix it
        return Report(notebook, None, problem=f"not a readable notebook: {error}")
    released = find_released(notebook, nb, lessons)
    # nbgrader's own checks: locked cells against the checksums they carry.
    own = Validator()
    changed = [_grade_id(c) for c in own._get_type_changed_cells(nb) + own._get_changed_cells(nb)]
    deleted = []
    if released is not None:
        against, deleted = locked_cell_changes(nb, released.notebook)
        changed += against
        nb = as_graded(nb, released.notebook)
    changed = tuple(dict.fromkeys(changed))  # once each, in order
    try:
        tests = run_tests(nb, notebook.parent, timeout)
    except Exception as error:  # noqa: BLE001 - a dead kernel, a broken cell's metadata
        return Report(
            notebook,
            released,
            changed=changed,
            deleted=tuple(deleted),
            problem=f"the notebook could not be run: {type(error).__name__}: {error}",
        )
    return Report(notebook, released, tuple(tests), changed, tuple(deleted))


# -- telling the student --------------------------------------------------------


def format_report(report: Report) -> str:
    lesson = report.released.lesson if report.released else None
    lines = [f"{report.notebook}" + (f" (lesson {lesson})" if lesson else "")]
    if report.released is None and not report.problem:
        lines.append(
            "  note: no released copy of this lesson found to compare with: edited test cells "
            "are found by their checksums, deleted ones cannot be"
        )
    for test in report.tests:
        lines.append(f"  ✓ {test.grade_id}" if test.passed else f"  ✗ {test.grade_id}: {test.error}")
    for grade_id in report.changed:
        lines.append(
            f"  ✗ changed: {grade_id} must not be edited; the grader runs it as released, "
            "and so did this check. Undo your edit (copy the cell from the released lesson)."
        )
    for grade_id in report.deleted:
        lines.append(f"  ✗ deleted: {grade_id} is missing; copy it back from the released lesson.")
    if report.problem:
        lines.append(f"  ✗ {report.problem}")
    passing = sum(t.passed for t in report.tests)
    lines.append(
        f"  {passing} of {len(report.tests)} test cells pass their visible tests"
        + (f"; {len(report.changed)} locked cells changed" if report.changed else "")
        + (f"; {len(report.deleted)} deleted" if report.deleted else "")
        + "."
    )
    lines.append(
        "  Ready to submit: hidden tests decide the grade."
        if report.ok
        else "  Not ready: fix every ✗ above before you submit."
    )
    return "\n".join(lines)


def main(notebooks: list[Path], timeout: int = CELL_TIMEOUT_S, lessons: Path = LESSONS) -> int:
    ok = True
    for notebook in notebooks:
        if notebook.is_dir() and LESSON_ID.match(notebook.name):
            notebook = notebook / f"{notebook.name}.ipynb"
        report = validate_notebook(notebook, lessons, timeout)
        print(format_report(report), flush=True)
        ok = ok and report.ok
    return 0 if ok else 1
