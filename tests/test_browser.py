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

import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import nbformat
import pytest
import torch
from nbgrader.utils import is_grade

from autograder.course import LESSONS, ROOT, SOLUTIONS, lesson_ids, notebook_path
from transformer_course.data import ENGLISH_VOCAB, KOREAN_VOCAB
from transformer_course.explorer import state as st
from transformer_course.model import Transformer
from transformer_course.training import greedy_decode

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
        "tabs => tabs.map(t => (t.getAttribute('title') || '') + ' ' + t.textContent)"
    )
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
        f"not every cell ran: {prompts}\n{b.first_error(page)}"
    )
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
        f"pop-ups shown: {page.locator('.Toastify__toast').all_inner_texts()}"
    )
    assert not page.problems, f"JavaScript errors in the page: {page.problems}"


def _hangul_fonts() -> str:
    try:
        return subprocess.run(
            ["fc-list", ":lang=ko", "family"], capture_output=True, text=True, timeout=30
        ).stdout.strip()
    except OSError:
        return ""


def test_every_lesson_renders(page, student_lab):
    """Each lesson as a student first sees it, opened and run (Run All stops at the first
    exercise not yet written): markdown and LaTeX render, the pictures drawn before that
    point load, Korean labels find their glyphs, nothing else fails or pops up."""
    assert _hangul_fonts(), (
        "no font with Hangul glyphs: Korean text in the lessons' plots would be "
        "boxes. Install one: `apt-get install fonts-nanum` (.ci/run does)"
    )
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
    b.run_command(page, "docmanager:open", {"path": f"{lesson}/{lesson}.ipynb"})
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
    b.run_command(page, "application:close-all")
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
                is_grade(cell) or output.ename == "NotImplementedError"
            ):
                problems.append(f"cell {index} raised {output.ename}: {output.evalue}")
            elif output.output_type == "stream" and output.name == "stderr":
                text = output.text
                if "Glyph" in text and "missing" in text:
                    problems.append(f"cell {index}: a plot's font lacks glyphs: {text[:300]}")
                elif is_grade(cell):
                    problems.append(
                        f"test cell {b.grade_id(cell)} writes to stderr, so nbgrader's "
                        f"Validate button reports it failed: {text[:300]}"
                    )
    return problems


def _render_problems(page) -> list[str]:
    """What a reader would see broken, once MathJax and the images have had time to finish."""
    try:
        page.wait_for_function(
            f"(panel) => ({RENDER_CHECKS})(panel).length === 0", arg=b.PANEL, timeout=30_000
        )
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
        assert all(
            page.evaluate("i => i.complete && i.naturalWidth > 0", images.nth(n).element_handle())
            for n in range(images.count())
        ), "a plot did not render"
        assert page.get_by_role("cell", name="qkv-outputs-swapped", exact=True).count() == 2
        b.screenshot(page, "instructor-class-report.png")
    finally:
        context.close()
    assert not fetched, f"the report fetched from the network: {fetched}"


# -- The attention explorer (transformer_course/explorer), offline ---------------------------

EXPLORER = f"{b.PANEL} .tc-explorer"
SOURCE_TOKENS = ".tc-tokens[data-side='source'] .tc-token"


@pytest.fixture
def offline_page(chromium, student_lab):
    """A page that may reach the JupyterLab server only: every other request is aborted and
    recorded (``page.blocked``), so a test can assert the explorer fetched nothing."""
    context = chromium.new_context(viewport={"width": 1280, "height": 1000})
    blocked = []

    def only_loopback(route):
        host = urllib.parse.urlsplit(route.request.url).hostname
        if host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", only_loopback)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.problems, page.blocked = [], blocked
    page.on("pageerror", lambda error: page.problems.append(str(error)))
    try:
        yield page
    finally:
        context.close()
        b.shut_down_kernels(student_lab)


