"""The limits every grading run keeps: time per cell and notebook, memory, the sandbox."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """How long a cell, and a notebook's whole grading, may take; how long a cell past its
    time has to stop once interrupted; a kernel's memory."""

    cell_timeout_s: int = 120
    interrupt_grace_s: int = 10
    notebook_timeout_s: int = 600
    memory_bytes: int = 4 * 1024**3
    sandbox: bool = True
