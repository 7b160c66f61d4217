"""The nbgrader configuration of the course, in one place.

The grader builds it for a temporary course root; ``nbgrader_config.py`` at the
repository's top merges the same settings for instructors who run nbgrader's own
commands or formgrader.
"""

from pathlib import Path

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    ClearOutput,
    DeduplicateIds,
    Execute,
    GetGrades,
    LimitOutput,
    OverwriteKernelspec,
    SaveAutoGrades,
)
from traitlets.config import Config

from .course import COURSE_ID
from .integrity import InjectGuard, VerifyGuard
from .limits import Limits
from .preprocessors import HideHiddenTests, LimitOutputSize, StderrToStdout
from .restore import RestoreMissingCells
from .sandbox import GradingExecute

# Kernels nbgrader starts write their stderr (warnings, tqdm, print(file=sys.stderr)) to stdout.
STDERR_TO_STDOUT = "import sys; sys.stderr = sys.stdout"


def course_config(root: Path | None = None, limits: Limits | None = None) -> Config:
    """nbgrader settings; ``root`` is the course directory (a temporary one when grading).

    With ``limits`` (the grader), notebooks run in the grading kernel of
    autograder/sandbox.py; without (nbgrader's own commands), in the notebook's kernel.
    """
    c = Config()
    c.CourseDirectory.course_id = COURSE_ID
    if root is not None:
        c.CourseDirectory.root = str(root)
    # nbgrader's own steps, but a deleted test cell is put back where the source has it
    # (nbgrader's add_missing_cells would put it before the demo cells it checks).
    c.Autograde.sanitize_preprocessors = [
        ClearOutput,
        DeduplicateIds,
        OverwriteKernelspec,
        RestoreMissingCells,
        CheckCellMetadata,
    ]
    kept = limits or Limits()
    c.Execute.timeout = kept.cell_timeout_s
    c.GradingExecute.interrupt_grace = kept.interrupt_grace_s
    # nbclient waits 4 s for a cell's output after its reply; on a busy machine the
    # output of `import torch` comes later, and nbgrader then drops the whole notebook.
    c.Execute.iopub_timeout = 60
    # nbgrader's Validator (the Validate button) fails a test cell on any stderr and, unlike
    # the grader's StderrToStdout, cannot be configured otherwise: stderr goes to stdout.
    c.Execute.extra_arguments = [f"--IPKernelApp.exec_lines={STDERR_TO_STDOUT}"]
    guarded = [InjectGuard, GradingExecute, VerifyGuard] if limits else [Execute]
    c.Autograde.autograde_preprocessors = [
        *guarded,
        StderrToStdout,
        ClearMetadataPreprocessor,
        LimitOutput,
        LimitOutputSize,
        SaveAutoGrades,
        AssignLatePenalties,
        CheckCellMetadata,
    ]
    c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]
    return c
