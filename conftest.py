"""Repository-wide pytest hooks: the time each solution notebook took, printed after the run.

nbval reports one test per cell; the course promises a time per notebook (each under 2 minutes on a
2-core laptop), so the cells' durations are summed per notebook here.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

_NOTEBOOK_SECONDS: dict[str, float] = defaultdict(float)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    path = report.nodeid.split("::", 1)[0]
    if path.endswith(".ipynb"):
        _NOTEBOOK_SECONDS[path] += report.duration


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _NOTEBOOK_SECONDS:
        return
    terminalreporter.section("time per notebook (nbval, all cells)")
    for path, seconds in sorted(_NOTEBOOK_SECONDS.items()):
        terminalreporter.write_line(f"{seconds:7.1f} s  {Path(path).as_posix()}")
