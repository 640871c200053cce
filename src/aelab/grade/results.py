"""Verdicts and what the grader writes: per-submission results, feedback pages, grades.csv, summary.

:func:`assess` turns a worker's events into points. It runs in the grader's own process: each
probe's evidence is read with :mod:`json` and judged by the check's ``judge`` from the grader's
``aelab.checks``, which recomputes the reference itself, so nothing the student's kernel did to its
own copy of the checks, numpy or torch reaches the verdict.
"""

from __future__ import annotations

import csv
import html
import io
import json
import os
import re
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aelab.checks import Check, Feedback
from aelab.grade.plan import Lab, Mark, Plan, Probe, Question
from aelab.grade.sandbox import Outcome

__all__ = [
    "GRADE_COLUMNS",
    "Assessment",
    "STATUSES",
    "CheckResult",
    "Result",
    "assess",
    "for_students",
    "summarize",
    "ungraded",
    "FILE_MODE",
    "FOLDER_MODE",
    "write_atomically",
    "write_feedback",
    "write_grades",
]

#: Every status a submission can end with, from the worst, and what it tells the student.
STATUSES: dict[str, str] = {
    "not-a-notebook": "the file is not a Jupyter notebook, so nothing could be graded.",
    "wrong-lab": "the notebook has none of this lab's answer cells: was it made from another lab?",
    "sandbox-error": "the grader could not run your notebook; this is not your fault, your instructor will look at it.",
    "worker-died": "the machines that ran your notebook failed twice; this is not your fault, it will be graded again.",
    "process-limit": "your code started more processes or threads than allowed; what was checked before counts.",
    "timeout": "a cell ran past its time limit and was interrupted (the next cells still ran), or the whole "
    "notebook ran past its own limit (the checks it had not reached score 0).",
    "kernel-died": "the kernel died (os._exit, a crash such as a segmentation fault, or no memory left); "
    "the checks it had not reached score 0.",
    "memory-limit": "a cell used more memory than allowed and raised an error; the other cells still count.",
    "syntax-error": "an answer cell is not valid Python; the checks of the other exercises still count.",
    "missing-answers": "some answer cells are missing (deleted, or their metadata changed); their checks score 0.",
    "unfinished": "some exercises are not done yet (they still raise NotImplementedError); their checks score 0.",
    "cell-errors": "some cells raised an exception; the checks of the others still count.",
    "ok": "every cell ran to the end.",
}
_MEMORY_ERRORS = ("MemoryError", "_ArrayMemoryError", "OutOfMemoryError")
_MEMORY_WORDS = ("allocate memory", "out of memory")
_PROCESS_WORDS = ("Resource temporarily unavailable", "can't start new thread", "can't create new thread")
_SYNTAX_ERRORS = ("SyntaxError", "IndentationError", "TabError")


@dataclass
class CheckResult:
    """One check of one submission: the exercise it checks (its name for students, "1.2 ssim"), its
    points, the verdict and message."""

    exercise: str | None
    grade_id: str
    check: str
    points: float
    earned: float
    passed: bool
    message: str


@dataclass
class Result:
    """The grade of one submission, with everything its feedback page shows.

    ``score`` is what the checks gave (out of the checks' points); ``max_score`` counts the written
    answers too, whose points the instructor gives by hand (:mod:`aelab.grade.written`).
    ``written`` holds the student's written answers by grade_id and ``code`` the answer cells'
    code (for the similarity hints); ``stderr`` the last words of a worker that stopped without a
    report. ``seconds`` is the time the submission's cells ran (the worker's, retries included),
    ``queued`` the time it waited for a worker on top of that, ``attempts`` how many runs it took;
    ``integrity`` names each tampering attempt the grader neutralised. ``stderr`` and
    ``integrity`` are for the instructor: no feedback page shows them.
    """

    submission: str
    sha256: str
    score: float
    max_score: float
    status: str
    detail: str
    seconds: float
    checks: list[CheckResult] = field(default_factory=list)
    errors: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    written: dict[str, str] = field(default_factory=dict)
    stderr: str = ""
    queued: float = 0.0
    attempts: int = 1
    integrity: list[str] = field(default_factory=list)
    code: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> Result:
        data = json.loads(text)
        data["checks"] = [CheckResult(**row) for row in data["checks"]]
        return cls(**data)


