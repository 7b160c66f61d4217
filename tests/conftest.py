import os
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from autograder.course import ROOT
from autograder.grade import threads_each
from autograder.sandbox import sandbox_problem

from .browser import CHROMIUM
from .graded_class import build as build_class


@cache
def _missing(system: str) -> str | None:
    """Why the system package a test needs is not usable here, or None."""
    if system == "sandbox":
        problem = sandbox_problem()
        return problem and f"no grading sandbox: {problem} (scripts/system-deps.sh installs it)"
    if system == "chromium":
        return (
            None
            if CHROMIUM.is_file() and shutil.which(str(CHROMIUM))
            else (f"{CHROMIUM} is missing (scripts/system-deps.sh installs Debian's chromium)")
        )
    raise ValueError(f"unknown system requirement {system!r}")


# xdist hands out work in collection order (pyproject's --no-loadscope-reorder: else it orders
# groups by their number of tests), so the longest groups go first and short tests fill the end
# (longest processing time first): no worker is left running a long group alone.
LONGEST_FIRST = ("browser", "grading", "isolation", "gradescope", "validate")


def _longest_first(items) -> None:
    """The groups of LONGEST_FIRST, then each lesson's wrong-<lesson> group (the untouched lesson,
    then its wrong implementations, side by side so that tests/test_wrong_implementations.py's one
    open kernel serves them all), then the other slow tests, then the rest; else in their order."""

    def rank(item) -> tuple[int, str]:
        mark = item.get_closest_marker("xdist_group")
        group = mark.args[0] if mark else ""
        if group in LONGEST_FIRST:
            return LONGEST_FIRST.index(group), ""
        if group.startswith("wrong-"):
            return len(LONGEST_FIRST), group
        return len(LONGEST_FIRST) + (1 if item.get_closest_marker("slow") else 2), ""

    items.sort(key=rank)


def pytest_collection_modifyitems(config, items):
    """``@pytest.mark.requires("sandbox")``: skipped with the reason where the system package is
    missing, but never under CI=true, where the test runs and fails on what it lacks."""
    _longest_first(items)
    if os.environ.get("CI") == "true":
        return
    for item in items:
        for mark in item.iter_markers("requires"):
            for system in mark.args:
                if reason := _missing(system):
                    item.add_marker(pytest.mark.skip(reason=reason))


def pytest_configure(config):
    """--dist loadgroup keeps each module's expensive fixture (a whole grading run) on one
    worker; pytest 9 ignores the group suffix that pytest-xdist 3.8 adds, and the fixtures
    silently run once per worker instead.

    Each xdist worker, and the kernels and servers it starts, gets its share of the cores, as
    grade.py gives each grading kernel (threads_each): with torch's default of a thread per
    core the two workers' kernels spin against each other (2 workers on 2 cores, 2026-12-06:
    944 s of test time in all, 843 s with one thread each; the wrong implementations 266 s,
    166 s)."""
    workers = getattr(config.option, "numprocesses", None)
    if isinstance(workers, int) and workers > 0:
        os.environ.setdefault("OMP_NUM_THREADS", str(threads_each(workers)))
    if config.getoption("dist", "no") == "loadgroup" and int(pytest.__version__.split(".")[0]) >= 9:
        raise pytest.UsageError(
            f"pytest {pytest.__version__} breaks pytest-xdist's --dist loadgroup: "
            "install the versions pyproject.toml pins (make install)"
        )


def pytest_terminal_summary(terminalreporter):
    """Report what each wrong implementation lost (tests/test_wrong_implementations.py)."""
    reports = [
        r
        for r in terminalreporter.stats.get("passed", [])
        if any(key == "caught" for key, _ in r.user_properties)
    ]
    if not reports:
        return
    terminalreporter.section("what the wrong implementations lost")
    for report in sorted(reports, key=lambda r: r.nodeid):
        terminalreporter.write_line(report.nodeid.split("[", 1)[-1].rsplit("]", 1)[0])
        for line in dict(report.user_properties)["caught"]:
            terminalreporter.write_line(f"    {line}")


# -- the class of tests/graded_class.py, graded once for test_grading.py and test_report.py:
# session fixtures, and their tests in one xdist group ("grading"), so one worker grades it.


@pytest.fixture(scope="session")
def class_submissions(tmp_path_factory) -> Path:
    return build_class(tmp_path_factory.mktemp("class") / "submissions")


@pytest.fixture(scope="session")
def graded_class(class_submissions, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("graded") / "out"
    command = ["grade", str(class_submissions), "--out", str(out), "--jobs", "2", "--report"]
    proc = subprocess.run(
        [sys.executable, "-m", "autograder", *command], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc
