"""JupyterLab as `make lab` starts it, on a copy of the lessons, driven by headless Chromium.

Used by tests/test_browser.py. The server gets a free localhost port, a token, its own
Jupyter runtime, data, settings and workspace folders, and the course's config
(jupyter/student, or jupyter/instructor as `make formgrader` uses); it is always shut
down, with its kernels.
"""

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from autograder.course import ROOT

CHROMIUM = Path("/usr/bin/chromium")
# Headless Chromium on a closed network: no sandbox (CI runs as root), no GPU, and none of
# the background connections to Google's services that the network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--mute-audio",
]
VIEWPORT = {"width": 1280, "height": 800}
SERVER_START_S = 90
CELL_RUN_S = 120
VALIDATE_S = 180
SCREENSHOTS = ROOT / "build" / "screenshots"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A running JupyterLab server: ``url(path)`` gives a page's address with the token."""

    def __init__(self, port: int, token: str, root: Path, log: Path):
        self.port, self.token, self.root, self.log = port, token, root, log

    def url(self, path: str = "lab") -> str:
        sep = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}/{path}{sep}token={self.token}"

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


@contextmanager
def jupyter_lab(
    notebooks: Path, state: Path, config: str = "student", cwd: Path = ROOT, expose_app: bool = False
):
    """Start JupyterLab on ``notebooks`` the way `make lab` (config "student") or
    `make formgrader` (config "instructor") does; ``state`` holds its own Jupyter folders
    and log. ``expose_app`` lets the test call JupyterLab's commands (window.jupyterapp).
    Yields a ``Lab``; stops the server and its kernels on exit."""
    token = secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if k not in ("JUPYTER_PATH", "JUPYTER_CONFIG_PATH")}
    bin_dir = str(Path(sys.executable).parent)
    env.update(
        PATH=os.pathsep.join([bin_dir, env.get("PATH", "")]),  # as make puts .venv/bin first
        JUPYTER_CONFIG_DIR=str(ROOT / "jupyter" / config),
        JUPYTER_PREFER_ENV_PATH="1",
        JUPYTER_RUNTIME_DIR=str(state / "runtime"),
        JUPYTER_DATA_DIR=str(state / "data"),
        JUPYTERLAB_SETTINGS_DIR=str(state / "user-settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(state / "workspaces"),
        IPYTHONDIR=str(state / "ipython"),
        MPLCONFIGDIR=str(state / "matplotlib"),
        PYTHONUNBUFFERED="1",
    )
    log = state / "jupyter-lab.log"
    for _ in range(3):  # another process may take the free port before the server does
        port = free_port()
        command = [
            str(Path(bin_dir) / "jupyter"),
            "lab",
            "--no-browser",
            f"--ServerApp.root_dir={notebooks}",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
        ]
        if os.geteuid() == 0:
            command.append("--allow-root")  # as make adds it for root
        if expose_app:
            command.append("--LabApp.expose_app_in_browser=True")
        lab = Lab(port, token, notebooks, log)
        with open(log, "wb") as out:
            # In the course's root, as make runs it: nbgrader reads nbgrader_config.py there.
            server = subprocess.Popen(
                command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
            try:
                if _wait_until_up(lab, server):
                    yield lab
                    return
            finally:
                _stop(lab, server)
    raise RuntimeError(f"JupyterLab found no free port in 3 tries:\n{lab.log_tail()}")


def _wait_until_up(lab: Lab, server: subprocess.Popen) -> bool:
    """True once the server answers; False if its port was taken meanwhile."""
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            if "already in use" in lab.log_tail():
                return False
            raise RuntimeError(f"JupyterLab exited with {server.returncode}:\n{lab.log_tail()}")
        try:
            with urllib.request.urlopen(lab.url("api/status"), timeout=5) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"JupyterLab did not answer within {SERVER_START_S} s:\n{lab.log_tail()}")


def api(lab: Lab, path: str, method: str = "GET"):
    request = urllib.request.Request(lab.url(path), method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read()
    return json.loads(body) if body else None


def shut_down_kernels(lab: Lab) -> None:
    for kernel in api(lab, "api/kernels"):
        api(lab, f"api/kernels/{kernel['id']}", "DELETE")


def _stop(lab: Lab, server: subprocess.Popen) -> None:
    """Kernels first (they run in sessions of their own), then SIGTERM, which lets Jupyter
    shut down whatever is left; then whatever remains of the server's own process group."""
    if server.poll() is None:
        try:
            shut_down_kernels(lab)
        except OSError:
            pass  # SIGTERM still shuts them down
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(server.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    server.wait(timeout=10)


def copy_lessons(source: Path, dest: Path) -> Path:
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return dest


def chromium_missing_message() -> str:
    return (
        f"{CHROMIUM} not found: the browser tests need Debian's Chromium. "
        "Install it with `apt-get install chromium` (.ci/run does)."
    )


# -- the notebooks --------------------------------------------------------------------


def solved(source: str) -> str:
    """A solution cell's source without nbgrader's markers: what a student who got it
    right would have typed."""
    return (
        "\n".join(
            line
            for line in source.splitlines()
            if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line
        )
        + "\n"
    )


def solutions_by_id(solution_nb) -> dict[str, str]:
    return {
        c.metadata.nbgrader["grade_id"]: solved(c.source)
        for c in solution_nb.cells
        if c.get("metadata", {}).get("nbgrader", {}).get("solution")
    }


def is_solution_cell(cell) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution"))


def grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


# -- JupyterLab in the page -------------------------------------------------------------

PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
CELLS = f"{PANEL} .jp-Notebook .jp-Cell"


def wait_for_notebook(page, n_cells: int) -> None:
    """The notebook is open, every cell is in the page and the kernel is idle."""
    page.wait_for_function(
        "([selector, n]) => document.querySelectorAll(selector).length === n",
        arg=[CELLS, n_cells],
        timeout=CELL_RUN_S * 1000,
    )
    page.locator(f"{PANEL} .jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(
        timeout=CELL_RUN_S * 1000
    )


def run_command(page, command: str, args: dict | None = None) -> None:
    """JupyterLab's command ``command``, awaited. Its result is dropped in the page: the widget
    docmanager:open returns would reach Python as megabytes that Playwright checks for seconds."""
    page.evaluate(
        "async ([command, args]) => { await window.jupyterapp.commands.execute(command, args); }",
        [command, args or {}],
    )


def set_cell_source(page, index: int, source: str) -> None:
    """Replace a code cell's text the way a student would: click in it, select all, type."""
    editor = page.locator(CELLS).nth(index).locator(".cm-content")
    editor.click()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.insert_text(source)
    page.keyboard.press("Escape")  # back to command mode


def open_menu_item(page, menu: str, item: str) -> None:
    page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text=menu).click()
    page.locator(".lm-Menu-content .lm-Menu-itemLabel").get_by_text(item, exact=True).click()


_PROMPTS = f"""() => [...document.querySelectorAll('{PANEL} .jp-CodeCell .jp-InputPrompt')]
    .map(e => e.textContent.trim())"""


def start_run_all(page) -> None:
    """Edit > Clear Outputs of All Cells, then Run > Run All Cells."""
    open_menu_item(page, "Edit", "Clear Outputs of All Cells")
    page.wait_for_function(f"() => ({_PROMPTS})().every(p => !/\\d/.test(p))")
    open_menu_item(page, "Run", "Run All Cells")


def wait_until_run(page) -> list[str]:
    """Wait until the kernel has stopped: every code cell ran, or the run stopped at a cell
    that raised. Returns the input prompts ("[3]:", "[ ]:")."""
    page.wait_for_function(
        f"""() => {{
            const prompts = ({_PROMPTS})();
            const idle = document.querySelector(
                "{PANEL} .jp-Notebook-ExecutionIndicator[data-status='idle']");
            return /\\d/.test(prompts[0] || '') && idle && !prompts.some(p => p.includes('*'));
        }}""",
        timeout=CELL_RUN_S * 1000 * 3,
    )
    return page.evaluate(_PROMPTS)


def run_all(page) -> list[str]:
    start_run_all(page)
    return wait_until_run(page)


def first_error(page) -> str:
    """The first error shown in the notebook's outputs (its last lines), or ""."""
    errors = page.locator(f"{PANEL} .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    return (errors.first.text_content() or "")[-1500:] if errors.count() else ""  # shown or not


def validate(page) -> tuple[str, str]:
    """Press Validate; wait for nbgrader's result. Returns (the result's kind, its text):
    the kind is validation-success, validation-failed, validation-changed, ..."""
    page.locator(f"{PANEL} .validate-button").click()
    message = page.locator(".jp-Dialog #validation-message")
    message.wait_for(timeout=VALIDATE_S * 1000)
    kinds = [k for k in (message.get_attribute("class") or "").split() if k.startswith("validation-")]
    return (kinds[0] if kinds else ""), message.inner_text()


def close_dialog(page) -> None:
    page.locator(".jp-Dialog .jp-mod-accept").click()
    page.locator(".jp-Dialog").wait_for(state="detached")


def screenshot(page, name: str, locator=None) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    (locator or page).screenshot(path=str(path))
    return path


def show_last_error(page) -> None:
    """Scroll nbgrader's result dialog to the end of its first error: the message."""
    page.locator("#validation-message .jp-RenderedText pre").nth(1).evaluate(
        "pre => pre.scrollIntoView({block: 'end'})"
    )


class Clock:
    """Prints how long each step took (shown by pytest -s, or with a failure)."""

    def __init__(self):
        self.last = time.monotonic()

    def lap(self, step: str) -> None:
        now = time.monotonic()
        print(f"{step}: {now - self.last:.1f} s")
        self.last = now
