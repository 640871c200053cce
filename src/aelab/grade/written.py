"""Written answers, graded by hand: each question's answers side by side, and the points read back.

For each written answer of the lab (a cell with nbgrader ``solution: true, grade: true``), the
grader writes into ``DIR/written/``

- ``<grade_id>.md``: the question's name and points, then every student's answer under their
  submission's name, to read one question at a time;
- ``<grade_id>.csv``: one row per submission, ``submission,points,comment``, with ``points`` empty.

The instructor fills in ``points`` (a number from 0 to the question's points; empty: not graded
yet) and, if they like, a ``comment`` for the student, then runs the same ``aelab grade`` command
again: it grades nothing twice, reads the points back, and rewrites grades.csv (``auto``,
``manual``, ``total``) and every feedback page. Rewriting the CSV keeps what was filled in and adds
rows for new submissions.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

from aelab.grade.plan import Question
from aelab.grade.report import write_atomically

__all__ = ["COLUMNS", "Mark", "export", "read_marks"]

#: The columns of ``written/<grade_id>.csv``.
COLUMNS = ["submission", "points", "comment"]


@dataclass(frozen=True)
class Mark:
    """An instructor's verdict on one written answer: points (None: not graded yet) and a comment."""

    points: float | None
    comment: str


def _path(out: Path, question: Question) -> Path:
    return out / "written" / f"{question.grade_id}.csv"


def _read(path: Path, question: Question) -> dict[str, Mark]:
    """The marks in one question's CSV, by submission; raises ValueError naming the line of a bad one."""
    if not path.exists():
        return {}
    marks: dict[str, Mark] = {}
    with path.open(newline="", encoding="utf-8-sig") as stream:
        reader = csv.DictReader(stream)
        if reader.fieldnames is None or not {"submission", "points"} <= set(reader.fieldnames):
            raise ValueError(f"{path}: expected the columns {', '.join(COLUMNS)}; restore the header line")
        for line, row in enumerate(reader, start=2):
            text = (row.get("points") or "").strip()
            try:
                points = float(text) if text else None
            except ValueError:
                points = math.nan
            if points is not None and not 0 <= points <= question.points:
                raise ValueError(
                    f"{path}, line {line}: points must be a number from 0 to {question.points:g} (this question's "
                    f"points), or empty while not graded; got {text!r}"
                )
            marks[row["submission"]] = Mark(points, (row.get("comment") or "").strip())
    return marks


def read_marks(questions: list[Question], out: Path) -> dict[str, dict[str, Mark]]:
    """Every mark given so far: submission -> grade_id -> Mark. Raises ValueError for a bad CSV."""
    marks: dict[str, dict[str, Mark]] = {}
    for question in questions:
        for submission, mark in _read(_path(out, question), question).items():
            marks.setdefault(submission, {})[question.grade_id] = mark
    return marks


def export(questions: list[Question], answers: dict[str, dict[str, str]], out: Path) -> None:
    """Write ``written/<grade_id>.md`` and ``.csv`` for every question (see the module docstring).

    ``answers`` is submission -> grade_id -> the student's text (a missing cell: no entry).
    """
    folder = out / "written"
    folder.mkdir(mode=0o700, exist_ok=True)
    for question in questions:
        marks = _read(_path(out, question), question)
        points = f"{question.points:g} point{'s' * (question.points != 1)}"
        lines = [f"# Question {question.label} ({points})", "",
                 f"Every answer, one per submission. Grade them in `{question.grade_id}.csv` (points from 0 to "
                 f"{question.points:g}, and a comment if you like), then run the same `aelab grade` command again.", ""]
        for submission in sorted(answers):
            text = answers[submission].get(question.grade_id)
            lines += [f"## {submission}", "", text.strip() if text and text.strip() else "*(no answer)*", ""]
        write_atomically(folder / f"{question.grade_id}.md", "\n".join(lines))
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(COLUMNS)
        for submission in sorted(answers.keys() | marks.keys()):
            mark = marks.get(submission, Mark(None, ""))
            writer.writerow([submission, "" if mark.points is None else f"{mark.points:g}", mark.comment])
        write_atomically(_path(out, question), buffer.getvalue())
