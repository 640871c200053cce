"""``aelab grade``: grade student notebooks against a solution, each in a sandbox of its own.

::

    aelab grade tests/fixtures/demo_solution.ipynb submissions/ --out grades/ [--jobs 8] [--timeout 300]
        [--memory 4096] [--processes 256] [--disk 512] [--force] [--sandbox-uids 2000000000-2999999999]

For each submission the grader builds the cells to run from the trusted solution (:mod:`.plan`),
runs them in a fresh worker and kernel under limits and an identity of its own (:mod:`.sandbox`,
:mod:`.worker`), judges the probes' evidence in its own process and writes (:mod:`.report`,
:mod:`.written`)

- ``DIR/grades.csv``: submission, auto, manual, pending, total, max_score, status, seconds, detail,
  sha256; rewritten atomically after each submission, so an interrupted batch loses nothing;
- ``DIR/feedback/<submission>.md`` and ``.html``: every check with its points, verdict and message,
  and the written answers' points and comments;
- ``DIR/results/<submission>.json``: the same as data;
- ``DIR/written/<question>.md`` and ``.csv``: every student's written answer to one question, and
  the sheet where the instructor gives its points;
- ``DIR/summary.md``, ``summary.csv``, ``summary.png``: statuses, the checks hardest first, and the
  score histogram.

A submission already graded (same name, same file contents) is skipped unless ``--force``; one
that the grader could not run (``sandbox-error``) is graded again. A worker that stops without a
report is retried once, with a fresh identity. See ``docs/instructors.md`` for the threat model.

``--cluster local:N`` (a ``distributed.LocalCluster`` of N workers) or ``--scheduler ADDRESS`` (a
running Dask scheduler) run the sandboxes on Dask workers instead (:mod:`.cluster`, the
``cluster`` extra; ``docs/scaling.md``); judging and writing stay here.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Sequence

from tqdm.auto import tqdm

from aelab.checks import load_checks
from aelab.grade import written
from aelab.grade.plan import Lab, NotANotebook, SolutionError, read_submission
from aelab.grade.report import Result, assess, summarize, ungraded, write_feedback, write_grades
from aelab.grade.sandbox import DEFAULT_UIDS, Identities, Limits, Outcome, SandboxError, hidden_paths, run_worker

__all__ = ["DEFAULT_UIDS", "Limits", "Result", "grade", "main"]

#: What the worker imports to run a notebook (the ``notebooks`` extra): module -> distribution.
WORKER_NEEDS = {"nbclient": "nbclient", "nbformat": "nbformat", "ipykernel": "ipykernel",
                "jupyter_client": "jupyter-client"}
#: The most submissions sent to Dask workers at once.
MAX_IN_FLIGHT = 512


def _digest(path: Path) -> str:
    """The SHA-256 of a file's contents (hex), or "" if it cannot be read."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as stream:
            while chunk := stream.read(2**20):
                digest.update(chunk)
    except OSError:
        return ""
    return digest.hexdigest()


def _submissions(solution: Path, paths: Sequence[Path]) -> dict[str, Path]:
    """Each submission by name (its file name without ``.ipynb``); folders give their notebooks.

    Raises ValueError for a path that does not exist or two submissions with the same name.
    """
    found: dict[str, Path] = {}
    for path in paths:
        if path.is_dir():
            files = sorted(p for p in path.glob("*.ipynb") if p.is_file())
        elif path.exists():
            files = [path]
        else:
            raise ValueError(f"submission {path} does not exist; give notebooks or folders of notebooks")
        for file in files:
            if file.resolve() == solution.resolve():
                continue
            name = file.name.removesuffix(".ipynb")
            if name in found and found[name].resolve() != file.resolve():
                raise ValueError(f"two submissions are named {name!r} ({found[name]} and {file}); rename one")
            found[name] = file
    return found


def _require_notebook_tools() -> None:
    """Fail up front, with the fix, when this environment cannot run notebooks (no notebooks extra)."""
    missing = [package for module, package in WORKER_NEEDS.items() if importlib.util.find_spec(module) is None]
    if missing:
        raise SandboxError(
            f"grading runs notebooks, and this environment lacks {', '.join(missing)}: install the kit's "
            "notebooks extra (pip install -c constraints.txt -e '.[notebooks]', or `make test`)"
        )


def _grade_one(lab: Lab, name: str, path: Path, run: Callable[[dict], Outcome]) -> Result:
    """Grade one submission, its cells run by ``run`` in a sandbox of its own (here, or on a Dask
    worker); every failure ends as a Result with a status."""
    start = time.monotonic()
    result = Result(name, _digest(path), 0.0, lab.max_score, "ok", "", 0.0)
    _run_submission(lab, path, run, result)
    result.score = sum(check.earned for check in result.checks)
    result.seconds = round(time.monotonic() - start, 1)
    return result


