"""nbgrader preprocessors that close traps of plain nbgrader 0.9.

- ``StderrToStdout``: nbgrader scores a grade cell 0 when anything reaches stderr,
  so a harmless torch ``UserWarning`` would cost a correct answer its points. The
  text is kept (the student sees the warning) but moved to stdout.
- ``HideHiddenTests``: nbgrader's feedback shows the autograded notebook, hidden
  tests and all. This removes the hidden regions and cuts every traceback down to
  its last line, since a traceback quotes the lines of the hidden test that failed.
"""

from nbgrader import utils
from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor


class StderrToStdout(NbGraderPreprocessor):
    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and utils.is_grade(cell):
            for output in cell.outputs:
                if output.output_type == "stream" and output.name == "stderr":
                    output.name = "stdout"
        return cell, resources


class HideHiddenTests(ClearHiddenTests):
    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        self._remove_hidden_test_region(cell)
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                output.traceback = [f"{output.ename}: {output.evalue}"]
        return cell, resources
