"""The checks a student calls after each exercise, split in two halves so grading can cross a trust
boundary.

A :class:`Check` has

- ``probe(*args)``: runs where the student's code lives (their kernel). It calls the student's
  function or model on fixed inputs and returns **evidence**: plain data only (None, bool, int,
  float, str, and lists / dicts of these), which ``json.dumps`` accepts and ``json.loads`` gives back
  without running any code.
- ``judge(evidence)``: runs in the grader's own process. A pure function of the evidence that
  recomputes the reference itself; it never trusts a "passed" flag sent by the student's side.

Calling a check, as a student does (``check_ssim(my_ssim)``), runs both, prints the feedback when
it passes and raises :class:`CheckFailed` when it fails (shown once, as the message alone, without
the library's frames), so that "Run all" stops at the first exercise that needs work. Messages are
specific ("your DSSIM is 0.31 on identical images; expected 0"), stable across machines (rounded
numbers) and never reveal the solution.

Each exercise is judged on its own: a probe whose exercise calls an earlier one (``dssim`` calls
``ssim``) runs it with the reference in place of the earlier answer (:func:`upstream`), so one
mistake costs only its own exercise's points.

Each lab's checks live in their own module (``aelab.checks.lab01`` ...; ``aelab.checks.demo`` is
the worked example to copy), all with the same layout (see docs/DEVELOPING.md); :data:`REGISTRY`
maps every check's name to it, and :func:`load_checks` imports every such module, so the grader
and ``aelab make-labs`` can find the checks that a solution's grade cells call. The evidence
parsers that judges share (:func:`floats`, :func:`tensor`, :func:`numbers`, :func:`shape`) live
here.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import pkgutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

__all__ = [
    "Check",
    "CheckFailed",
    "Feedback",
    "REGISTRY",
    "check",
    "floats",
    "load_checks",
    "numbers",
    "plain",
    "shape",
    "tensor",
    "upstream",
    "verified",
]


class CheckFailed(AssertionError):
    """Raised when a student's answer does not pass its check; the message says what to fix.

    IPython shows it as its message alone (``_render_traceback_``): the frames of the check, which
    are the kit's and not the student's, would only hide the message.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"CheckFailed: {self}"]


@dataclass(frozen=True)
class Feedback:
    """The verdict of one check: which check, passed or not, and a message the student can act on."""

    check: str
    passed: bool
    message: str

    def __str__(self) -> str:
        mark = "PASSED" if self.passed else "NOT YET"
        return f"[{mark}] {self.check}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "passed": self.passed, "message": self.message}


#: Every check by name; filled by :func:`check` as the lab modules are imported (see :func:`load_checks`).
REGISTRY: dict[str, Check] = {}

#: How the feedback of an exercise left as the lab ships it begins.
NOT_DONE = "this exercise is not done yet"

#: How much of a student's exception message the evidence keeps.
_DETAIL_CHARS = 500


def _describe(exc: BaseException) -> str:
    """The start of an exception's message, even when its ``__str__`` itself fails."""
    try:
        return str(exc)[:_DETAIL_CHARS]
    except Exception:
        return f"<{type(exc).__name__} whose message cannot be shown>"


