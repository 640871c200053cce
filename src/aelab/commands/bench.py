"""``aelab bench`` (``make bench``): print the kit's speed figures, every section of :mod:`aelab.bench`
or the ``--only`` ones, with the machine's load before and after. The figures of record are kept in
docs/benchmarks.md."""

from __future__ import annotations

import argparse

from aelab import bench


def _print(name: str, rows: list[bench.Row]) -> None:
    width = max(len(label) for label, _ in rows)
    print(f"== {name} ==")
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")


def main(argv: list[str] | None = None) -> int:
    """Print the figures of every section, or of ``--only`` ones."""
    parser = argparse.ArgumentParser(prog="aelab bench", description="Print the kit's speed figures.")
    parser.add_argument("--only", action="append", choices=list(bench.SECTIONS), metavar="SECTION",
                        help=f"run only this section (repeatable); sections: {', '.join(bench.SECTIONS)}")
    args = parser.parse_args(argv)
    _print("machine", bench.machine())
    for name in args.only or bench.SECTIONS:
        _print(name, bench.SECTIONS[name]())
    _print("machine after", bench.machine()[1:])
    return 0
