"""Set-up files agree with each other and with the README."""

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


def _normalise(spec: str) -> tuple[str, str]:
    requirement = Requirement(spec)
    return requirement.name.lower().replace("_", "-"), str(requirement.specifier)


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_normalise(s) for s in project["dependencies"] + project["optional-dependencies"]["dev"]}
    pip_lines = re.findall(
        r"^\s+- (\S.*)$", (ROOT / "environment.yml").read_text().split("- pip:", 1)[1], re.MULTILINE
    )
    listed = {_normalise(s) for s in pip_lines if not s.startswith("-e")}
    assert listed == declared, (
        f"only in environment.yml: {sorted(listed - declared)}; "
        f"only in pyproject.toml: {sorted(declared - listed)}"
    )
    assert "-e ." in pip_lines, "environment.yml must install the course package itself (-e .)"


def test_torch_is_pinned():
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "torch==2.13.0" in dependencies


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert re.search(r"^make test$", ci, re.MULTILINE), ".ci/run must call `make test`"
    first_screen = readme[:2500]
    assert "make lab" in first_screen and "make test" in first_screen


def test_gradebook_is_never_committed():
    ignored = (ROOT / ".gitignore").read_text().split()
    assert "gradebook.db" in ignored


def _without_system_packages(tmp_path: Path) -> dict[str, str]:
    """A PATH with the few tools scripts/system-deps.sh uses, but no apt-get, sudo or bwrap,
    a dpkg-query that knows no package and an fc-list that finds no font."""
    shims = tmp_path / "bin"
    shims.mkdir()
    for tool in ("bash", "grep", "id", "cat"):
        (shims / tool).symlink_to(shutil.which(tool))
    for tool in ("dpkg-query", "fc-list"):
        (shims / tool).write_text("#!/bin/sh\nexit 1\n")
        (shims / tool).chmod(0o755)
    return {"PATH": str(shims), "HOME": str(tmp_path)}


@pytest.mark.parametrize("ci", ["", "true"])
def test_system_deps_say_what_to_install_where_they_cannot(tmp_path, ci):
    env = {**_without_system_packages(tmp_path), "CI": ci}
    run = subprocess.run(
        [shutil.which("bash"), str(ROOT / "scripts" / "system-deps.sh"), "test"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert "fonts-nanum" in run.stderr and "bubblewrap" in run.stderr, run.stderr
    assert "the grading, isolation and Gradescope tests skip" in run.stderr
    assert "sudo apt-get install" in run.stderr
    # Elsewhere the tests then skip with that reason; under CI nothing may skip.
    assert run.returncode == (1 if ci else 0), run.stderr


def _shim(folder: Path, name: str, body: str) -> None:
    (folder / name).write_text(f"#!/bin/sh\n{body}\n")
    (folder / name).chmod(0o755)


@pytest.mark.parametrize(
    ("status", "missing"), [("deinstall ok config-files", True), ("install ok installed", False)]
)
def test_a_removed_font_package_counts_as_missing(tmp_path, status, missing):
    """`apt-get remove` leaves the package's status entry behind: only an installed one counts."""
    env = _without_system_packages(tmp_path)
    shims = tmp_path / "bin"
    (shims / "dpkg-query").unlink()
    _shim(shims, "dpkg-query", f'[ "$3" = fonts-nanum ] && printf "{status}" || exit 1')
    _shim(shims, "dpkg", "exit 0")  # `dpkg -s` succeeds for a removed package too
    run = subprocess.run(
        [shutil.which("bash"), str(ROOT / "scripts" / "system-deps.sh"), "lab"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert ("fonts-nanum" in run.stderr) == missing, run.stderr


@pytest.mark.parametrize("uid", ["0", "1000"])
def test_system_deps_install_with_apt_get_as_root_or_through_sudo(tmp_path, uid):
    """A fake apt-get logs what it is asked: as root it runs directly, else through `sudo -n`."""
    env = _without_system_packages(tmp_path)
    shims, log = tmp_path / "bin", tmp_path / "apt.log"
    (shims / "id").unlink()
    _shim(shims, "id", f"echo {uid}")
    _shim(shims, "apt-get", f'echo "$SUDO_SEEN apt-get $*" >> {log}')
    _shim(shims, "true", "exit 0")
    _shim(shims, "sudo", '[ "$1" = -n ] && shift; SUDO_SEEN=sudo exec "$@"')
    if uid == "0":
        (shims / "sudo").unlink()
    subprocess.run(
        [shutil.which("bash"), str(ROOT / "scripts" / "system-deps.sh"), "test"],
        env=env,
        capture_output=True,
        text=True,
    )
    calls = log.read_text().splitlines() if log.exists() else []
    via = "sudo apt-get" if uid != "0" else " apt-get"
    # /usr/bin/chromium is looked for by its path, so on this machine it may not be missing.
    installs = [c for c in calls if c.startswith(f"{via} install -y")]
    assert installs and "fonts-nanum bubblewrap" in installs[0], calls


def test_make_test_and_lab_install_the_system_packages():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^test: .*system-deps", makefile, re.MULTILINE)
    assert re.search(r"^lab: (.*\n\t)+bash scripts/system-deps.sh lab", makefile, re.MULTILINE)
    ci = (ROOT / ".ci" / "run").read_text()
    assert "apt-get" not in ci, ".ci/run installs nothing itself: `make test` does (scripts/system-deps.sh)"


def test_make_and_gradescope_install_with_the_same_uv():
    from autograder import gradescope

    pinned = re.search(r"^UV := (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert pinned and pinned.group(1) == gradescope.UV


def test_install_hands_pips_wheel_folders_to_uv(tmp_path):
    """A fake venv whose pip and uv log their arguments: uv gets pip's find-links, and where uv
    cannot be installed pip installs the course instead."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    log = tmp_path / "calls.log"
    _shim(
        venv / "bin",
        "python",
        f'echo "python $*" >> {log}\n'
        'case "$*" in *"config get global.find-links"*) echo /from/pip.conf;; '
        '*"install --quiet uv=="*) exit "${UV_FAILS:-0}";; esac',
    )
    _shim(venv / "bin", "uv", f'echo "uv $*" >> {log}')
    script = str(ROOT / "scripts" / "install.sh")
    env = {"PATH": "/usr/bin:/bin", "PIP_FIND_LINKS": "/from/env"}
    subprocess.run(["bash", script, "python3", str(venv), "uv==1.0"], env=env, check=True, cwd=tmp_path)
    uv_calls = [c for c in log.read_text().splitlines() if c.startswith("uv ")]
    assert uv_calls == [
        f"uv pip install --quiet --compile-bytecode --python {venv}/bin/python "
        "--find-links /from/env --find-links /from/pip.conf -e .[dev]"
    ]

    log.unlink()
    failed = subprocess.run(
        ["bash", script, "python3", str(venv), "uv==1.0"],
        env={**env, "UV_FAILS": "1"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    calls = log.read_text().splitlines()
    assert failed.returncode == 0 and "installing with pip" in failed.stderr
    assert calls[-1].endswith("pip --disable-pip-version-check install --quiet -e .[dev]"), calls
    assert not any(c.startswith("uv ") for c in calls)
