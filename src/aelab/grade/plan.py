"""The trusted half of grading a notebook: what runs in the student's kernel, and in which order.

The grader never runs a submission as the student saved it. It reads the *solution* (trusted) and
builds the cells to run from it:

- the solution's locked cells (instructions, set-up, the grade cells with their hidden tests), in
  the solution's order;
- in place of each answer cell (nbgrader ``solution: true``), the student's cell with the same
  ``grade_id``; cells the student added, deleted or moved do not matter, a missing answer scores 0;
- every grade cell rewritten so that each call to a registered check (``check_mean(mean)``) becomes
  ``__aelab_probe__(index, "check_mean", mean)``: the check's *probe* runs in the kernel and sends its
  plain-data evidence out; the verdict (``Check.judge``) is made later, in the grader's process.

Nothing here runs student code: notebooks are read as JSON (never with pickle) and only their cell
sources and nbgrader metadata are used; stored outputs are ignored.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aelab import notebooks
from aelab.checks import Check

__all__ = [
    "EVIDENCE_MIME",
    "Lab",
    "Mark",
    "NotANotebook",
    "Plan",
    "Probe",
    "Question",
    "SolutionError",
    "Step",
    "is_stub",
    "source_of",
    "read_submission",
]

#: The display-data MIME type that carries a probe's evidence out of the kernel.
EVIDENCE_MIME = "text/x-aelab-evidence"
#: The name under which the probe helper lives in the student's kernel.
PROBE_HELPER = "__aelab_probe__"
#: The biggest notebook file read (bytes); stored outputs make notebooks big, student code does not.
MAX_NOTEBOOK_BYTES = 100 * 2**20

#: The first cell run in every kernel (followed by the call of :meth:`Lab.preamble`): import the modules
#: of the checks the lab calls, and capture their probes and the means to publish evidence before any
#: student code runs, so that later patching of ``aelab.checks`` does not reach them. Only those
#: modules: each lab module imports what its checks need, and a kernel pays for every import.
PREAMBLE = f"""\
def _aelab_install(modules, names):
    import importlib
    import json
    from IPython.display import publish_display_data
    from aelab.checks import REGISTRY

    for module in modules:
        importlib.import_module(module)
    probes = {{name: REGISTRY[name].probe for name in names}}
    dumps, publish = json.dumps, publish_display_data

    def probe(index, name, *args, **kwargs):
        evidence = probes[name](*args, **kwargs)
        try:
            text = dumps(evidence, allow_nan=False)
        except (TypeError, ValueError) as exc:
            text = dumps({{"error": type(exc).__name__, "detail": str(exc)[:500]}})
        publish({{{EVIDENCE_MIME!r}: text}}, metadata={{"aelab-probe": index}})

    return probe
"""


class NotANotebook(ValueError):
    """The file is not a Jupyter notebook (not JSON, not nbformat 4, or too big to be one)."""


class SolutionError(ValueError):
    """The solution notebook cannot be graded from (an instructor's problem, not a student's)."""


@dataclass(frozen=True)
class Probe:
    """One call to a registered check inside a grade cell of the solution.

    ``points`` is this call's share of its grade cell's points (the cell's points split equally
    between the checks it calls); ``exercise`` is the answer cell it checks (the last answer cell
    before the grade cell), or None for a check before any answer cell; ``label`` names that
    exercise for students ("1.2 ssim").
    """

    index: int
    check: str
    grade_id: str
    exercise: str | None
    points: float
    label: str = ""


@dataclass(frozen=True)
class Mark:
    """An instructor's verdict on one written answer: points (None: not graded yet) and a comment;
    ``answer_sha256``: the answer it was given for; ``previous``: the mark of an earlier answer,
    which a changed answer put back to pending (shown to the instructor only)."""

    points: float | None
    comment: str
    answer_sha256: str = ""
    previous: str = ""


@dataclass(frozen=True)
class Question:
    """A written answer, graded by hand: its grade_id, its name for students and its points."""

    grade_id: str
    label: str
    points: float


@dataclass(frozen=True)
class Step:
    """One cell to run in the student's kernel; ``answer`` is the grade_id of a student's answer cell."""

    label: str
    source: str
    answer: str | None = None
    probes: tuple[int, ...] = ()


@dataclass
class Plan:
    """What to run for one submission, and what is already known about it before running."""

    steps: list[Step]
    probes: list[Probe]
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: The exercises (their names for students) whose answer cell still holds the lab's stub.
    unfinished: list[str] = field(default_factory=list)
    #: The student's answer cells by grade_id.
    answers: dict[str, str] = field(default_factory=dict)


def read_submission(path: Path) -> dict[str, Any]:
    """Read a student's notebook file as plain JSON and check that it has nbformat 4's shape.

    Tolerant where :func:`aelab.notebooks.read_notebook` (for solutions) is strict: only the cells'
    type, source and nbgrader metadata are used, so odd metadata or outputs are no reason to refuse.
    Raises :class:`NotANotebook` saying what is wrong (unreadable, too big, not JSON, no cells, ...).
    """
    try:
        size = path.stat().st_size
        if size > MAX_NOTEBOOK_BYTES:
            raise NotANotebook(
                f"the file is {size / 2**20:.0f} MiB, more than {MAX_NOTEBOOK_BYTES // 2**20} MiB: "
                "clear its outputs (Kernel > Restart Kernel and Clear Outputs) and save it again."
            )
        data = json.loads(path.read_bytes())
    except OSError as exc:
        raise NotANotebook(f"the file cannot be read ({exc.strerror or exc}).") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotANotebook(f"the file is not JSON, so not a Jupyter notebook ({exc}).") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise NotANotebook("the file is JSON but not a Jupyter notebook (it has no list of cells).")
    if data.get("nbformat") != 4:
        raise NotANotebook(f"the notebook has nbformat {data.get('nbformat')!r}; save it from Jupyter (nbformat 4).")
    for number, cell in enumerate(data["cells"], 1):
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            raise NotANotebook(f"cell {number} of the notebook is not a code, markdown or raw cell.")
        if not isinstance(source_of(cell), str):
            raise NotANotebook(f"cell {number} of the notebook has no text source.")
    return data


def source_of(cell: dict[str, Any]) -> Any:
    """A cell's source as one string (nbformat allows a list of lines), or None if it is neither."""
    source = cell.get("source", "")
    if isinstance(source, list) and all(isinstance(line, str) for line in source):
        return "".join(source)
    return source if isinstance(source, str) else None


