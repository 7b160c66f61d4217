"""Set-up files agree with each other and with the README."""

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


def _normalise(spec: str) -> tuple[str, str]:
    requirement = Requirement(spec)
    return requirement.name.lower().replace("_", "-"), str(requirement.specifier)


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_normalise(s) for s in project["dependencies"] + project["optional-dependencies"]["dev"]}
    pip_lines = re.findall(r"^\s+- (\S.*)$", (ROOT / "environment.yml").read_text().split("- pip:", 1)[1],
                           re.MULTILINE)
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
