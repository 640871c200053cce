"""The kit's speed figures, printed: ``python -m aelab.bench`` (or ``aelab bench``).

Each section is a function returning rows ``(label, value)``; :data:`SECTIONS` maps the section's
name to it, in the order they print. To add a section, write its function and add it to
:data:`SECTIONS`; ``--only NAME`` runs one. Figures depend on the machine and its load, so each run
prints the load average beside them; tests never assert on them.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable

import torch
from tqdm.auto import tqdm

Row = tuple[str, str]


def _peak_rss_mib() -> float:
    """This process's peak resident memory so far, in MiB (ru_maxrss is KiB on Linux, bytes on macOS);
    NaN where the ``resource`` module is missing (Windows)."""
    try:
        import resource
    except ImportError:
        return math.nan
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


# --------------------------------------------------------------------------------------------------
# faces: SynthFaces rendering


def faces_section(n: int = 100_000, batch_size: int = 1024, resolution: int = 64) -> list[Row]:
    """Render ``n`` faces in batches (each dropped after use): throughput, and how much the peak
    resident memory grew over the run (flat rendering keeps it near one batch's size)."""
    from aelab.data.faces import iter_render

    next(iter_render(batch_size, batch_size=batch_size, resolution=resolution, seed=1))  # warm-up
    peak_before = _peak_rss_mib()
    start = time.perf_counter()
    with tqdm(total=n, unit="face", desc="faces", leave=False) as progress:
        for batch in iter_render(n, batch_size=batch_size, resolution=resolution):
            progress.update(len(batch))
    elapsed = time.perf_counter() - start
    batch_mib = batch_size * 5 * resolution**2 * 4 / 2**20  # images + two masks, float32
    return [
        (f"faces/s at {resolution} px", f"{n / elapsed:,.0f}  ({n:,} faces in {elapsed:.1f} s, batches of {batch_size})"),
        ("peak RSS growth", f"{_peak_rss_mib() - peak_before:,.0f} MiB over the run (one batch is {batch_mib:,.0f} MiB)"),
        ("peak RSS", f"{_peak_rss_mib():,.0f} MiB"),
    ]


# --------------------------------------------------------------------------------------------------
# Sections, in print order

SECTIONS: dict[str, Callable[[], list[Row]]] = {
    "faces": faces_section,
}


def _machine() -> list[Row]:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return [
        ("torch", f"{torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs"),
        ("load average (1, 5, 15 min)", load),
    ]


def _print(name: str, rows: list[Row]) -> None:
    width = max(len(label) for label, _ in rows)
    print(f"== {name} ==")
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")


def main(argv: list[str] | None = None) -> int:
    """Print the figures of every section, or of ``--only`` ones."""
    parser = argparse.ArgumentParser(prog="aelab bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=list(SECTIONS), metavar="SECTION",
                        help=f"run only this section (repeatable); sections: {', '.join(SECTIONS)}")
    args = parser.parse_args(argv)
    _print("machine", _machine())
    for name in args.only or SECTIONS:
        _print(name, SECTIONS[name]())
    _print("machine after", _machine()[1:])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
