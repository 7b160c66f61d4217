"""The grader survives whatever students submit (issue: a grader instructors can trust).

Each broken or adversarial submission costs its own notebook's points, says why,
and leaves every other notebook graded normally.
"""

import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import nbformat
import pytest

from autograder.check import check
from autograder.course import ROOT
from autograder.grade import Job, State, _run_digest, grade
from autograder.limits import Limits
from autograder.template import cached_template
from autograder.worker import LessonResult

from . import probe

pytestmark = [pytest.mark.slow, pytest.mark.requires("sandbox")]
# A probe notebook takes seconds. The endless loop's needs the cell limit plus a probe's run:
# 19 s on a fast machine, over 25 s on a slow, loaded one (a CI run failed so), hence the margin;
# no notebook here comes near it (test_a_notebook_past_its_limit_is_stopped sets its own, 3 s).
LIMITS = Limits(cell_timeout_s=10, interrupt_grace_s=5, notebook_timeout_s=45, memory_bytes=2 * 1024**3)
ESCAPES = """
import os, socket
from pathlib import Path
report = {}
def _try(name, attempt, success="ESCAPED"):
    try:
        attempt()
        report[name] = success
    except Exception as error:
        report[name] = type(error).__name__
_try("read_solutions", lambda: open(SOLUTION).read())
_try("read_gradebook", lambda: open(Path.cwd().parents[2] / "gradebook.db", "rb").read())
_try("read_other_students", lambda: open(Path.cwd().parents[4] / "good" / "01_probe" / "job.json").read())
# A repository under /tmp has its path inside the sandbox's private /tmp, where a write
# succeeds and vanishes with it: the test looks for the file on the host.
_try("write_repository", lambda: open(REPO_FILE, "w").write("x"), success="wrote, or so it seemed")
_try("delete_instructor_file", lambda: os.remove(INSTRUCTOR_FILE))
_try("network", lambda: socket.create_connection(("127.0.0.1", PORT), timeout=3))
"""


CHEATS = {
    "patches_checks": "import transformer_course.checks as c\nc.expect_close = lambda *a, **k: None\n"
    "expect_close = c.expect_close",
    "patches_torch": "import torch\ntorch.isclose = lambda a, b, **k: torch.ones_like(a, dtype=torch.bool)",
    "silences_errors": "get_ipython().set_custom_exc((Exception,), lambda *a, **k: None)",
    "rewrites_cells": "get_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])",
}


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    solutions = tmp_path_factory.mktemp("course") / "solutions"
    probe.write_course(solutions)
    return solutions


@pytest.fixture(scope="module")
def listener():
    """A server on the host's loopback that sandboxed code must not reach."""
    server = socket.create_server(("127.0.0.1", 0))
    reached = []
    thread = threading.Thread(target=lambda: reached.append(server.accept()), daemon=True)
    thread.start()
    yield server.getsockname()[1], reached
    server.close()


def _submit(folder: Path, student: str, lesson: str, content) -> None:
    path = folder / student / lesson / f"{lesson}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, (str, bytes)):
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    else:
        nbformat.write(content, path)


