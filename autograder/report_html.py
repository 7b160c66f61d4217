"""The class report as one self-contained HTML page: tables, and matplotlib plots embedded
as base64 PNG, so that the page works offline and can be mailed as one file."""

import base64
import io
from html import escape

from matplotlib.figure import Figure

from transformer_course.plots import use_hangul_font

from .report_stats import Item, histogram

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td:first-child { white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.hard td, tr.weak td { background: #fff4e5; } tr.hard.weak td { background: #ffe3e0; }
.summary span { display: inline-block; margin-right: 2em; font-size: 1.1em; }
code { background: #f4f4f4; padding: 0 0.2em; } .note { color: #666; }
img { max-width: 100%; }
"""


def _fmt(value) -> str:
    if value is None:
        return "—"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _table(headers: list[str], rows: list[list], classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{classes[i]}"' if classes and classes[i] else ""
        cells = "".join(
            f'<td class="num">{_fmt(v)}</td>'
            if isinstance(v, int | float) or v is None
            else f"<td>{escape(str(v))}</td>"
            for v in row
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _png(fig: Figure, alt: str) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    data = base64.b64encode(buffer.getvalue()).decode()
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def _histograms(results, lessons: list[str]) -> str:
    fig = Figure(figsize=(3.2 * min(3, len(lessons)), 2.6 * ((len(lessons) + 2) // 3)))
    for i, lesson in enumerate(lessons):
        ax = fig.add_subplot((len(lessons) + 2) // 3, min(3, len(lessons)), i + 1)
        books = [b for b in results.of_lesson(lesson) if b.status != "missing"]
        most = results.of_lesson(lesson)[0].max_score
        bins = histogram([b.score for b in books], most)
        ax.bar(
            [low for low, _, _ in bins],
            [n for _, _, n in bins],
            [high - low for low, high, _ in bins],
            align="edge",
            color="#4c72b0",
            edgecolor="white",
        )
        if all(high - low == 1 for low, high, _ in bins):  # a bar per score: label its middle
            ax.set_xticks([low + 0.5 for low, _, _ in bins], [f"{low:g}" for low, _, _ in bins], fontsize=7)
        ax.set_title(f"{lesson} ({len(books)} submitted)", fontsize=9)
        ax.set_xlabel(f"점수 score / {most:g}", fontsize=8)
        ax.set_ylabel("학생 students", fontsize=8)
        ax.yaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    return _png(fig, "score distribution of each lesson")


def _mistake_bars(rows: list[dict]) -> str:
    top = rows[:15][::-1]
    fig = Figure(figsize=(7, 0.35 * len(top) + 1))
    ax = fig.add_subplot()
    ax.barh([r["tag"] for r in top], [r["students"] for r in top], color="#dd8452")
    ax.set_xlabel("학생 수 students who made it")
    ax.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    return _png(fig, "the most common mistakes")


def _items_table(lesson_items: list[Item]) -> str:
    rows = [
        [i.cell, i.points, i.students, i.earned, i.share, i.discrimination, ", ".join(i.flags)]
        for i in lesson_items
    ]
    classes = [
        " ".join(
            c for c, on in (("hard", "hard" in i.flags), ("weak", "weak discrimination" in i.flags)) if on
        )
        for i in lesson_items
    ]
    return _table(["cell", "points", "graded", "earned", "share", "discrimination", ""], rows, classes)


def page(results, lesson_rows, by_lesson, per_lesson, class_rows, flag_rows, score_rows) -> str:
    use_hangul_font()
    graded = sum(b.status == "graded" for b in results.notebooks.values())
    missing = sum(b.status == "missing" for b in results.notebooks.values())
    parts = [
        "<h1>Class report</h1>",
        '<p class="summary">'
        f"<span>{len(results.students)} students</span><span>{len(results.lessons)} lessons</span>"
        f"<span>{graded} notebooks graded</span><span>{missing} not submitted</span>"
        f"<span>{len(flag_rows)} flags</span></p>",
        "<h2>Lessons</h2>",
        _table(
            ["lesson", "points", "students", "submitted", "graded", "not graded", "mean", "median"],
            [
                [
                    r["lesson"],
                    r["max_score"],
                    r["students"],
                    r["submitted"],
                    r["graded"],
                    r["not_graded"],
                    r["mean"],
                    r["median"],
                ]
                for r in lesson_rows
            ],
        ),
        _histograms(results, results.lessons),
        "<h2>Mistakes</h2>",
        '<p class="note">Diagnosed by the hidden tests: each is a known mistake, tagged in '
        "<code>transformer_course/mistakes.py</code>. The message is the one the student saw.</p>",
    ]
    if class_rows:
        columns = ["tag", "students", "lessons", "message", "who"]
        parts += [_mistake_bars(class_rows), _table(columns, [[r[k] for k in columns] for r in class_rows])]
        parts += [
            "<h3>Per lesson</h3>",
            _table(
                ["lesson", "tag", "students", "cells", "who"],
                [
                    [m.lesson, m.tag, len(m.students), " ".join(m.cells), " ".join(m.students)]
                    for m in per_lesson
                ],
            ),
        ]
    else:
        parts.append("<p>No known mistake was diagnosed.</p>")
    parts += [
        "<h2>Item analysis</h2>",
        '<p class="note">Per graded cell: the share of graded students who earned its points, and '
        "its discrimination, the correlation of the cell's score with the rest of the lesson "
        "(— where everyone scored the same). Hardest first; highlighted: share below 0.5, "
        "discrimination below 0.2.</p>",
    ]
    for lesson in results.lessons:
        parts += [
            f"<h3>{escape(lesson)}</h3>",
            _items_table(by_lesson[lesson])
            if by_lesson[lesson]
            else "<p>No notebook of this lesson was graded.</p>",
        ]
    parts += [
        "<h2>Integrity and notebooks not graded</h2>",
        _table(
            ["student", "lesson", "kind", "why"],
            [[r["student"], r["lesson"], r["kind"], r["why"]] for r in flag_rows],
        )
        if flag_rows
        else "<p>Nothing flagged.</p>",
        "<h2>Scores</h2>",
        _table(
            ["student", *results.lessons, "total", "note"],
            [
                [r["student"], *[r[lesson] for lesson in results.lessons], r["total"], r["note"]]
                for r in score_rows
            ],
        ),
        '<p class="note">Also in this folder: lessons.csv, histogram.csv, items.csv, mistakes.csv, '
        "mistakes_class.csv, flags.csv, scores.csv, and canvas.csv for Canvas's gradebook import.</p>",
    ]
    body = "\n".join(parts)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Class report</title>'
        f"<style>{STYLE}</style></head><body>\n{body}\n</body></html>\n"
    )
