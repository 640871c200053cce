"""``aelab grade``: every hostile or broken submission ends as a row with a clear status and the
points earned before it; tampering changes nothing; the good submissions of a batch are unaffected.

The hostile batch is graded once, by the command line, with two jobs in parallel (each kernel costs
a few seconds); the tests then read what it wrote.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import nbformat
import pytest

import aelab.grade
from aelab.checks import load_checks
from aelab.cli import main as cli
from aelab.grade import Limits, grade
from aelab.grade.plan import EVIDENCE_MIME, Lab, SolutionError
from aelab.grade.sandbox import BLOCK, Identities, Outcome, SandboxError
from aelab.notebooks import make_lab

DEMO = Path(__file__).parent / "fixtures" / "demo_solution.ipynb"
AUTO_MAX = 3.0  # check-mean 1 point, check-normalize 2 points shared by its two checks
MAX_SCORE = 4.0  # and the written answer why-eps, 1 point graded by hand

CORRECT_MEAN = "def mean(x):\n    return x.sum() / x.numel()\n"
CORRECT_NORMALIZE = (
    "def normalize(x, eps=1e-6):\n"
    "    m = x.mean(dim=(0, 2, 3), keepdim=True)\n"
    "    v = x.var(dim=(0, 2, 3), keepdim=True, unbiased=False)\n"
    "    return (x - m) / torch.sqrt(v + eps)\n"
)


def _answers(**sources: str) -> dict[str, Any]:
    """The demo solution with the answer cells named by grade_id replaced by ``sources``."""
    notebook = json.loads(DEMO.read_text())
    for cell in notebook["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if grade_id in sources:
            cell["source"] = sources[grade_id]
    return notebook


def _without(notebook: dict[str, Any], grade_id: str) -> dict[str, Any]:
    notebook["cells"] = [c for c in notebook["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") != grade_id]
    return notebook


def _shuffled() -> dict[str, Any]:
    """Cells reversed, markdown deleted, and an added cell (ignored) that would break ``mean``."""
    notebook = json.loads(DEMO.read_text())
    cells = [c for c in reversed(notebook["cells"]) if c["cell_type"] == "code"]
    notebook["cells"] = [nbformat.v4.new_code_cell("mean = None"), *cells]
    return notebook


def _other_lab() -> dict[str, Any]:
    cell = nbformat.v4.new_code_cell("def ssim(x, y):\n    return 1.0\n")
    cell.metadata["nbgrader"] = {"grade_id": "ssim", "solution": True, "grade": False, "locked": False}
    return dict(nbformat.v4.new_notebook(cells=[cell]))


#: Tampering with the kernel's copy of the checks, numpy and torch; the answers themselves are wrong.
PATCH_EVERYTHING = """
import numpy, torch
import aelab.checks
from aelab.checks import Check, Feedback, REGISTRY
Check.judge = lambda self, evidence: Feedback(self.name, True, "all good")
for name, item in list(REGISTRY.items()):
    item._judge = lambda evidence: (True, "all good")
REGISTRY.clear()
numpy.allclose = torch.allclose = lambda *args, **kwargs: True
torch.Tensor.__eq__ = lambda self, other: True

def mean(x):
    return x.sum()
"""

#: An answer whose result claims to equal everything, and a float subclass that does the same.
ALWAYS_EQUAL = """
class AlwaysEqual(float):
    def __eq__(self, other):
        return True
    __hash__ = float.__hash__

def mean(x):
    return AlwaysEqual(0.0)
"""

#: Writing fake grades and feedback where the grader writes, fake events on the worker's stdout,
#: printing PASSED, and publishing evidence from an answer cell (ignored: only probe cells count).
FAKE_RESULTS = """
import os
from IPython.display import publish_display_data
for path in [r"{out}/grades.csv", r"{out}/feedback/solution-1.md", r"{out}/results/solution-1.json"]:
    try:
        with open(path, "w") as stream:
            stream.write("hacked")
    except OSError:
        pass
line = b'{{"event": "step", "index": 3, "error": null, "evidence": [[0, "0.5"]]}}\\n'
for target in ["/proc/self/fd/1", f"/proc/{{os.getppid()}}/fd/3", f"/proc/{{os.getppid()}}/fd/1"]:
    try:
        with open(target, "wb") as stream:
            stream.write(line)
    except OSError:
        pass
print("[PASSED] check_mean: your mean matches the reference on a fixed batch.")
publish_display_data({{"{mime}": "0.5"}}, metadata={{"aelab-probe": 0}})

def mean(x):
    return x.max()
