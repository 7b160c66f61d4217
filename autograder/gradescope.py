"""``gradescope``: a Gradescope autograder for one lesson.

``python -m autograder gradescope LESSON --out autograder.zip`` writes a zip to
upload as the autograder of a Gradescope programming assignment. It holds, at
its root:

- ``setup.sh``: installs Python 3.11 or later and the pinned requirements on
  Gradescope's Ubuntu image (once, when Gradescope builds the image);
- ``run_autograder``: grades one submission (for every submission);
- ``requirements.txt``: the course's dependencies, pinned to the versions this
  course was tested with (torch from PyTorch's CPU index);
- ``autograder/``, ``transformer_course/``, ``pyproject.toml``, ``README.md``: the
  course package (grading code, and what the notebooks import), which ``setup.sh``
  installs;
- ``solutions/LESSON/``: the lesson's nbgrader source, hidden tests included,
  from which every run builds its gradebook.

Gradescope unpacks the zip into ``/autograder/source``, puts the student's upload
in ``/autograder/submission`` and reads ``/autograder/results/results.json``.
The environment variable ``AUTOGRADER_ROOT`` moves that ``/autograder`` (the
tests point it at a temporary folder) and ``AUTOGRADER_PYTHON`` picks the Python
(default: the virtual environment ``setup.sh`` made, ``/autograder/venv``).
The student's kernel runs in the grader's sandbox (bubblewrap) where the container
allows it, and without it, with a warning in the instructor's log, where it does
not (or with ``AUTOGRADER_SANDBOX=0``).

A run grades the upload exactly as ``python -m autograder grade`` grades a class:
the one ``.ipynb`` of the upload, whatever its name, becomes the student's
submission of the lesson, and ``results.json`` is the file ``grade`` writes to
``OUT/results/<student>.json``: one test per graded cell, its output cut for the
student. Visibility: a graded cell that holds hidden tests is shown, with the
total score, only once the instructor publishes the grades; the other cells and
any reason the upload could not be graded are shown at once.
"""

import argparse
import json
import os
import shutil
import stat
import sys
import tempfile
import time
import tomllib
import traceback
import zipfile
from importlib import metadata
from pathlib import Path

import nbformat
from nbgrader.utils import is_grade
from packaging.requirements import Requirement

from .course import IGNORED, PACKAGE, ROOT, SOLUTIONS, lesson_ids, notebook_path
from .grade import grade
from .limits import Limits
from .results import StudentGrades, gradescope_json
from .sandbox import sandbox_problem
from .worker import LessonResult

STUDENT = "student"
SANDBOX_ENV = "AUTOGRADER_SANDBOX"  # "0": grade without the sandbox even where it would work
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
UV = "uv==0.13.9"  # the installer setup.sh uses
PACKAGES = ("autograder", PACKAGE)
PACKAGE_FILES = ("pyproject.toml", "README.md")  # what `pip install` of the packages needs
EXECUTABLE = 0o755
FILE = 0o644

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder's image (Ubuntu).
set -euo pipefail
source_dir="$(cd "$(dirname "${{BASH_SOURCE[0]}}")" && pwd)"
venv="$(dirname "$source_dir")/venv"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# bubblewrap sandboxes the student's kernel where the container allows it.
apt-get install -y -qq bubblewrap >/dev/null
# The course needs Python 3.11 or later; Ubuntu 22.04's python3 is 3.10.
if command -v python3 >/dev/null && python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  apt-get install -y -qq python3-venv >/dev/null
  python=python3
else
  apt-get install -y -qq python3.11 python3.11-venv >/dev/null
  python=python3.11
fi
"$python" -m venv "$venv"
# uv installs the wheels in parallel: the image builds in seconds, not a minute of pip. The
# bytecode is compiled now, once, not in every submission's container.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "{uv}"
install=("$venv/bin/uv" pip install --quiet --compile-bytecode --python "$venv/bin/python")
# torch first, from the CPU-only index: the default wheel brings gigabytes of CUDA.
"${{install[@]}}" --index-url {torch_index} "{torch}"
"${{install[@]}}" -r "$source_dir/requirements.txt"
# The course itself, a plain install: the sandboxed kernel sees the venv, not this folder.
"${{install[@]}}" --no-deps "$source_dir"
"$venv/bin/python" -c "import autograder.gradescope, {package}.checks, nbgrader, torch"
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for every submission, from /autograder (where it copies it).
set -euo pipefail
root="${AUTOGRADER_ROOT:-/autograder}"
python="${AUTOGRADER_PYTHON:-$root/venv/bin/python}"
cd "$root"
exec "$python" -m autograder.gradescope --root "$root"
"""


class SubmissionError(Exception):
    """The upload cannot be graded; the message tells the student why."""


# -- building the bundle -------------------------------------------------------


def pinned_requirements() -> list[str]:
    """pyproject's dependencies, each pinned to the version installed here (the one the
    tests ran with), without a local label such as torch's ``+cpu``."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = []
    for spec in project["dependencies"]:
        requirement = Requirement(spec)
        try:
            version = metadata.version(requirement.name).split("+")[0]
        except metadata.PackageNotFoundError:
            pins.append(spec)
            continue
        if not requirement.specifier.contains(version, prereleases=True):
            raise SystemExit(
                f"error: {requirement.name} {version} is installed, "
                f"but pyproject.toml asks for {spec}: run `make install`"
            )
        pins.append(f"{requirement.name}=={version}")
    return pins


