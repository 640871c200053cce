"""``aelab bench`` (``make bench``): print the kit's speed figures, every section of :mod:`aelab.speed`
and the grading section (:mod:`aelab.grade.bench`: course tooling, which the library does not
import), or the ``--only`` ones, with the machine's load before and after. The figures of record are
kept in docs/benchmarks.md."""

from __future__ import annotations

import argparse

from aelab import speed
from aelab.grade.bench import grading_section

#: Every section, in print order: the library's, then grading.
SECTIONS = {**speed.SECTIONS, "grading": grading_section}


def _print(name: str, rows: list[speed.Row]) -> None:
    width = max(len(label) for label, _ in rows)
    print(f"== {name} ==")
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")


def main(argv: list[str] | None = None) -> int:
    """Print the figures of every section, or of ``--only`` ones."""
    parser = argparse.ArgumentParser(prog="aelab bench", description="Print the kit's speed figures.")
    parser.add_argument(
        "--only",
        action="append",
        choices=list(SECTIONS),
        metavar="SECTION",
        help=f"run only this section (repeatable); sections: {', '.join(SECTIONS)}",
    )
    args = parser.parse_args(argv)
    _print("machine", speed.machine())
    for name in args.only or SECTIONS:
        _print(name, SECTIONS[name]())
    _print("machine after", speed.machine()[1:])
    return 0