def _solved_notebook(lab, lesson: str, name: str, cells=None) -> str:
    """The released lesson with every exercise answered (or just ``cells``), written beside
    it as ``name``; returns its path in the server."""
    nb = _lesson(lesson)
    answers = _solutions(lesson)
    for cell in nb.cells:
        if b.is_solution_cell(cell) and cell.cell_type == "code":
            cell.source = answers[b.grade_id(cell)]
    if cells is not None:
        nb.cells = cells(nb.cells)
    nbformat.write(nb, lab.root / lesson / name)
    return f"{lesson}/{name}"


KERNEL_READY = """() => {
  const kernel = window.jupyterapp.shell.currentWidget?.sessionContext?.session?.kernel;
  return kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
}"""


def _open_and_run(page, lab, path: str, n_cells: int):
    page.goto(lab.url("lab?reset"))
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.started", timeout=120_000)
    b.run_command(page, "docmanager:open", {"path": path})
    b.wait_for_notebook(page, n_cells)
    # The execution indicator reads "idle" before the kernel has connected; a Run All sent
    # then is lost. Wait for the kernel itself, then run through JupyterLab's command.
    page.wait_for_function(KERNEL_READY, timeout=b.CELL_RUN_S * 1000)
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    try:
        b.wait_until_run(page)
    except PlaywrightTimeout:
        b.screenshot(page, f"explorer-run-failed-{path.split('/')[0]}.png")
        raise AssertionError(
            f"{path} did not finish running: prompts {page.evaluate(b._PROMPTS)}, "
            f"server log:\n{lab.log_tail(2000)}"
        ) from None
    assert not b.first_error(page), f"{path} printed errors:\n{b.first_error(page)}"
    explorer = page.locator(EXPLORER)
    explorer.wait_for(timeout=b.CELL_RUN_S * 1000)
    explorer.evaluate("e => e.scrollIntoView({block: 'start'})")
    # The widget front end ran: the static figure printed before it is hidden.
    assert page.locator(f"{b.PANEL} .tc-explorer-fallback").is_hidden()
    return explorer


def _read(explorer, key: str) -> str:
    return explorer.locator(f"[data-key='{key}']").first.inner_text().strip()


def _wait_for(page, explorer, key: str, text: str) -> None:
    exactly = re.compile(f"^{re.escape(text)}$")
    explorer.locator(f"[data-key='{key}']", has_text=exactly).first.wait_for(timeout=30_000)


def _matrix(explorer) -> list[list[str]]:
    return explorer.locator(".tc-matrix tbody tr").evaluate_all(
        "rows => rows.map(r => [...r.querySelectorAll('td.tc-cell')].map(c => c.textContent))"
    )


def _shoot(page, explorer, name: str) -> None:
    """A screenshot of the explorer in build/screenshots/ (the README's copies are in docs/)."""
    b.screenshot(page, name, explorer)


def _offline_and_clean(page) -> None:
    assert not page.blocked, f"the page tried to reach the network: {page.blocked}"
    assert not page.problems, f"JavaScript errors in the page: {page.problems}"


TINY_MODEL = """torch.manual_seed(0)
model = Transformer(len(ENGLISH_VOCAB), len(KOREAN_VOCAB), d_model=32, num_heads=4, num_layers=2, d_ff=64,
                    dropout=0.0)  # untrained: the browser test needs the explorer, not a translator
"""


def _tiny_model():
    torch.manual_seed(0)
    return Transformer(
        len(ENGLISH_VOCAB), len(KOREAN_VOCAB), d_model=32, num_heads=4, num_layers=2, d_ff=64, dropout=0.0
    )


def _wait_for_source(page, sentence: str) -> None:
    page.wait_for_function(
        "([sel, words]) => [...document.querySelectorAll(sel)].map(t => t.textContent).join(' ') === words",
        arg=[f"{EXPLORER} {SOURCE_TOKENS}", sentence + " <eos>"],
    )