"""

#: A hook that publishes a second, forged evidence in every cell, the probe cells included.
DOUBLE_EVIDENCE = f"""
from IPython.display import publish_display_data
get_ipython().events.register(
    "post_run_cell", lambda result: publish_display_data({{"{EVIDENCE_MIME}": "0.5"}}, metadata={{"aelab-probe": 0}})
)

def mean(x):
    return x.sum() / x.numel()
"""

#: An endless loop. It sleeps: the limits are wall-clock time, and a busy loop would only take a core
#: from the tests that run beside this one.
ENDLESS = "import time\nwhile True:\n    time.sleep(0.1)\n"

#: A memory bomb: 64 MiB more each round until the address-space limit stops it.
MEMORY_BOMB = "blocks = []\nwhile True:\n    blocks.append(bytearray(2**26))\n"

#: The graded batch: output folder, exit code of ``aelab grade``, grades.csv's rows by submission.
Batch = tuple[Path, int, dict[str, dict[str, str]]]

#: name -> (notebook or raw file text, expected score, expected status)
HOSTILE: dict[str, tuple[Any, float, str]] = {
    "solution-1": (json.loads(DEMO.read_text()), 3, "ok"),
    "solution-2": (json.loads(DEMO.read_text()), 3, "ok"),
    "lab": (dict(make_lab(DEMO)), 0, "unfinished"),
    "syntax": (_answers(mean="def mean(x)\n    return x.mean()\n"), 2, "syntax-error"),
    "exception": (_answers(normalize=CORRECT_NORMALIZE + "1 / 0\n"), 3, "cell-errors"),
    "loop": (_answers(normalize=ENDLESS), 1, "timeout"),
    "memory": (_answers(normalize=CORRECT_NORMALIZE + MEMORY_BOMB), 3, "memory-limit"),
    "fork": (_answers(normalize=CORRECT_NORMALIZE + "import os\nwhile True:\n    os.fork()\n"), 1, "process-limit"),
    "exit": (_answers(normalize="import os\nos._exit(1)\n"), 1, "kernel-died"),
    "segfault": (_answers(normalize="import ctypes\nctypes.string_at(0)\n"), 1, "kernel-died"),
    "not-json": ("this is not a notebook {", 0, "not-a-notebook"),
    "not-notebook": ('{"cells": "none", "nbformat": 4}', 0, "not-a-notebook"),
    "other-lab": (_other_lab(), 0, "wrong-lab"),
    "shuffled": (_shuffled(), 3, "ok"),
    "missing": (_without(json.loads(DEMO.read_text()), "normalize"), 1, "missing-answers"),
    "huge-output": (_answers(mean="for _ in range(100):\n    print('x' * 2**20)\n" + CORRECT_MEAN), 3, "ok"),
    "always-equal": (_answers(mean=ALWAYS_EQUAL), 2, "ok"),
    "patch-checks": (_answers(mean=PATCH_EVERYTHING, normalize="def normalize(x, eps=1e-6):\n    return x\n"), 0, "ok"),
    "fake-results": (None, 2, "ok"),  # written by the fixture: it needs the output folder's path
    "double-evidence": (_answers(mean=DOUBLE_EVIDENCE), 2, "ok"),
}


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Batch:
    """Grade every HOSTILE submission in one call of ``aelab grade``: (out, exit code, grades by name)."""
    root = tmp_path_factory.mktemp("grade")
    submissions, out = root / "submissions", root / "out"
    submissions.mkdir()
    for name, (notebook, _, _) in HOSTILE.items():
        if name == "fake-results":
            notebook = _answers(mean=FAKE_RESULTS.format(out=out, mime=EVIDENCE_MIME))
        text = notebook if isinstance(notebook, str) else json.dumps(notebook)
        (submissions / f"{name}.ipynb").write_text(text)
    options = ["--jobs", "2", "--timeout", "20", "--memory", "2048"]
    code = cli(["grade", str(DEMO), str(submissions), "--out", str(out), *options])
    with (out / "grades.csv").open() as stream:
        rows = {row["submission"]: row for row in csv.DictReader(stream)}
    return out, code, rows


@pytest.mark.slow
@pytest.mark.parametrize("name", HOSTILE)
def test_each_submission_gets_its_grade_and_status(batch: Batch, name: str) -> None:
    _, _, rows = batch
    _, score, status = HOSTILE[name]
    assert (float(rows[name]["auto"]), rows[name]["status"]) == (score, status), rows[name]
    assert float(rows[name]["max_score"]) == MAX_SCORE
    answered = name not in ("lab", "not-json", "not-notebook", "other-lab", "shuffled")  # others: no answer, 0 points
    assert (float(rows[name]["manual"]), int(rows[name]["pending"])) == (0, int(answered))  # why-eps: not graded yet
    assert float(rows[name]["total"]) == score


@pytest.mark.slow
def test_batch_writes_one_row_feedback_and_summary_per_submission(batch: Batch) -> None:
    out, code, rows = batch
    assert code == 0
    assert sorted(rows) == sorted(HOSTILE)
    for name in HOSTILE:
        page = (out / "feedback" / f"{name}.md").read_text()
        assert f"Status: {rows[name]['status']}" in page
        assert (out / "feedback" / f"{name}.html").read_text().startswith("<!DOCTYPE html>")
    summary = (out / "summary.md").read_text()
    assert "check_normalize_constant" in summary and (out / "summary.png").stat().st_size > 1000
    assert "hacked" not in (out / "grades.csv").read_text() + (out / "feedback" / "solution-1.md").read_text()


@pytest.mark.slow
def test_feedback_tells_the_student_what_to_fix(batch: Batch) -> None:
    out, _, _ = batch

    def messages(name: str) -> dict[str, str]:
        result = json.loads((out / "results" / f"{name}.json").read_text())
        return {check["check"]: check["message"] for check in result["checks"]}

    assert "not done yet" in messages("lab")["check_mean"]
    assert "NameError" in messages("syntax")["check_mean"]
    assert "missing" in messages("missing")["check_normalize"]
    assert "stopped before this check" in messages("loop")["check_normalize"]
    page = (out / "feedback" / "exception.md").read_text()  # errors name the exercise, not a cell number
    assert "your answer to exercise 0.2 normalize raised ZeroDivisionError" in page and "cell 8" not in page
    assert "| 0.2 normalize | check_normalize |" in page
    assert "tampered" in messages("double-evidence")["check_mean"]
    assert "could not run" not in messages("exception")["check_normalize"]
    assert (out / "results" / "huge-output.json").stat().st_size < 10_000  # outputs are never stored


@pytest.mark.slow
def test_the_integrity_report_names_each_tampering(batch: Batch) -> None:
    out, _, _ = batch
    report = (out / "integrity.md").read_text()
    tampering = report.split("## Similarity hints")[0]
    assert (
        "| patch-checks | the answer cell of exercise 0.1 mean patches Check.judge (no effect on grading) |"
        in tampering
    )
    assert (
        "| patch-checks | the answer cell of exercise 0.1 mean calls REGISTRY.clear (no effect on grading) |"
        in tampering
    )
    assert "| double-evidence | the answer cell of exercise 0.1 mean calls get_ipython().events.register" in tampering
    assert "| double-evidence | check_mean of exercise 0.1 mean got more than one answer" in tampering
    assert "| fake-results | the answer cell of exercise 0.1 mean publishes fake evidence" in tampering
    assert "| fake-results | your answer to exercise 0.1 mean published evidence for a check (ignored) |" in tampering
    for name in ("solution-1", "lab", "loop", "exception"):
        assert f"| {name} |" not in tampering
    assert "tamper" not in (out / "feedback" / "patch-checks.md").read_text()


@pytest.mark.slow
def test_an_endless_loop_in_one_exercise_costs_only_that_exercise(tmp_path: Path) -> None:
    """The cell is interrupted at its own limit and the notebook goes on: exercise 0.2 still scores."""
    path = tmp_path / "loop.ipynb"
    path.write_text(json.dumps(_answers(mean="def mean(x):\n" + textwrap.indent(ENDLESS, "    "))))
    limits = Limits(timeout=180, cell_timeout=20, memory_mb=2048)  # 20 s: a loaded machine's check cell fits
    (result,) = grade(DEMO, [path], tmp_path / "out", limits=limits, progress=False)
    assert (result.score, result.status) == (2, "timeout")
    by_check = {check.check: check for check in result.checks}
    assert by_check["check_normalize"].passed and by_check["check_normalize_constant"].passed
    assert "ran past its limit of 20 s and was interrupted" in by_check["check_mean"].message, result.checks
    assert result.attempts == 1


@pytest.mark.slow
def test_a_second_run_skips_what_is_graded(batch: Batch) -> None:
    out, _, rows = batch
    results = grade(DEMO, [out.parent / "submissions"], out, jobs=2, progress=False)
    assert {r.submission: r.seconds for r in results} == {name: float(row["seconds"]) for name, row in rows.items()}


def test_a_solution_without_checks_is_refused(tmp_path: Path) -> None:
    notebook = nbformat.read(DEMO, as_version=4)
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.source = cell.source.replace("check_", "print_")
    path = tmp_path / "broken.ipynb"
    nbformat.write(notebook, path)
    with pytest.raises(SolutionError, match="calls no registered check"):
        Lab(path, load_checks())


def test_grade_cells_become_probe_calls_and_answers_come_from_the_submission() -> None:
    lab = Lab(DEMO, load_checks())
    submission = _answers(mean="def mean(x):\n    return 0\n")
    plan = lab.plan(copy.deepcopy(submission))
    sources = [step.source for step in plan.steps]
    assert "def mean(x):\n    return 0\n" in sources
    assert "__aelab_probe__(0, 'check_mean', mean)" in sources
    assert [p.check for p in plan.probes] == ["check_mean", "check_normalize", "check_normalize_constant"]
    assert [p.points for p in plan.probes] == [1.0, 1.0, 1.0] and lab.auto_max == AUTO_MAX
    assert lab.max_score == MAX_SCORE and [(q.grade_id, q.points) for q in lab.questions] == [("why-eps", 1.0)]
    assert [p.label for p in plan.probes] == ["0.1 mean", "0.2 normalize", "0.2 normalize"]


def test_the_worker_starts_without_torch() -> None:
    """The worker runs in every sandbox before the kernel: importing torch there (as aelab.validate
    does) would cost each submission seconds and memory under its limits."""
    code = "import sys, aelab.grade.worker; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})  # fmt: skip
    assert done.stdout.strip() == "False"


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="Limits.timeout"):
        Limits(timeout=0)
    with pytest.raises(ValueError, match="Limits.cell_timeout"):
        Limits(cell_timeout=-1)


# --- written answers: exported per question, points read back -----------------------------------------


@pytest.mark.slow
def test_written_answers_export_and_points_round_trip(batch: Batch) -> None:
    out, _, _ = batch
    sheet = (out / "written" / "why-eps.md").read_text()
    assert sheet.startswith("# Question why-eps (1 point)")
    assert "## solution-1" in sheet and "divides 0 by 0" in sheet  # the solution's answer, side by side
    assert "## lab\n\n*(no answer)*" in sheet and "## syntax" in sheet
    with (out / "written" / "why-eps.csv").open() as stream:
        rows = list(csv.DictReader(stream))
    assert [row["submission"] for row in rows] == sorted(HOSTILE) and all(row["points"] == "" for row in rows)

    for row in rows:
        row.update(points="1", comment="right: 0 / 0") if row["submission"] == "solution-1" else None
        row.update(points="0.5") if row["submission"] == "exception" else None
    with (out / "written" / "why-eps.csv").open("w", newline="") as stream:
        writer = csv.DictWriter(stream, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    results = grade(DEMO, [out.parent / "submissions"], out, jobs=2, progress=False)  # grades nothing again
    assert all(r.seconds == r.seconds for r in results)
    with (out / "grades.csv").open() as stream:
        grades = {row["submission"]: row for row in csv.DictReader(stream)}
    assert [grades["solution-1"][k] for k in ("auto", "manual", "pending", "total", "max_score")] == [
        "3",
        "1",
        "0",
        "4",
        "4",
    ]
    assert [grades["exception"][k] for k in ("manual", "total")] == ["0.5", "3.5"]
    page = (out / "feedback" / "solution-1.md").read_text()
    assert "Score: 4 / 4 (checks 3 / 3, written answers 1 / 1)" in page and "| why-eps | 1 / 1 | right: 0 / 0 |" in page
    assert "1 not graded yet" in (out / "feedback" / "syntax.md").read_text()
    assert "no answer was given" in (out / "feedback" / "lab.md").read_text()
    with (out / "written" / "why-eps.csv").open() as stream:  # rewritten, the marks kept
        assert {row["submission"]: row["points"] for row in csv.DictReader(stream)}["solution-1"] == "1"


def test_a_bad_points_sheet_is_refused_before_grading(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "out" / "written").mkdir(parents=True)
    (tmp_path / "out" / "written" / "why-eps.csv").write_text("submission,points,comment\nalice,2,too many\n")
    code = cli(["grade", str(DEMO), str(DEMO.parent), "--out", str(tmp_path / "out")])
    assert code == 2
    assert "why-eps.csv, line 2: points must be a number from 0 to 1" in capsys.readouterr().err


# --- identities, retries, and two batches at once ------------------------------------------------------


@pytest.mark.skipif(os.geteuid() != 0, reason="user ids of their own are given as root")
def test_each_batch_claims_its_own_block_of_user_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    first = Identities()
    try:
        # The second batch draws the first one's block first: the lock sends it elsewhere.
        block = first.start // BLOCK
        monkeypatch.setattr("random.sample", lambda blocks, n: [block, block + 1])
        second = Identities()
        try:
            uids = [first.next().uid, first.next().uid, second.next().uid]
            assert uids == [first.start, first.start + 1, (block + 1) * BLOCK]
        finally:
            second.close()
        monkeypatch.setattr("random.sample", lambda blocks, n: [block])
        with pytest.raises(SandboxError, match="no free block"):
            Identities()
    finally:
        first.close()
    with pytest.raises(ValueError, match="at least 65536 ids"):
        Identities((2_000_000_000, 2_000_000_100))


def _silent_then(outcomes: list[Outcome], calls: list[int]) -> Any:
    """A stand-in for run_worker that returns ``outcomes`` in turn and records each identity's uid."""

    def run(payload: Any, limits: Limits, slot: Any, hide: Any, scratch: Any) -> Outcome:
        calls.append(slot.uid)
        return outcomes[len(calls) - 1]

    return run


