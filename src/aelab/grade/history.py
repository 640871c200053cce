"""The grading history of an output folder: every change of a grade, kept rather than overwritten.

``DIR/history.csv`` gains one row per submission whose grade changed in a run of ``aelab grade``:
``when`` (UTC), ``who`` (the user who ran it), ``submission``, ``what`` changed (``auto 2 -> 3;
total 2 -> 3``; ``graded`` for a first grade), and ``why`` (its file changed, ``--force``, a
rerun after the grader could not run it, points given by hand, an answer changed back to pending).
The result a regrade replaces is kept as ``DIR/history/<submission>-<when>.json``.
"""

from __future__ import annotations

import csv
import getpass
import os
import shutil
import time
from pathlib import Path

from aelab.grade.csvfile import write_table

__all__ = ["COLUMNS", "TRACKED", "archive", "changes", "read_grades", "record"]

COLUMNS = ["when", "who", "submission", "what", "why"]
#: The columns of grades.csv whose changes are recorded.
TRACKED = ("auto", "manual", "pending", "total", "status")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def read_grades(path: Path) -> dict[str, dict[str, str]]:
    """grades.csv's rows by submission (none if it does not exist yet)."""
    if not path.exists():
        return {}
    with path.open(newline="", encoding="utf-8") as stream:
        return {row["submission"]: row for row in csv.DictReader(stream)}


def archive(out: Path, submission: str) -> None:
    """Keep the result a regrade is about to replace, as ``history/<submission>-<when>.json``."""
    current = out / "results" / f"{submission}.json"
    if current.exists():
        folder = out / "history"
        folder.mkdir(mode=0o750, exist_ok=True)
        shutil.copy2(current, folder / f"{submission}-{_now().replace(':', '')}.json")


def changes(before: dict[str, dict[str, str]], after: dict[str, dict[str, str]],
            why: dict[str, str]) -> list[list[str]]:  # fmt: skip
    """The history rows for going from ``before`` to ``after`` (grades.csv rows by submission);
    ``why`` gives the reason of the submissions graded again (others changed by hand-given points)."""
    when, who, rows = _now(), _who(), []
    for name in sorted(after):
        old, new = before.get(name), after[name]
        if old is None:
            what = "graded: " + "; ".join(f"{key} {new.get(key, '')}" for key in TRACKED)
        else:
            what = "; ".join(f"{key} {old.get(key, '')} -> {new.get(key, '')}" for key in TRACKED
                             if old.get(key, "") != new.get(key, ""))  # fmt: skip
        if what:
            rows.append([when, who, name, what, why.get(name, "points given by hand changed")])
    return rows


def record(path: Path, rows: list[list[str]]) -> None:
    """Append ``rows`` to the history file at ``path`` (with its header when new)."""
    if not rows:
        return
    text = write_table(COLUMNS, rows)
    if path.exists():
        text = text.split("\n", 1)[1]
    with path.open("a", encoding="utf-8", newline="") as stream:
        stream.write(text)
    os.chmod(path, 0o640)
