"""The reference building blocks in transformer_course/ are the solutions' code.

Later lessons import the package's version of what earlier lessons built, so each
function or class a solution cell defines must stand in the package unchanged
(compared as syntax trees: comments may differ, code and docstrings may not).
"""

import ast
import importlib
import pkgutil

import nbformat
import pytest
from nbgrader.utils import is_solution

import transformer_course
from autograder.course import SOLUTIONS, lesson_ids


def _definitions(tree: ast.Module) -> dict[str, ast.AST]:
    return {
        node.name: node
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    }


def _package_definitions() -> dict[str, list[tuple[str, ast.AST]]]:
    found: dict[str, list[tuple[str, ast.AST]]] = {}
    for module in pkgutil.iter_modules(transformer_course.__path__):
        source = importlib.util.find_spec(f"transformer_course.{module.name}").origin
        with open(source, encoding="utf-8") as f:
            for name, node in _definitions(ast.parse(f.read())).items():
                found.setdefault(name, []).append((module.name, node))
    return found


PACKAGE = _package_definitions()


def _solution_definitions(lesson: str) -> dict[str, ast.AST]:
    found = {}
    for cell in nbformat.read(SOLUTIONS / lesson / f"{lesson}.ipynb", as_version=4).cells:
        if is_solution(cell) and cell.cell_type == "code":
            found.update(_definitions(ast.parse(cell.source)))
    return found


@pytest.mark.parametrize("lesson", lesson_ids())
def test_solution_code_stands_in_the_package(lesson):
    for name, node in _solution_definitions(lesson).items():
        twins = PACKAGE.get(name, [])
        assert twins, f"{lesson}: {name} is not in transformer_course/"
        assert any(ast.dump(node) == ast.dump(twin) for _, twin in twins), (
            f"{lesson}: {name} differs from transformer_course.{twins[0][0]}.{name}: "
            "copy the solution into the package (or the package's version into the solution)"
        )
