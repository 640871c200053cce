"""Repository-wide pytest hooks: the kit's threading policy, the capped notebooks, the order of the
test files, and the time each solution notebook took.

The policy (:mod:`aelab.threads`) is applied when this file is imported, before the tests' conftest
imports torch; with pytest-xdist the workers split the CPUs (``make test``: 2 workers on 2 cores, one
thread each), and nbval's kernels inherit the worker's variables.

``--capped SETTING:NOTEBOOK`` (``make test``: ``sse41:solutions/01-autoencoders.ipynb``) runs nbval on
the notebook under that setting of :mod:`aelab.portable`, in place of its default run: the test of
``tests/test_capped.py`` starts it in a child pytest process (the caps must be set before torch
starts), so it runs beside the rest of the suite.

pytest-xdist with ``--dist=loadfile --no-loadscope-reorder`` hands the test files out in collection
order; :data:`SLOWEST_FIRST` puts the longest first, so that the two workers finish together.

nbval reports one test per cell; the course promises a time per notebook (each under 2 minutes on a
2-core laptop), so the cells' durations are summed per notebook here (a capped notebook: its test's).
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
_CAPPED = pytest.StashKey[list[tuple[str, Path]]]()

#: The test files and notebooks that cost the most CPU time in ``make test``, most first (the rest
#: follow in collection order); the measurements: docs/benchmarks.md, "make test's CPU seconds".
SLOWEST_FIRST = (
    "tests/test_grade.py",
    "solutions/03-df-vs-liae.ipynb",
    "solutions/07-forensics.ipynb",
    "tests/test_grade_tools.py",
    "tests/test_grade_cluster.py",
    "solutions/08-architecture-benchmark.ipynb",
    "solutions/06-realism-metrics.ipynb",
    "solutions/10-provenance.ipynb",
    "solutions/09-adversarial-forensics.ipynb",
    "tests/test_capped.py",  # lab 01 under sse41
    "tests/test_distributed.py",
    "solutions/01-autoencoders.ipynb",
    "solutions/02-latent-spaces.ipynb",
    "tests/test_grade_solutions.py",
    "tests/test_forensics.py",
    "solutions/05-color-and-gan.ipynb",
    "tests/test_train_command.py",
    "tests/test_portable.py",
    "solutions/04-training-recipe.ipynb",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--capped", action="append", default=[], metavar="SETTING:NOTEBOOK",
        help="run nbval on NOTEBOOK under aelab.portable's SETTING (in a child process, beside the other "
             "tests) in place of its default run; make test: sse41:solutions/01-autoencoders.ipynb",
    )  # fmt: skip


def _capped(config: pytest.Config) -> list[tuple[str, Path]]:
    """The (setting, notebook) pairs of ``--capped``; raises pytest.UsageError for a bad one."""
    from aelab.portable import SETTINGS

    runs = []
    for text in config.getoption("capped"):
        setting, _, notebook = text.partition(":")
        path = Path(config.invocation_params.dir, notebook).resolve()
        if setting not in SETTINGS or path.suffix != ".ipynb" or not path.is_file():
            raise pytest.UsageError(
                f"--capped takes SETTING:NOTEBOOK, a setting of {', '.join(SETTINGS)} and "
                f"an existing .ipynb file, got {text!r}"
            )
        runs.append((setting, path))
    return runs


def pytest_configure(config: pytest.Config) -> None:
    """Read ``--capped``; in pytest-xdist's controller, before it starts its workers: split the CPUs."""
    config.stash[_CAPPED] = _capped(config)
    workers = config.getoption("numprocesses", None)
    if isinstance(workers, int) and workers > 1 and "PYTEST_XDIST_WORKER" not in os.environ:
        os.environ.update(threads.decide(_ENVIRONMENT, share=workers).variables)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test that takes ``capped_run`` runs once per ``--capped`` pair (none: skipped as empty)."""
    if "capped_run" in metafunc.fixturenames:
        runs = metafunc.config.stash[_CAPPED]
        metafunc.parametrize("capped_run", runs, ids=[f"{setting}-{path.stem}" for setting, path in runs])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the default run of each capped notebook (its capped run replaces it); then the files of
    SLOWEST_FIRST first, in its order."""
    capped = {path for _, path in config.stash[_CAPPED]}
    dropped = [item for item in items if item.path.resolve() in capped]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item.path.resolve() not in capped]
    rank = {path: index for index, path in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    capped = dict(report.user_properties).get("notebook")  # set by tests/test_capped.py
    path = capped or report.nodeid.split("::", 1)[0]
    if capped or path.endswith(".ipynb"):
        _NOTEBOOK_SECONDS[path] += report.duration


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _NOTEBOOK_SECONDS:
        return
    terminalreporter.section("time per notebook (nbval, all cells)")
    for path, seconds in sorted(_NOTEBOOK_SECONDS.items()):
        terminalreporter.write_line(f"{seconds:7.1f} s  {Path(path).as_posix()}")
