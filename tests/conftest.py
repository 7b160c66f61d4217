import os
import shutil
from functools import cache

import pytest

from autograder.sandbox import sandbox_problem

from .browser import CHROMIUM


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


def _lesson_groups_together(items) -> None:
    """The tests of one lesson's kernel group (wrong-<lesson>: the untouched lesson, then its
    wrong implementations) side by side, so that tests/test_wrong_implementations.py's one
    open kernel serves them all instead of being started again for each test function."""

    def group(item) -> str:
        mark = item.get_closest_marker("xdist_group")
        return mark.args[0] if mark and mark.args[0].startswith("wrong-") else ""

    places = [i for i, item in enumerate(items) if group(item)]
    for place, item in zip(places, sorted((items[i] for i in places), key=group), strict=True):
        items[place] = item


def pytest_collection_modifyitems(config, items):
    """``@pytest.mark.requires("sandbox")``: skipped with the reason where the system package is
    missing, but never under CI=true, where the test runs and fails on what it lacks."""
    _lesson_groups_together(items)
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
    silently run once per worker instead."""
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
