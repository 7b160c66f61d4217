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


class LimitOutputSize(NbGraderPreprocessor):
    """Caps each output's size: nbgrader's LimitOutput counts lines, and one line of
    megabytes would still swell the graded notebook and its feedback."""

    max_chars = 20_000

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        kept = []
        for output in cell.outputs:
            if output.output_type == "stream" and len(output.text) > self.max_chars:
                output.text = output.text[: self.max_chars] + "\n… output cut: it was too long …\n"
            elif output.output_type in ("display_data", "execute_result"):
                size = sum(len(str(v)) for v in output.get("data", {}).values())
                if size > 50 * self.max_chars:
                    output.data = {"text/plain": "… output removed: it was too large …"}
            kept.append(output)
        cell.outputs = kept
        return cell, resources
