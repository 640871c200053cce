"""Solutions -> labs: write the student notebooks (labs/) from the instructor's (solutions/), and lint them.

``aelab make-labs [--solutions DIR] [--labs DIR] [--check]`` (:mod:`aelab.commands.make_labs`) turns
every ``solutions/*.ipynb`` into ``labs/<same name>`` with :func:`lab_text`; ``--check`` writes nothing
and fails when labs/ is stale.

The conventions a solution notebook follows (nbgrader's, so instructors who use nbgrader can take
the notebooks as they are):

- A **solution cell** has cell metadata ``nbgrader: {grade_id, solution: true, grade: false,
  locked: false}``. Each region between the lines ``### BEGIN SOLUTION`` and ``### END SOLUTION``
  becomes, at the indentation of the BEGIN line, ``# YOUR CODE HERE`` and
  ``raise NotImplementedError("Exercise <label>: <hint>")``; in a markdown cell it becomes
  ``YOUR ANSWER HERE``. A solution cell without markers is replaced whole. ``<label>`` is the cell's
  ``aelab: {exercise: "1.2 DSSIM"}`` metadata, else its grade_id; ``<hint>`` is ``aelab: {hint:
  ...}``, else "replace this line with your code".
- A **check cell** has ``nbgrader: {grade_id, points, solution: false, grade: true, locked: true}``
  and calls at least one check registered in :data:`aelab.checks.REGISTRY`. Lines between
  ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS`` (check cells only) are removed from labs.
- A **written answer** (graded by hand) has ``solution: true`` and ``grade: true`` and points.
- grade_ids are unique within a notebook and use letters, digits, ``.``, ``_`` and ``-``.

Labs have outputs and execution counts cleared, cell metadata kept (timings dropped), cell ids taken
from the solution, so that regenerating is byte-stable, and the notebook metadata JupyterLab writes
when it opens a lab with the kit's kernel (:data:`aelab.kernel.KERNELSPEC` and
:data:`~aelab.kernel.LANGUAGE_INFO`), so that opening a lab leaves nothing to save. Each line of an
exercise's stub fits in :data:`LINE_LIMIT` characters (a long hint is split over several literals).
"""

from __future__ import annotations

import ast
import copy
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import nbformat
from nbformat import NotebookNode

from aelab.kernel import KERNELSPEC, LANGUAGE_INFO

__all__ = ["CheckCall", "Exercise", "NotebookError", "check_calls", "lab_text", "lint", "make_lab", "read_notebook"]

#: The marker lines, each naming its region's kind and whether it opens or closes it.
_MARKERS: dict[str, tuple[str, bool]] = {
    "### BEGIN SOLUTION": ("SOLUTION", True),
    "### END SOLUTION": ("SOLUTION", False),
    "### BEGIN HIDDEN TESTS": ("HIDDEN TESTS", True),
    "### END HIDDEN TESTS": ("HIDDEN TESTS", False),
}
#: A line holding one of these is meant as a marker and must be exactly one (else it could leak a solution).
_MARKER_WORDS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
_GRADE_ID = re.compile(r"[A-Za-z0-9_.-]+")
_AELAB_KEYS = ("exercise", "hint")
_DEFAULT_HINT = "replace this line with your code"
_TEXT_STUB = "YOUR ANSWER HERE"
_FIX_FILE = "open and save it with Jupyter, or restore it from git"
#: The longest line a student meets in a lab's exercise cells (a stub's hint is wrapped to fit).
LINE_LIMIT = 100
#: Cell metadata that records when a cell last ran: dropped from labs, like outputs.
_VOLATILE_CELL_METADATA = ("execution", "ExecuteTime")
#: Notebook metadata that labs keep; the rest (widget state, editor settings) is dropped.
_KEPT_NOTEBOOK_METADATA = ("aelab", "authors", "title")