def _answer_id(cell: dict[str, Any]) -> str | None:
    """The grade_id of an answer cell (nbgrader ``solution: true``), else None."""
    metadata = cell.get("metadata")
    meta = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    if not isinstance(meta, dict) or meta.get("solution") is not True:
        return None
    return meta["grade_id"] if isinstance(meta.get("grade_id"), str) else None


def is_stub(source: str) -> bool:
    """Whether an answer cell still holds the lab's stub (``# YOUR CODE HERE`` then ``raise
    NotImplementedError``, as :func:`aelab.notebooks.make_lab` writes it, and as nbgrader does)."""
    return "YOUR CODE HERE" in source and "raise NotImplementedError" in source


class _ProbeCalls(ast.NodeTransformer):
    """Rewrite calls to registered checks into calls to the kernel's probe helper."""

    def __init__(self, checks: dict[str, Check], first_index: int) -> None:
        self.checks = checks
        self.found: list[tuple[int, str]] = []
        self.next_index = first_index

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        if name not in self.checks:
            return node
        self.found.append((self.next_index, name))
        self.next_index += 1
        head = [ast.Constant(self.found[-1][0]), ast.Constant(name)]
        return ast.Call(func=ast.Name(PROBE_HELPER, ast.Load()), args=head + node.args, keywords=node.keywords)


