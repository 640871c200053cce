"""``aelab grade`` on a whole course notebook: the solution earns every automatic point (its written
answers wait for the instructor), the lab that ``aelab make-labs`` generates from it (exercises left
undone) earns none.

Each case runs the whole notebook twice in the grader's sandbox, so one lab stands for all: lab 04,
the quickest (about 18 s on a quiet 2-core machine). Every solution's exercises earn full marks in
tests/test_portable.py (graded under capped kernels), and every check of every lab reports the lab's
unfinished exercise as not done in tests/test_checks_labs.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aelab.checks import REGISTRY, load_checks
from aelab.grade import grade
from aelab.grade.plan import Lab

ROOT = Path(__file__).resolve().parents[1]
LABS = ["04-training-recipe"]


def _sandbox_imports_this_checkout() -> bool:
    """Whether a clean interpreter (as the grader's sandbox starts one, without PYTHONPATH) imports the
    aelab of this checkout: in a git worktree that shares another checkout's environment, it does not."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    found = subprocess.run(
        [sys.executable, "-c", "import aelab; print(aelab.__file__)"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return bool(found) and Path(found).resolve().is_relative_to(ROOT)


@pytest.mark.skipif(not _sandbox_imports_this_checkout(), reason="the environment's aelab is another checkout's")
@pytest.mark.parametrize("name", LABS)
def test_solution_gets_full_marks_and_lab_gets_zero(name: str, tmp_path: Path) -> None:
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    shutil.copy(ROOT / "solutions" / f"{name}.ipynb", submissions / "solution.ipynb")
    shutil.copy(ROOT / "labs" / f"{name}.ipynb", submissions / "lab.ipynb")
    results = {
        Path(r.submission).stem: r
        for r in grade(ROOT / "solutions" / f"{name}.ipynb", [submissions], tmp_path / "out", jobs=1, progress=False)
    }
    load_checks()
    auto_max = Lab(ROOT / "solutions" / f"{name}.ipynb", REGISTRY).auto_max  # written answers are graded by hand
    assert auto_max > 0
    assert results["solution"].score == auto_max, results["solution"].detail
    assert results["lab"].score == 0, results["lab"].detail
