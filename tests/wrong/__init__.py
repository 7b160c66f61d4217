"""Realistic wrong implementations of the graded exercises.

Each ``lesson_XX.py`` here lists ``Wrong`` entries for one lesson: the solution
cell it replaces, the mistake in words, and the whole replacement cell. CI runs
the lesson with each one in place and proves it loses points
(tests/test_wrong_implementations.py).
"""

import importlib
import pkgutil
from dataclasses import dataclass


@dataclass(frozen=True)
class Wrong:
    lesson: str  # e.g. "02_scaled_dot_product"
    target: str  # grade_id of the solution cell it replaces, e.g. "softmax"
    mistake: str  # what a learner got wrong, e.g. "softmax over the wrong axis"
    code: str  # the whole replacement cell

    @property
    def id(self) -> str:
        return f"{self.lesson}:{self.target}:{self.mistake}"


def all_wrong() -> list[Wrong]:
    found = []
    for module in pkgutil.iter_modules(__path__):
        if module.name.startswith("lesson_"):
            found.extend(importlib.import_module(f"{__name__}.{module.name}").WRONG)
    return found