def test_explorer_lesson_08_layers_and_heads(offline_page, student_lab):
    """Lesson 08's explorer cells, on a tiny untrained model instead of the lesson's training:
    pick a head, a kind of attention and a sentence by phenomenon; the weights shown are the
    model's (computed again here, to two decimals)."""
    page = offline_page
    lesson = "08_gpu_training"

    def tiny(cells):
        setup = [c for c in cells if b.grade_id(c) == "setup"]
        functions = [c for c in cells if b.is_solution_cell(c) and c.cell_type == "code"]
        explorer_cells = [c for c in cells if c.get("id", "").startswith("explorer-")]
        assert explorer_cells, "lesson 08 has no explorer cells"
        return setup + functions + [nbformat.v4.new_code_cell(TINY_MODEL)] + explorer_cells

    path = _solved_notebook(student_lab, lesson, "explorer.ipynb", tiny)
    n_cells = len(nbformat.read(student_lab.root / path, as_version=4).cells)
    explorer = _open_and_run(page, student_lab, path, n_cells)
    model = _tiny_model()
    sentence = "the cat sat on the mat because it was tired"
    maps = st.transformer_maps(model, sentence, greedy_decode)

    def expect_shown(kind, layer, head):
        want = st.select(maps, kind, layer, head)["weights"]
        shown = [[float(x) for x in row] for row in _matrix(explorer)]
        assert len(shown) == len(want), (kind, layer, head)
        worst = max(
            abs(s - w)
            for srow, wrow in zip(shown, want, strict=True)
            for s, w in zip(srow, wrow, strict=True)
        )
        assert worst <= 0.011, f"{kind}, layer {layer + 1}, head {head}: shown weights differ by {worst}"

    tokens = explorer.locator(SOURCE_TOKENS).all_inner_texts()
    assert tokens == sentence.split() + ["<eos>"]
    assert explorer.locator(".tc-tokens[data-side='target'] .tc-token").all_inner_texts() == maps.target
    expect_shown("cross-attention", 0, "mean")
    mean = _matrix(explorer)

    def redrawn(old, timeout_s: float = 30):
        """Wait until this explorer's matrix is no longer ``old``: Python recomputes, then the page.
        (Read through ``explorer``: other notebooks' explorers may still be in the page.)"""
        deadline = time.monotonic() + timeout_s
        while _matrix(explorer) == old:
            assert time.monotonic() < deadline, "the explorer did not redraw its matrix"
            page.wait_for_timeout(100)

    explorer.locator("select[data-control='head']").select_option(label="head 3")
    explorer.locator("select[data-control='head'] option[value='2']:checked").wait_for(state="attached")
    redrawn(mean)
    expect_shown("cross-attention", 0, 2)
    explorer.locator("select[data-control='kind']").select_option("encoder self-attention")
    # Cross-attention's keys are the source words too: only the rows (queries) tell the kinds apart.
    explorer.locator(".tc-matrix tbody .tc-query", has_text="because").wait_for()
    first_layer = _matrix(explorer)
    expect_shown("encoder self-attention", 0, 2)
    explorer.locator("select[data-control='layer']").select_option(label="layer 2")
    explorer.locator("select[data-control='layer'] option[value='1']:checked").wait_for(state="attached")
    redrawn(first_layer)
    expect_shown("encoder self-attention", 1, 2)
    explorer.locator(SOURCE_TOKENS).nth(7).hover()  # "it": its row lights up
    assert explorer.locator(".tc-row-active .tc-query").inner_text() == "it"
    _shoot(page, explorer, "explorer-08-model.png")

    explorer.locator("select[data-control='phenomenon']").select_option("reordering")
    first = st.example_sentences()["reordering"][0]
    explorer.locator(SOURCE_TOKENS).first.wait_for()
    _wait_for_source(page, first)
    typed = explorer.locator("input[data-control='sentence']")
    typed.fill("the dog is a flower")  # not in the grammar's truth, but a sentence of its words
    typed.press("Enter")
    _wait_for_source(page, "the dog is a flower")
    typed.fill("the unicorn flies")
    typed.press("Enter")
    explorer.locator("[data-key='error']", has_text="unicorn").wait_for()
    _offline_and_clean(page)


