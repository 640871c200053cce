"""nbval on a solution as another CPU computes it, beside the rest of the suite: ``--capped SETTING:NOTEBOOK``
(the repository's conftest.py; ``make test`` passes ``sse41:solutions/01-autoencoders.ipynb``).

``python -m aelab.portable nbval --settings SETTING NOTEBOOK`` runs nbval in a pytest process of its
own, with PyTorch's, oneDNN's and MKL's kernels capped before torch starts; this test starts it and
fails with its report when any cell's outputs differ. Without ``--capped`` it has nothing to run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_notebook_passes_nbval_under_the_capped_setting(
    capped_run: tuple[str, Path], record_property: Callable[[str, object], None]
) -> None:
    setting, notebook = capped_run
    record_property("notebook", f"{Path(os.path.relpath(notebook, ROOT)).as_posix()} under {setting}")
    command = [sys.executable, "-m", "aelab.portable", "nbval", "--settings", setting, str(notebook)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-2000:]
    assert " passed" in done.stdout.splitlines()[-1], done.stdout[-2000:]