class NotebookError(ValueError):
    """A solution notebook breaks the conventions; ``problems`` names the notebook and cell of each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Exercise:
    """One graded or answered cell of a solution notebook, as :func:`lint` reports it.

    ``kind`` is "solution" (code the student writes, judged by check cells), "grade" (a check
    cell), or "answer" (a written answer graded by hand). ``checks`` names the registered checks a
    check cell calls, hidden tests included, in the order they appear; ``points`` is None for
    solution cells. ``cell`` is the cell's index in ``notebook.cells`` (from 0); ``label`` is the
    exercise's name for students (metadata ``aelab.exercise``, else the grade_id).
    """

    grade_id: str
    kind: Literal["solution", "grade", "answer"]
    points: float | None
    checks: tuple[str, ...]
    cell: int
    label: str


@dataclass(frozen=True)
class _Meta:
    """A cell's validated metadata: nbgrader's flags, grade_id and points; the exercise's label and hint."""

    solution: bool
    grade: bool
    grade_id: str | None = None
    points: float | None = None
    label: str = ""
    hint: str = _DEFAULT_HINT


@dataclass(frozen=True)
class _Region:
    """Lines ``begin``..``end`` (inclusive, 0-based) of a cell, between markers of ``kind``."""

    kind: str
    begin: int
    end: int
    indent: str


def read_notebook(path: str | os.PathLike[str]) -> NotebookNode:
    """Read and validate an nbformat 4 notebook; cells without an id get ``cell-<index>``.

    Raises :class:`NotebookError` naming the file when it is not JSON, not nbformat 4, or invalid.
    """
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotebookError([f"{path}: not a notebook, it is not UTF-8 JSON ({exc}); {_FIX_FILE}."]) from None
    return _validated(raw, str(path))


def _validated(raw: Any, name: str) -> NotebookNode:
    """A validated copy of the notebook ``raw`` (a dict as JSON gives it), with every cell given an id."""
    if not isinstance(raw, dict) or raw.get("nbformat") != 4:
        version = raw.get("nbformat") if isinstance(raw, dict) else type(raw).__name__
        raise NotebookError([f"{name}: not an nbformat 4 notebook (nbformat is {version!r}); {_FIX_FILE}."])
    if not isinstance(raw.get("cells"), list) or not all(isinstance(cell, dict) for cell in raw["cells"]):
        raise NotebookError([f"{name}: not a valid notebook (its 'cells' is not a list of cells); {_FIX_FILE}."])
    raw = nbformat.from_dict(raw)  # a copy
    if isinstance(raw.get("nbformat_minor"), int) and raw.nbformat_minor < 5:
        raw.nbformat_minor = 5  # cell ids exist from 4.5 on
    seen: dict[str, int] = {}
    for index, cell in enumerate(raw.cells):
        cell_id = cell.setdefault("id", f"cell-{index}")
        if not isinstance(cell_id, str):
            continue  # nbformat.validate below says what is wrong
        if cell_id in seen:
            raise NotebookError(
                [f"{name}: cells {seen[cell_id] + 1} and {index + 1} have the same id {cell_id!r}; {_FIX_FILE}."]
            )
        seen[cell_id] = index
    try:
        nbformat.validate(raw)
    except nbformat.ValidationError as exc:
        raise NotebookError([f"{name}: not a valid nbformat 4 notebook: {exc.message}; {_FIX_FILE}."]) from None
    return nbformat.v4.to_notebook(raw)  # joins sources stored as lists of lines


def lint(notebook: str | os.PathLike[str] | NotebookNode) -> list[Exercise]:
    """The exercises of a solution notebook, in order; raises :class:`NotebookError` listing every problem.

    ``notebook`` is a path or a notebook read with nbformat. Checks the markers (balanced, not
    nested, each in a cell whose metadata allows it), the nbgrader metadata (grade_ids present,
    well-formed and unique; points on graded cells) and that each check cell calls a registered
    check. Importing the check modules (for :data:`aelab.checks.REGISTRY`) happens only when the
    notebook has check cells.
    """
    return _lint(*_notebook_and_name(notebook))