def _silent(outcome: Outcome) -> bool:
    """Whether a worker ended without its last event although the grader's clock did not stop it
    (it crashed, or something killed it, before it could report)."""
    return not any(event.get("event") == "end" for event in outcome.events) and not outcome.killed


def _run_submission(lab: Lab, path: Path, run: Callable[[dict], Outcome], result: Result) -> None:
    """Fill ``result`` with the verdicts on the notebook at ``path`` (see :func:`_grade_one`)."""
    try:
        notebook = read_submission(path)
    except NotANotebook as exc:
        result.status, result.detail = "not-a-notebook", str(exc)
        result.checks = ungraded(lab, f"not graded: {exc}")
        return
    plan = lab.plan(notebook)
    result.notes = plan.notes
    result.written = lab.written(notebook)
    if len(plan.missing) == len(lab.answer_ids):
        foreign = lab.foreign_ids(notebook)
        holds = f"its answer cells are {', '.join(map(repr, foreign[:8]))}" if foreign else "it has no answer cells"
        result.status = "wrong-lab"
        result.detail = f"none of this lab's answer cells ({', '.join(map(repr, lab.answer_ids))}) is in it; {holds}"
        result.checks = ungraded(lab, f"not graded: {result.detail}.")
        return
    payload = {"steps": [{"label": step.label, "source": step.source} for step in plan.steps]}
    outcome = run(payload)
    if _silent(outcome):  # the worker died without a word: once more, as a new user
        first = outcome.stderr.strip()
        outcome = run(payload)
        if _silent(outcome):
            result.stderr = f"first run:\n{first}\n\nsecond run:\n{outcome.stderr.strip()}"
        else:
            result.notes.append("the grader's worker stopped without a report and was run again.")
    result.checks, result.errors, result.status, result.detail = assess(plan, outcome, lab.checks)


def grade(
    solution: Path,
    submissions: Sequence[Path],
    out: Path,
    *,
    limits: Limits | None = None,
    jobs: int | None = None,
    force: bool = False,
    uids: tuple[int, int] = DEFAULT_UIDS,
    progress: bool = True,
    scheduler: str | None = None,
    cluster: str | None = None,
    allow_unprivileged_workers: bool = False,
) -> list[Result]:
    """Grade ``submissions`` (notebooks or folders of them) against ``solution``; write into ``out``.

    Runs ``jobs`` submissions at a time (default: the number of usable cores) under ``limits``
    (default: ``Limits()``), each as a user of its own drawn from ``uids`` (first, last) when run as
    root, or on the Dask workers of ``scheduler`` (an address) or ``cluster`` ("local:N"); skips those
    already graded with the same contents unless ``force`` (those that ended ``sandbox-error`` or
    ``worker-died`` are graded again); reads the
    points given by hand to written answers (``out/written/*.csv``) and returns the results of every
    submission in ``out`` (this batch's and earlier ones'), sorted by name. See the module docstring
    for the files.

    Raises :class:`~aelab.grade.plan.SolutionError` for an unusable solution, ValueError for bad
    arguments (or a bad points sheet) and :class:`~aelab.grade.sandbox.SandboxError` when no
    sandbox can be made.
    """
    from aelab.validate import check_int  # here, not above: the worker imports this package, and no torch

    limits = limits if limits is not None else Limits()
    jobs = check_int("jobs", jobs if jobs is not None else len(os.sched_getaffinity(0)), minimum=1)
    _require_notebook_tools()
    lab = Lab(solution, load_checks())
    found = _submissions(solution, submissions)
    for folder in (out, out / "feedback", out / "results"):
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    marks = written.read_marks(lab.questions, out)  # a bad sheet fails before any grading
    done: dict[str, Result] = {}
    for file in sorted((out / "results").glob("*.json")):
        previous = Result.from_json(file.read_text())
        done[previous.submission] = previous
    todo = {
        name: path for name, path in found.items()
        if force or name not in done or done[name].sha256 != _digest(path)
        or done[name].status in ("sandbox-error", "worker-died")
    }  # fmt: skip
    hide = hidden_paths(solution, out)
    remote = None
    if (scheduler is not None or cluster is not None) and todo:
        from aelab.grade.cluster import DaskSandboxes, parse_local

        local = parse_local(cluster) if cluster is not None else None
        remote = DaskSandboxes(limits, hide, uids, scheduler=scheduler, local=local,
                               allow_unprivileged=allow_unprivileged_workers)  # fmt: skip
        if progress:
            print(remote.describe())
    identities = Identities(uids) if remote is None else None  # Dask workers claim their own
    scratch = Path(tempfile.mkdtemp(prefix="aelab-grade-"))
    os.chmod(scratch, 0o711)  # sandbox users may enter it to reach their own (0700) working folder
    lock = threading.Lock()
    bar = tqdm(total=len(todo), desc="grading", unit="notebook", disable=not progress or not todo)

    def task(name: str, path: Path) -> None:
        if identities is not None:
            result = _grade_one(lab, name, path, lambda payload: run_worker(payload, limits, identities.next(), hide, scratch))
        else:
            assert remote is not None
            result = _grade_one(lab, name, path, lambda payload: remote.run(payload, name))
        with lock:
            done[name] = result
            write_feedback(result, out, lab.questions, marks.get(name, {}))
            write_grades(list(done.values()), out / "grades.csv", lab.questions, marks)
            bar.update()
            bar.write(f"{name}: {result.score:g} / {lab.auto_max:g} from the checks, {result.status} "
                      f"({result.seconds:.1f} s)")  # fmt: skip

    try:
        # On Dask a thread here waits for each submission; DaskSandboxes.run keeps as many out at
        # once as the cluster has worker threads (it may grow: a batch system starts workers late).
        threads = min(jobs, max(1, len(todo))) if remote is None else min(max(1, len(todo)), MAX_IN_FLIGHT)
        with ThreadPoolExecutor(max_workers=threads) as pool:
            for future in [pool.submit(task, name, path) for name, path in todo.items()]:
                future.result()
    finally:
        bar.close()
        if identities is not None:
            identities.close()
        shutil.rmtree(scratch, ignore_errors=True)
        if remote is not None:
            remote.close()
    results = sorted(done.values(), key=lambda r: r.submission)
    written.export(lab.questions, {r.submission: r.written for r in results}, out)
    for result in results:  # the points given by hand since, on every page
        write_feedback(result, out, lab.questions, marks.get(result.submission, {}))
    write_grades(results, out / "grades.csv", lab.questions, marks)
    if results:
        text = summarize(results, out)
        if progress:
            print(text)
    return results


