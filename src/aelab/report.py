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
from collections.abc import Mapping, Sequence

from aelab.stats import Called, Interval
from aelab.validate import check_float, check_int

__all__ = [
    "FigureOutOfBand",
    "called",
    "figure",
    "figures",
    "interval",
    "measured",
    "repeats",
    "table",
    "MEASURED_SIGN",
]

#: The sign that precedes every measured figure; sanitize.cfg masks the number after it.
MEASURED_SIGN = "≈"

Band = tuple[float, float]


class FigureOutOfBand(AssertionError):
    """A measured figure fell outside the band that every machine and seed is expected to reach.

    IPython shows it as its message alone, in one line: the frames are the kit's, not the reader's.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"FigureOutOfBand: {self}"]


def measured(value: float, digits: int = 3, width: int = 0) -> str:
    """``value`` as a measured figure: ``"≈ 0.795"`` (masked by nbval's sanitize rule).

    Use it for numbers shown in a table whose verdict is printed by :func:`figure` or
    :func:`figures`, and for timings. ``width`` right-aligns the number in that many characters
    *after* the sign (``"≈  -0.01"``, ``"≈   0.73"``), so that a table's columns stay where they are
    whatever the digits: the sanitize rule masks the padding with the number.
    """
    digits = check_int("digits", digits, minimum=0, maximum=12)
    width = check_int("width", width, minimum=0, maximum=40)
    return f"{MEASURED_SIGN} {_format(float(value), digits):>{width}}"


def figure(name: str, value: float, band: Band, *, digits: int = 3, unit: str = "", source: str | None = None) -> float:
    """Print ``name ≈ value  (expected lo – hi: ok)`` and return ``value`` as a float.

    Raises :class:`FigureOutOfBand` (after printing the line, with ``OUT OF BAND`` as its verdict)
    when ``value`` lies outside ``band`` = (lo, hi), both inclusive, or is not finite. With
    ``source`` (the exercise whose answer computed the figure, e.g. ``"6.1"``), an out-of-band figure
    is not an error but a student's lead: one more line names that exercise, and the notebook goes on
    (the printed verdict still fails nbval in a solution).
    """
    return figures({name: (value, band)}, digits=digits, unit=unit, source=source)[name]


def figures(
    table: Mapping[str, tuple[float, Band]], *, digits: int = 3, unit: str = "", source: str | None = None
) -> dict[str, float]:
    """Print one aligned line per figure, as :func:`figure` does, then raise once for all that missed
    (or, with ``source``, name the exercise that computed them: see :func:`figure`).

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
    _raise_if(missed, source)
    return values


def _raise_if(missed: list[str], source: str | None = None) -> None:
    """Report the figures outside their bands: name the exercise behind them, or raise."""
    if not missed:
        return
    if source is not None:
        print(
            f"[NOT YET] exercise {source}: the figures above come from your answer to exercise {source} "
            f"and fall outside what the reference gives; go back to exercise {source}."
        )
        return
    raise FigureOutOfBand(
        "; ".join(missed) + ". The bands hold on every machine and seed the lab was measured on, so the "
        "code above computes something other than the lab's reference."
    )


def interval(
    name: str,
    ci: Interval,
    band: Band | None = None,
    *,
    digits: int = 3,
    unit: str = "",
    source: str | None = None,
) -> float:
    """Print ``name ≈ 0.812  (95 % CI ≈ 0.790 – ≈ 0.833)``, with the band's verdict when one is given.

    Every number is measured (masked by nbval); with ``band``, the estimate is checked as
    :func:`figure` checks a figure. Returns the estimate.
    """
    if not isinstance(ci, Interval):
        raise TypeError(f"interval {name!r} must be a stats.Interval, got {type(ci).__name__}")
    digits = check_int("digits", digits, minimum=0, maximum=12)
    suffix = f" {unit}" if unit else ""
    text = (
        f"{name} {measured(ci.estimate, digits)}{suffix}  ({ci.level * 100:g} % CI "
        f"{measured(ci.low, digits)} – {measured(ci.high, digits)}{suffix}"
    )
    if band is None:
        print(text + ")")
        return ci.estimate
    value, (lo, hi) = _entry(name, (ci.estimate, band))
    ok = math.isfinite(value) and lo <= value <= hi
    print(f"{text}; expected {_format(lo, digits)} – {_format(hi, digits)}{suffix}: {'ok' if ok else 'OUT OF BAND'})")
    if not ok:
        _raise_if([f"{name} = {value!r} is outside its band [{lo!r}, {hi!r}]"], source)
    return value


def called(
    family: Mapping[str, Called],
    *,
    digits: int = 3,
    higher: str = "higher",
    lower: str = "lower",
    none: str = "no difference shown",
) -> dict[str, str]:
    """Print a family of comparisons (``stats.family``): one line each, its verdict compared by nbval.

    Each line: the name, the difference and its 95 % interval, the Holm-adjusted p (all measured),
    and the verdict -- ``higher`` or ``lower`` where the rule calls the difference, else ``none``.
    Returns ``{name: verdict}``.
    """
    if not isinstance(family, Mapping) or not family:
        raise TypeError("family must be a non-empty mapping {name: stats.Called}, as stats.family returns")
    digits = check_int("digits", digits, minimum=0, maximum=12)
    width = max(len(str(name)) for name in family)
    verdicts: dict[str, str] = {}
    for name, entry in family.items():
        if not isinstance(entry, Called):
            raise TypeError(f"comparison {name!r} must be a stats.Called, got {type(entry).__name__}")
        verdict = {"higher": higher, "lower": lower, "none": none}[entry.direction]
        ci = entry.difference
        print(
            f"{str(name):<{width}}  difference {measured(ci.estimate, digits)}  ({ci.level * 100:g} % CI "
            f"{measured(ci.low, digits)} – {measured(ci.high, digits)}; Holm p {measured(entry.p_holm, 3)}): "
            f"{verdict}"
        )
        verdicts[str(name)] = verdict
    return verdicts


def table(
    rows: Mapping[str, Mapping[str, tuple[float, Band]]],
    *,
    digits: int | Mapping[str, int] = 2,
    label: str = "",
    source: str | None = None,
) -> dict[str, dict[str, float]]:
    """Print measured figures as a table, one line per row, and raise once for all that missed.

    ``rows`` maps each row's name to ``{column: (value, (lo, hi))}`` (every row the same columns);
    ``digits``: decimals of every column, or ``{column: decimals}``. Each cell prints ``≈ value``
    in a width that does not depend on the value (nbval masks the digits); the last column says
    ``ok``, or names the columns whose figure fell outside its band -- then :class:`FigureOutOfBand`
    is raised, naming each figure, its value and its band. Returns ``{row: {column: value}}``.

    A cell given as ``(value, None)`` is shown and not checked: a timing, or a row no band can be
    known for (a student's own model). A row without any checked cell says ``shown`` in place of
    ``ok``. ``source`` names the exercise that computed the figures, as in :func:`figure`.
    """
    if not isinstance(rows, Mapping) or not rows:
        raise TypeError("rows must be a non-empty mapping {row: {column: (value, (lo, hi))}}")
    columns = list(next(iter(rows.values())))
    decimals = [
        check_int(f"digits of {c!r}", digits[c] if isinstance(digits, Mapping) else digits, minimum=0, maximum=12)
        for c in columns
    ]
    parsed = {
        str(row): {str(c): _table_entry(f"{row} {c}", cells[c]) for c in columns}
        for row, cells in rows.items()
        if _same_columns(str(row), cells, columns)
    }
    widths = [max(len(c), d + 6) for c, d in zip(columns, decimals)]  # "≈ " and up to -99.
    first = max(len(label), *(len(row) for row in parsed))
    print(f"{label:>{first}}" + "".join(f"  {c:>{w}}" for c, w in zip(columns, widths)))
    values: dict[str, dict[str, float]] = {}
    missed: list[str] = []
    for row, cells in parsed.items():
        banded = {c: (v, band) for c, (v, band) in cells.items() if band is not None}
        out = [c for c, (v, (lo, hi)) in banded.items() if not (math.isfinite(v) and lo <= v <= hi)]
        text = "".join(f"  {measured(v, d, width=w - 2)}" for (v, _), d, w in zip(cells.values(), decimals, widths))
        verdict = "shown" if not banded else "ok" if not out else "OUT OF BAND: " + ", ".join(out)
        print(f"{row:>{first}}{text}  {verdict}")
        values[row] = {c: v for c, (v, _) in cells.items()}
        missed += [
            f"{row} {c} = {banded[c][0]!r} is outside its band [{banded[c][1][0]!r}, {banded[c][1][1]!r}]" for c in out
        ]
    _raise_if(missed, source)
    return values


def _same_columns(row: str, cells: object, columns: list[str]) -> bool:
    if not isinstance(cells, Mapping) or list(cells) != columns:
        raise TypeError(f"row {row!r} must map the columns {columns} to (value, (lo, hi)), got {cells!r}")
    return True


def repeats(name: str, values: Sequence[float], reference: Sequence[float], band: Band, *, digits: int = 3) -> float:
    """How closely ``values`` repeat ``reference`` step by step, printed as a figure; returns it.

    The figure is the mean relative difference ``mean |v - r| / |r|`` over the steps (0 when they
    repeat bit for bit). It is how a notebook shows that a shipped checkpoint's command reproduces
    the checkpoint: a short retrain repeats its first steps -- exactly on the CPU that made the file,
    and within ``band`` = (0, tolerance) on any other, where kernels add in another order and the
    runs drift apart a little with every step. (The mean, not the largest difference: in the first
    steps of training a tiny difference can briefly swing one step's loss by 25 %, while a run with
    another seed differs on average several times more than any CPU does.) Raises
    :class:`FigureOutOfBand` as :func:`figure` does, and ``ValueError`` when the runs differ in length.
    """
    ours, theirs = [float(v) for v in values], [float(r) for r in reference]
    if not ours or len(ours) != len(theirs):
        raise ValueError(
            f"{name!r}: values and reference must be two runs of the same non-zero length, got "
            f"{len(ours)} and {len(theirs)} steps; slice the reference to the steps you repeated"
        )
    gap = sum(abs(v - r) / max(abs(r), 1e-12) for v, r in zip(ours, theirs)) / len(ours)
    return figure(name, gap, band, digits=digits)


def _table_entry(name: str, entry: object) -> tuple[float, Band | None]:
    """A table cell: ``(value, (lo, hi))`` as :func:`_entry` reads it, or ``(value, None)``, shown unchecked."""
    if isinstance(entry, tuple) and len(entry) == 2 and entry[1] is None:
        return _entry(name, (entry[0], (0.0, 0.0)))[0], None
    return _entry(name, entry)


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
    """Fixed-point with ``digits`` decimals for ordinary magnitudes, scientific for huge ones and for
    tiny ones that fixed-point would show as 0 (below a hundredth of the last digit: 0.004 is 0.00)."""
    if not math.isfinite(value):
        return str(value)
    if value != 0 and (abs(value) >= 10**6 or abs(value) < 10 ** (-digits - 2)):
        return f"{value:.{max(digits - 1, 1)}e}"
    return f"{value:.{digits}f}"
