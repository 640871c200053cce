"""Written answers, graded by hand: each question's answers side by side, and the points read back.

For each written answer of the lab (a cell with nbgrader ``solution: true, grade: true``), the
grader writes into ``DIR/written/``

- ``<grade_id>.md``: the question's name and points, then every student's answer under their
  submission's name, to read one question at a time;
- ``<grade_id>.csv``: one row per submission, ``submission,points,comment,answer_sha256,previous``,
  with ``points`` empty.

The instructor fills in ``points`` (a number from 0 to the question's points; empty: not graded
yet) and, if they like, a ``comment`` for the student, then runs the same ``aelab grade`` command
again: it grades nothing twice, reads the points back, and rewrites grades.csv (``auto``,
``manual``, ``total``) and every feedback page. Rewriting the CSV keeps what was filled in (and the
file's delimiter: a spreadsheet may save semicolons) and adds rows for new submissions.

``answer_sha256`` is the hash of the answer a row's mark is for. When a student resubmits with
another answer, the mark goes back to pending (``points`` empty again) and the old one moves to
``previous``, which only the instructor sees (here and in the ``.md`` sheet). An answer that is
empty or still the lab's placeholder (``YOUR ANSWER HERE``) is no answer: it scores 0 without
waiting for the instructor (points written in its row still count).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from aelab.grade.csvfile import number, read_table, write_table
from aelab.grade.plan import Mark, Question
from aelab.grade.results import write_atomically

__all__ = ["COLUMNS", "PLACEHOLDER", "Mark", "answered", "effective", "export", "read_marks", "reconcile"]

#: The columns of ``written/<grade_id>.csv``.
COLUMNS = ["submission", "points", "comment", "answer_sha256", "previous"]
#: What the lab's written answer cells hold until the student writes (``aelab make-labs``, nbgrader).
PLACEHOLDER = "YOUR ANSWER HERE"
#: The comment of a question left unanswered.
NO_ANSWER = "no answer was given."

Marks = dict[str, dict[str, Mark]]  # submission -> grade_id -> Mark


def answered(text: str | None) -> bool:
    """Whether a written answer says anything: not missing, empty, or the lab's placeholder."""
    return bool(text and text.strip() and text.strip() != PLACEHOLDER)


def _digest(text: str | None) -> str:
    """The hash of an answer's text (line ends and surrounding blanks do not count)."""
    normal = "\n".join(line.rstrip() for line in (text or "").replace("\r\n", "\n").strip().splitlines())
    return hashlib.sha256(normal.encode()).hexdigest()


def _path(out: Path, question: Question) -> Path:
    return out / "written" / f"{question.grade_id}.csv"


def _read(path: Path, question: Question) -> tuple[dict[str, Mark], str]:
    """The marks in one question's CSV by submission, and its delimiter; raises ValueError naming
    the line of a bad one."""
    if not path.exists():
        return {}, ","
    table = read_table(path, ["submission", "points"])
    marks: dict[str, Mark] = {}
    for line, row in enumerate(table.rows, start=2):
        text = row.get("points") or ""
        try:
            points = number(text, table.delimiter) if text else None
        except ValueError:
            points = -1.0
        if points is not None and not 0 <= points <= question.points:
            raise ValueError(
                f"{path}, line {line}: points must be a number from 0 to {question.points:g} (this question's "
                f"points), or empty while not graded; got {text!r}"
            )
        marks[row["submission"]] = Mark(points, row.get("comment") or "", row.get("answer_sha256") or "",
                                        row.get("previous") or "")  # fmt: skip
    return marks, table.delimiter


def read_marks(questions: list[Question], out: Path) -> Marks:
    """Every mark in the points sheets as the instructor left them. Raises ValueError for a bad CSV."""
    marks: Marks = {}
    for question in questions:
        for submission, mark in _read(_path(out, question), question)[0].items():
            marks.setdefault(submission, {})[question.grade_id] = mark
    return marks


def reconcile(questions: list[Question], marks: dict[str, Mark], answers: dict[str, str]) -> dict[str, Mark]:
    """One submission's marks for its current ``answers``: each tied to its answer's hash; a mark
    given for another answer goes back to pending, kept in ``previous``."""
    kept: dict[str, Mark] = {}
    for question in questions:
        mark, digest = marks.get(question.grade_id), _digest(answers.get(question.grade_id))
        if mark is None:
            continue
        if mark.answer_sha256 and mark.answer_sha256 != digest and mark.points is not None:
            earlier = f"{mark.points:g}" + (f" ({mark.comment})" if mark.comment else "")
            kept[question.grade_id] = Mark(None, "", digest, f"{earlier} for an earlier answer")
        else:
            kept[question.grade_id] = Mark(mark.points, mark.comment, digest, mark.previous)
    return kept


def effective(questions: list[Question], marks: dict[str, Mark], answers: dict[str, str]) -> dict[str, Mark]:
    """The marks that count for one submission: those given, and 0 for a question it left unanswered."""
    counted = dict(marks)
    for question in questions:
        given = marks.get(question.grade_id)
        if not answered(answers.get(question.grade_id)) and (given is None or given.points is None):
            counted[question.grade_id] = Mark(0.0, NO_ANSWER)
    return counted


def _sheet(question: Question, answers: dict[str, dict[str, str]], marks: dict[str, Mark]) -> str:
    """The ``.md`` sheet of one question: every answer under its submission's name."""
    points = f"{question.points:g} point{'s' * (question.points != 1)}"
    lines = [
        f"# Question {question.label} ({points})",
        "",
        f"Every answer, one per submission. Grade them in `{question.grade_id}.csv` (points from 0 to "
        f"{question.points:g}, and a comment if you like), then run the same `aelab grade` command again.",
        "",
    ]
    for submission in sorted(answers):
        text = answers[submission].get(question.grade_id)
        lines += [f"## {submission}", "", text.strip() if answered(text) else "*(no answer)*", ""]
        previous = marks.get(submission, Mark(None, "")).previous
        if previous:
            lines += [f"*Changed since it was marked: {previous}; pending again.*", ""]
    return "\n".join(lines)


def export(questions: list[Question], answers: dict[str, dict[str, str]], marks: Marks, out: Path) -> None:
    """Write ``written/<grade_id>.md`` and ``.csv`` for every question (see the module docstring).

    ``answers`` is submission -> grade_id -> the student's text (a missing cell: no entry);
    ``marks`` the marks to keep, as :func:`reconcile` left them.
    """
    folder = out / "written"
    folder.mkdir(mode=0o750, exist_ok=True)
    for question in questions:
        by_submission = {name: given[question.grade_id] for name, given in marks.items() if question.grade_id in given}
        write_atomically(folder / f"{question.grade_id}.md", _sheet(question, answers, by_submission))
        rows = []
        for submission in sorted(answers.keys() | by_submission.keys()):
            text = answers.get(submission, {}).get(question.grade_id)
            mark = by_submission.get(submission, Mark(None, "", _digest(text)))
            points = "" if mark.points is None else f"{mark.points:g}"
            rows.append([submission, points, mark.comment, mark.answer_sha256, mark.previous])
        delimiter = _read(_path(out, question), question)[1]
        write_atomically(_path(out, question), write_table(COLUMNS, rows, delimiter))