def _add(archive: zipfile.ZipFile, name: str, data: bytes, mode: int = FILE) -> None:
    # A fixed date makes the same course give the same zip.
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.external_attr = (stat.S_IFREG | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def _add_tree(archive: zipfile.ZipFile, folder: Path, prefix: str) -> None:
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_file() and not any(IGNORED(str(folder), [part]) for part in relative.parts):
            _add(archive, f"{prefix}/{relative.as_posix()}", path.read_bytes())


def build_bundle(lesson: str, out: Path, solutions: Path = SOLUTIONS) -> Path:
    """Write the Gradescope autograder of ``lesson`` to the zip ``out``."""
    known = lesson_ids(solutions)
    if lesson not in known:
        raise SystemExit(f"error: no lesson {lesson!r} in {solutions} (there are: {', '.join(known)})")
    requirements = pinned_requirements()
    torch = next(r for r in requirements if Requirement(r).name == "torch")
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w") as archive:
        setup = SETUP_SH.format(torch_index=TORCH_CPU_INDEX, torch=torch, package=PACKAGE, uv=UV)
        _add(archive, "setup.sh", setup.encode(), EXECUTABLE)
        _add(archive, "run_autograder", RUN_AUTOGRADER.encode(), EXECUTABLE)
        _add(archive, "requirements.txt", ("\n".join(requirements) + "\n").encode())
        for name in PACKAGE_FILES:
            _add(archive, name, (ROOT / name).read_bytes())
        for package in PACKAGES:
            _add_tree(archive, ROOT / package, package)
        _add_tree(archive, solutions / lesson, f"solutions/{lesson}")
    return out


# -- running on Gradescope -----------------------------------------------------


def find_notebook(submission: Path, lesson: str) -> Path:
    """The notebook of the upload: its only ``.ipynb`` (in any folder, by any name), or,
    among several, the one named like the lesson."""
    found = sorted(
        p
        for p in submission.rglob("*.ipynb")
        if p.is_file()
        and not any(part.startswith((".", "__MACOSX")) for part in p.relative_to(submission).parts)
    )
    if len(found) == 1:
        return found[0]
    if not found:
        raise SubmissionError(f"No notebook was uploaded: upload your {lesson}.ipynb.")
    named = [p for p in found if p.name == f"{lesson}.ipynb"]
    if len(named) == 1:
        return named[0]
    names = ", ".join(str(p.relative_to(submission)) for p in found)
    raise SubmissionError(f"{len(found)} notebooks were uploaded ({names}); upload only your {lesson}.ipynb.")


def _max_score(solutions: Path, lesson: str) -> float:
    cells = nbformat.read(notebook_path(solutions, lesson), as_version=4).cells
    return float(sum(c.metadata.nbgrader["points"] for c in cells if is_grade(c)))


def _student_note(lesson: str, uploaded: str, results: dict) -> str:
    later = [t["name"] for t in results["tests"] if t.get("visibility") == "after_published"]
    lines = [f"Graded {uploaded} as lesson {lesson}."]
    if later:
        lines.append(
            f"{len(later)} of {len(results['tests'])} tests include hidden tests: their "
            "results and your total score appear when your instructor publishes the grades."
        )
    lines.append(
        "Before you submit, check the visible tests yourself: "
        f"make validate NB=lessons/{lesson}/{lesson}.ipynb"
    )
    return "\n".join(lines)


def _limits(log) -> Limits:
    """The sandbox where it can run. Gradescope's containers may forbid the namespaces
    bubblewrap needs; the container, fresh for every submission, is then the only wall."""
    problem = f"{SANDBOX_ENV}=0" if os.environ.get(SANDBOX_ENV) == "0" else sandbox_problem()
    if problem:
        log(
            f"warning: grading without a sandbox ({problem}): the student's code can read "
            "this container's files, the solution notebook included"
        )
    return Limits(sandbox=problem is None)


def run(root: Path, log=print) -> dict:
    """Grade the upload in ``root/submission`` with the bundle in ``root/source``; write
    and return ``root/results/results.json``."""
    solutions = root / "source" / "solutions"
    [lesson] = lesson_ids(solutions)
    results_file = root / "results" / "results.json"
    results_file.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        notebook = find_notebook(root / "submission", lesson)
    except SubmissionError as problem:
        unable = LessonResult(lesson, "missing", 0.0, _max_score(solutions, lesson), str(problem))
        results = gradescope_json(StudentGrades(STUDENT, [unable], time.monotonic() - started))
        results["output"] = str(problem)
    else:
        with tempfile.TemporaryDirectory(prefix="gradescope-") as tmp:
            submissions, out = Path(tmp) / "submitted", Path(tmp) / "out"
            submitted = notebook_path(submissions / STUDENT, lesson)
            submitted.parent.mkdir(parents=True)
            shutil.copy(notebook, submitted)
            grade(submissions, out, solutions=solutions, limits=_limits(log), log=log)
            results = json.loads((out / "results" / f"{STUDENT}.json").read_text())
        uploaded = str(notebook.relative_to(root / "submission"))
        results["output"] = _student_note(lesson, uploaded, results)
    results_file.write_text(json.dumps(results, indent=1, ensure_ascii=False))
    log(f"wrote {results_file}: {results['score']:g} points")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autograder.gradescope",
        description="grade a Gradescope submission (run by run_autograder)",
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=Path("/autograder"),
        help="Gradescope's folder: source/, submission/, results/",
    )
    args = parser.parse_args(argv)
    try:
        run(args.root)
    except Exception:  # noqa: BLE001 - no results.json: Gradescope reports an autograder failure
        traceback.print_exc(file=sys.stdout)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