class Check:
    """One exercise's check: ``probe`` (untrusted side) and ``judge`` (trusted side); ``module``: the
    module that defines it (its lab's), which a kernel imports to call the probe.

    Use the :func:`check` decorator rather than building these by hand.
    """

    def __init__(
        self,
        name: str,
        probe: Callable[..., Any],
        judge: Callable[[Any], tuple[bool, str]],
        doc: str | None = None,
    ) -> None:
        self.name = name
        self.module = probe.__module__
        self._probe = probe
        self._judge = judge
        self.__doc__ = doc or probe.__doc__
        self.__name__ = name

    def probe(self, *args: Any, **kwargs: Any) -> Any:
        """Run the student's code on the check's fixed inputs; return plain-data evidence.

        A student's exception does not escape: it becomes evidence ``{"error": ..., "detail": ...}``
        so the judge can say which exercise raised what (an unfinished exercise raises
        ``NotImplementedError`` naming itself). So does an answer that cannot be made plain data.
        """
        try:
            return plain(self._probe(*args, **kwargs))
        except Exception as exc:  # the student's code may raise anything; report it, do not crash
            kind = "NotImplementedError" if isinstance(exc, NotImplementedError) else type(exc).__name__
            return {"error": kind, "detail": _describe(exc)}

    def judge(self, evidence: Any) -> Feedback:
        """Judge plain-data evidence; never raises, whatever the evidence holds."""
        try:
            if isinstance(evidence, dict) and "error" in evidence:
                detail = str(evidence.get("detail", ""))[:_DETAIL_CHARS]
                if evidence["error"] == "NotImplementedError":
                    return Feedback(self.name, False, f"{NOT_DONE}: NotImplementedError: {detail}")
                return Feedback(self.name, False, f"your code raised {evidence['error']}: {detail}")
            passed, message = self._judge(evidence)
            return Feedback(self.name, bool(passed), str(message))
        except Exception as exc:  # malformed evidence (e.g. a tampered kernel) fails, never crashes
            return Feedback(
                self.name, False, f"the answer could not be checked ({type(exc).__name__}: {_describe(exc)})."
            )

    def verdict(self, *args: Any, **kwargs: Any) -> Feedback:
        """Probe and judge, as the grader does (the evidence crosses a JSON round trip); the feedback."""
        return self.judge(json.loads(json.dumps(self.probe(*args, **kwargs))))

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        """What a student runs: probe, judge, and show the feedback.

        A pass prints ``[PASSED] ...``. A wrong answer prints ``[NOT YET] ...`` and returns, so that
        "Run All" goes on and every other exercise still gets its feedback (``aelab grade`` judges
        each check on its own either way). An exercise not done yet (its stub raises
        NotImplementedError) raises :class:`CheckFailed`, so "Run All" stops at the first exercise
        left to do. Under nbgrader's autograder and validator (which set ``NBGRADER_EXECUTION``), any
        failure raises, because nbgrader scores a test cell by whether it raises. Returns None, so
        that a check cell shows its feedback only once.
        """
        feedback = self.verdict(*args, **kwargs)
        strict = bool(os.environ.get("NBGRADER_EXECUTION"))
        if not feedback.passed and (strict or feedback.message.startswith(NOT_DONE)):
            raise CheckFailed(str(feedback)) from None
        print(feedback)

    def require(self, *args: Any, **kwargs: Any) -> None:
        """Like calling the check, but raise :class:`CheckFailed` for any failure (otter's test cases)."""
        feedback = self.verdict(*args, **kwargs)
        if not feedback.passed:
            raise CheckFailed(str(feedback)) from None
        print(feedback)

    def __repr__(self) -> str:
        return f"<check {self.name}>"


def check(judge: Callable[[Any], tuple[bool, str]]) -> Callable[[Callable[..., Any]], Check]:
    """Decorator: turn a probe function into a registered :class:`Check` judged by ``judge``.

    ``judge(evidence) -> (passed, message)``. The check takes the probe function's name::

        def _judge_ssim(evidence): ...

        @check(_judge_ssim)
        def check_ssim(fn):
            \"\"\"Your ssim(x, y) against the reference on fixed image pairs.\"\"\"
            return [float(fn(x, y)) for x, y in _pairs()]
    """

    def wrap(probe: Callable[..., Any]) -> Check:
        name = probe.__name__
        known = REGISTRY.get(name)
        if known is not None and _origin(known._probe) != _origin(probe):
            raise ValueError(
                f"a check named {name!r} is already registered by {'.'.join(_origin(known._probe))}; "
                "give this one another name"
            )
        REGISTRY[name] = Check(name, probe, judge)  # the same origin again is a module reload
        return REGISTRY[name]

    return wrap


def _origin(fn: Callable[..., Any]) -> tuple[str, str]:
    """Where a function was defined: (module, qualified name)."""
    return (fn.__module__, fn.__qualname__)


def load_checks() -> dict[str, Check]:
    """Import every lab's check module (each submodule of ``aelab.checks``); return :data:`REGISTRY`.

    The lab modules import torch, so this takes a second or two the first time.
    """
    for module in pkgutil.iter_modules(__path__, prefix=f"{__name__}."):
        importlib.import_module(module.name)
    return REGISTRY