class Lab:
    """A solution notebook, read once, from which each submission's :class:`Plan` is built."""

    def __init__(self, path: Path, checks: dict[str, Check]) -> None:
        """Read the solution at ``path``; ``checks`` is the registry of checks its grade cells call.

        Raises :class:`SolutionError` when the solution breaks the conventions that
        :func:`aelab.notebooks.lint` checks (e.g. a grade cell that calls no registered check) or
        has no answer cells.
        """
        try:
            notebook = notebooks.read_notebook(path)
            exercises = {exercise.cell: exercise for exercise in notebooks.lint(notebook)}
        except notebooks.NotebookError as exc:
            raise SolutionError(f"the solution {path} cannot be graded from:\n{exc}") from None
        self.checks = checks
        #: The solution's code cells in order; a str is the grade_id of an answer cell to fill in.
        self.setup_steps: list[Step | str] = []
        self.probes: list[Probe] = []
        #: Each exercise's name for students ("1.2 ssim"), by the grade_id of its answer cell.
        self.labels = {e.grade_id: e.label or e.grade_id for e in exercises.values()}
        exercise: str | None = None
        for index, cell in enumerate(notebook.cells):
            item = exercises.get(index)
            if cell.cell_type != "code":
                continue
            if item is not None and item.kind != "grade":
                exercise = item.grade_id
                self.setup_steps.append(exercise)
            elif item is not None:
                self.setup_steps.append(self._grade_step(item, cell.source, exercise))
            else:
                self.setup_steps.append(Step(self._setup_label(cell.source, exercise), cell.source))
        self.answer_ids = [step for step in self.setup_steps if isinstance(step, str)]
        if not self.answer_ids:
            raise SolutionError(
                f"the solution {path} has no answer cells (code cells whose nbgrader metadata says "
                "solution: true); is it a solution notebook of this kit?"
            )
        #: Written answers, graded by hand.
        self.questions = [
            Question(e.grade_id, e.label or e.grade_id, e.points or 0.0)
            for e in exercises.values()
            if e.kind == "answer"
        ]
        #: The lab as students get it (``make_lab``): each graded or answer cell's source and nbgrader
        #: metadata by grade_id, to tell what a submission changed (:mod:`aelab.grade.integrity`).
        self.released = {
            cell.metadata["nbgrader"]["grade_id"]: (cell.source, dict(cell.metadata["nbgrader"]))
            for cell in notebooks.make_lab(notebook).cells
            if isinstance(cell.metadata.get("nbgrader", {}).get("grade_id"), str)
        }
        #: The solution's own source of those cells (a submission made from it is no edit either).
        self.solution_sources = {
            cell.metadata["nbgrader"]["grade_id"]: cell.source
            for cell in notebook.cells
            if isinstance(cell.metadata.get("nbgrader", {}).get("grade_id"), str)
        }
        #: The points of the checks, and of everything (checks and written answers).
        self.auto_max = sum(probe.points for probe in self.probes)
        self.max_score = self.auto_max + sum(question.points for question in self.questions)

    def _setup_label(self, source: str, exercise: str | None) -> str:
        """How feedback names a locked cell of the lab: its first line and the exercise before it."""
        first = next((line.strip() for line in source.splitlines() if line.strip()), "")
        where = f"after exercise {self.labels[exercise]}" if exercise else "before the first exercise"
        return f"the lab's cell `{first[:50]}` ({where})"

    def _grade_step(self, item: notebooks.Exercise, source: str, exercise: str | None) -> Step:
        """The grade cell ``item`` rewritten: its calls to checks become probe calls (lint found some)."""
        rewriter = _ProbeCalls(self.checks, len(self.probes))
        tree = ast.fix_missing_locations(rewriter.visit(ast.parse(source)))
        share = (item.points or 0.0) / len(rewriter.found)
        label = self.labels[exercise] if exercise else ""
        self.probes += [Probe(index, name, item.grade_id, exercise, share, label) for index, name in rewriter.found]
        what = f"the check cell of exercise {label}" if label else f"the check cell {item.grade_id!r}"
        return Step(what, ast.unparse(tree), probes=tuple(index for index, _ in rewriter.found))

    def plan(self, submission: dict[str, Any]) -> Plan:
        """The cells to run for a submission (as read by :func:`read_submission`), with what is missing."""
        answers: dict[str, str] = {}
        notes: list[str] = []
        for cell in submission["cells"]:
            grade_id = _answer_id(cell)
            if grade_id is None or grade_id not in self.answer_ids:
                continue
            if grade_id in answers:
                notes.append(f"answer cell {grade_id!r} appears more than once; the first one was graded.")
                continue
            answers[grade_id] = source_of(cell)
        steps = [Step("grader set-up", self.preamble())]
        for step in self.setup_steps:
            if isinstance(step, Step):
                steps.append(step)
            elif step in answers:
                steps.append(Step(f"your answer to exercise {self.labels[step]}", answers[step], answer=step))
        missing = [grade_id for grade_id in self.answer_ids if grade_id not in answers]
        unfinished = [self.labels[grade_id] for grade_id in self.answer_ids if is_stub(answers.get(grade_id, ""))]
        return Plan(steps, self.probes, missing, notes, unfinished, answers)

    def preamble(self) -> str:
        """The grader's set-up cell: :data:`PREAMBLE`, then the probe helper made for this lab's checks."""
        names = sorted({probe.check for probe in self.probes})
        modules = sorted({self.checks[name].module for name in names})
        return f"{PREAMBLE}\n\n{PROBE_HELPER} = _aelab_install({modules!r}, {names!r})\ndel _aelab_install\n"

    def written(self, submission: dict[str, Any]) -> dict[str, str]:
        """The written answers of a submission (as read by :func:`read_submission`), by grade_id."""
        wanted = {question.grade_id for question in self.questions}
        answers: dict[str, str] = {}
        for cell in submission["cells"]:
            grade_id = _answer_id(cell)
            if grade_id in wanted and grade_id not in answers:
                answers[grade_id] = source_of(cell)
        return answers

    def foreign_ids(self, submission: dict[str, Any]) -> list[str]:
        """The answer grade_ids of a submission that this lab does not have (to name another lab)."""
        return [g for g in map(_answer_id, submission["cells"]) if g is not None and g not in self.answer_ids]
