"""Repository-wide pytest hooks: the kit's threading policy, and the time each solution notebook took.

The policy (:mod:`aelab.threads`) is applied when this file is imported, before the tests' conftest
imports torch; with pytest-xdist the workers split the CPUs (``make test``: 2 workers on 2 cores, one
thread each), and nbval's kernels inherit the worker's variables.

nbval reports one test per cell; the course promises a time per notebook (each under 2 minutes on a
2-core laptop), so the cells' durations are summed per notebook here.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import pytest

from aelab import threads

_ENVIRONMENT = dict(os.environ)  # as the user set it, before the policy's variables
threads.apply(share=int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
_NOTEBOOK_SECONDS: dict[str, float] = defaultdict(float)


def pytest_configure(config: pytest.Config) -> None:
    """In pytest-xdist's controller, before it starts its workers: split the CPUs among them."""
    workers = config.getoption("numprocesses", None)
    if isinstance(workers, int) and workers > 1 and "PYTEST_XDIST_WORKER" not in os.environ:
        os.environ.update(threads.decide(_ENVIRONMENT, share=workers).variables)


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