def _uid_range(text: str) -> tuple[int, int]:
    """``FIRST-LAST`` as two ints (argparse type)."""
    first, _, last = text.partition("-")
    try:
        return int(first), int(last)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected FIRST-LAST (e.g. 2000000000-2999999999), got {text!r}") from None


def _parser() -> argparse.ArgumentParser:
    defaults = Limits()
    parser = argparse.ArgumentParser(
        prog="aelab grade",
        description="Grade student notebooks against a solution notebook, each in a sandbox of its own.",
    )
    parser.add_argument("solution", type=Path, help="the solution notebook (with its hidden tests)")
    parser.add_argument("submissions", type=Path, nargs="+", help="student notebooks, or folders of them")
    parser.add_argument("--out", type=Path, required=True, help="where grades.csv, feedback/ and the summary go")
    parser.add_argument("--jobs", type=int, default=None, help="submissions graded at once (default: the cores)")
    parser.add_argument(
        "--timeout", type=float, default=defaults.timeout, help="seconds each submission's cells may run"
    )
    parser.add_argument("--memory", type=int, default=defaults.memory_mb, help="MiB of address space per process")
    parser.add_argument("--processes", type=int, default=defaults.processes, help="processes+threads per submission")
    parser.add_argument("--disk", type=int, default=defaults.disk_mb, help="MiB a submission may write")
    parser.add_argument("--force", action="store_true", help="grade again submissions already graded")
    parser.add_argument(
        "--sandbox-uids", type=_uid_range, default=DEFAULT_UIDS, metavar="FIRST-LAST",
        help="as root: the user ids the sandboxes draw from, one per submission (no account may use them; "
             "default %(default)s)",
    )  # fmt: skip
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--scheduler", help="run the sandboxes on the workers of this Dask scheduler (tcp://host:8786)")
    where.add_argument("--cluster", help="run the sandboxes on a local Dask cluster of N workers: local:N")
    parser.add_argument(
        "--allow-unprivileged-workers", action="store_true",
        help="accept Dask workers that are not root: their sandboxes keep the worker's user, with the limits only",
    )  # fmt: skip
    return parser


def main(argv: list[str]) -> int:
    """The ``aelab grade`` command; returns 0 when every submission was graded, 1 if any could not
    be run by the grader (status sandbox-error or worker-died), 2 for an unusable solution or bad arguments."""
    args = _parser().parse_args(argv)
    try:
        limits = Limits(args.timeout, args.memory, args.processes, args.disk)
        results = grade(
            args.solution, args.submissions, args.out, limits=limits, jobs=args.jobs, force=args.force,
            uids=args.sandbox_uids, scheduler=args.scheduler, cluster=args.cluster,
            allow_unprivileged_workers=args.allow_unprivileged_workers,
        )  # fmt: skip
    except (SolutionError, SandboxError, ValueError) as exc:
        print(f"aelab grade: {exc}", file=sys.stderr)
        return 2
    return 1 if any(result.status in ("sandbox-error", "worker-died") for result in results) else 0
