"""``aelab gradebook``: the course's grades across labs, by student, and the files an LMS imports.

::

    aelab gradebook --roster roster.csv --lab "Lab 05=grades/lab05" --lab "Lab 07=grades/lab07" \\
        --out gradebook/ [--pack handout/]

- The **roster** (CSV; commas, semicolons or tabs) maps submissions to students: columns
  ``submission`` (a submission's name, or a pattern such as ``alice*`` or ``*_12345``, matched
  without regard to case), ``student_id`` and ``name`` ("First Last" or "Last, First"); optional
  ``email``, ``login_id``, ``section`` and ``canvas_id`` (Canvas's own user id).
- Each ``--lab TITLE=DIR`` is an output folder of ``aelab grade`` (its ``grades.csv``); the title
  names the lab's column, as the LMS's grade item will be named.

It writes into ``--out``

- ``gradebook.csv``: per student, each lab's ``auto``, ``manual`` and ``total``, then the course
  ``total``, its ``max`` and the written answers still ``pending``;
- ``canvas.csv``: Canvas's gradebook import: ``Student, ID, SIS User ID, SIS Login ID, Section``,
  then one column per lab (its total), and a ``Points Possible`` row (Canvas creates an assignment
  for a column it does not know, with those points);
- ``moodle.csv``: Moodle's grade import (CSV): ``First name, Last name, ID number, Email address``,
  then one column per lab; on import map ``ID number`` to the user's ID number (or ``Email
  address`` to the email) and each lab's column to its grade item;
- ``gradebook.md``: submissions no roster line matches, and students without a submission.

A student without a submission for a lab has an empty cell (the LMS then leaves the grade as it
is). ``--pack DIR`` gathers each student's feedback pages, every lab's, into ``DIR/<student_id>/``
and ``DIR/<student_id>.zip``, readable by the course group, to hand back or upload.
"""

from __future__ import annotations

import argparse
import fnmatch
import re
import shutil
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from aelab.grade.csvfile import read_table, write_table
from aelab.grade.history import read_grades
from aelab.grade.results import FILE_MODE, FOLDER_MODE, write_atomically

__all__ = ["CANVAS_COLUMNS", "MOODLE_COLUMNS", "ROSTER_COLUMNS", "Course", "Student", "build", "main", "pack",
           "read_roster", "write"]  # fmt: skip

ROSTER_COLUMNS = ["submission", "student_id", "name"]
CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
MOODLE_COLUMNS = ["First name", "Last name", "ID number", "Email address"]


@dataclass(frozen=True)
class Student:
    """One roster line: the pattern of the student's submissions and who they are."""

    pattern: str
    student_id: str
    name: str
    email: str = ""
    login_id: str = ""
    section: str = ""
    canvas_id: str = ""

    @property
    def first_last(self) -> tuple[str, str]:
        """(first name, last name) from "First Last" or "Last, First"."""
        if "," in self.name:
            last, first = self.name.split(",", 1)
            return first.strip(), last.strip()
        first, _, last = self.name.strip().rpartition(" ")
        return (first, last) if first else (last, "")

    @property
    def sortable(self) -> str:
        """ "Last, First", as Canvas lists students."""
        first, last = self.first_last
        return f"{last}, {first}" if first and last else self.name


def read_roster(path: Path) -> list[Student]:
    """The roster's students; raises ValueError for a missing column, an empty field or a student id twice."""
    table = read_table(path, ROSTER_COLUMNS)
    students, seen = [], set()
    for line, row in enumerate(table.rows, start=2):
        if not all(row.get(column) for column in ROSTER_COLUMNS):
            raise ValueError(f"{path}, line {line}: submission, student_id and name must all be given")
        if row["student_id"] in seen:
            raise ValueError(f"{path}, line {line}: student {row['student_id']} is on the roster twice")
        seen.add(row["student_id"])
        students.append(Student(row["submission"], row["student_id"], row["name"], row.get("email", ""),
                                row.get("login_id", ""), row.get("section", ""), row.get("canvas_id", "")))  # fmt: skip
    return students


@dataclass
class Course:
    """The gradebook: students, labs (title -> max score), each student's grades.csv row per lab,
    and what matched no one."""

    students: list[Student]
    labs: dict[str, float]
    grades: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)  # (student_id, lab) -> row
    folders: dict[str, Path] = field(default_factory=dict)
    unmatched: dict[str, list[str]] = field(default_factory=dict)  # lab -> submissions

    def total(self, student: Student) -> tuple[float, float, int]:
        """(course total, its maximum, written answers pending) of a student."""
        rows = [self.grades.get((student.student_id, lab)) for lab in self.labs]
        total = sum(float(row["total"]) for row in rows if row)
        pending = sum(int(row.get("pending") or 0) for row in rows if row)
        return total, sum(self.labs.values()), pending


def _lab_spec(text: str) -> tuple[str, Path]:
    """``TITLE=DIR`` (argparse type)."""
    title, sep, folder = text.partition("=")
    if not sep or not title.strip() or not folder:
        raise argparse.ArgumentTypeError(f"expected TITLE=DIR (e.g. 'Lab 05=grades/lab05'), got {text!r}")
    return title.strip(), Path(folder)


