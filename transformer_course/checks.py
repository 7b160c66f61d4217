"""Checks behind the lessons' tests, visible and hidden.

Every check raises ``AssertionError`` with a message a learner can act on: what
was checked, what was expected, and, where the mistake is a known one, its name
("your scores equal QKᵀ/d_k: divide by √d_k").
"""

import inspect
import sys
from collections.abc import Callable, Iterable, Mapping
from contextlib import contextmanager

import torch
from torch.overrides import TorchFunctionMode

from transformer_course.mistakes import tagged  # absolute: guard.py runs this file alone too

_TOLERANCES = {
    torch.float64: {"atol": 1e-10, "rtol": 1e-8},
    torch.float32: {"atol": 1e-5, "rtol": 1e-4},
    torch.bfloat16: {"atol": 2e-2, "rtol": 2e-2},
    torch.float16: {"atol": 2e-3, "rtol": 2e-3},
}


def passed(what: str) -> None:
    """Say that a check passed, so that a learner sees progress cell by cell."""
    print(f"✓ {what}")


def expect_tensor(actual: object, what: str) -> torch.Tensor:
    if not isinstance(actual, torch.Tensor):
        raise AssertionError(f"{what}: expected a torch.Tensor, got {type(actual).__name__}.")
    return actual


def expect_shape(actual: object, shape: Iterable[int], what: str) -> None:
    """Fail unless ``actual`` is a tensor of exactly ``shape``."""
    actual = expect_tensor(actual, what)
    shape = tuple(shape)
    if tuple(actual.shape) != shape:
        raise AssertionError(
            f"{what}: expected shape {shape}, got {tuple(actual.shape)}. "
            "Check which dimensions your matmul, transpose or reshape acts on."
        )


def expect_dtype(actual: object, dtype: torch.dtype, what: str) -> None:
    actual = expect_tensor(actual, what)
    if actual.dtype != dtype:
        raise AssertionError(
            f"{what}: expected dtype {dtype}, got {actual.dtype}. "
            "Keep the dtype of the inputs: don't create tensors with a fixed dtype."
        )


def _close(actual: torch.Tensor, expected: torch.Tensor, tolerances: dict) -> bool:
    if actual.shape != expected.shape:
        return False
    return bool(
        torch.isclose(
            actual.detach().cpu().to(expected.dtype), expected.detach().cpu(), equal_nan=True, **tolerances
        ).all()
    )


def expect_close(
    actual: object,
    expected: torch.Tensor,
    what: str,
    *,
    mistakes: Mapping[str, torch.Tensor] | None = None,
    atol: float | None = None,
    rtol: float | None = None,
) -> None:
    """Fail unless ``actual`` equals ``expected`` within a tolerance for its dtype.

    Args:
        actual: the learner's result.
        expected: the oracle's result.
        what: names the quantity in the message ("softmax of a (2, 3) tensor").
        mistakes: known wrong results, keyed by the message that names the mistake;
            when ``actual`` matches one of them, that message is the one raised, with
            its stable tag from ``mistakes.MISTAKES`` appended ("(mistake: scale-by-dk)").
        atol, rtol: override the default tolerances of ``expected``'s dtype.
    """
    actual = expect_tensor(actual, what)
    tolerances = dict(_TOLERANCES.get(expected.dtype, _TOLERANCES[torch.float32]))
    if atol is not None:
        tolerances["atol"] = atol
    if rtol is not None:
        tolerances["rtol"] = rtol
    if _close(actual, expected, tolerances):
        expect_dtype(actual, expected.dtype, what)
        return
    for hint, wrong in (mistakes or {}).items():
        if _close(actual, wrong.to(expected.dtype), tolerances):
            raise AssertionError(f"{what}: {tagged(hint)}")
    expect_shape(actual, expected.shape, what)
    expect_dtype(actual, expected.dtype, what)
    if torch.isnan(actual).any() and not torch.isnan(expected).any():
        raise AssertionError(f"{what}: your result contains NaN where none was expected.")
    diff = (actual.detach().cpu().to(expected.dtype) - expected.detach().cpu()).abs()
    diff = diff.nan_to_num(nan=float("inf"))
    raise AssertionError(
        f"{what}: values differ from the expected ones "
        f"(largest difference {diff.max().item():.3g} at index {_index(diff)})."
    )


def _index(diff: torch.Tensor) -> tuple[int, ...]:
    flat = int(diff.flatten().argmax())
    return tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), diff.shape))


def expect_raises(error: type[BaseException], call: Callable[[], object], what: str) -> None:
    """Fail unless ``call()`` raises ``error``."""
    try:
        call()
    except error:
        return
    except Exception as other:  # noqa: BLE001 - the learner's code may raise anything
        raise AssertionError(
            f"{what}: expected {error.__name__}, got {type(other).__name__}: {other}"
        ) from None
    raise AssertionError(f"{what}: expected {error.__name__}, but nothing was raised.")


class _TorchCallSpy(TorchFunctionMode):
    """Records the names of the torch functions called while it is active."""

    def __init__(self, names: Iterable[str]):
        super().__init__()
        self.names = set(names)
        self.calls: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in self.names:
            self.calls.append(name)
        return func(*args, **(kwargs or {}))


def _code_objects(objects: Iterable[object]) -> set:
    codes = set()
    for obj in objects:
        members = [obj] if not inspect.isclass(obj) else list(vars(obj).values())
        for member in members:
            code = getattr(inspect.unwrap(member), "__code__", None) if callable(member) else None
            if code is not None:
                codes.add(code)
    return codes


@contextmanager
def from_scratch(exercise: str, torch_functions: Iterable[str] = (), reference: Iterable = ()):
    """Fail if the code run inside the block calls what the exercise reimplements.

    The check watches calls however the function was reached (an alias, a method,
    a module): torch functions by name through a ``TorchFunctionMode``, the
    course's reference versions by their code objects through ``sys.setprofile``.

    Args:
        exercise: the exercise's name, for the message.
        torch_functions: names of torch functions that may not be called
            (``"softmax"`` covers ``torch.softmax``, ``Tensor.softmax``, ``F.softmax``).
        reference: functions or classes of ``transformer_course`` that may not run.
    """
    codes = _code_objects(reference)
    reached: list[str] = []

    def profile(frame, event, arg):
        if event == "call" and frame.f_code in codes:
            reached.append(frame.f_code.co_qualname)

    spy = _TorchCallSpy(torch_functions)
    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        with spy:
            yield
    finally:
        sys.setprofile(previous)
    if spy.calls:
        raise AssertionError(
            f"{exercise} must be written from scratch, but it called torch's "
            f"`{spy.calls[0]}`. Write it with tensor arithmetic (matmul, exp, sum, ...)."
        )
    if reached:
        raise AssertionError(
            f"{exercise} must be written from scratch, but it ran the course's reference "
            f"`{reached[0]}`. Write your own version in this notebook."
        )
