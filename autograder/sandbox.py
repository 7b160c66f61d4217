"""The kernel that runs a student's notebook: memory-capped, and sandboxed.

The sandbox (bubblewrap) gives the kernel a file system of its own: the Python
installation and the course package read-only, the notebook's folder writable,
an empty /tmp, and nothing else — not the course repository, the gradebook, other
students' files or the network (a network namespace of its own). Kernel and grader
talk over Unix sockets in a folder both can see, since TCP cannot cross namespaces.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from queue import Empty

import matplotlib
from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import CellTimeoutError
from nbclient.util import ensure_async
from nbgrader.preprocessors import Execute
from traitlets import Integer, Unicode, default

from .course import PACKAGE
from .limits import Limits

KERNEL_NAME = "course-grading"
RUNTIME_ENV = "AUTOGRADER_KERNEL_RUNTIME"  # where the kernel's connection file and sockets go
INSTALL_HINT = (
    "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap), or pass --no-sandbox "
    "to run student code with your own permissions"
)


def sandbox_problem() -> str | None:
    """None when bubblewrap can run a command in a sandbox here; else why not."""
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed"
    probe = subprocess.run(
        ["bwrap", "--unshare-net", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "true"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return f"bubblewrap cannot create a sandbox here: {probe.stderr.strip()}"
    return None


def _bwrap(scratch: Path, runtime: Path) -> list[str]:
    package = Path(importlib.util.find_spec(PACKAGE).origin).parent
    readonly = {Path(sys.prefix), Path(sys.base_prefix), package}
    argv = [
        "bwrap",
        "--die-with-parent",
        "--unshare-all",
        "--new-session",
        "--cap-drop",
        "ALL",
        "--clearenv",
        "--tmpfs",
        "/tmp",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--ro-bind",
        "/usr",
        "/usr",
        "--ro-bind",
        "/etc",
        "/etc",
    ]
    for name in ("bin", "lib", "lib64", "sbin"):
        if Path(f"/{name}").is_symlink():
            argv += ["--symlink", os.readlink(f"/{name}"), f"/{name}"]
        elif Path(f"/{name}").is_dir():
            argv += ["--ro-bind", f"/{name}", f"/{name}"]
    for path in sorted(readonly):
        argv += ["--ro-bind", str(path), str(path)]
    argv += [
        "--bind",
        str(scratch),
        str(scratch),
        "--bind",
        str(runtime),
        str(runtime),
        "--remount-ro",
        "/",
        "--chdir",
        str(scratch),
    ]
    env = {
        "PATH": f"{Path(sys.prefix) / 'bin'}:/usr/bin:/bin",
        "HOME": str(scratch),
        "MPLCONFIGDIR": str(runtime / "matplotlib"),
        "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        # nbgrader's "being graded" flag: lessons skip their long runs when it is set.
        "NBGRADER_EXECUTION": "autograde",
        # Figures are drawn, not rendered to PNG for the feedback: seconds saved per lesson.
        "MPLBACKEND": "Agg",
    }
    for key, value in env.items():
        argv += ["--setenv", key, value]
    return argv


def install_kernel(jupyter_path: Path, scratch: Path, runtime: Path, limits: Limits) -> None:
    """Write the grading kernel's spec under ``jupyter_path`` (put it on JUPYTER_PATH)."""
    runtime.mkdir(parents=True, exist_ok=True)
    # matplotlib would rebuild its font list in every fresh kernel (seconds): give it ours.
    (runtime / "matplotlib").mkdir(exist_ok=True)
    for cached in Path(matplotlib.get_cachedir()).glob("fontlist-*.json"):
        shutil.copy(cached, runtime / "matplotlib" / cached.name)
    argv = _bwrap(scratch, runtime) if limits.sandbox else []
    argv += [
        "prlimit",
        f"--as={limits.memory_bytes}",
        sys.executable,
        "-m",
        "ipykernel_launcher",
        "-f",
        "{connection_file}",
    ]
    spec = jupyter_path / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            # A signal would reach bubblewrap, not Python: interrupt through the kernel's own channel.
            {
                "argv": argv,
                "display_name": "Python 3 (grading)",
                "language": "python",
                "env": {"MPLBACKEND": "Agg"},
                "interrupt_mode": "message",
            },
            indent=1,
        )
    )


class GradingKernelManager(AsyncKernelManager):
    transport = Unicode("ipc")

    @default("ip")
    def _ip_default(self):
        return str(Path(os.environ[RUNTIME_ENV]) / "kernel")

    @default("connection_file")
    def _connection_file_default(self):
        return str(Path(os.environ[RUNTIME_ENV]) / "kernel.json")


class GradingExecute(Execute):
    """nbgrader's Execute, in the grading kernel (nbgrader hard-codes its kernel manager), and
    a cell past its time that ignores the interrupt ends the run at once."""

    interrupt_grace = Integer(
        Limits.interrupt_grace_s, help="seconds a cell past its time has to stop once interrupted"
    ).tag(config=True)

    def __init__(self, *args, **kwargs):
        kwargs["kernel_manager_class"] = GradingKernelManager
        kwargs["kernel_name"] = KERNEL_NAME
        super().__init__(*args, **kwargs)

    async def _async_handle_timeout(self, timeout: int, cell=None) -> dict | None:
        # nbgrader interrupts the cell and goes on; but a cell that swallows the interrupt
        # (catching KeyboardInterrupt, or ignoring SIGINT) keeps the kernel busy, and every
        # later cell would wait out its own timeout behind it, up to the notebook's limit.
        self.log.error("Timeout waiting for execute reply (%is): interrupting the kernel", timeout)
        await ensure_async(self.km.interrupt_kernel())
        try:
            await ensure_async(self.kc.shell_channel.get_msg(timeout=self.interrupt_grace))
        except Empty:
            raise CellTimeoutError.error_from_timeout_and_cell(
                f"Cell did not stop within {self.interrupt_grace} s of an interrupt", timeout, cell
            ) from None
        return {"content": {**self.error_on_timeout, "status": "error"}} if self.error_on_timeout else None
