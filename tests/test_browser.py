"""The student's JupyterLab in a real browser (Debian's Chromium, headless, driven by
Playwright): what `make lab` opens, used as a student uses it.

- lesson 01 opened, answered, run, and checked with nbgrader's Validate button: correct
  answers get nbgrader's success message, a wrong one a failure that shows the test;
- every lesson renders: markdown, LaTeX through MathJax, pictures, Korean labels in a
  font with Hangul glyphs, no error dialogs;
- the instructor's `make formgrader` opens nbgrader's formgrader on the course.

Screenshots land in build/screenshots/ (the README's come from there, copied to
docs/screenshots/).
"""

import shutil
import subprocess
import urllib.error
import urllib.request

import nbformat
import pytest
from nbgrader.utils import is_grade

from autograder.course import LESSONS, ROOT, SOLUTIONS, lesson_ids, notebook_path

from . import browser as b

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright
except ImportError as error:  # the dev extra installs it; a missing browser test must not pass
    raise ImportError("the browser tests need Playwright: `pip install -e '.[dev]'`") from error

pytestmark = [pytest.mark.slow, pytest.mark.requires("chromium"), pytest.mark.xdist_group("browser")]

LESSON = "01_qkv"
EXERCISE = "embed"  # the exercise the student answers by hand, right then wrong
WRONG_ANSWER = '''def embed(tokens, table):
    """Look up each token's row of the embedding table."""
    return table[:, tokens]  # columns instead of rows
'''


@pytest.fixture(scope="module")
def chromium():
    if not b.CHROMIUM.exists():
        pytest.fail(b.chromium_missing_message(), pytrace=False)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(b.CHROMIUM), args=b.CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def student_lab(tmp_path_factory):
    """JupyterLab on a copy of lessons/, as `make lab` starts it."""
    tmp = tmp_path_factory.mktemp("student-lab")
    notebooks = b.copy_lessons(LESSONS, tmp / "lessons")
    state = tmp / "state"
    state.mkdir()
    with b.jupyter_lab(notebooks, state, expose_app=True) as lab:
        yield lab