@pytest.fixture(scope="module")
def graded(course, listener, tmp_path_factory):
    port, _ = listener
    folder = tmp_path_factory.mktemp("submissions")
    instructor = tmp_path_factory.mktemp("instructor") / "precious.txt"
    instructor.write_text("keep me")
    escapes = (
        ESCAPES.replace("SOLUTION", repr(str(course / "01_probe" / "01_probe.ipynb")))
        .replace("REPO_FILE", repr(str(ROOT / "ESCAPED.txt")))
        .replace("INSTRUCTOR_FILE", repr(str(instructor)))
        .replace("PORT", str(port))
    )
    _submit(folder, "good", "01_probe", probe.submission("01_probe"))
    _submit(folder, "good", "02_probe", probe.submission("02_probe"))
    _submit(folder, "exits", "01_probe", probe.submission("01_probe", "import os\nos._exit(3)"))
    _submit(folder, "exits", "02_probe", probe.submission("02_probe"))
    _submit(folder, "loops", "01_probe", probe.submission("01_probe", "while True:\n    pass"))
    _submit(
        folder,
        "stubborn",
        "01_probe",
        probe.submission(
            "01_probe",
            "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
            "while True:\n    time.sleep(0.1)",
        ),
    )
    _submit(
        folder,
        "hog",
        "01_probe",
        probe.submission("01_probe", "import torch\nhog = torch.empty(2 * 1024**3, dtype=torch.float64)"),
    )
    _submit(folder, "chatty", "01_probe", probe.submission("01_probe", "print('x' * 5_000_000)"))
    _submit(folder, "mixedup", "01_probe", probe.submission("02_probe"))
    _submit(folder, "empty", "01_probe", "")
    _submit(folder, "garbage", "01_probe", b"\x89PNG not a notebook")
    _submit(folder, "escaper", "01_probe", probe.submission("01_probe", escapes))
    for student, attack in CHEATS.items():
        _submit(folder, student, "01_probe", probe.submission("01_probe", attack, answer=41))
    out = tmp_path_factory.mktemp("out")
    messages = []
    grade(folder, out, jobs=2, solutions=course, limits=LIMITS, log=messages.append)
    return out, messages, instructor


def _result(out: Path, student: str) -> dict:
    return json.loads((out / "results" / f"{student}.json").read_text())


def _score(out: Path, student: str, lesson: str) -> tuple[float, float]:
    for line in (out / "grades.csv").read_text().splitlines()[1:]:
        s, lesson_id, score, most = line.split(",")
        if (s, lesson_id) == (student, lesson):
            return float(score), float(most)
    raise KeyError((student, lesson))


@pytest.mark.xdist_group("isolation")
def test_good_submissions_earn_full_marks_beside_broken_ones(graded):
    out, _, _ = graded
    assert _score(out, "good", "01_probe") == (3.0, 3.0)
    assert _score(out, "good", "02_probe") == (3.0, 3.0)
    assert _score(out, "exits", "02_probe") == (3.0, 3.0), "a dead kernel cost another notebook"


@pytest.mark.parametrize(
    "student, status, words",
    [
        ("exits", "kernel died", "kernel died"),
        ("stubborn", "timeout", "did not stop when interrupted"),
        ("mixedup", "wrong lesson", "lesson 02_probe"),
        ("empty", "empty", "empty file"),
        ("garbage", "invalid", "not a valid notebook"),
    ],
)
@pytest.mark.xdist_group("isolation")
def test_a_notebook_that_cannot_be_graded_scores_zero_and_says_why(graded, student, status, words):
    out, messages, _ = graded
    assert _score(out, student, "01_probe") == (0.0, 3.0)
    [test] = [t for t in _result(out, student)["tests"] if t["name"] == "01_probe"]
    assert words in test["output"]
    assert any(f"{student} 01_probe: {status}" in m for m in messages), "the run must say what happened"


@pytest.mark.xdist_group("isolation")
def test_a_notebook_past_its_limit_is_stopped(course, tmp_path):
    """Each cell within its limit, the notebook past its own: the worker and its kernel are
    killed, and the notebook scores zero, saying why."""
    _submit(tmp_path / "subs", "slow", "01_probe", probe.submission("01_probe", "import time\ntime.sleep(8)"))
    messages = []
    limits = dataclasses.replace(LIMITS, notebook_timeout_s=3)
    grade(tmp_path / "subs", tmp_path / "out", solutions=course, limits=limits, log=messages.append)
    assert _score(tmp_path / "out", "slow", "01_probe") == (0.0, 3.0)
    [test] = [t for t in _result(tmp_path / "out", "slow")["tests"] if t["name"] == "01_probe"]
    assert "your notebook ran longer than 3 s" in test["output"]
    assert any("slow 01_probe: timeout" in m for m in messages)