def test_explorer_lesson_02_softmax_slider(offline_page, student_lab):
    """Lesson 02: drag d_k to 1024 without scaling, the softmax saturates; divide by √d_k and
    it spreads again. The numbers shown are the ones Python computes (explorer.state)."""
    page = offline_page
    lesson = "02_scaled_dot_product"
    path = _solved_notebook(student_lab, lesson, "explorer.ipynb")
    explorer = _open_and_run(page, student_lab, path, len(_lesson(lesson).cells))
    expected = {(d_k, s): st.softmax_state(d_k, s) for d_k in (1, 64, 1024) for s in ("none", "sqrt_d_k")}
    assert _read(explorer, "d_k") == "64"
    assert _read(explorer, "max_weight") == f"{expected[64, 'none']['max_weight']:.3f}"
    first_rows = _matrix(explorer)

    slider = explorer.locator("input[data-control='d_k']")
    slider.focus()
    page.keyboard.press("Home")  # the slider's first position: d_k = 1
    _wait_for(page, explorer, "d_k", "1")
    _wait_for(page, explorer, "max_weight", f"{expected[1, 'none']['max_weight']:.3f}")
    page.keyboard.press("End")  # its last position: d_k = 1024
    _wait_for(page, explorer, "d_k", "1024")
    _wait_for(page, explorer, "max_weight", f"{expected[1024, 'none']['max_weight']:.3f}")
    assert _read(explorer, "mean_entropy") == f"{expected[1024, 'none']['mean_entropy']:.3f}"
    assert expected[1024, "none"]["max_weight"] > 0.9 > 0.5 > expected[1, "none"]["max_weight"]
    assert _matrix(explorer) != first_rows
    explorer.locator(".tc-query").nth(1).hover()  # a token: its row lights up and is read out
    assert explorer.locator(".tc-row-active").count() == 1
    assert "“cat” puts" in _read(explorer, "row")
    _shoot(page, explorer, "explorer-02-softmax.png")

    explorer.locator("select[data-control='scaling']").select_option("sqrt_d_k")
    _wait_for(page, explorer, "max_weight", f"{expected[1024, 'sqrt_d_k']['max_weight']:.3f}")
    assert _read(explorer, "tau") == "32.00"
    _offline_and_clean(page)


def test_explorer_lesson_04_mask_toggles(offline_page, student_lab):
    """Lesson 04: the look-ahead mask off, the leak test fails at once; on again, it passes."""
    page = offline_page
    lesson = "04_masking"
    path = _solved_notebook(student_lab, lesson, "explorer.ipynb")
    explorer = _open_and_run(page, student_lab, path, len(_lesson(lesson).cells))
    both, padding_only = st.mask_state(), st.mask_state(look_ahead=False)
    assert _read(explorer, "hidden") == str(both["hidden"]) == "22"
    assert _read(explorer, "leak").startswith("✓")
    assert explorer.locator(".tc-cell.tc-hidden").count() == both["hidden"]

    explorer.locator("input[data-control='look_ahead']").uncheck()
    _wait_for(page, explorer, "hidden", str(padding_only["hidden"]))
    assert _read(explorer, "leak").startswith(f"✗ leaks: {len(padding_only['leaks'])} ")
    assert explorer.locator(".tc-cell.tc-hidden").count() == padding_only["hidden"]
    _shoot(page, explorer, "explorer-04-masks.png")

    explorer.locator("input[data-control='padding']").uncheck()
    _wait_for(page, explorer, "hidden", "0")
    no_mask = st.mask_state(padding=False, look_ahead=False)
    assert _read(explorer, "pad_weight") == f"{no_mask['pad_weight']:.2f}"
    explorer.locator("input[data-control='look_ahead']").check()
    explorer.locator("input[data-control='padding']").check()
    _wait_for(page, explorer, "hidden", "22")
    assert _read(explorer, "leak").startswith("✓")
    _offline_and_clean(page)
