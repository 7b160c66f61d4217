"""The statistics of the class report: a lesson's score distribution, and item analysis.

Item analysis, as test theory does it for one exam: for each graded cell, the share of
students who earned its points (its difficulty: a low share is a hard cell), and its
discrimination, the correlation of the cell's score with the rest of the lesson (the
lesson's score without this cell). A cell that the strong students pass and the weak ones
fail discriminates (near 1); near 0 or below, passing it says little about the rest of the
lesson: a test that checks something else, or one that is too easy or flaky to tell.
"""

import bisect
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

HARD = 0.5  # a cell fewer than half the class passes
WEAK = 0.2  # below this, a discrimination is commonly read as poor


@dataclass(frozen=True)
class Summary:
    count: int
    mean: float | None
    median: float | None


def summarize(scores: Sequence[float]) -> Summary:
    if not scores:
        return Summary(0, None, None)
    return Summary(len(scores), statistics.fmean(scores), statistics.median(scores))


def bin_edges(max_score: float, bins: int = 10) -> list[float]:
    """One bin per score where scores are whole points up to 20 ([k, k + 1) holds k), else
    ``bins`` equal bins over [0, max_score], the last one closed."""
    if max_score == int(max_score) and 0 < max_score <= 20:
        return [float(k) for k in range(int(max_score) + 2)]
    top = max_score or 1.0
    return [top * i / bins for i in range(bins + 1)]


def histogram(scores: Sequence[float], max_score: float) -> list[tuple[float, float, int]]:
    """(low, high, count) per bin of ``bin_edges``: low <= score < high (the last bin also
    holds high)."""
    edges = bin_edges(max_score)
    counts = [0] * (len(edges) - 1)
    for score in scores:
        counts[min(len(counts) - 1, max(0, bisect.bisect_right(edges, score) - 1))] += 1
    return [(edges[i], edges[i + 1], n) for i, n in enumerate(counts)]


def correlation(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson's r, or None where it is undefined (fewer than 3 students, or either side
    the same for everyone: a cell everyone passes tells nothing about who is stronger)."""
    if len(x) < 3 or len(set(x)) < 2 or len(set(y)) < 2:
        return None
    return statistics.correlation(x, y)


@dataclass(frozen=True)
class Item:
    lesson: str
    cell: str
    points: float
    students: int  # whose notebook was graded
    earned: int  # students with all of the cell's points
    share: float | None
    discrimination: float | None

    @property
    def flags(self) -> list[str]:
        flags = []
        if self.share is not None and self.share < HARD:
            flags.append("hard")
        if self.discrimination is not None and self.discrimination < WEAK:
            flags.append("weak discrimination")
        return flags


def item_analysis(
    lesson: str, cells: Sequence[str], points: dict[str, float], scores: dict[str, dict[str, float]]
) -> list[Item]:
    """Items of one lesson, hardest first, then least discriminating (undefined last).

    Args:
        cells: the lesson's graded cells, in notebook order.
        points: each cell's points.
        scores: student -> cell -> score, for the students whose notebook was graded.
    """
    students = sorted(scores)
    totals = {s: sum(scores[s].values()) for s in students}
    items = []
    for cell in cells:
        mine = [scores[s].get(cell, 0.0) for s in students]
        rest = [totals[s] - m for s, m in zip(students, mine, strict=True)]
        earned = sum(m >= points[cell] for m in mine)
        items.append(
            Item(
                lesson,
                cell,
                points[cell],
                len(students),
                earned,
                earned / len(students) if students else None,
                correlation(mine, rest),
            )
        )
    return sorted(items, key=difficulty)


def difficulty(item: Item) -> tuple[float, float]:
    """Sort key: the hardest first, then the least discriminating; undefined values last."""
    return (
        item.share if item.share is not None else 2.0,
        item.discrimination if item.discrimination is not None else 2.0,
    )