@pytest.mark.xdist_group("isolation")
@pytest.mark.parametrize("student", ["loops", "hog"])
def test_an_endless_cell_or_a_memory_hog_fails_its_tests_only(graded, student):
    out, _, _ = graded
    assert _score(out, student, "01_probe") == (0.0, 3.0)
    outputs = " ".join(t["output"] for t in _result(out, student)["tests"])
    assert "answer" in outputs  # the tests ran and failed: answer() was never defined


@pytest.mark.xdist_group("isolation")
def test_megabytes_of_output_are_cut(graded):
    out, _, _ = graded
    assert _score(out, "chatty", "01_probe") == (3.0, 3.0)
    feedback = out / "feedback" / "chatty" / "01_probe" / "01_probe.html"
    assert feedback.stat().st_size < 1_000_000


@pytest.mark.xdist_group("isolation")
def test_student_code_cannot_leave_its_sandbox(graded, listener):
    out, _, instructor = graded
    _, reached = listener
    [report] = [t["output"] for t in _result(out, "escaper")["tests"] if t["name"].endswith("test_answer_01")]
    assert "report:" in report and "ESCAPED" not in report, report
    for attempt in (
        "read_solutions",
        "read_gradebook",
        "read_other_students",
        "write_repository",
        "delete_instructor_file",
        "network",
    ):
        assert attempt in report
    assert not (ROOT / "ESCAPED.txt").exists()
    assert instructor.read_text() == "keep me"
    assert not reached, "sandboxed code reached a server on the host"
    assert _score(out, "escaper", "01_probe") == (3.0, 3.0)


@pytest.mark.xdist_group("isolation")
def test_feedback_and_results_hide_the_hidden_tests(graded):
    out, _, _ = graded
    for path in list((out / "feedback").rglob("*.html")) + list((out / "results").glob("*.json")):
        assert "SECRET_PROBE_CHECK" not in path.read_text()


