"""python -m autograder {release, grade, check}"""

import argparse
import sys
import time
from pathlib import Path

from .check import check
from .grade import grade
from .release import release


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("release", help="regenerate lessons/ from solutions/")
    grading = commands.add_parser("grade", help="grade a folder of submissions")
    grading.add_argument("submissions", type=Path,
                         help="folder of <student_id>/<lesson_id>/<lesson_id>.ipynb")
    grading.add_argument("--out", type=Path, required=True, help="where grades and feedback go")
    grading.add_argument("--jobs", type=int, default=1, help="students graded at once")
    checking = commands.add_parser("check", help="grade every solution notebook; fail unless full marks")
    checking.add_argument("lessons", nargs="*", help="lesson ids (default: all)")
    args = parser.parse_args(argv)

    if args.command == "release":
        lessons = release()
        print(f"released {len(lessons)} lessons to lessons/: {', '.join(lessons)}")
        return 0
    if args.command == "grade":
        started = time.monotonic()
        rows = grade(args.submissions, args.out, jobs=args.jobs)
        print(f"graded {len(rows)} students in {time.monotonic() - started:.0f} s; "
              f"grades in {args.out / 'grades.csv'}")
        return 0
    ok, _ = check(lessons=args.lessons or None)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