def _lint(nb: NotebookNode, name: str) -> list[Exercise]:
    """:func:`lint` of a validated notebook; ``name`` says which in messages."""
    problems: list[str] = []
    exercises: list[Exercise] = []
    first_cell: dict[str, int] = {}
    for index, cell in enumerate(nb.cells):
        where = _where(name, index, cell)
        try:
            meta = _metadata(cell)
            if meta.grade_id is None:
                continue
            kind: Literal["solution", "grade", "answer"] = (
                "answer" if meta.solution and meta.grade else "solution" if meta.solution else "grade"
            )
            checks = _called_checks(cell) if kind == "grade" else ()
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
            continue
        if meta.grade_id in first_cell:
            problems.append(
                f"{where}: grade_id {meta.grade_id!r} is already used by cell "
                f"{first_cell[meta.grade_id] + 1}; give each graded or solution cell its own grade_id."
            )
        first_cell.setdefault(meta.grade_id, index)
        exercises.append(Exercise(meta.grade_id, kind, meta.points, checks, index, meta.label))
    if problems:
        raise NotebookError(problems)
    return exercises


def make_lab(notebook: str | os.PathLike[str] | NotebookNode) -> NotebookNode:
    """The student version of a solution notebook (validated first with :func:`lint`)."""
    lab, name = _notebook_and_name(notebook)  # a copy
    _lint(lab, name)
    lab.metadata = {key: lab.metadata[key] for key in _KEPT_NOTEBOOK_METADATA if key in lab.metadata}
    lab.metadata.update(copy.deepcopy({"kernelspec": KERNELSPEC, "language_info": LANGUAGE_INFO}))
    for cell in lab.cells:
        cell.source = _student_source(cell)
        for key in _VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return lab


def lab_text(path: str | os.PathLike[str]) -> str:
    """The exact text of the lab generated from the solution at ``path`` (Jupyter's layout)."""
    text = nbformat.writes(make_lab(path))
    return text if text.endswith("\n") else text + "\n"


def _notebook_and_name(notebook: str | os.PathLike[str] | NotebookNode) -> tuple[NotebookNode, str]:
    if isinstance(notebook, NotebookNode):
        return _validated(notebook, "notebook"), "notebook"
    if isinstance(notebook, (str, os.PathLike)):
        return read_notebook(notebook), str(notebook)
    raise TypeError(f"notebook must be a path or an nbformat NotebookNode, got {type(notebook).__name__}")


def _where(name: str, index: int, cell: NotebookNode) -> str:
    """'<notebook>, cell <n> (<grade_id or first line>)' for messages; cells count from 1."""
    meta = cell.get("metadata", {}).get("nbgrader")
    if isinstance(meta, dict) and isinstance(meta.get("grade_id"), str):
        return f"{name}, cell {index + 1} (grade_id {meta['grade_id']!r})"
    first = next((line.strip() for line in cell.source.splitlines() if line.strip()), "")
    return f"{name}, cell {index + 1} ({first[:40]!r})"


