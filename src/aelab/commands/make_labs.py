"""``aelab make-labs``: write labs/ from solutions/ (:func:`aelab.notebooks.lab_text` of each), or with
``--check`` write nothing and fail when labs/ is stale."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

from aelab.notebooks import NotebookError, lab_text


def main(argv: list[str]) -> int:
    """``aelab make-labs``: write labs/ from solutions/, or with ``--check`` report what is stale."""
    parser = argparse.ArgumentParser(
        prog="aelab make-labs",
        description="Write the student notebooks (labs/) from the solution notebooks (solutions/).",
    )
    parser.add_argument(
        "--solutions", default="solutions", metavar="DIR", help="folder of solution notebooks (default: %(default)s)"
    )
    parser.add_argument(
        "--labs", default="labs", metavar="DIR", help="folder the labs are written to (default: %(default)s)"
    )
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if labs/ differs from what would be written"
    )
    args = parser.parse_args(argv)
    solutions, labs = Path(args.solutions), Path(args.labs)
    if not solutions.is_dir():
        print(
            f"aelab make-labs: no folder {solutions}/; run from the repository root or pass --solutions DIR.",
            file=sys.stderr,
        )
        return 2
    fix = (
        "`make labs` (or `aelab make-labs`)"
        if (args.solutions, args.labs) == ("solutions", "labs")
        else f"`aelab make-labs --solutions {solutions} --labs {labs}`"
    )

    wanted: dict[str, str] = {}
    problems: list[str] = []
    for path in sorted(solutions.glob("*.ipynb")):
        try:
            wanted[path.name] = lab_text(path)
        except NotebookError as exc:
            problems += exc.problems
    if problems:
        print("aelab make-labs: fix these solution notebooks first:", *problems, sep="\n  ", file=sys.stderr)
        return 1

    changes = list(_changes(wanted, solutions, labs))
    if args.check:
        if not changes:
            print(f"{labs}/ is up to date (notebooks: {len(wanted)}).")
            return 0
        print(
            f"{labs}/ is stale:",
            *(f"{status}: {path} ({why})" for status, path, why in changes),
            sep="\n  ",
            file=sys.stderr,
        )
        print(f"Run {fix} to regenerate it.", file=sys.stderr)
        return 1
    labs.mkdir(parents=True, exist_ok=True)
    for status, path, _ in changes:
        if status == "extra":
            path.unlink()
            print(f"removed {path} (no {solutions / path.name})")
        else:
            path.write_text(wanted[path.name], encoding="utf-8", newline="\n")
            print(f"wrote {path}")
    print(f"{labs}/ is up to date (notebooks: {len(wanted)}).")
    return 0


def _changes(wanted: dict[str, str], solutions: Path, labs: Path) -> Iterator[tuple[str, Path, str]]:
    """(status, lab path, why) for every lab that differs from ``wanted``: stale, missing or extra."""
    present = {path.name for path in labs.glob("*.ipynb")} if labs.is_dir() else set()
    for name in sorted(wanted.keys() | present):
        path = labs / name
        if name not in wanted:
            yield "extra", path, f"there is no {solutions / name}"
        elif name not in present:
            yield "missing", path, f"generated from {solutions / name}"
        elif path.read_bytes() != wanted[name].encode("utf-8"):
            yield "stale", path, f"differs from what {solutions / name} generates"
