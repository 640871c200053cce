"""``aelab grade``: grade student notebooks against a solution, each in a sandbox of its own.

::

    aelab grade tests/fixtures/demo_solution.ipynb submissions/ --out grades/ [--jobs 8] [--timeout 300]
        [--memory 4096] [--processes 256] [--disk 512] [--force] [--sandbox-uids 2000000000-2999999999]

For each submission the grader builds the cells to run from the trusted solution (:mod:`.plan`),
runs them in a fresh worker and kernel under limits and an identity of its own (:mod:`.sandbox`,
:mod:`.worker`), judges the probes' evidence in its own process and writes (:mod:`.results`,
:mod:`.written`)

- ``DIR/grades.csv``: submission, auto, manual, pending, total, max_score, status, seconds, queued,
  attempts, detail, sha256; rewritten atomically after each submission, so an interrupted batch
  loses nothing;
- ``DIR/feedback/<submission>.md`` and ``.html``: every check with its points, verdict and message,
  and the written answers' points and comments;
- ``DIR/results/<submission>.json``: the same as data;
- ``DIR/written/<question>.md`` and ``.csv``: every student's written answer to one question, and
  the sheet where the instructor gives its points;
- ``DIR/summary.md``, ``summary.csv``, ``summary.png``: statuses, the checks hardest first, and the
  score histogram;
- ``DIR/integrity.md`` and ``similarity.csv`` (:mod:`.integrity`): the tampering neutralised, the
  similarity hints, retries and queue time, for the instructor only;
- ``DIR/history.csv`` and ``DIR/history/`` (:mod:`.history`): every change of a grade, and the
  results that regrades replaced.

Each cell may run ``--cell-timeout`` seconds: past that it is interrupted and the next cell runs;
all of a submission's cells together may run ``--timeout`` seconds. What the grader writes is
readable by the output folder's group (the course's staff) and no one else.

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
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tqdm.auto import tqdm

from aelab.checks import load_checks
from aelab.grade import history, written
from aelab.grade.integrity import tampering, write_report
from aelab.grade.plan import Lab, Mark, NotANotebook, SolutionError, read_submission
from aelab.grade.results import FOLDER_MODE, Result, assess, summarize, ungraded, write_feedback, write_grades
from aelab.grade.sandbox import DEFAULT_UIDS, Identities, Limits, Outcome, SandboxError, hidden_paths, run_worker

__all__ = ["DEFAULT_UIDS", "Limits", "Result", "grade", "main"]

#: What the worker imports to run a notebook (the ``notebooks`` extra): module -> distribution.
WORKER_NEEDS = {
    "nbclient": "nbclient",
    "nbformat": "nbformat",
    "ipykernel": "ipykernel",
    "jupyter_client": "jupyter-client",
}
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
    worker); every failure ends as a Result with a status. ``seconds`` counts the runs of its
    cells, ``queued`` the rest of the wall clock (waiting for a worker)."""
    start = time.monotonic()
    result = Result(name, _digest(path), 0.0, lab.max_score, "ok", "", 0.0)
    _run_submission(lab, path, run, result)
    result.score = sum(check.earned for check in result.checks)
    result.queued = round(max(0.0, time.monotonic() - start - result.seconds), 1)
    result.seconds = round(result.seconds, 1)
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
    result.notes, result.code = plan.notes, plan.answers
    result.written = lab.written(notebook)
    if len(plan.missing) == len(lab.answer_ids):
        foreign = lab.foreign_ids(notebook)
        holds = f"its answer cells are {', '.join(map(repr, foreign[:8]))}" if foreign else "it has no answer cells"
        result.status = "wrong-lab"
        result.detail = f"none of this lab's answer cells ({', '.join(map(repr, lab.answer_ids))}) is in it; {holds}"
        result.checks = ungraded(lab, f"not graded: {result.detail}.")
        return
    result.integrity = tampering(lab, notebook, plan.answers)
    payload = {"steps": [{"label": step.label, "source": step.source} for step in plan.steps]}
    outcome = run(payload)
    result.seconds, result.attempts = outcome.seconds, 1 + outcome.retries
    if _silent(outcome):  # the worker died without a word: once more, as a new user
        first = outcome.stderr.strip()
        outcome = run(payload)
        result.seconds, result.attempts = result.seconds + outcome.seconds, result.attempts + 1 + outcome.retries
        if _silent(outcome):
            result.stderr = f"first run:\n{first}\n\nsecond run:\n{outcome.stderr.strip()}"
        else:
            result.notes.append("the grader's worker stopped without a report and was run again.")
    verdict = assess(plan, outcome, lab.checks)
    result.checks, result.errors = verdict.checks, verdict.errors
    result.status, result.detail = verdict.status, verdict.detail
    result.integrity += verdict.integrity


