"""Grading throughput: the ``grading`` section of ``aelab bench`` (``python -m aelab.grade.bench``).

For one solution notebook (default: the demo, ``tests/fixtures/demo_solution.ipynb``): the
notebook's own run time (nbclient in a fresh kernel, no sandbox), then copies of it graded by
``aelab grade`` with 1 and 2 workers (``--jobs``): the time per submission (its cells' run in the
sandbox, the kernel's start included) and submissions per minute. docs/scaling.md turns these
figures into the time a class takes on N workers. Figures depend on the machine and its load,
which ``aelab bench`` prints beside them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

__all__ = ["DEMO", "grading_section", "notebook_seconds"]

DEMO = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "demo_solution.ipynb"


def notebook_seconds(path: Path) -> float:
    """Seconds to run the notebook at ``path`` top to bottom with nbclient (kernel start included),
    on one thread as in the sandbox."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    threads = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"  # the kernel inherits it, as the sandbox's does
    try:
        with tempfile.TemporaryDirectory(prefix="aelab-bench-") as folder:
            start = time.perf_counter()
            where = {"metadata": {"path": folder}}
            client = NotebookClient(notebook, timeout=600, kernel_name="python3", resources=where)
            client.execute()
            return time.perf_counter() - start
    finally:
        if threads is None:
            del os.environ["OMP_NUM_THREADS"]
        else:
            os.environ["OMP_NUM_THREADS"] = threads


def _graded(solution: Path, submissions: int, jobs: int) -> tuple[float, float]:
    """(wall seconds, mean seconds per submission) to grade ``submissions`` copies at ``jobs`` at once."""
    from aelab.grade import grade

    with tempfile.TemporaryDirectory(prefix="aelab-bench-") as folder:
        inbox = Path(folder) / "submissions"
        inbox.mkdir()
        for number in range(submissions):
            shutil.copy(solution, inbox / f"student-{number}.ipynb")
        start = time.perf_counter()
        results = grade(solution, [inbox], Path(folder) / "out", jobs=jobs, progress=False)
        wall = time.perf_counter() - start
    return wall, sum(r.seconds for r in results) / len(results)


def grading_section(solution: Path | None = None, submissions: int = 4) -> list[tuple[str, str]]:
    """The rows of the grading section (see the module docstring)."""
    solution = solution or DEMO
    if not solution.is_file():
        return [("grading", f"n/a: {solution} is missing (run from the repository)")]
    own = notebook_seconds(solution)
    rows = [("notebook's own run", f"{own:.1f} s ({solution.name}, nbclient, no sandbox)")]
    for jobs in (1, 2):
        wall, each = _graded(solution, submissions, jobs)
        rows.append((f"{jobs} worker(s), {submissions} submissions",
                     f"{submissions / wall * 60:.1f} submissions/min; {each:.1f} s per submission "
                     f"({each / own:.2f}x the notebook's own run)"))  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aelab.grade.bench", description=__doc__.splitlines()[0])
    parser.add_argument("solution", type=Path, nargs="?", default=DEMO, help="the solution notebook (the demo)")
    parser.add_argument("--submissions", type=int, default=4, help="copies graded at each number of workers")
    args = parser.parse_args(argv)
    for label, value in grading_section(args.solution, args.submissions):
        print(f"  {label}  {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
