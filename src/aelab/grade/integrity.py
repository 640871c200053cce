"""The integrity report of a batch (``DIR/integrity.md``), for the instructor only.

Three parts:

- **Tampering neutralised.** What each submission tried that the grader made useless, named: a
  locked cell (a check cell) edited, or its nbgrader metadata (points, ``solution``, ``locked``)
  changed, where the grader ran the lab's own copy; an answer cell that redefines a check, patches
  ``aelab.checks``, numpy or torch, publishes evidence, registers a kernel hook or writes to
  another process's file descriptors (read from its code: :func:`tampering`); evidence that came
  back from a cell without a check, or twice for one check (from the run: :func:`aelab.grade.results.assess`).
- **Similarity hints** (:mod:`aelab.grade.similarity`): pairs of submissions whose exercise code is
  unusually alike, with the lines they share. A hint of where to look, never a verdict.
- **Runs.** Each submission's execution time, its time waiting for a worker, and its retries.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from aelab.grade.csvfile import write_table
from aelab.grade.plan import EVIDENCE_MIME, PROBE_HELPER, Lab, source_of
from aelab.grade.results import Result, write_atomically
from aelab.grade.similarity import rank

__all__ = ["tampering", "write_report"]

#: What the grader's own code in the kernel is made of; an answer cell that changes these tampers.
_GUARDED_ROOTS = {"aelab", "checks", "Check", "REGISTRY", "Feedback", "numpy", "np", "torch", "IPython"}
#: nbgrader metadata that says how a cell is graded.
_GRADE_KEYS = ("grade", "solution", "locked", "points")


def _normal(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def _edited_cells(lab: Lab, notebook: dict[str, Any]) -> list[str]:
    """Locked cells whose code, and cells whose grading metadata, differ from the lab's."""
    found = []
    for cell in notebook["cells"]:
        grade_id = _nbgrader(cell).get("grade_id")
        if not isinstance(grade_id, str) or grade_id not in lab.released:
            continue
        source, meta = lab.released[grade_id]
        mine = _nbgrader(cell)
        changed = [f"{key} {meta.get(key)!r} -> {mine.get(key)!r}" for key in _GRADE_KEYS
                   if key in meta and _comparable(mine.get(key)) != _comparable(meta.get(key))]  # fmt: skip
        if changed:
            found.append(f"the grading metadata of cell {grade_id!r} was changed ({'; '.join(changed)}): "
                         "the solution's was used")  # fmt: skip
        known = {_normal(source), _normal(lab.solution_sources.get(grade_id, ""))}
        if meta.get("locked") and not meta.get("solution") and _normal(str(source_of(cell))) not in known:
            found.append(f"the locked cell {grade_id!r} was edited: the lab's own copy ran")
    return found


def _nbgrader(cell: dict[str, Any]) -> dict[str, Any]:
    metadata = cell.get("metadata")
    meta = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    return meta if isinstance(meta, dict) else {}


def _comparable(value: Any) -> Any:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def _dotted(node: ast.AST) -> str:
    """``a.b.c`` for an attribute chain (``?`` for what is not a name)."""
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Call):
        return f"{_dotted(node.func)}()"
    return node.id if isinstance(node, ast.Name) else "?"