def _metadata(cell: NotebookNode) -> _Meta:
    """The cell's nbgrader and aelab metadata, validated against its markers.

    Raises ValueError saying what is wrong and what to write instead.
    """
    meta = cell.metadata.get("nbgrader", {})
    if not isinstance(meta, dict):
        raise ValueError(f"metadata nbgrader must be a mapping, got {type(meta).__name__}.")
    solution, grade = meta.get("solution", False), meta.get("grade", False)
    for key, value in (("solution", solution), ("grade", grade)):
        if not isinstance(value, bool):
            raise ValueError(f"metadata nbgrader.{key} must be true or false, got {value!r}.")
    kinds = {region.kind for region in _regions(cell)}
    if "SOLUTION" in kinds and not solution:
        raise ValueError(
            "has ### BEGIN SOLUTION markers but no metadata nbgrader.solution: true; "
            "mark it as a solution cell (nbgrader: {grade_id, solution: true, grade: false})."
        )
    if "HIDDEN TESTS" in kinds and not grade:
        raise ValueError(
            "has ### BEGIN HIDDEN TESTS markers but no metadata nbgrader.grade: true; "
            "hidden tests belong in check cells (nbgrader: {grade_id, points, grade: true})."
        )
    if not (solution or grade):
        return _Meta(solution, grade)
    grade_id = meta.get("grade_id")
    if not isinstance(grade_id, str) or not _GRADE_ID.fullmatch(grade_id):
        raise ValueError(
            f"metadata nbgrader.grade_id must be a name of letters, digits, '.', '_' or '-', got {grade_id!r}."
        )
    points = None
    if grade:
        given = meta.get("points")
        if isinstance(given, bool) or not isinstance(given, (int, float)) or not 0 <= given < math.inf:
            raise ValueError(
                f"is graded (nbgrader.grade: true) but metadata nbgrader.points is {given!r}; "
                "give it a number of points >= 0."
            )
        points = float(given)
        if cell.cell_type != "code" and not solution:
            raise ValueError("a graded markdown cell must be a written answer: set nbgrader.solution: true too.")
    aelab = cell.metadata.get("aelab", {})
    if not isinstance(aelab, dict):
        raise ValueError(f"metadata aelab must be a mapping, got {type(aelab).__name__}.")
    for key, value in aelab.items():
        if key not in _AELAB_KEYS:
            raise ValueError(f"metadata aelab.{key} is unknown; the keys are {', '.join(_AELAB_KEYS)}.")
        if not isinstance(value, str) or not value.strip() or "\n" in value:
            raise ValueError(f"metadata aelab.{key} must be a one-line text, got {value!r}.")
    return _Meta(solution, grade, grade_id, points, aelab.get("exercise", grade_id), aelab.get("hint", _DEFAULT_HINT))


def _regions(cell: NotebookNode) -> list[_Region]:
    """The marked regions of a cell, in order; raises ValueError on a malformed, unbalanced or nested marker."""
    regions: list[_Region] = []
    open_: tuple[str, int, str] | None = None
    for number, line in enumerate(cell.source.split("\n")):
        stripped = line.strip()
        if not any(word in stripped for word in _MARKER_WORDS):
            continue
        if stripped not in _MARKERS:
            raise ValueError(
                f"line {number + 1}, {stripped!r}, looks like a marker; write the marker alone on its "
                f"line, exactly as one of: {', '.join(_MARKERS)}."
            )
        kind, begins = _MARKERS[stripped]
        if begins and open_ is not None:
            raise ValueError(
                f"line {number + 1}: '{stripped}' inside the {open_[0]} region opened on line "
                f"{open_[1] + 1}; regions cannot nest, close it first with '### END {open_[0]}'."
            )
        if not begins and (open_ is None or open_[0] != kind):  # so below, an END always has its BEGIN
            raise ValueError(f"line {number + 1}: '{stripped}' has no matching '### BEGIN {kind}' before it.")
        if begins:
            open_ = (kind, number, line[: len(line) - len(line.lstrip())])
        elif open_ is not None:
            regions.append(_Region(kind, open_[1], number, open_[2]))
            open_ = None
    if open_ is not None:
        raise ValueError(f"line {open_[1] + 1}: '### BEGIN {open_[0]}' is never closed; add '### END {open_[0]}'.")
    return regions


@dataclass(frozen=True)
class CheckCall:
    """One call to a registered check in a check cell: the check's name, the call (an ast node whose
    ``func`` names the check) and whether it lies between the hidden-test markers."""

    check: str
    call: ast.Call
    hidden: bool