def _marks(lab: Lab, marks: written.Marks, result: Result) -> dict[str, Mark]:
    """The written-answer marks that count for ``result`` (see :mod:`aelab.grade.written`)."""
    kept = written.reconcile(lab.questions, marks.get(result.submission, {}), result.written)
    return written.effective(lab.questions, kept, result.written)


def _previous(out: Path) -> dict[str, Result]:
    """The results already in ``out``, by submission."""
    done = {}
    for file in sorted((out / "results").glob("*.json")):
        previous = Result.from_json(file.read_text())
        done[previous.submission] = previous
    return done


def _todo(found: dict[str, Path], done: dict[str, Result], force: bool) -> dict[str, str]:
    """The submissions to grade in this run, each with why (for the history)."""
    why = {}
    for name, path in found.items():
        if name not in done:
            why[name] = "first graded"
        elif force:
            why[name] = "graded again: --force"
        elif done[name].sha256 != _digest(path):
            why[name] = "graded again: its file changed"
        elif done[name].status in ("sandbox-error", "worker-died"):
            why[name] = f"graded again: the grader could not run it before ({done[name].status})"
    return why


class _Runners:
    """Where a batch's sandboxes run: here (one user id each, as root) or on Dask workers."""

    def __init__(self, limits: Limits, hide: list[str], uids: tuple[int, int], scheduler: str | None,
                 cluster: str | None, allow_unprivileged: bool, progress: bool) -> None:  # fmt: skip
        self.remote = None
        if scheduler is not None or cluster is not None:
            from aelab.grade.cluster import DaskSandboxes, parse_local

            local = parse_local(cluster) if cluster is not None else None
            self.remote = DaskSandboxes(limits, hide, uids, scheduler=scheduler, local=local,
                                        allow_unprivileged=allow_unprivileged)  # fmt: skip
            if progress:
                print(self.remote.describe())
        self.identities = Identities(uids) if self.remote is None else None  # Dask workers claim their own
        self.scratch = Path(tempfile.mkdtemp(prefix="aelab-grade-"))
        os.chmod(self.scratch, 0o711)  # sandbox users may enter it to reach their own (0700) working folder
        self.limits, self.hide = limits, hide

    def runner(self, name: str) -> Callable[[dict], Outcome]:
        """How to run one submission's cells."""
        if self.identities is not None:
            identities = self.identities
            return lambda payload: run_worker(payload, self.limits, identities.next(), self.hide, self.scratch)
        remote = self.remote
        assert remote is not None
        return lambda payload: remote.run(payload, name)

    def threads(self, jobs: int, todo: int) -> int:
        """Submissions in flight at once. On Dask a thread here waits for each submission;
        DaskSandboxes.run keeps as many out at once as the cluster has worker threads (it may grow:
        a batch system starts workers late)."""
        return min(jobs, max(1, todo)) if self.remote is None else min(max(1, todo), MAX_IN_FLIGHT)

    def close(self) -> None:
        if self.identities is not None:
            self.identities.close()
        shutil.rmtree(self.scratch, ignore_errors=True)
        if self.remote is not None:
            self.remote.close()