def ungraded(lab: Lab, reason: str) -> list[CheckResult]:
    """Every check of ``lab`` at 0 points, each saying ``reason``."""
    return [CheckResult(p.label, p.grade_id, p.check, p.points, 0.0, False, reason) for p in lab.probes]


def _classify(name: str, message: str, answer: bool, unfinished: bool) -> str:
    """The status that an exception ``name: message`` raised by a cell stands for; ``answer``: the
    cell is a student's answer cell; ``unfinished``: some exercise still holds the lab's stub (the
    lab's own cells that use it fail because of it)."""
    if name in _MEMORY_ERRORS or any(word in message for word in _MEMORY_WORDS):
        return "memory-limit"
    if name == "BlockingIOError" or any(word in message for word in _PROCESS_WORDS):
        return "process-limit"
    if name == "CellTimeout":
        return "timeout"
    if answer and name in _SYNTAX_ERRORS:
        return "syntax-error"
    if name == "NotImplementedError" or (unfinished and not answer):
        return "unfinished"
    return "cell-errors"


def _read_evidence(text: Any) -> tuple[bool, Any]:
    """(True, evidence) for evidence text that is JSON, else (False, why not)."""
    if not isinstance(text, str):
        return False, "your answer was too large to check (it came back as more than 8 MiB of data)."
    try:
        return True, json.loads(text)
    except ValueError:
        return False, "your answer came back in a form that cannot be checked."


@dataclass
class _Run:
    """What a worker's events say: each probe's evidence, each step's error, the steps reached, the
    last event, and what the kernel sent that no probe asked for (tampering)."""

    evidence: dict[int, list[Any]] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)
    reached: set[int] = field(default_factory=set)
    end: dict[str, Any] = field(default_factory=dict)
    stray: list[str] = field(default_factory=list)


def _replay(plan: Plan, outcome: Outcome) -> _Run:
    """Read a worker's events against ``plan``; evidence counts only from the step that calls its probe."""
    silent = f"the worker stopped without a report ({outcome.stderr.strip()[-300:] or 'no message on stderr'})"
    run = _Run(end={"status": "timeout" if outcome.killed else "sandbox-error", "detail": silent})
    for event in outcome.events:
        index = event.get("index")
        if event["event"] == "end":
            run.end = event
            break
        if event["event"] != "step" or not isinstance(index, int) or not 0 <= index < len(plan.steps):
            continue
        run.reached.add(index)
        error = event.get("error")
        if isinstance(error, list) and len(error) == 2:
            run.errors[index] = f"{error[0]}: {error[1]}"
        for pair in event.get("evidence") or []:
            if isinstance(pair, list) and len(pair) == 2 and pair[0] in plan.steps[index].probes:
                run.evidence.setdefault(pair[0], []).append(pair[1])
            elif index > 0:
                run.stray.append(f"{plan.steps[index].label} published evidence for a check (ignored)")
    return run


@dataclass
class Assessment:
    """The verdicts on one submission: check results, cell errors (step label, message), status and
    detail, and the tampering attempts that were neutralised (for the instructor)."""

    checks: list[CheckResult]
    errors: list[list[str]]
    status: str
    detail: str
    integrity: list[str]