def check_calls(cell: NotebookNode) -> list[CheckCall]:
    """The calls to registered checks in a check cell (``check_x(...)`` or ``module.check_x(...)``),
    in the order they appear. Raises ValueError when the cell is not plain Python."""
    from aelab.checks import load_checks

    try:
        tree = ast.parse(cell.source)
    except SyntaxError as exc:
        raise ValueError(f"a check cell must be plain Python (no magics): line {exc.lineno}: {exc.msg}.") from None
    hidden = {line + 1 for region in _regions(cell) if region.kind == "HIDDEN TESTS"
              for line in range(region.begin, region.end + 1)}  # fmt: skip
    registry = load_checks()
    calls = sorted(
        (node for node in ast.walk(tree) if isinstance(node, ast.Call)), key=lambda node: (node.lineno, node.col_offset)
    )
    return [
        CheckCall(name, call, call.lineno in hidden)
        for call in calls
        if (name := _called_name(call)) is not None and name in registry
    ]


def _called_name(call: ast.Call) -> str | None:
    """The name a call calls: ``f`` for ``f(...)`` and ``m.f(...)``, else None."""
    return (
        call.func.id
        if isinstance(call.func, ast.Name)
        else call.func.attr
        if isinstance(call.func, ast.Attribute)
        else None
    )


def _called_checks(cell: NotebookNode) -> tuple[str, ...]:
    """The registered checks a check cell calls, in order, each once; raises ValueError if none."""
    checks = tuple(dict.fromkeys(call.check for call in check_calls(cell)))
    if not checks:
        called = [name for node in ast.walk(ast.parse(cell.source)) if isinstance(node, ast.Call)
                  and (name := _called_name(node)) is not None]  # fmt: skip
        raise ValueError(
            f"check cell calls no registered check (it calls: {', '.join(called) or 'nothing'}); "
            "call a check from an aelab.checks module, e.g. check_mean(mean) from aelab.checks.demo."
        )
    return checks


def _student_source(cell: NotebookNode) -> str:
    """The cell's source with solution regions replaced by stubs and hidden tests removed."""
    meta = _metadata(cell)
    lines = cell.source.split("\n")
    regions = _regions(cell)
    if meta.solution and not any(region.kind == "SOLUTION" for region in regions):
        regions = [_Region("SOLUTION", 0, len(lines) - 1, "")]
    for region in reversed(regions):
        lines[region.begin : region.end + 1] = _stub(cell.cell_type, region, meta)
    return "\n".join(lines)


def _stub(cell_type: str, region: _Region, meta: _Meta) -> list[str]:
    """What replaces a region in the lab: nothing for hidden tests, else the code or answer stub."""
    if region.kind == "HIDDEN TESTS":
        return []
    if cell_type != "code":
        return [_TEXT_STUB]
    message = f"Exercise {meta.label}: {meta.hint}"
    one_line = f"{region.indent}raise NotImplementedError({_quoted(message)})"
    if len(one_line) <= LINE_LIMIT:
        return [f"{region.indent}# YOUR CODE HERE", one_line]
    inner = region.indent + " " * 4
    pieces = _wrapped(message, LINE_LIMIT - len(inner))
    return [
        f"{region.indent}# YOUR CODE HERE",
        f"{region.indent}raise NotImplementedError(",
        *(f"{inner}{_quoted(piece)}" for piece in pieces),
        f"{region.indent})",
    ]


def _quoted(text: str) -> str:
    """``text`` as a Python string literal (JSON's double-quoted form, which Python reads the same)."""
    return json.dumps(text, ensure_ascii=False)


def _wrapped(text: str, width: int) -> list[str]:
    """``text`` cut after spaces into pieces whose quoted forms fit ``width`` characters (a longer
    word stands alone); joined, the pieces give ``text`` back, as Python joins adjacent literals."""
    pieces = [""]
    for word in re.findall(r"\S+\s*|\s+", text):
        if pieces[-1] and len(_quoted(pieces[-1] + word)) > width:
            pieces.append("")
        pieces[-1] += word
    return pieces
