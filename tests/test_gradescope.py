"""The Gradescope autograder of a lesson, run locally against a fake /autograder.

Gradescope unpacks the bundle into /autograder/source, puts the upload in
/autograder/submission, runs /autograder/run_autograder from /autograder and reads
/autograder/results/results.json. Here that root is a temporary folder
(AUTOGRADER_ROOT) and, in most tests, the Python is this one (AUTOGRADER_PYTHON);
one test runs setup.sh itself and grades with the virtual environment it makes.
"""

import json
import os
import shutil
import stat
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder import gradescope
from autograder.cli import main as cli
from autograder.course import SOLUTIONS, notebook_path
from autograder.grade import cells_with_hidden_tests
from autograder.gradescope import SubmissionError, find_notebook
from autograder.sandbox import sandbox_problem
from autograder.template import build_template

from . import harness

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("gradescope")]
LESSON = "02_scaled_dot_product"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "autograder.zip"
    assert cli(["gradescope", LESSON, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def released(tmp_path_factory) -> bytes:
    """The lesson as students get it (what `release` writes to lessons/)."""
    root = build_template(tmp_path_factory.mktemp("release"), SOLUTIONS, [LESSON])
    return notebook_path(root / "release", LESSON).read_bytes()


def _fake_autograder(bundle: Path, root: Path, uploads: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(root / "source")
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    for name, data in uploads.items():
        (root / "submission" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "submission" / name).write_bytes(data)
    (root / "submission").mkdir(exist_ok=True)
    return root


def _start(root: Path, **env: str) -> subprocess.Popen:
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable, **env}
    return subprocess.Popen(
        ["bash", str(root / "run_autograder")],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _results(root: Path, proc: subprocess.Popen) -> tuple[dict, str]:
    log, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, log[-3000:]
    return json.loads((root / "results" / "results.json").read_text()), log


def _setup_sh(root: Path, tmp: Path) -> dict[str, str]:
    """Run root's setup.sh as Gradescope would, but for two things this machine cannot do:
    apt-get (Gradescope's image's packages) is a no-op, and torch comes from pip's wheel
    folder where PyTorch's own index is out of reach. Returns the environment it ran in."""
    setup = root / "source" / "setup.sh"
    pytorch_index = f"--index-url {gradescope.TORCH_CPU_INDEX} "
    assert pytorch_index in setup.read_text()
    setup.write_text(setup.read_text().replace(pytorch_index, _torch_source() + " "))
    shim = tmp / "bin"
    shim.mkdir()
    (shim / "apt-get").write_text("#!/bin/sh\nexit 0\n")
    (shim / "apt-get").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "AUTOGRADER_"))}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1")
    env["PATH"] = os.pathsep.join(
        [str(shim), *[p for p in env["PATH"].split(os.pathsep) if not p.startswith(sys.prefix)]]
    )
    installed = subprocess.run(["bash", str(setup)], env=env, capture_output=True, text=True, timeout=900)
    assert installed.returncode == 0, installed.stderr[-3000:]
    return env


