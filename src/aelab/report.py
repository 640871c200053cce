"""Figures that students see and nbval can compare on every machine.

A figure that comes out of training or a floating-point reduction changes in its last digits from
CPU to CPU (oneDNN, MKL and PyTorch pick their vector kernels by instruction set, and so the order in
which they add). A notebook therefore never lets nbval compare such a figure digit by digit. It
prints the figure *and* its verdict against an explicit band::

    >>> figure("SSIM inside the face", 0.7948, (0.76, 0.83))
    SSIM inside the face ≈ 0.795  (expected 0.76 – 0.83: ok)

The measured digits follow the sign ``≈``; the rule ``[measured-figures]`` in
``solutions/sanitize.cfg`` masks them, so nbval compares the name, the band and the verdict -- the
things that hold everywhere -- while the student still reads the number. A figure outside its band
raises :class:`FigureOutOfBand`, which fails the cell (and so nbval) with a message that names the
figure, its value and its band. Bands are measured: wide enough for the spread across CPUs and seeds
(``make test-portable`` runs the solutions under other CPUs' arithmetic), narrow enough that a real
regression fails. docs/DEVELOPING.md, "What nbval compares", holds the convention.

Exact results (parameter counts, shapes, checks' verdicts, a renderer's bit-stable output) are
printed plainly: they are the same on every machine.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from aelab.validate import check_float, check_int

__all__ = ["FigureOutOfBand", "figure", "figures", "measured", "MEASURED_SIGN"]

#: The sign that precedes every measured figure; sanitize.cfg masks the number after it.
MEASURED_SIGN = "≈"

Band = tuple[float, float]


class FigureOutOfBand(AssertionError):
    """A measured figure fell outside the band that every machine and seed is expected to reach."""


def measured(value: float, digits: int = 3) -> str:
    """``value`` as a measured figure: ``"≈ 0.795"`` (masked by nbval's sanitize rule).

    Use it for numbers shown in a table whose verdict is printed by :func:`figure` or
    :func:`figures`, and for timings.
    """
    digits = check_int("digits", digits, minimum=0, maximum=12)
    return f"{MEASURED_SIGN} {_format(float(value), digits)}"


def figure(name: str, value: float, band: Band, *, digits: int = 3, unit: str = "") -> float:
    """Print ``name ≈ value  (expected lo – hi: ok)`` and return ``value`` as a float.

    Raises :class:`FigureOutOfBand` (after printing the line, with ``OUT OF BAND`` as its verdict)
    when ``value`` lies outside ``band`` = (lo, hi), both inclusive, or is not finite.
    """
    return figures({name: (value, band)}, digits=digits, unit=unit)[name]


def figures(
    table: Mapping[str, tuple[float, Band]], *, digits: int = 3, unit: str = ""
) -> dict[str, float]:
    """Print one aligned line per figure, as :func:`figure` does, then raise once for all that missed.

    ``table`` maps each figure's name to ``(value, (lo, hi))``. Returns ``{name: value}``.
    """
    if not isinstance(table, Mapping) or not table:
        raise TypeError("table must be a non-empty mapping {name: (value, (lo, hi))}")
    digits = check_int("digits", digits, minimum=0, maximum=12)
    width = max(len(str(name)) for name in table)
    values: dict[str, float] = {}
    missed: list[str] = []
    suffix = f" {unit}" if unit else ""
    for name, entry in table.items():
        value, (lo, hi) = _entry(str(name), entry)
        ok = math.isfinite(value) and lo <= value <= hi
        verdict = "ok" if ok else "OUT OF BAND"
        print(
            f"{str(name):<{width}} {MEASURED_SIGN} {_format(value, digits)}{suffix}  "
            f"(expected {_format(lo, digits)} – {_format(hi, digits)}{suffix}: {verdict})"
        )
        values[str(name)] = value
        if not ok:
            missed.append(f"{name} = {value!r} is outside its band [{lo!r}, {hi!r}]")
    if missed:
        raise FigureOutOfBand(
            "; ".join(missed)
            + ". Bands hold on every machine and seed the kit was measured on: a figure outside its band "
            "means the code above changed what it computes (or the band is wrong: see docs/DEVELOPING.md)."
        )
    return values


def _entry(name: str, entry: object) -> tuple[float, Band]:
    try:
        value, (lo, hi) = entry  # type: ignore[misc]
    except (TypeError, ValueError):
        raise TypeError(f"figure {name!r} must be given as (value, (lo, hi)), got {entry!r}") from None
    lo = check_float(f"lower bound of {name!r}", lo)
    hi = check_float(f"upper bound of {name!r}", hi)
    if lo > hi:
        raise ValueError(f"band of {name!r} is empty: lower bound {lo} > upper bound {hi}")
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise TypeError(f"figure {name!r} must be a number, got {type(value).__name__}")
    return float(value), (lo, hi)


def _format(value: float, digits: int) -> str:
    """Fixed-point with ``digits`` decimals for ordinary magnitudes, scientific for tiny/huge ones."""
    if not math.isfinite(value):
        return str(value)
    if value != 0 and (abs(value) >= 10**6 or abs(value) < 10 ** (-digits)):
        return f"{value:.{max(digits - 1, 1)}e}"
    return f"{value:.{digits}f}"
