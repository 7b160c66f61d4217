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
    Execute,
    GetGrades,
    LimitOutput,
    SaveAutoGrades,
)
from traitlets.config import Config

from .course import COURSE_ID
from .preprocessors import HideHiddenTests, StderrToStdout

CELL_TIMEOUT_S = 300


def course_config(root: Path | None = None) -> Config:
    """nbgrader settings; ``root`` is the course directory (a temporary one when grading)."""
    c = Config()
    c.CourseDirectory.course_id = COURSE_ID
    if root is not None:
        c.CourseDirectory.root = str(root)
    # A deleted test cell would otherwise wait for manual grading forever.
    c.OverwriteCells.add_missing_cells = True
    c.Execute.timeout = CELL_TIMEOUT_S
    c.Autograde.autograde_preprocessors = [
        Execute,
        StderrToStdout,
        ClearMetadataPreprocessor,
        LimitOutput,
        SaveAutoGrades,
        AssignLatePenalties,
        CheckCellMetadata,
    ]
    c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]
    return c