def plain(value: Any) -> Any:
    """Convert evidence to plain data: numbers, strings, bools, None, lists and string-keyed dicts.

    Tensors and arrays become nested lists; NaN and infinities become the strings "nan", "inf",
    "-inf" (JSON has no such numbers). Anything else is refused with a TypeError.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else str(float(value))
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    tolist = getattr(value, "tolist", None)  # numpy arrays and scalars, torch tensors
    if callable(tolist):
        detach = getattr(value, "detach", None)
        return plain((detach().cpu() if callable(detach) else value).tolist())
    raise TypeError(f"evidence must be plain data (numbers, strings, lists, dicts), got {type(value).__name__}")


def floats(value: Any) -> Any:
    """Read numbers back from evidence, the inverse of :func:`plain` for numeric data.

    A number, or nested lists of numbers, in; the same structure with Python floats out, where the
    strings "nan", "inf" and "-inf" (as :func:`plain` writes them) become those floats. Anything else
    (bools, other strings, dicts) raises TypeError, which :meth:`Check.judge` reports as a failed check.
    """
    if isinstance(value, list):
        return [floats(v) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and value in ("nan", "inf", "-inf"):
        return float(value)
    raise TypeError(f"expected numbers in the evidence, got {type(value).__name__} {str(value)[:40]!r}")


def tensor(value: Any) -> torch.Tensor:
    """Numeric evidence (a number or nested lists of them, as :func:`plain` writes them) as a float64
    tensor; raises TypeError for anything else (reported by :meth:`Check.judge` as a failed check)."""
    import torch

    return torch.tensor(floats(value), dtype=torch.float64)


def shape(value: Any) -> tuple[int, ...]:
    """The shape of numeric evidence: () for a number, (3,) for a list of 3 numbers, ...

    Raises TypeError for ragged lists or anything that is not numbers.
    """
    return tuple(tensor(value).shape)


def numbers(evidence: Any, count: int, what: str) -> list[float] | str:
    """Evidence that should hold one number for each of ``count`` fixed cases.

    Returns the numbers, or a message for the student when a case gave a tensor rather than one
    number ("your ssim returned a tensor of shape (2,); expected one number (a 0-d tensor)."); raises
    TypeError when the evidence is not a list of ``count`` items (a tampered probe).
    """
    values = floats(evidence)
    if not isinstance(values, list) or len(values) != count:
        raise TypeError(f"expected {count} results")
    for value in values:
        if isinstance(value, list):
            return f"your {what} returned a tensor of shape {shape(value)}; expected one number (a 0-d tensor)."
    return values


@contextmanager
def upstream(answer: Callable[..., Any], **references: Callable[..., Any]) -> Iterator[None]:
    """Run a student's ``answer`` with the references in place of the earlier answers it calls.

    ``with upstream(dssim, ssim=losses.ssim): dssim(x, y)`` evaluates the student's dssim with the
    reference ssim, so that a wrong ssim costs the ssim exercise only. Each name is replaced in the
    answer's module namespace (the notebook's globals) only where the student defined it, and
    restored afterwards whatever happens. An answer that is not a plain function runs as it is.
    """
    namespace = getattr(answer, "__globals__", None)
    if not isinstance(namespace, dict):
        yield
        return
    saved = {name: namespace[name] for name in references if name in namespace}
    namespace.update({name: references[name] for name in saved})
    try:
        yield
    finally:
        namespace.update(saved)


def verified(check_: Check, *args: Any, exercise: str, reference: Callable[..., Any], **kwargs: Any) -> Any:
    """The student's answer (``args[0]``) for a later cell to use, or ``reference`` while its check fails.

    A downstream guard: a cell that builds on an earlier exercise calls
    ``profile = verified(check_azimuthal_average, azimuthal_average, exercise="7.1",
    reference=spectra.azimuthal_average)``. When the check passes, the student's own function comes
    back; when it does not, one line names the exercise to revisit and the kit's reference comes back,
    so the figures below stay right instead of failing far away or passing silently with wrong inputs.
    """
    if not isinstance(check_, Check):
        raise TypeError(f"verified() takes a check first (e.g. check_ssim), got {type(check_).__name__}")
    if not args:
        raise TypeError("verified() needs the student's answer after the check, as the check itself takes it")
    feedback = check_.verdict(*args, **kwargs)
    if feedback.passed:
        return args[0]
    print(
        f"[NOT YET] exercise {exercise}: your answer does not pass {check_.name} yet, so the cells below use "
        f"the kit's reference in its place; go back to exercise {exercise}."
    )
    return reference