def _status(plan: Plan, outcome: Outcome, run: _Run) -> tuple[str, list[str], list[list[str]]]:
    """The submission's status (the worst of its cells'), the details behind it, and its cell errors."""
    end = run.end
    statuses = {str(end.get("status"))} if end.get("status") in STATUSES else {"sandbox-error"}
    details = [str(end.get("detail", ""))[:300]] if statuses != {"ok"} else []
    errors = []
    for index, message in sorted(run.errors.items()):
        step = plan.steps[index]
        errors.append([step.label, message])
        name, _, text = message.partition(": ")
        answer = step.answer is not None
        statuses.add("sandbox-error" if index == 0 else _classify(name, text, answer, bool(plan.unfinished)))
        details.append(f"{name} in {step.label}")
    if outcome.crowded:
        statuses.add("process-limit")
        details.append("the sandbox reached its limit of processes and threads")
    if plan.missing:
        statuses.add("missing-answers")
        details.append(f"missing answer cells {', '.join(map(repr, plan.missing))}")
    if plan.unfinished:
        statuses.add("unfinished")
        details.append(f"not done yet: {', '.join(plan.unfinished)}")
    status_of = {name: rank for rank, name in enumerate(STATUSES)}
    return min(statuses, key=status_of.__getitem__), details, errors


def _verdict(probe: Probe, step: int, plan: Plan, run: _Run, checks: dict[str, Check]) -> Feedback:
    """The verdict on one probe, from its evidence or from why none came."""
    got = run.evidence.get(probe.index, [])
    if probe.exercise in plan.missing:
        return Feedback(probe.check, False, f"your answer cell for exercise {probe.label} is missing from the "
                        "notebook (deleted, or its cell metadata changed): copy it back from the lab.")  # fmt: skip
    if len(got) > 1:
        return Feedback(probe.check, False, "more than one answer came back for this check; "
                        "was the kernel tampered with?")  # fmt: skip
    if got:
        readable, value = _read_evidence(got[0])
        return checks[probe.check].judge(value) if readable else Feedback(probe.check, False, value)
    if step in run.errors:
        return Feedback(probe.check, False, f"the check could not run: {run.errors[step]}")
    if step in run.reached:
        return Feedback(probe.check, False, "the check did not run (the grade cell never called it).")
    return Feedback(probe.check, False, f"the notebook stopped before this check: {run.end.get('detail', '')}")


def assess(plan: Plan, outcome: Outcome, checks: dict[str, Check]) -> Assessment:
    """Judge a worker's events against ``plan``.

    A probe counts only from the step that calls it and only once: two answers for one probe mean
    the kernel was tampered with, and the check fails.
    """
    run = _replay(plan, outcome)
    status, details, errors = _status(plan, outcome, run)
    step_of = {probe: index for index, step in enumerate(plan.steps) for probe in step.probes}
    results, integrity = [], list(dict.fromkeys(run.stray))
    for probe in plan.probes:
        feedback = _verdict(probe, step_of[probe.index], plan, run, checks)
        if len(run.evidence.get(probe.index, [])) > 1:
            integrity.append(f"{probe.check} of exercise {probe.label or probe.grade_id} got more than one "
                             "answer from the kernel (a hook publishing evidence?): it failed")  # fmt: skip
        earned = probe.points if feedback.passed else 0.0
        results.append(CheckResult(probe.label, probe.grade_id, probe.check, probe.points, earned,
                                   feedback.passed, feedback.message))  # fmt: skip
    return Assessment(results, errors, status, "; ".join(filter(None, details)), integrity)


def _points(value: float) -> str:
    """Points as people write them: 2, 1.5, 0.33."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _manual(result: Result, questions: list[Question], marks: dict[str, Mark]) -> tuple[float, int]:
    """(points given by hand so far, written answers not graded yet) of a submission."""
    given = [marks[q.grade_id].points for q in questions if q.grade_id in marks]
    points = [p for p in given if p is not None]
    return sum(points), len(questions) - len(points)


#: Text meant for the kit's developers, never for a student's page: a pointer to the developer docs
#: (with its parentheses or its clause), e.g. a band's "(or the band is wrong: see docs/DEVELOPING.md)".
_DEVELOPER_TEXT = re.compile(
    r"\s*\([^()]*?(?:docs/|DEVELOPING)[^()]*\)"  # "(... see docs/DEVELOPING.md)"
    r"|[,;:]?\s*see (?:docs/)?[\w/.-]+\.md\b[^.;]*"
)  # "; see docs/x.md for ..."


def for_students(text: str) -> str:
    """``text`` without what is meant for the kit's developers (pointers to docs/*.md)."""
    return _DEVELOPER_TEXT.sub("", text)


