"""python -m autograder {release, grade, report, check, gradescope, validate}"""

import argparse
import sys
import time
from pathlib import Path

from . import gradescope, report, validate
from .benchmark import benchmark
from .check import check
from .course import SOLUTIONS
from .grade import grade
from .limits import Limits
from .pairs import write_pairs
from .release import release


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("release", help="regenerate lessons/, and the solutions' .py pairs, from solutions/")
    grading = commands.add_parser("grade", help="grade a folder of submissions")
    grading.add_argument(
        "submissions", type=Path, help="folder of <student_id>/<lesson_id>/<lesson_id>.ipynb"
    )
    grading.add_argument("--out", type=Path, required=True, help="where grades and feedback go")
    grading.add_argument("--jobs", type=int, default=1, help="notebooks graded at once")
    grading.add_argument(
        "--solutions",
        type=Path,
        default=SOLUTIONS,
        help="the nbgrader source folder (default: the course's solutions/)",
    )
    grading.add_argument(
        "--fresh", action="store_true", help="discard the results of an earlier, interrupted run into OUT"
    )
    defaults = Limits()
    grading.add_argument(
        "--cell-timeout",
        type=int,
        default=defaults.cell_timeout_s,
        help="seconds a cell may run (default: %(default)s)",
    )
    grading.add_argument(
        "--notebook-timeout",
        type=int,
        default=defaults.notebook_timeout_s,
        help="seconds a whole notebook may run (default: %(default)s)",
    )
    grading.add_argument(
        "--memory-gb",
        type=float,
        default=defaults.memory_bytes / 1024**3,
        help="memory limit of a student's kernel, GiB (default: %(default)s)",
    )
    grading.add_argument(
        "--no-sandbox",
        action="store_true",
        help="run student code without bubblewrap, with your own permissions",
    )
    grading.add_argument("--report", action="store_true", help="then write the class report, OUT/report/")
    reporting = commands.add_parser("report", help="the instructor's class report of a graded folder")
    reporting.add_argument("out", type=Path, help="the --out folder of grade")
    checking = commands.add_parser("check", help="grade every solution notebook; fail unless full marks")
    checking.add_argument("lessons", nargs="*", help="lesson ids (default: all)")
    bundling = commands.add_parser("gradescope", help="build a Gradescope autograder (zip) for one lesson")
    bundling.add_argument("lesson", help="lesson id, e.g. 02_scaled_dot_product")
    bundling.add_argument("--out", type=Path, required=True, help="the zip to write, e.g. autograder.zip")
    validating = commands.add_parser(
        "validate", help="a student's check before submitting: visible tests, changed or deleted test cells"
    )
    validating.add_argument("notebooks", nargs="+", type=Path, help="notebooks (or lesson folders)")
    validating.add_argument(
        "--timeout",
        type=int,
        default=validate.CELL_TIMEOUT_S,
        help="seconds each cell may run (default: %(default)s)",
    )
    benching = commands.add_parser("benchmark", help="students graded per minute, 1 worker and N")
    benching.add_argument("lessons", nargs="+", help="lesson ids whose solutions make the class")
    benching.add_argument("--students", type=int, default=4)
    benching.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)

    if args.command == "release":
        lessons = release()
        write_pairs()
        print(
            f"released {len(lessons)} lessons to lessons/: {', '.join(lessons)}; "
            "their solutions' .py pairs rewritten"
        )
        return 0
    if args.command == "grade":
        started = time.monotonic()
        limits = Limits(
            cell_timeout_s=args.cell_timeout,
            notebook_timeout_s=args.notebook_timeout,
            memory_bytes=int(args.memory_gb * 1024**3),
            sandbox=not args.no_sandbox,
        )
        rows = grade(
            args.submissions,
            args.out,
            jobs=args.jobs,
            solutions=args.solutions,
            limits=limits,
            fresh=args.fresh,
        )
        print(
            f"graded {len(rows)} students in {time.monotonic() - started:.0f} s; "
            f"grades in {args.out / 'grades.csv'}"
        )
        if args.report:
            print(f"class report: {report.report(args.out)}")
        return 0
    if args.command == "report":
        print(f"class report: {report.report(args.out)}")
        return 0
    if args.command == "benchmark":
        benchmark(args.lessons, args.students, args.workers)
        return 0
    if args.command == "gradescope":
        out = gradescope.build_bundle(args.lesson, args.out)
        print(f"wrote {out}: upload it as the autograder of a Gradescope programming assignment")
        return 0
    if args.command == "validate":
        return validate.main(args.notebooks, timeout=args.timeout)
    ok, _ = check(lessons=args.lessons or None)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