def build(students: list[Student], labs: list[tuple[str, Path]]) -> Course:
    """Gather each lab's grades.csv by student. Raises ValueError for a lab folder without grades,
    a submission two roster lines match, or a student with two submissions in one lab."""
    course = Course(students, {})
    for title, folder in labs:
        rows = read_grades(folder / "grades.csv")
        if not rows:
            raise ValueError(f"{folder} holds no grades.csv with grades; give the --out folder of `aelab grade`")
        course.labs[title] = max(float(row["max_score"]) for row in rows.values())
        course.folders[title] = folder
        for submission, row in sorted(rows.items()):
            owners = [s for s in students if fnmatch.fnmatchcase(submission.lower(), s.pattern.lower())]
            if len(owners) > 1:
                ids = ", ".join(s.student_id for s in owners)
                raise ValueError(f"{title}: submission {submission!r} matches the roster lines of {ids}; "
                                 "make them distinct")  # fmt: skip
            if not owners:
                course.unmatched.setdefault(title, []).append(submission)
                continue
            key = (owners[0].student_id, title)
            if key in course.grades:
                raise ValueError(f"{title}: student {owners[0].student_id} has two submissions, "
                                 f"{course.grades[key]['submission']!r} and {submission!r}; remove one")  # fmt: skip
            course.grades[key] = row
    return course


def _number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def write(course: Course, out: Path) -> list[Path]:
    """Write gradebook.csv, canvas.csv, moodle.csv and gradebook.md into ``out``; their paths."""
    out.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    own, canvas, moodle = [], [["Points Possible", "", "", "", "", *map(_number, course.labs.values())]], []
    for student in course.students:
        rows = [course.grades.get((student.student_id, lab)) or {} for lab in course.labs]
        total, top, pending = course.total(student)
        parts = [row.get(part, "") for row in rows for part in ("auto", "manual", "total")]
        own.append([student.student_id, student.name, *parts, _number(total), _number(top), str(pending)])
        cells = [row.get("total", "") for row in rows]
        who = [student.sortable, student.canvas_id, student.student_id, student.login_id, student.section]
        canvas.append([*who, *cells])
        moodle.append([*student.first_last, student.student_id, student.email, *cells])
    parts = [f"{lab} {part}" for lab in course.labs for part in ("auto", "manual", "total")]
    files = {
        "gradebook.csv": write_table(["student_id", "name", *parts, "total", "max", "pending"], own),
        "canvas.csv": write_table([*CANVAS_COLUMNS, *course.labs], canvas),
        "moodle.csv": write_table([*MOODLE_COLUMNS, *course.labs], moodle),
        "gradebook.md": _notes(course),
    }
    for name, text in files.items():
        write_atomically(out / name, text)
    return [out / name for name in files]


def _notes(course: Course) -> str:
    """What the instructor should look at: unmatched submissions, missing ones, pending answers."""
    lines = [f"# Gradebook: {len(course.students)} students, {len(course.labs)} labs", ""]
    for lab in course.labs:
        missing = [s.student_id for s in course.students if (s.student_id, lab) not in course.grades]
        unmatched = course.unmatched.get(lab, [])
        lines.append(f"- {lab}: {len(course.students) - len(missing)} graded"
                     + (f"; no submission from {', '.join(missing)}" if missing else "")
                     + (f"; on no roster line: {', '.join(unmatched)}" if unmatched else ""))  # fmt: skip
    pending = [s.student_id for s in course.students if course.total(s)[2]]
    lines += ["", f"Written answers pending for: {', '.join(pending)}" if pending else "No written answer pending."]
    return "\n".join(lines) + "\n"


def _slug(title: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", title).strip("-") or "lab"


def pack(course: Course, dest: Path) -> list[Path]:
    """Each student's feedback pages, every lab's, in ``dest/<student_id>/`` (``<lab>.md`` and
    ``.html``) and zipped as ``dest/<student_id>.zip``; the zips' paths."""
    dest.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    zips = []
    for student in course.students:
        folder = dest / student.student_id
        folder.mkdir(mode=FOLDER_MODE, exist_ok=True)
        for lab, source in course.folders.items():
            row = course.grades.get((student.student_id, lab))
            for suffix in (".md", ".html") if row else ():
                page = source / "feedback" / f"{row['submission']}{suffix}"
                if page.exists():
                    shutil.copyfile(page, folder / f"{_slug(lab)}{suffix}")
                    (folder / f"{_slug(lab)}{suffix}").chmod(FILE_MODE)
        archive = dest / f"{student.student_id}.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as stream:
            for page in sorted(folder.iterdir()):
                stream.write(page, f"{student.student_id}/{page.name}")
        archive.chmod(FILE_MODE)
        zips.append(archive)
    return zips


def main(argv: list[str]) -> int:
    """The ``aelab gradebook`` command; 0 when written, 2 for a bad roster, lab folder or option."""
    parser = argparse.ArgumentParser(prog="aelab gradebook", description="Gather every lab's grades by student "
                                     "and write Canvas's and Moodle's import files.")  # fmt: skip
    parser.add_argument("--roster", type=Path, required=True, help="CSV: submission (or pattern), student_id, name")
    parser.add_argument("--lab", type=_lab_spec, action="append", required=True, metavar="TITLE=DIR",
                        help="a lab's title and its `aelab grade --out` folder (repeat for each lab)")  # fmt: skip
    parser.add_argument("--out", type=Path, required=True, help="where gradebook.csv, canvas.csv, moodle.csv go")
    parser.add_argument("--pack", type=Path, help="also gather each student's feedback pages here (folder and zip)")
    args = parser.parse_args(argv)
    try:
        course = build(read_roster(args.roster), args.lab)
        written = write(course, args.out)
        if args.pack is not None:
            written += pack(course, args.pack)
    except (OSError, ValueError) as exc:
        print(f"aelab gradebook: {exc}", file=sys.stderr)
        return 2
    print((args.out / "gradebook.md").read_text(), end="")
    packs = f" and {len(written) - 4} packs" if len(written) > 4 else ""
    print(f"wrote {', '.join(str(path) for path in written[:4])}{packs}")
    return 0