def _document(
    result: Result, questions: list[Question], marks: dict[str, Mark]
) -> tuple[str, list[str], list[tuple[list[str], list[list[str]]]], list[str]]:
    """The feedback page's parts: title, paragraphs, tables (header, rows), then bullet items; the
    instructor's own notes (``stderr``, ``integrity``, an earlier answer's mark) are not among them."""
    title = f"Feedback for {result.submission}"
    manual, pending = _manual(result, questions, marks)
    auto_max = result.max_score - sum(q.points for q in questions)
    total = f"Score: {_points(result.score + manual)} / {_points(result.max_score)}"
    if questions:
        total += (
            f" (checks {_points(result.score)} / {_points(auto_max)}, written answers {_points(manual)} / "
            f"{_points(result.max_score - auto_max)}" + (f", {pending} not graded yet)" if pending else ")")
        )
    paragraphs = [
        total,
        f"Status: {result.status}: {STATUSES[result.status]}"
        + (f" ({for_students(result.detail)})" if result.detail else ""),
    ]
    checks = (
        ["Exercise", "Check", "Points", "Result", "What to do"],
        [
            [
                c.exercise or "",
                c.check,
                f"{_points(c.earned)} / {_points(c.points)}",
                "passed" if c.passed else "not yet",
                for_students(c.message),
            ]
            for c in result.checks
        ],
    )
    written = (
        ["Question", "Points", "Comment"],
        [
            [
                q.label,
                "not graded yet"
                if marks.get(q.grade_id, None) is None or marks[q.grade_id].points is None
                else f"{_points(marks[q.grade_id].points or 0.0)} / {_points(q.points)}",
                marks[q.grade_id].comment if q.grade_id in marks else "",
            ]
            for q in questions
        ],
    )
    items = [for_students(f"{label} raised {message}") for label, message in result.errors] + result.notes
    return title, paragraphs, [checks, written] if questions else [checks], items


def _markdown(result: Result, questions: list[Question], marks: dict[str, Mark]) -> str:
    title, paragraphs, tables, items = _document(result, questions, marks)
    cell = lambda text: text.replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines = [f"# {title}", "", *(f"{p}  " for p in paragraphs), ""]
    for header, rows in tables:
        lines += [f"| {' | '.join(header)} |", f"|{'---|' * len(header)}"]
        lines += [f"| {' | '.join(map(cell, row))} |" for row in rows]
        lines.append("")
    lines += [f"- {cell(item)}" for item in items]
    return "\n".join(lines).rstrip() + "\n"


def _html(result: Result, questions: list[Question], marks: dict[str, Mark]) -> str:
    title, paragraphs, tables, items = _document(result, questions, marks)
    e = html.escape
    parts = [
        f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{e(title)}</title></head><body>",
        f"<h1>{e(title)}</h1>",
    ]
    parts += [f"<p>{e(p)}</p>" for p in paragraphs]
    for header, rows in tables:
        parts.append("<table border='1' cellpadding='4'><tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{e(value)}</td>" for value in row) + "</tr>" for row in rows]
        parts.append("</table>")
    if items:
        parts.append("<ul>" + "".join(f"<li>{e(item)}</li>" for item in items) + "</ul>")
    return "\n".join(parts + ["</body></html>\n"])


#: The mode of what the grader writes: the grader's user writes, the course group (the folder's
#: group: ``chmod g+s`` on the output folder) reads; others nothing. Folders: :data:`FOLDER_MODE`.
FILE_MODE, FOLDER_MODE = 0o640, 0o750


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (mode :data:`FILE_MODE`) through a temporary file and os.replace:
    never half a file."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.chmod(temporary, FILE_MODE)
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def write_feedback(
    result: Result, out: Path, questions: list[Question] | None = None, marks: dict[str, Mark] | None = None
) -> None:
    """Write ``out/feedback/<submission>.md`` and ``.html`` and ``out/results/<submission>.json``;
    ``marks`` are the instructor's points for the written answers ``questions`` (by grade_id)."""
    questions, marks = questions or [], marks or {}
    write_atomically(out / "feedback" / f"{result.submission}.md", _markdown(result, questions, marks))
    write_atomically(out / "feedback" / f"{result.submission}.html", _html(result, questions, marks))
    write_atomically(out / "results" / f"{result.submission}.json", result.to_json())