@pytest.fixture(scope="module")
def runs(bundle, released, tmp_path_factory) -> dict[str, tuple[dict, str]]:
    """results.json and log of the solution (uploaded under another name, in a folder) and of
    the untouched lesson; the two runs go at once. The solution is graded as on Gradescope:
    by the virtual environment setup.sh made (run_autograder's default Python). The
    untouched lesson runs with this Python and without the sandbox, as it must where
    Gradescope's container forbids one."""
    solution = _fake_autograder(
        bundle,
        tmp_path_factory.mktemp("solution"),
        {"work/my attempt.ipynb": notebook_path(SOLUTIONS, LESSON).read_bytes()},
    )
    untouched = _fake_autograder(bundle, tmp_path_factory.mktemp("untouched"), {f"{LESSON}.ipynb": released})
    started = {"untouched": _start(untouched, **{gradescope.SANDBOX_ENV: "0"})}
    env = _setup_sh(solution, tmp_path_factory.mktemp("setup"))
    assert (solution / "venv" / "bin" / "python").exists(), "setup.sh made no venv"
    started["solution"] = subprocess.Popen(
        ["bash", str(solution / "run_autograder")],
        cwd=solution,
        text=True,
        env={**env, "AUTOGRADER_ROOT": str(solution)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    roots = {"solution": solution, "untouched": untouched}
    return {who: _results(roots[who], proc) for who, proc in started.items()}


@pytest.fixture(scope="module")
def graded(runs) -> dict[str, dict]:
    return {who: results for who, (results, _) in runs.items()}


def test_the_bundle_holds_what_grading_needs(bundle):
    with zipfile.ZipFile(bundle) as archive:
        infos = {i.filename: i for i in archive.infolist()}
        names = set(infos)
        requirements = archive.read("requirements.txt").decode().split()
        solution = archive.read(f"solutions/{LESSON}/{LESSON}.ipynb")
    assert {
        "setup.sh",
        "run_autograder",
        "requirements.txt",
        "pyproject.toml",
        "README.md",
        "autograder/gradescope.py",
        "autograder/worker.py",
        "transformer_course/checks.py",
    } <= names
    for script in ("setup.sh", "run_autograder"):
        assert (infos[script].external_attr >> 16) & stat.S_IXUSR, f"{script} is not executable"
    assert solution == notebook_path(SOLUTIONS, LESSON).read_bytes()
    assert {n.split("/")[1] for n in names if n.startswith("solutions/")} == {LESSON}, (
        "the bundle must carry this lesson's solutions only"
    )
    assert not [n for n in names if "__pycache__" in n or n.endswith("gradebook.db")]
    assert "torch==2.13.0" in requirements
    assert any(r.startswith("nbgrader==0.9.") for r in requirements)


def test_the_scripts_are_bash_that_installs_the_pinned_requirements(bundle, tmp_path):
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(tmp_path)
    for script in ("setup.sh", "run_autograder"):
        check = subprocess.run(["bash", "-n", str(tmp_path / script)], capture_output=True, text=True)
        assert check.returncode == 0, f"{script}: {check.stderr}"
    setup = (tmp_path / "setup.sh").read_text()
    assert '/bin/uv" pip install' in setup and '-r "$source_dir/requirements.txt"' in setup
    assert gradescope.UV in setup
    assert "download.pytorch.org/whl/cpu" in setup and '"torch==2.13.0"' in setup
    assert "AUTOGRADER_ROOT" in (tmp_path / "run_autograder").read_text()


def _torch_source() -> str:
    """Where setup.sh's uv takes torch from in this test: PyTorch's CPU index when it can be
    reached, else the wheel folder pip is configured with (this machine reaches only package
    registries; its CPU build of torch lies in pip's find-links)."""
    try:
        urllib.request.urlopen(gradescope.TORCH_CPU_INDEX, timeout=5).close()
        return f"--index-url {gradescope.TORCH_CPU_INDEX}"
    except OSError:
        pass
    found = subprocess.run(
        [sys.executable, "-m", "pip", "config", "get", "global.find-links"], capture_output=True, text=True
    ).stdout.split()
    folder = os.environ.get("PIP_FIND_LINKS") or (found[0] if found else "")
    if not folder:
        pytest.fail("PyTorch's CPU index is unreachable and pip has no find-links holding a torch wheel")
    return f"--find-links {folder}"


def test_setup_sh_makes_the_python_that_grades(runs):
    # The solution's run had no AUTOGRADER_PYTHON and this Python off its PATH: the venv graded it.
    results, _ = runs["solution"]
    assert results["score"] == sum(t["max_score"] for t in results["tests"]) > 0, results["output"]


def test_the_solution_earns_full_marks(graded):
    results = graded["solution"]
    assert results["tests"], "no graded cells reported"
    failed = [t["name"] for t in results["tests"] if t["status"] != "passed" or t["score"] != t["max_score"]]
    assert not failed, failed
    assert results["score"] == sum(t["max_score"] for t in results["tests"]) > 0
    assert "my attempt.ipynb" in results["output"]


def test_the_untouched_lesson_earns_zero(graded):
    results = graded["untouched"]
    assert results["score"] == 0
    assert [t["name"] for t in results["tests"]] == [t["name"] for t in graded["solution"]["tests"]]
    earned = [t["name"] for t in results["tests"] if t["score"] != 0 or t["status"] != "failed"]
    assert not earned, f"cells that earn points without any work: {earned}"


def test_without_a_sandbox_the_instructor_is_warned(runs):
    assert "grading without a sandbox" in runs["untouched"][1]
    # The first has the sandbox wherever bubblewrap works, as here in CI.
    assert ("grading without a sandbox" in runs["solution"][1]) == (sandbox_problem() is not None)


def test_tests_with_hidden_parts_show_only_once_published(graded):
    hidden = {f"{LESSON}: {grade_id}" for _, grade_id in cells_with_hidden_tests(SOLUTIONS, [LESSON])}
    assert hidden, "the lesson has hidden tests"
    for results in graded.values():
        for test in results["tests"]:
            expected = "after_published" if test["name"] in hidden else "visible"
            assert test["visibility"] == expected, test["name"]
        assert "publishes" in results["output"]


def test_outputs_never_show_hidden_tests(graded):
    lines = harness.hidden_test_lines(LESSON)
    for results in graded.values():
        for test in results["tests"]:
            assert "Traceback" not in test["output"]
            shown = [line for line in lines if line in test["output"]]
            assert not shown, f"{test['name']} shows hidden test lines {shown[:2]}"


@pytest.mark.parametrize(
    "uploads, message",
    [
        ({}, "No notebook was uploaded"),
        ({"a.ipynb": b"{}", "b/c.ipynb": b"{}"}, "2 notebooks were uploaded (a.ipynb, b/c.ipynb)"),
    ],
    ids=["nothing", "two notebooks"],
)
def test_an_upload_without_exactly_one_notebook_is_explained(bundle, tmp_path, uploads, message):
    root = _fake_autograder(bundle, tmp_path, uploads)
    assert gradescope.main(["--root", str(root)]) == 0
    results = json.loads((root / "results" / "results.json").read_text())
    [test] = results["tests"]
    assert results["score"] == test["score"] == 0 < test["max_score"]
    assert test["visibility"] == "visible"
    assert message in test["output"] and message in results["output"]


def test_the_notebook_named_like_the_lesson_is_picked_among_several(tmp_path):
    for name in (
        "scratch.ipynb",
        f"{LESSON}.ipynb",
        ".ipynb_checkpoints/x-checkpoint.ipynb",
        "__MACOSX/._x.ipynb",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nbformat.v4.new_notebook(), tmp_path / name)
    assert find_notebook(tmp_path, LESSON) == tmp_path / f"{LESSON}.ipynb"
    (tmp_path / f"{LESSON}.ipynb").unlink()
    assert find_notebook(tmp_path, LESSON) == tmp_path / "scratch.ipynb"
    (tmp_path / "sub").mkdir()
    nbformat.write(nbformat.v4.new_notebook(), tmp_path / "sub" / "other.ipynb")
    with pytest.raises(SubmissionError, match="upload only your"):
        find_notebook(tmp_path, LESSON)
