"""``aelab grade``: every hostile or broken submission ends as a row with a clear status and the
points earned before it; tampering changes nothing; the good submissions of a batch are unaffected.

The hostile batch is graded once, by the command line, with two jobs in parallel (each kernel costs
a few seconds); the tests then read what it wrote.
"""

from __future__ import annotations

import copy
import csv
import json
from pathlib import Path
from typing import Any

import nbformat
import pytest

from aelab.cli import main as cli
from aelab.grade import Limits, grade
from aelab.grade.plan import EVIDENCE_MIME, Lab, SolutionError
from aelab.checks import load_checks
from aelab.notebooks import make_lab

DEMO = Path(__file__).parent / "fixtures" / "demo_solution.ipynb"
MAX_SCORE = 3.0  # check-mean 1 point, check-normalize 2 points shared by its two checks

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

#: A memory bomb: 64 MiB more each round until the address-space limit stops it.
MEMORY_BOMB = "blocks = []\nwhile True:\n    blocks.append(bytearray(2**26))\n"

#: The graded batch: output folder, exit code of ``aelab grade``, grades.csv's rows by submission.
Batch = tuple[Path, int, dict[str, dict[str, str]]]

#: name -> (notebook or raw file text, expected score, expected status)
HOSTILE: dict[str, tuple[Any, float, str]] = {
    "solution-1": (json.loads(DEMO.read_text()), 3, "ok"),
    "solution-2": (json.loads(DEMO.read_text()), 3, "ok"),
    "lab": (dict(make_lab(DEMO)), 0, "ok"),
    "syntax": (_answers(mean="def mean(x)\n    return x.mean()\n"), 2, "syntax-error"),
    "exception": (_answers(normalize=CORRECT_NORMALIZE + "1 / 0\n"), 3, "cell-errors"),
    "loop": (_answers(normalize="while True:\n    pass\n"), 1, "timeout"),
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
    assert (float(rows[name]["score"]), rows[name]["status"]) == (score, status), rows[name]
    assert float(rows[name]["max_score"]) == MAX_SCORE


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
    assert "tampered" in messages("double-evidence")["check_mean"]
    assert "could not run" not in messages("exception")["check_normalize"]
    assert (out / "results" / "huge-output.json").stat().st_size < 10_000  # outputs are never stored


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
    assert [p.points for p in plan.probes] == [1.0, 1.0, 1.0] and lab.max_score == MAX_SCORE


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="Limits.timeout"):
        Limits(timeout=0)