def _patches(source: str, checks: set[str]) -> list[str]:
    """What an answer cell's code does to the grader's side of the kernel."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    found, guarded = [], checks | {PROBE_HELPER}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name in guarded:
            found.append(f"redefines {node.name}")
        targets = node.targets if isinstance(node, ast.Assign) else []
        targets += [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else []
        for target in targets:
            name = _dotted(target)
            if isinstance(target, ast.Name) and name in guarded:
                found.append(f"redefines {name}")
            elif isinstance(target, ast.Attribute) and name.split(".")[0] in _GUARDED_ROOTS:
                found.append(f"patches {name}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            called = _dotted(node.func)
            if called.split(".")[0] in {"REGISTRY", "checks"} or called.endswith("events.register"):
                found.append(f"calls {called}")
        if isinstance(node, ast.Call) and _dotted(node.func) == "setattr" and node.args:
            if _dotted(node.args[0]).split(".")[0] in _GUARDED_ROOTS:
                found.append(f"patches {_dotted(node.args[0])} with setattr")
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if EVIDENCE_MIME in node.value or "aelab-probe" in node.value:
                found.append(f"publishes fake evidence ({EVIDENCE_MIME})")
            elif "/proc/" in node.value and "fd" in node.value:
                found.append("writes to other processes' file descriptors (/proc/.../fd)")
    return list(dict.fromkeys(found))


def tampering(lab: Lab, notebook: dict[str, Any], answers: dict[str, str]) -> list[str]:
    """Each tampering attempt in a submission's cells (``notebook`` as read, ``answers`` its answer
    cells by grade_id), named with the cell; the grader neutralises them all."""
    found = _edited_cells(lab, notebook)
    for grade_id, source in answers.items():
        found += [f"the answer cell of exercise {lab.labels.get(grade_id, grade_id)} {what} (no effect on grading)"
                  for what in _patches(source, set(lab.checks))]  # fmt: skip
    return found


def _cell(text: str) -> str:
    """Text for a Markdown table's cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _similarity(results: list[Result], given: dict[str, str]) -> tuple[list[str], list[list[str]]]:
    """The similarity section's lines, and its rows for similarity.csv."""
    pairs = rank({r.submission: r.code for r in results if r.code}, given)
    lines = ["## Similarity hints", "",
             "Pairs whose exercise code is unusually alike once names, layout and comments are set aside and the "
             "lab's given code removed (winnowed fingerprints, as MOSS does). A hint of where to read two notebooks "
             "side by side, never a verdict: short exercises are also written alike independently.", ""]  # fmt: skip
    if not pairs:
        lines += ["No pair stands out.", ""]
    rows = []
    for number, pair in enumerate(pairs, 1):
        lines += [f"### {number}. {pair.first} and {pair.second}: {pair.score:.0%} of fingerprints shared "
                  f"({pair.shared})", "", f"| exercise | {pair.first} | {pair.second} |", "|---|---|---|"]  # fmt: skip
        lines += [f"| {exercise} | `{_cell(a)}` | `{_cell(b)}` |" for exercise, a, b in pair.lines[:12]]
        lines.append("")
        rows.append([str(number), pair.first, pair.second, f"{pair.score:.2f}", str(pair.shared)])
    return lines, rows


def _runs(results: list[Result]) -> list[str]:
    """The runs section: execution, queue and retries."""
    ran, queued = sum(r.seconds for r in results), sum(r.queued for r in results)
    lines = ["## Runs", "", f"Execution {ran:.0f} s in all, {queued:.0f} s waiting for a worker on top "
             "(`seconds` and `queued` in grades.csv). Submissions run more than once, or that waited:", ""]  # fmt: skip
    odd = [r for r in results if r.attempts > 1 or r.queued >= 1.0]
    if not odd:
        return lines + ["None.", ""]
    lines += ["| submission | runs | seconds | queued |", "|---|---|---|---|"]
    lines += [f"| {r.submission} | {r.attempts} | {r.seconds:.1f} | {r.queued:.1f} |" for r in odd]
    return lines + [""]


def write_report(results: list[Result], given: dict[str, str], out: Path) -> str:
    """Write ``out/integrity.md`` (and ``similarity.csv``, the ranked pairs) for ``results``;
    ``given`` is the lab's code of each answer cell. Returns the report's text."""
    tampered = [r for r in results if r.integrity]
    lines = [f"# Integrity report: {len(results)} submissions", "",
             "For the instructor: no student's page shows any of this.", "",
             f"## Tampering neutralised ({len(tampered)} submission{'s' * (len(tampered) != 1)})", ""]  # fmt: skip
    if tampered:
        lines += ["| submission | what |", "|---|---|"]
        lines += [f"| {r.submission} | {_cell(what)} |" for r in tampered for what in r.integrity]
    else:
        lines.append("None.")
    similar, rows = _similarity(results, given)
    text = "\n".join(lines + [""] + similar + _runs(results))
    write_atomically(out / "integrity.md", text)
    write_atomically(out / "similarity.csv", write_table(["rank", "first", "second", "score", "shared"], rows))
    return text