class _Batch:
    """The output folder of one run: the points given by hand, the grades before the run and every
    result so far (earlier runs' included). :meth:`record` writes each new result as it comes
    (under :attr:`lock`); :meth:`finish` writes what covers the whole batch."""

    def __init__(self, lab: Lab, out: Path) -> None:
        for folder in (out, out / "feedback", out / "results"):
            folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
        self.lab, self.out = lab, out
        self.marks = written.read_marks(lab.questions, out)  # a bad sheet fails before any grading
        self.before = history.read_grades(out / "grades.csv")
        self.done = _previous(out)
        self.lock = threading.Lock()

    def record(self, name: str, result: Result) -> None:
        """Keep ``result`` (archiving the one it replaces) and rewrite its feedback and grades.csv."""
        lab, out = self.lab, self.out
        if name in self.done:
            history.archive(out, name)
        self.done[name] = result
        write_feedback(result, out, lab.questions, _marks(lab, self.marks, result))
        write_grades(list(self.done.values()), out / "grades.csv", lab.questions,
                     {r.submission: _marks(lab, self.marks, r) for r in self.done.values()})  # fmt: skip

    def finish(self, why: dict[str, str], progress: bool) -> list[Result]:
        """Write what covers the whole batch: the points sheets, every feedback page (with the points
        given by hand since), grades.csv, the history of changed grades, the integrity report and the
        summary; return every result, sorted by submission."""
        lab, out, marks = self.lab, self.out, self.marks
        results = sorted(self.done.values(), key=lambda r: r.submission)
        kept = {r.submission: written.reconcile(lab.questions, marks.get(r.submission, {}), r.written) for r in results}
        written.export(lab.questions, {r.submission: r.written for r in results}, {**marks, **kept}, out)
        counted = {r.submission: _marks(lab, marks, r) for r in results}
        for result in results:
            write_feedback(result, out, lab.questions, counted[result.submission])
        write_grades(results, out / "grades.csv", lab.questions, counted)
        history.record(out / "history.csv", history.changes(self.before, history.read_grades(out / "grades.csv"), why))
        if results:
            write_report(results, {grade_id: lab.released[grade_id][0] for grade_id in lab.answer_ids}, out)
            text = summarize(results, out)
            if progress:
                print(text)
        return results


def _grade_all(batch: _Batch, found: dict[str, Path], why: dict[str, str], runners: _Runners, jobs: int,
               progress: bool) -> None:  # fmt: skip
    """Grade the submissions named in ``why``, ``jobs`` at a time, recording each as it ends; closes
    ``runners``."""
    lab = batch.lab
    bar = tqdm(total=len(why), desc="grading", unit="notebook", disable=not progress or not why)

    def task(name: str) -> None:
        result = _grade_one(lab, name, found[name], runners.runner(name))
        with batch.lock:
            batch.record(name, result)
            bar.update()
            if progress:
                bar.write(f"{name}: {result.score:g} / {lab.auto_max:g} from the checks, {result.status} "
                          f"({result.seconds:.1f} s)")  # fmt: skip

    try:
        with ThreadPoolExecutor(max_workers=runners.threads(jobs, len(why))) as pool:
            for future in [pool.submit(task, name) for name in why]:
                future.result()
    finally:
        bar.close()
        runners.close()


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
    ``worker-died`` are graded again); reads the points given by hand to written answers
    (``out/written/*.csv``) and returns the results of every submission in ``out`` (this batch's
    and earlier ones'), sorted by name. See the module docstring for the files.

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
    batch = _Batch(lab, out)
    why = _todo(found, batch.done, force)
    runners = _Runners(limits, hidden_paths(solution, out), uids, scheduler if why else None,
                       cluster if why else None, allow_unprivileged_workers, progress)  # fmt: skip
    _grade_all(batch, found, why, runners, jobs, progress)
    return batch.finish(why, progress)


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
        "--timeout", type=float, default=defaults.timeout, help="seconds all of a submission's cells may run"
    )
    parser.add_argument(
        "--cell-timeout", type=float, default=defaults.cell_timeout,
        help="seconds one cell may run before it is interrupted and the next cell runs",
    )  # fmt: skip
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
        limits = Limits(args.timeout, args.memory, args.processes, args.disk, cell_timeout=args.cell_timeout)
        results = grade(
            args.solution, args.submissions, args.out, limits=limits, jobs=args.jobs, force=args.force,
            uids=args.sandbox_uids, scheduler=args.scheduler, cluster=args.cluster,
            allow_unprivileged_workers=args.allow_unprivileged_workers,
        )  # fmt: skip
    except (SolutionError, SandboxError, ValueError) as exc:
        print(f"aelab grade: {exc}", file=sys.stderr)
        return 2
    return 1 if any(result.status in ("sandbox-error", "worker-died") for result in results) else 0
