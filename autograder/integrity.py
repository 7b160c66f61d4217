"""Integrity of grading: tests that run as written, on what they are meant to compare.

- ``InjectGuard`` puts the check of ``guard.py`` at the top of every test cell, as a
  hidden region (feedback never shows it), with a nonce made for this run.
- ``VerifyGuard`` then scores a test cell whose output lacks the nonce as not run as
  written (a cell transformer, a silenced error display), and removes the nonce line.
- ``scan`` flags code in the student's cells that patches what tests rely on, for
  the instructor's integrity report: a place to look, not a verdict.
"""

import ast
import secrets
from pathlib import Path

from nbformat.v4 import new_output
from nbgrader.preprocessors import NbGraderPreprocessor
from nbgrader.utils import is_grade, is_locked

from .course import PACKAGE

GUARD = (Path(__file__).with_name("guard.py")).read_text()
BEGIN, END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
NOT_RUN = (
    "IntegrityError: this test cell did not run as written (the notebook changes how cells "
    "run or how errors are shown); remove that code and run the notebook again"
)


class InjectGuard(NbGraderPreprocessor):
    def preprocess(self, nb, resources):
        resources["integrity_nonce"] = f"integrity-ok-{secrets.token_hex(8)}"
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and is_grade(cell):
            call = (
                f"_course_integrity_check({resources['integrity_nonce']!r}, {PACKAGE!r})\n"
                "del _course_integrity_check"
            )
            cell.source = f"{BEGIN}\n{GUARD}\n{call}\n{END}\n{cell.source}"
        return cell, resources


class VerifyGuard(NbGraderPreprocessor):
    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not is_grade(cell):
            return cell, resources
        nonce = resources["integrity_nonce"]
        seen = False
        for output in cell.outputs:
            if output.output_type == "stream" and nonce in output.text:
                seen = True
                output.text = "".join(
                    line for line in output.text.splitlines(keepends=True) if nonce not in line
                )
        cell.outputs = [o for o in cell.outputs if not (o.output_type == "stream" and not o.text)]
        if not seen and not any(o.output_type == "error" for o in cell.outputs):
            cell.outputs.append(new_output("error", ename="IntegrityError", evalue=NOT_RUN, traceback=[]))
        return cell, resources


PATCHED_ROOTS = {
    "torch",
    "np",
    "numpy",
    PACKAGE,
    "checks",
    "builtins",
    "sys",
    "IPython",
    "importlib",
    "get_ipython",
    "F",
    "nn",
}
SUSPICIOUS_CALLS = {
    "setattr",
    "set_custom_exc",
    "register",
    "settrace",
    "setprofile",
    "_exit",
    "reload",
    "__import__",
    "signal",
}
SUSPICIOUS_BUILTINS = {"exec", "eval", "compile"}  # as bare names only: model.eval() is fine
SUSPICIOUS_NAMES = {
    "input_transformers_post",
    "input_transformers_cleanup",
    "ast_transformers",
    "showtraceback",
    "_showtraceback",
    "custom_exceptions",
    "excepthook",
    "ctypes",
}


def _root(node) -> str:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else ""


def scan_source(source: str) -> list[str]:
    """What in ``source`` patches or evades what the tests rely on, one line per finding."""
    try:
        tree = ast.parse(
            "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
        )
    except SyntaxError:
        return []
    findings = []
    for node in ast.walk(tree):
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else ([node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else [])
        )
        if isinstance(node, ast.Delete):
            targets = node.targets
        for target in targets:
            if isinstance(target, ast.Attribute) and _root(target) in PATCHED_ROOTS:
                findings.append(f"line {node.lineno}: changes {ast.unparse(target)}")
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in SUSPICIOUS_CALLS or (isinstance(node.func, ast.Name) and name in SUSPICIOUS_BUILTINS):
                findings.append(f"line {node.lineno}: calls {ast.unparse(node.func)}")
        if isinstance(node, ast.Attribute) and node.attr in SUSPICIOUS_NAMES:
            findings.append(f"line {node.lineno}: uses {ast.unparse(node)}")
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
            if module and module.split(".")[0] in {"ctypes", "gc", "inspect"}:
                findings.append(f"line {node.lineno}: imports {module}")
    return findings


def scan(nb) -> list[str]:
    """Findings in the cells a student may edit (not the locked ones, which are restored)."""
    findings = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and not is_locked(cell):
            findings += [f"cell {index + 1}, {f}" for f in scan_source(cell.source)]
    return findings