@pytest.fixture
def page(chromium, student_lab):
    context = chromium.new_context(viewport=b.VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(60_000)
    problems = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.problems = problems
    try:
        yield page
    finally:
        context.close()
        b.shut_down_kernels(student_lab)


def _lesson(lesson: str):
    return nbformat.read(notebook_path(LESSONS, lesson), as_version=4)


def _solutions(lesson: str) -> dict[str, str]:
    return b.solutions_by_id(nbformat.read(notebook_path(SOLUTIONS, lesson), as_version=4))


def test_a_student_answers_lesson_01_and_validates(page, student_lab):
    nb = _lesson(LESSON)
    answers = _solutions(LESSON)
    index = {b.grade_id(c): i for i, c in enumerate(nb.cells)}
    clock = b.Clock()
    page.goto(student_lab.url(f"lab/tree/{LESSON}/{LESSON}.ipynb?reset"))
    b.wait_for_notebook(page, len(nb.cells))
    b.screenshot(page, "student-lesson-open.png")
    clock.lap("lesson 01 open")

    # The student's view: Validate on, the course's kernel, no instructor tools, no pop-ups.
    page.locator(f"{b.PANEL} .jp-KernelName", has_text="Python 3 (ipykernel)").wait_for()
    assert page.locator(f"{b.PANEL} .validate-button").is_visible(), "no Validate button"
    assert set(b.api(student_lab, "api/kernelspecs")["kernelspecs"]) == {"python3"}
    menus = page.locator("#jp-MainMenu .lm-MenuBar-itemLabel").all_inner_texts()
    assert "Nbgrader" not in menus, f"instructor menu shown to students: {menus}"
    sidebars = page.locator(".jp-SideBar .lm-TabBar-tab").evaluate_all(
        "tabs => tabs.map(t => (t.getAttribute('title') || '') + ' ' + t.textContent)")
    assert not [t for t in sidebars if "Assignment" in t or "Formgrader" in t], sidebars
    with pytest.raises(urllib.error.HTTPError, match="404"):  # formgrader's server side is off too
        urllib.request.urlopen(student_lab.url("formgrader"), timeout=30)

    # Every exercise answered: the solutions' code typed into each exercise cell.
    for cell in nb.cells:
        if b.is_solution_cell(cell) and cell.cell_type == "code":
            b.set_cell_source(page, index[b.grade_id(cell)], answers[b.grade_id(cell)])
    clock.lap("answers typed")
    prompts = b.run_all(page)
    clock.lap("run all")
    assert all(p[1:-2].strip().isdigit() for p in prompts), (
        f"not every cell ran: {prompts}\n{b.first_error(page)}")
    assert not b.first_error(page), f"a correct answer printed errors: {b.first_error(page)}"
    assert not _render_problems(page)
    first_test = next(i for i, c in enumerate(nb.cells) if is_grade(c) and EXERCISE in b.grade_id(c))
    page.locator(b.CELLS).nth(first_test).evaluate("cell => cell.scrollIntoView({block: 'center'})")
    assert "✓" in page.locator(b.CELLS).nth(first_test).locator(".jp-OutputArea").inner_text()
    b.screenshot(page, "student-exercise-passed.png")

    kind, text = b.validate(page)
    clock.lap("validate (correct)")
    b.screenshot(page, "student-validate-success.png")
    assert kind == "validation-success", f"a correct lesson 01 failed Validate:\n{text[:3000]}"
    assert "Success! Your notebook passes all the tests." in text
    b.close_dialog(page)

    # The same exercise answered wrong: Validate fails and shows which tests failed, and why.
    b.set_cell_source(page, index[EXERCISE], WRONG_ANSWER)
    b.run_all(page)
    clock.lap("run all (wrong)")
    failing_cell = page.locator(b.CELLS).nth(first_test)
    failing_cell.evaluate("cell => cell.scrollIntoView({block: 'center'})")
    assert "AssertionError" in failing_cell.locator(".jp-OutputArea").inner_text()
    b.screenshot(page, "student-test-failed.png")
    kind, text = b.validate(page)
    clock.lap("validate (wrong)")
    b.show_last_error(page)
    b.screenshot(page, "student-validate-failed.png")
    assert kind == "validation-failed", f"a wrong answer passed Validate:\n{text[:3000]}"
    embed_tests = [c for c in nb.cells if is_grade(c) and EXERCISE in b.grade_id(c)]
    other_tests = [c for c in nb.cells if is_grade(c) and EXERCISE not in b.grade_id(c)]
    assert text.count("The following cell failed:") == len(embed_tests), text[:3000]
    for cell in embed_tests:
        assert cell.source.strip().splitlines()[0] in text, f"{b.grade_id(cell)} not named:\n{text[:3000]}"
    for cell in other_tests:
        assert cell.source.strip() not in text, f"{b.grade_id(cell)} failed too:\n{text[:3000]}"
    assert "AssertionError" in text and "expected shape" in text, text[:3000]
    b.close_dialog(page)

    assert page.locator(".Toastify__toast").count() == 0, (
        f"pop-ups shown: {page.locator('.Toastify__toast').all_inner_texts()}")
    assert not page.problems, f"JavaScript errors in the page: {page.problems}"


def _hangul_fonts() -> str:
    try:
        return subprocess.run(["fc-list", ":lang=ko", "family"], capture_output=True, text=True,
                              timeout=30).stdout.strip()
    except OSError:
        return ""


def test_every_lesson_renders(page, student_lab):
    """Each lesson as a student first sees it, opened and run (Run All stops at the first
    exercise not yet written): markdown and LaTeX render, the pictures drawn before that
    point load, Korean labels find their glyphs, nothing else fails or pops up."""
    assert _hangul_fonts(), ("no font with Hangul glyphs: Korean text in the lessons' plots would be "
                             "boxes. Install one: `apt-get install fonts-nanum` (.ci/run does)")
    lessons = lesson_ids(LESSONS)
    assert lessons, f"no lessons in {LESSONS}: run `make release`"
    page.goto(student_lab.url("lab?reset"))
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.started", timeout=120_000)
    page.evaluate("() => window.jupyterapp.started")
    failures = []
    for lesson in lessons:
        failures += [f"{lesson}: {problem}" for problem in _render_lesson(page, student_lab, lesson)]
    assert not failures, "\n".join(failures)
    assert not page.problems, f"JavaScript errors in the page: {page.problems}"


def _render_lesson(page, lab, lesson: str) -> list[str]:
    """One lesson at a time: on a 2-core machine, kernels side by side only slow each other."""
    clock = b.Clock()
    shutil.rmtree(lab.root / lesson)  # as released: another test may have answered it
    shutil.copytree(LESSONS / lesson, lab.root / lesson)
    page.evaluate("path => window.jupyterapp.commands.execute('docmanager:open', {path})",
                  f"{lesson}/{lesson}.ipynb")
    b.wait_for_notebook(page, len(_lesson(lesson).cells))
    b.screenshot(page, f"lesson-{lesson}.png")
    clock.lap(f"{lesson}: open")
    b.run_all(page)
    page.keyboard.press("ControlOrMeta+s")
    page.locator(".lm-TabBar-tab.lm-mod-current.jp-mod-dirty").wait_for(state="detached")
    clock.lap(f"{lesson}: run all")

    problems = _output_problems(nbformat.read(notebook_path(lab.root, lesson), as_version=4))
    problems += _render_problems(page)
    if page.locator(".jp-Dialog").count():
        problems.append(f"a dialog is open: {page.locator('.jp-Dialog').inner_text()[:300]}")
    figure = page.locator(f"{b.PANEL} .jp-OutputArea-output:has(img)").first
    if figure.count():
        b.screenshot(page, f"lesson-{lesson}-figure.png", figure)
    page.evaluate("() => window.jupyterapp.commands.execute('application:close-all')")
    b.shut_down_kernels(lab)
    clock.lap(f"{lesson}: checks")
    return problems


def _output_problems(nb) -> list[str]:
    """What the run left in the notebook that should not be there. Run All stops at the first
    cell that raises: on a lesson as released, a test of an exercise not written yet (or the
    exercise's NotImplementedError). Also: a plot font without Hangul, a test cell that
    writes to stderr (Validate would call it failed)."""
    problems = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.output_type == "error" and not (
                    is_grade(cell) or output.ename == "NotImplementedError"):
                problems.append(f"cell {index} raised {output.ename}: {output.evalue}")
            elif output.output_type == "stream" and output.name == "stderr":
                text = output.text
                if "Glyph" in text and "missing" in text:
                    problems.append(f"cell {index}: a plot's font lacks glyphs: {text[:300]}")
                elif is_grade(cell):
                    problems.append(f"test cell {b.grade_id(cell)} writes to stderr, so nbgrader's "
                                    f"Validate button reports it failed: {text[:300]}")
    return problems


def _render_problems(page) -> list[str]:
    """What a reader would see broken, once MathJax and the images have had time to finish."""
    try:
        page.wait_for_function(f"(panel) => ({RENDER_CHECKS})(panel).length === 0", arg=b.PANEL,
                               timeout=30_000)
    except PlaywrightTimeout:
        pass
    return page.evaluate(RENDER_CHECKS, b.PANEL)


# In the page: what a reader would see broken.
RENDER_CHECKS = """(panel) => {
  const problems = [];
  const notebook = document.querySelector(panel + ' .jp-Notebook');
  for (const cell of notebook.querySelectorAll('.jp-MarkdownCell')) {
    const rendered = cell.querySelector('.jp-RenderedMarkdown');
    if (!rendered) { problems.push('a markdown cell is not rendered'); continue; }
    if (rendered.querySelector('mjx-merror, .MathJax_Error'))
      problems.push('a LaTeX error: ' + rendered.querySelector('mjx-merror, .MathJax_Error').textContent);
    const copy = rendered.cloneNode(true);
    copy.querySelectorAll('mjx-container, code, pre').forEach(e => e.remove());
    const raw = copy.textContent.match(/\\$[^$]*\\$|\\\\(frac|sqrt|mathrm|text|top|cdot)\\b/);
    if (raw) problems.push('LaTeX left unrendered: ' + raw[0].slice(0, 80));
  }
  for (const img of notebook.querySelectorAll('img')) {
    if (!img.complete || img.naturalWidth === 0)
      problems.push('a broken image: ' + (img.getAttribute('src') || '').slice(0, 80));
  }
  const markdownWithMath = [...notebook.querySelectorAll('.jp-MarkdownCell .jp-RenderedMarkdown')]
    .filter(e => e.querySelector('mjx-container')).length;
  if (!markdownWithMath) problems.push('no LaTeX rendered anywhere (MathJax did not run)');
  return problems;
}"""


def test_formgrader_opens_on_the_course(chromium, tmp_path):
    """`make formgrader`: nbgrader's formgrader, on a copy of the course, lists every lesson."""
    course = tmp_path / "course"
    course.mkdir()
    for name in ("solutions", "lessons"):
        shutil.copytree(ROOT / name, course / name, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.copy(ROOT / "nbgrader_config.py", course)
    state = tmp_path / "state"
    state.mkdir()
    with b.jupyter_lab(course, state, config="instructor", cwd=course) as lab:
        context = chromium.new_context(viewport=b.VIEWPORT)
        try:
            page = context.new_page()
            page.set_default_timeout(60_000)
            page.goto(lab.url("formgrader"))
            page.get_by_role("heading", name="Manage Assignments").wait_for()
            for lesson in lesson_ids(SOLUTIONS):  # the course's source: solutions/
                page.locator("table").get_by_role("link", name=lesson, exact=True).wait_for()
            b.screenshot(page, "instructor-formgrader.png")
        finally:
            context.close()


def test_the_class_report_renders_offline(chromium, tmp_path):
    """`make report`: the page of a class, opened from disk with the network cut off, shows
    its plots and tables; its screenshot is the README's."""
    from autograder.report import report

    from .report_class import made_up_class

    index = report(made_up_class(tmp_path / "out"))
    context = chromium.new_context(viewport={**b.VIEWPORT, "height": 1300})  # down to the mistakes
    fetched = []

    def offline(route):
        fetched.append(route.request.url)
        route.abort()

    context.route("http*://**", offline)
    try:
        page = context.new_page()
        page.goto(index.as_uri())
        page.get_by_role("heading", name="Class report").wait_for()
        images = page.locator("img")
        assert images.count() == 2
        assert all(page.evaluate("i => i.complete && i.naturalWidth > 0", images.nth(n).element_handle())
                   for n in range(images.count())), "a plot did not render"
        assert page.get_by_role("cell", name="qkv-outputs-swapped", exact=True).count() == 2
        b.screenshot(page, "instructor-class-report.png")
    finally:
        context.close()
    assert not fetched, f"the report fetched from the network: {fetched}"