def test_no_sandbox_is_a_clear_refusal(course, tmp_path, monkeypatch):
    _submit(tmp_path / "subs", "good", "01_probe", probe.submission("01_probe"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on it
    with pytest.raises(SystemExit, match="no sandbox.*bubblewrap.*--no-sandbox"):
        grade(tmp_path / "subs", tmp_path / "out", solutions=course, limits=LIMITS)


def test_an_interrupted_run_resumes_without_regrading(course, tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    for student in ("ann", "bob"):
        _submit(subs, student, "01_probe", probe.submission("01_probe"))
    cmd = [
        sys.executable,
        "-m",
        "autograder",
        "grade",
        str(subs),
        "--out",
        str(out),
        "--solutions",
        str(course),
        "--cell-timeout",
        str(LIMITS.cell_timeout_s),
        "--notebook-timeout",
        str(LIMITS.notebook_timeout_s),
        "--memory-gb",
        "2",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    run = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    seen = []
    for line in run.stdout:
        seen.append(line)
        if line.startswith("graded "):
            os.killpg(run.pid, signal.SIGKILL)
            break
    run.wait()
    assert any(line.startswith("graded ") for line in seen), "".join(seen)[-2000:]
    first = (out / "grades.csv").read_text().splitlines()
    assert len(first) == 2, "grades are written as each notebook is graded"
    again = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stdout[-2000:]
    assert "resuming: 1 of 2" in again.stdout
    regraded = [
        line for line in again.stdout.splitlines() if line.startswith("graded ") and "01_probe" in line
    ]
    assert len(regraded) == 1, again.stdout
    rows = (out / "grades.csv").read_text().splitlines()
    assert rows[1:] == ["ann,01_probe,3,3", "bob,01_probe,3,3"]


def test_changed_solutions_or_limits_make_another_run_that_keeps_nothing(course, tmp_path):
    changed = tmp_path / "changed"
    shutil.copytree(course, changed)
    nb = probe.solution_notebook("01_probe")
    nb.cells[3].metadata.nbgrader["points"] = 5
    nbformat.write(nb, changed / "01_probe" / "01_probe.ipynb")
    lessons = list(probe.LESSONS)
    first = _run_digest(course, lessons, LIMITS)
    assert first == _run_digest(course, lessons, LIMITS)
    assert first != _run_digest(changed, lessons, LIMITS)
    assert first != _run_digest(course, lessons, dataclasses.replace(LIMITS, cell_timeout_s=11))
    out = tmp_path / "out"
    job = Job("ann", "01_probe", tmp_path / "ann.ipynb", "digest of the file")
    State(out, first, fresh=False).save(job, LessonResult("01_probe", "graded", 3.0, 3.0))
    (out / "grades.csv").write_text("student_id,lesson,score,max_score\nann,01_probe,3,3\n")
    assert State(out, first, fresh=False).load(job) is not None, "the same run resumes"
    assert State(out, "another run", fresh=False).load(job) is None
    assert not (out / "grades.csv").exists(), "another run's grades were kept"


@pytest.mark.xdist_group("isolation")
@pytest.mark.parametrize("student", sorted(CHEATS))
def test_patching_what_tests_rely_on_earns_nothing_and_is_reported(graded, student):
    out, _, _ = graded
    assert _score(out, student, "01_probe") == (0.0, 3.0)
    report = (out / "integrity.csv").read_text()
    assert f"{student},01_probe," in report
    flagged = [line for line in report.splitlines() if line.startswith(f"{student},")]
    assert any(
        "IntegrityError" in line or "changes" in line or "calls" in line or "uses" in line for line in flagged
    ), flagged


@pytest.mark.xdist_group("isolation")
def test_honest_submissions_are_not_flagged(graded):
    out, _, _ = graded
    report = (out / "integrity.csv").read_text()
    assert "\ngood," not in report and "\nchatty," not in report


def test_each_run_starts_from_a_fresh_gradebook(course, tmp_path):
    out = tmp_path / "out"
    first, second = tmp_path / "first", tmp_path / "second"
    _submit(first, "ann", "01_probe", probe.submission("01_probe"))
    _submit(second, "ann", "01_probe", probe.submission("01_probe", answer=41))
    grade(first, out, solutions=course, limits=LIMITS, log=lambda *_: None)
    assert _score(out, "ann", "01_probe") == (3.0, 3.0)
    grade(second, out, solutions=course, limits=LIMITS, log=lambda *_: None)
    assert _score(out, "ann", "01_probe") == (0.0, 3.0)


def test_check_fails_a_solution_that_loses_points(course, tmp_path):
    broken = tmp_path / "solutions"
    shutil.copytree(course, broken)
    nbformat.write(probe.submission("01_probe", answer=41), broken / "01_probe" / "01_probe.ipynb")
    messages = []
    ok, _ = check(solutions=broken, lessons=["01_probe"], log=messages.append)
    assert not ok
    assert any(m.startswith("FAIL 01_probe") for m in messages), messages


def test_the_grading_template_is_built_once_per_content(course, tmp_path):
    """Runs with the same solutions share one template (its gradebook holds source cells only,
    and each notebook is graded in a copy); changed solutions get a template of their own."""
    first = cached_template(course, list(probe.LESSONS))
    assert (first / "ready").is_file() and (first / "gradebook.db").is_file()
    built = (first / "gradebook.db").stat().st_mtime_ns
    assert cached_template(course, list(probe.LESSONS)) == first
    assert (first / "gradebook.db").stat().st_mtime_ns == built, "the template was built again"
    changed = tmp_path / "solutions"
    shutil.copytree(course, changed)
    nb = probe.solution_notebook("01_probe")
    nb.cells[3].metadata.nbgrader["points"] = 7
    nbformat.write(nb, changed / "01_probe" / "01_probe.ipynb")
    other = cached_template(changed, list(probe.LESSONS))
    assert other != first
    assert '"points": 7' in (other / "source" / "01_probe" / "01_probe.ipynb").read_text()