SILENT = Outcome([], "Traceback ...\nRuntimeError: the worker broke", killed=False, crowded=False)
ENDED = Outcome([{"event": "end", "status": "ok", "detail": ""}], "", killed=False, crowded=False)


def test_a_worker_that_dies_without_a_report_is_retried_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(aelab.grade, "run_worker", _silent_then([SILENT, ENDED], calls))
    (result,) = grade(DEMO, [_copy(tmp_path)], tmp_path / "out", progress=False)
    assert result.status != "sandbox-error" and "run again" in " ".join(result.notes)
    assert len(calls) == 2 and (calls[0] is None or calls[0] != calls[1])  # a fresh identity for the retry


def test_a_worker_that_dies_twice_leaves_its_stderr_and_is_regraded_by_a_rerun(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    monkeypatch.setattr(aelab.grade, "run_worker", _silent_then([SILENT, SILENT, ENDED], calls))
    (result,) = grade(DEMO, [_copy(tmp_path)], tmp_path / "out", progress=False)
    assert result.status == "sandbox-error" and "RuntimeError: the worker broke" in result.detail
    assert result.stderr.count("RuntimeError: the worker broke") == 2
    (again,) = grade(DEMO, [_copy(tmp_path)], tmp_path / "out", progress=False)  # a plain rerun
    assert len(calls) == 3 and again.status != "sandbox-error"


def _copy(tmp_path: Path) -> Path:
    path = tmp_path / "alice.ipynb"
    path.write_text(DEMO.read_text())
    return path


def test_an_environment_without_the_notebooks_extra_fails_once_up_front(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = aelab.grade.importlib.util.find_spec
    monkeypatch.setattr(
        aelab.grade.importlib.util, "find_spec", lambda name: None if name == "nbclient" else real(name)
    )
    assert cli(["grade", str(DEMO), str(_copy(tmp_path)), "--out", str(tmp_path / "out")]) == 2
    assert "lacks nbclient: install the kit's notebooks extra" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_two_batches_at_once_are_both_graded_right(tmp_path: Path) -> None:
    """Batch A grades two quick notebooks one after the other (each followed by a clean-up of its
    sandbox) while batch B's only notebook sleeps through them: no clean-up reaches another's kernel
    (with one user id per job slot, the same in every batch, A's clean-up killed B's kernel)."""
    quick, slow = tmp_path / "quick", tmp_path / "slow"
    quick.mkdir(), slow.mkdir()
    for name in ("a1", "a2"):
        (quick / f"{name}.ipynb").write_text(DEMO.read_text())
    sleepy = _answers(mean="import time\ntime.sleep(8)\n" + CORRECT_MEAN)
    (slow / "b1.ipynb").write_text(json.dumps(sleepy))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    runs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "aelab.cli",
                "grade",
                str(DEMO),
                str(folder),
                "--out",
                str(tmp_path / f"out-{folder.name}"),
                "--jobs",
                jobs,
                "--timeout",
                "60",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for folder, jobs in ((slow, "1"), (quick, "1"))
    ]
    for run in runs:
        _, err = run.communicate(timeout=400)
        assert run.returncode == 0, err.decode()[-2000:]
    for folder, names in ((quick, ["a1", "a2"]), (slow, ["b1"])):
        with (tmp_path / f"out-{folder.name}" / "grades.csv").open() as stream:
            rows = {row["submission"]: (row["auto"], row["status"]) for row in csv.DictReader(stream)}
        assert rows == {name: ("3", "ok") for name in names}