#: The columns of grades.csv: ``auto`` is what the checks gave, ``manual`` the written answers'
#: points given so far (``pending``: how many are not graded yet), ``total`` their sum; ``seconds``
#: the time its cells ran, ``queued`` the time it waited for a worker, ``attempts`` its runs.
GRADE_COLUMNS = [
    "submission",
    "auto",
    "manual",
    "pending",
    "total",
    "max_score",
    "status",
    "seconds",
    "queued",
    "attempts",
    "detail",
    "sha256",
]


def write_grades(
    results: list[Result],
    path: Path,
    questions: list[Question] | None = None,
    marks: dict[str, dict[str, Mark]] | None = None,
) -> None:
    """Write grades.csv (one row per submission, sorted by name) atomically; ``marks`` are the
    instructor's points for the written answers ``questions``: submission -> grade_id -> Mark."""
    questions, marks = questions or [], marks or {}
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, GRADE_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for result in sorted(results, key=lambda r: r.submission):
        manual, pending = _manual(result, questions, marks.get(result.submission, {}))
        writer.writerow({**asdict(result), "auto": _points(result.score), "manual": _points(manual),
                         "pending": pending, "total": _points(result.score + manual),
                         "max_score": _points(result.max_score)})  # fmt: skip
    write_atomically(path, buffer.getvalue())


def summarize(results: list[Result], out: Path) -> str:
    """Write the class summary (summary.md, summary.csv, summary.png: the score histogram) and return
    its text: statuses, and each check's pass rate and mean points, hardest first."""
    from matplotlib.figure import Figure

    per_check: dict[tuple[str, str], list[CheckResult]] = {}
    for result in results:
        for check in result.checks:
            per_check.setdefault((check.exercise or "", check.check), []).append(check)
    rows = []
    for (exercise, name), checks in per_check.items():
        passed = sum(c.passed for c in checks) / len(checks)
        mean = sum(c.earned for c in checks) / len(checks)
        rows.append([exercise, name, _points(checks[0].points), f"{passed:.0%}", _points(mean)])
    rows.sort(key=lambda row: (float(row[3].rstrip("%")), row[0], row[1]))
    header = ["exercise", "check", "points", "passed", "mean points"]
    buffer = io.StringIO()
    csv.writer(buffer).writerows([header, *rows])
    write_atomically(out / "summary.csv", buffer.getvalue())

    scores = [r.score for r in results]
    mean = sum(scores) / len(scores) if scores else 0.0
    top = max((sum(check.points for check in r.checks) for r in results), default=0.0)
    statuses = Counter(r.status for r in results)
    lines = [
        f"# Summary: {len(results)} submissions, mean score of the checks {_points(mean)} / {_points(top)}",
        "",
        "Statuses: " + ", ".join(f"{name} {count}" for name, count in statuses.most_common()),
        "",
        "Checks, hardest first:",
        "",
        f"| {' | '.join(header)} |",
        f"|{'---|' * len(header)}",
        *(f"| {' | '.join(row)} |" for row in rows),
        "",
    ]
    text = "\n".join(lines)
    write_atomically(out / "summary.md", text)

    figure = Figure(figsize=(6, 3.5))
    axes = figure.add_subplot()
    axes.hist(scores, bins=max(1, min(20, int(top) + 1)), range=(0, max(top, 1)), color="tab:blue", edgecolor="white")
    axes.set_xlabel(f"score (out of {_points(top)})")
    axes.set_ylabel("submissions")
    axes.set_title(f"Scores of {len(results)} submissions")
    figure.tight_layout()
    figure.savefig(out / "summary.png", dpi=100)
    return text
