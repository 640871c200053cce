"""Every figure a solution's prose states is one the notebook computes: it occurs in a cell's output or code.

A prose claim ("DF's precision is 0.18") that no cell prints goes stale silently when the code moves;
one that a cell prints is checked by nbval (docs/DEVELOPING.md, "What nbval compares"). Exercise
numbers ("exercise 4.2") and section numbers are labels, not figures, and times ("about 1.5 hours")
are the syllabus's: both are skipped.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

SOLUTIONS = sorted(Path(__file__).resolve().parents[1].glob("solutions/[0-9][0-9]-*.ipynb"))

#: A decimal figure in prose: 0.18, -0.23, 1,062.5 (the sign may be a Unicode minus).
FIGURE = re.compile(r"(?<![\w.])[-−]?\d[\d,]*\.\d+(?![\w.]*\d)")
#: A time ("about 1.5 hours"): the syllabus's figure, measured by the timing runs, not a cell's output.
TIME = re.compile(r"^\s*(?:hours?|h|minutes?|min|seconds?|s|ms)\b")
#: A label that looks like a decimal: "exercise 4.2", "Exercise 4.2", "lab 4.2", "§ 4.2", "section 4.2".
LABEL = re.compile(r"(?:exercises?|labs?|sections?|§|questions?)\s*$", re.IGNORECASE)


def _figures(markdown: str) -> list[str]:
    found = []
    for match in FIGURE.finditer(markdown):
        if LABEL.search(markdown[max(0, match.start() - 12) : match.start()]) or TIME.match(markdown[match.end() :]):
            continue
        found.append(match.group().replace("−", "-").replace(",", "").lstrip("-"))
    return found


def _computed_text(notebook: nbformat.NotebookNode) -> str:
    parts = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        parts.append(cell.source)
        for output in cell.get("outputs", []):
            parts.append(str(output.get("text", "")))
            parts.append(str(output.get("data", {}).get("text/plain", "")))
    return "".join(parts).replace(",", "")


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)
def test_every_figure_in_the_prose_is_computed_by_a_cell(solution: Path) -> None:
    notebook = nbformat.read(solution, as_version=4)
    computed = _computed_text(notebook)
    lab = solution.name[:2].lstrip("0")
    missing = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "markdown":
            continue
        for figure in _figures(cell.source):
            if figure.startswith(f"{lab}.") and len(figure) <= len(lab) + 2:
                continue  # an exercise number of this lab ("4.3")
            if figure not in computed:
                missing.append(f"cell {index}: {figure}")
    assert not missing, (
        f"{solution.name}: figures in the prose that no cell prints or computes (print them through "
        f"aelab.report, or drop them): {', '.join(missing)}"
    )


def test_the_figure_pattern_skips_labels_and_reads_signed_figures() -> None:
    assert _figures(
        "DF's precision is 0.18, the carry-over −0.23; see exercise 4.2 and 1,062.5 steps in 1.5 hours"
    ) == [
        "0.18",
        "0.23",
        "1062.5",
    ]
