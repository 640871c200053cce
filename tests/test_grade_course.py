"""A course of many students: the gradebook and its LMS files, written answers that change, the
integrity report (tampering, similarity, runs), statuses that mean the same in every lab, and what
a student's page must not show. Fast: no kernel runs here (a stand-in replaces the sandbox where a
batch is graded); tests/test_grade.py runs the real sandbox.
"""

from __future__ import annotations

import csv
import json
import stat
import zipfile
from pathlib import Path
from typing import Any

import pytest

import aelab.grade
from aelab.checks import load_checks
from aelab.cli import main as cli
from aelab.grade import grade
from aelab.grade.csvfile import read_table
from aelab.grade.gradebook import CANVAS_COLUMNS, MOODLE_COLUMNS
from aelab.grade.plan import Lab, read_submission
from aelab.grade.results import Result, assess, for_students, write_feedback
from aelab.grade.sandbox import Outcome
from aelab.grade.similarity import rank
from aelab.notebooks import make_lab

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "tests" / "fixtures" / "demo_solution.ipynb"
ENDED = Outcome([{"event": "end", "status": "ok", "detail": ""}], "", killed=False, crowded=False, seconds=1.5)


def _notebook(**sources: str) -> dict[str, Any]:
    """The demo's lab (as students get it) with the cells named by grade_id replaced by ``sources``."""
    notebook = json.loads(json.dumps(make_lab(DEMO)))
    for cell in notebook["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if grade_id in sources:
            cell["source"] = sources[grade_id]
    return notebook


def _write(path: Path, notebook: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(notebook))
    return path


@pytest.fixture
def no_kernel(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Replace the sandbox by a stand-in whose worker ends at once (every check: not reached)."""
    payloads: list[dict[str, Any]] = []

    def run(payload: dict[str, Any], *args: Any) -> Outcome:
        payloads.append(payload)
        return ENDED

    monkeypatch.setattr(aelab.grade, "run_worker", run)
    return payloads


def _rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as stream:
        return {row["submission"]: row for row in csv.DictReader(stream)}


# --- written answers: a changed answer is pending again; a placeholder is no answer -------------------


def test_a_resubmitted_written_answer_returns_to_pending(tmp_path: Path, no_kernel: list[Any]) -> None:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    _write(inbox / "alice.ipynb", _notebook(**{"why-eps": "Because the variance can be 0."}))
    _write(inbox / "bob.ipynb", _notebook())  # the lab as handed out: "YOUR ANSWER HERE"
    grade(DEMO, [inbox], out, progress=False)
    grades = _rows(out / "grades.csv")
    assert (grades["alice"]["pending"], grades["bob"]["pending"], grades["bob"]["manual"]) == ("1", "0", "0")
    assert "## bob\n\n*(no answer)*" in (out / "written" / "why-eps.md").read_text()
    assert "no answer was given" in (out / "feedback" / "bob.md").read_text()

    # The instructor marks alice in European Excel: semicolons, a decimal comma.
    sheet = read_table(out / "written" / "why-eps.csv", ["submission", "points"])
    lines = ["submission;points;comment;answer_sha256;previous"]
    lines += [
        f"{r['submission']};{'0,5' if r['submission'] == 'alice' else ''};"
        f"{'half: why NaN?' if r['submission'] == 'alice' else ''};{r['answer_sha256']};"
        for r in sheet.rows
    ]
    (out / "written" / "why-eps.csv").write_text("\r\n".join(lines) + "\r\n", encoding="utf-8-sig")
    grade(DEMO, [inbox], out, progress=False)
    assert [_rows(out / "grades.csv")["alice"][k] for k in ("manual", "pending")] == ["0.5", "0"]
    assert "half: why NaN?" in (out / "feedback" / "alice.md").read_text()

    _write(inbox / "alice.ipynb", _notebook(**{"why-eps": "Variance 0 gives 0 / 0, a NaN."}))
    grade(DEMO, [inbox], out, progress=False)
    assert [_rows(out / "grades.csv")["alice"][k] for k in ("manual", "pending")] == ["0", "1"]
    page = (out / "feedback" / "alice.md").read_text()
    assert "not graded yet" in page and "half: why NaN?" not in page and "0.5" not in page  # the student: pending
    kept = read_table(out / "written" / "why-eps.csv", ["submission"])
    assert kept.delimiter == ";"  # written back as the spreadsheet saved it
    alice = next(row for row in kept.rows if row["submission"] == "alice")
    assert (alice["points"], alice["previous"]) == ("", "0.5 (half: why NaN?) for an earlier answer")
    assert "Changed since it was marked: 0.5 (half: why NaN?)" in (out / "written" / "why-eps.md").read_text()
    history = list(csv.DictReader((out / "history.csv").open()))
    assert [row["why"] for row in history if row["submission"] == "alice"] == [
        "first graded",
        "points given by hand changed",
        "graded again: its file changed",
    ]
    assert "pending 0 -> 1" in history[-1]["what"] and history[-1]["who"]
    assert len(list((out / "history").glob("alice-*.json"))) == 1  # the replaced result, kept


def test_a_points_sheet_in_an_unknown_layout_names_what_it_saw(tmp_path: Path) -> None:
    path = tmp_path / "why-eps.csv"
    path.write_text("Submission|Points\nalice|1\n")
    with pytest.raises(
        ValueError, match=r"columns submission, points .*first line is 'Submission\|Points' \(one column\)"
    ):
        read_table(path, ["submission", "points"])
    path.write_text("name;score\nalice;1\n")
    with pytest.raises(ValueError, match=r"split by semicolons: \['name', 'score'\]"):
        read_table(path, ["submission", "points"])


# --- the same status for the same situation, in every lab ---------------------------------------------


@pytest.mark.parametrize("solution", sorted((ROOT / "solutions").glob("*.ipynb")), ids=lambda p: p.stem[:2])
def test_a_blank_lab_is_unfinished_in_every_lab(solution: Path) -> None:
    """The lab as handed out: every exercise is unfinished, whether the lab's own cells then fail
    (they call an exercise's function) or not."""
    lab = Lab(solution, load_checks())
    plan = lab.plan(read_submission(ROOT / "labs" / solution.name))
    assert plan.unfinished == [lab.labels[grade_id] for grade_id in lab.answer_ids]
    quiet = assess(plan, ENDED, lab.checks)
    later = next(i for i, step in enumerate(plan.steps) if i and step.answer is None and not step.probes)
    failing = Outcome([{"event": "step", "index": later, "error": ["NameError", "name 'x' is not defined"]},
                       *ENDED.events], "", False, False)  # fmt: skip
    assert (quiet.status, assess(plan, failing, lab.checks).status) == ("unfinished", "unfinished")


def test_an_error_in_a_finished_lab_is_a_cell_error() -> None:
    lab = Lab(DEMO, load_checks())
    plan = lab.plan(read_submission(DEMO))
    failing = Outcome([{"event": "step", "index": 2, "error": ["NameError", "name 'x' is not defined"]},
                       *ENDED.events], "", False, False)  # fmt: skip
    assert (plan.unfinished, assess(plan, failing, lab.checks).status) == ([], "cell-errors")


# --- the integrity report ------------------------------------------------------------------------------

PATCHING = """
import aelab.checks
from aelab.checks import REGISTRY
aelab.checks.Check.judge = lambda self, evidence: None
REGISTRY.clear()

def check_mean(mean):
    return None

def mean(x):
    return x.sum()
"""


def test_tampering_appears_in_the_integrity_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    edited = _notebook()
    for cell in edited["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "check-normalize":
            cell["metadata"]["nbgrader"]["points"] = 100
            cell["source"] = "print('all good')"
    _write(inbox / "metadata.ipynb", edited)
    _write(inbox / "patcher.ipynb", _notebook(mean=PATCHING))
    _write(inbox / "honest.ipynb", _notebook(mean="def mean(x):\n    return x.mean()\n"))
    lab = Lab(DEMO, load_checks())
    answer = next(i for i, s in enumerate(lab.plan(_notebook()).steps) if s.answer == "mean")
    stray = Outcome([{"event": "step", "index": answer, "error": None, "evidence": [[0, "0.5"]]}, *ENDED.events],
                    "", False, False, seconds=2.0)  # fmt: skip
    monkeypatch.setattr(aelab.grade, "run_worker", lambda payload, *args: stray)
    results = {r.submission: r for r in grade(DEMO, [inbox], out, progress=False)}
    report = (out / "integrity.md").read_text()
    assert "## Tampering neutralised (3 submissions)" in report  # honest's mean cell "published" too: stray
    assert "the grading metadata of cell 'check-normalize' was changed (points 2 -> 100)" in report
    assert "the locked cell 'check-normalize' was edited: the lab's own copy ran" in report
    for what in ("redefines check_mean", "patches aelab.checks.Check.judge", "calls REGISTRY.clear"):
        assert f"| patcher | the answer cell of exercise 0.1 mean {what} (no effect on grading) |" in report
    assert "your answer to exercise 0.1 mean published evidence for a check (ignored)" in report
    assert results["metadata"].max_score == 4  # the solution's points, not the student's
    for name in results:
        page = (out / "feedback" / f"{name}.md").read_text()
        assert "tamper" not in page and "redefines" not in page and "published evidence" not in page
    assert "Execution 6 s in all" in report


#: The demo's two exercises as the lab gives them (what every submission starts from).
GIVEN = {
    "mean": "def mean(x: torch.Tensor) -> torch.Tensor:\n    # YOUR CODE HERE\n    raise NotImplementedError()\n",
    "normalize": "def normalize(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:\n    # YOUR CODE HERE\n",
}
ORIGINAL = {
    "mean": (
        "def mean(x):\n    total = 0.0\n    count = 0\n    for value in x.flatten().tolist():\n"
        "        total += value\n        count += 1\n    return total / count\n"
    ),
    "normalize": (
        "def normalize(x, eps=1e-6):\n    centred = x - x.mean(dim=(0, 2, 3), keepdim=True)\n"
        "    spread = (centred ** 2).mean(dim=(0, 2, 3), keepdim=True)\n"
        "    scale = 1.0 / torch.sqrt(spread + eps)\n    out = centred * scale\n    return out\n"
    ),
}
#: ORIGINAL with every name changed, comments and blank lines added, spacing changed.
NEAR_COPY = {
    "mean": (
        "def mean(x):\n    # sum every element, then divide\n    s = 0.0\n    n = 0\n"
        "    for v in x.flatten().tolist():\n        s += v\n        n += 1\n    return s / n\n"
    ),
    "normalize": (
        "def normalize(x, eps=1e-6):\n    c = x - x.mean(dim=(0, 2, 3), keepdim=True)   # centre\n"
        "    var = (c ** 2).mean(dim=(0, 2, 3), keepdim=True)\n    k = 1.0 / torch.sqrt(var + eps)\n\n"
        "    result = c * k\n    return result\n"
    ),
}
#: Solutions written independently, each its own way.
HONEST = [
    {
        "mean": "def mean(x):\n    return x.sum() / x.numel()\n",
        "normalize": (
            "def normalize(x, eps=1e-6):\n    m = x.mean(dim=(0, 2, 3), keepdim=True)\n"
            "    v = x.var(dim=(0, 2, 3), keepdim=True, unbiased=False)\n    return (x - m) / torch.sqrt(v + eps)\n"
        ),
    },
    {
        "mean": "def mean(x):\n    return torch.mean(x.double()).item()\n",
        "normalize": (
            "def normalize(x, eps=1e-6):\n    dims = [0, 2, 3]\n    mu = torch.mean(x, dim=dims, keepdim=True)\n"
            "    sigma2 = torch.mean((x - mu) ** 2, dim=dims, keepdim=True)\n"
            "    return (x - mu) / (sigma2 + eps).sqrt()\n"
        ),
    },
    {
        "mean": "def mean(x):\n    flat = x.reshape(-1)\n    return flat.sum() / flat.shape[0]\n",
        "normalize": (
            "def normalize(x, eps=1e-6):\n    out = torch.empty_like(x)\n    for c in range(x.shape[1]):\n"
            "        channel = x[:, c]\n        out[:, c] = (channel - channel.mean()) / torch.sqrt(channel.var("
            "unbiased=False) + eps)\n    return out\n"
        ),
    },
    {
        "mean": "import numpy as np\n\ndef mean(x):\n    return float(np.mean(x.numpy()))\n",
        "normalize": (
            "def normalize(x, eps=1e-6):\n    n, c, h, w = x.shape\n    flat = x.transpose(0, 1).reshape(c, -1)\n"
            "    mean = flat.mean(dim=1).view(1, c, 1, 1)\n    var = flat.var(dim=1, unbiased=False).view(1, c, 1, 1)\n"
            "    return (x - mean) / torch.sqrt(var + eps)\n"
        ),
    },
    {
        "mean": "def mean(x):\n    return x.mean()\n",
        "normalize": (
            "import torch.nn.functional as F\n\ndef normalize(x, eps=1e-6):\n"
            "    return F.batch_norm(x, None, None, training=True, eps=eps)\n"
        ),
    },
]


def test_two_near_copies_rank_first_and_honest_solutions_do_not() -> None:
    code = {"alice": ORIGINAL, "bob": NEAR_COPY, **{f"honest-{i}": cells for i, cells in enumerate(HONEST)}}
    pairs = rank(code, GIVEN)
    assert (pairs[0].first, pairs[0].second) == ("alice", "bob") and pairs[0].score > 0.9
    assert ("normalize", "scale = 1.0 / torch.sqrt(spread + eps)", "k = 1.0 / torch.sqrt(var + eps)") in pairs[0].lines
    assert all("honest" not in pair.first + pair.second for pair in pairs), [(p.first, p.second) for p in pairs]


def test_the_lab_s_given_code_is_not_counted_as_shared() -> None:
    code = {name: dict(GIVEN) for name in ("a", "b", "c")}
    assert rank(code, GIVEN) == []


# --- the gradebook and its LMS files -------------------------------------------------------------------


def _lab_folder(root: Path, scores: dict[str, tuple[float, float]], max_score: float) -> Path:
    """An ``aelab grade`` output folder whose submissions have these (auto, manual) scores."""
    from aelab.grade.plan import Mark, Question
    from aelab.grade.results import write_grades

    (root / "feedback").mkdir(parents=True)
    (root / "results").mkdir()
    question = Question("essay", "essay", 2.0)
    results = [Result(name, "0" * 64, auto, max_score, "ok", "", 1.0) for name, (auto, _) in scores.items()]
    marks = {name: {"essay": Mark(manual if manual >= 0 else None, "")} for name, (_, manual) in scores.items()}
    for result in results:
        write_feedback(result, root, [question], marks[result.submission])
    write_grades(results, root / "grades.csv", [question], marks)
    return root


def test_the_gradebook_over_two_labs_writes_canvas_and_moodle_files(tmp_path: Path) -> None:
    lab5 = _lab_folder(tmp_path / "lab05", {"alice_1001": (6, 2), "Bob-Lab05": (4.5, -1), "stranger": (1, 0)}, 10)
    lab7 = _lab_folder(tmp_path / "lab07", {"alice_1001": (7, 1), "carol": (3, 0)}, 12)
    roster = tmp_path / "roster.csv"  # semicolons, as European Excel saves it, with a byte-order mark
    roster.write_text("submission;student_id;name;email;section;canvas_id\r\n"
                      "alice*;1001;Alice Martin;alice@uni.example;A;501\r\n"
                      "bob*;1002;Durand, Bob;bob@uni.example;B;502\r\n"
                      "carol;1003;Carol Li;carol@uni.example;A;\r\n", encoding="utf-8-sig")  # fmt: skip
    out, handout = tmp_path / "gradebook", tmp_path / "handout"
    assert cli(["gradebook", "--roster", str(roster), "--lab", f"Lab 05={lab5}", "--lab", f"Lab 07={lab7}",
                "--out", str(out), "--pack", str(handout)]) == 0  # fmt: skip

    with (out / "canvas.csv").open(newline="") as stream:
        canvas = list(csv.reader(stream))
    assert canvas[0] == [*CANVAS_COLUMNS, "Lab 05", "Lab 07"]
    assert canvas[1] == ["Points Possible", "", "", "", "", "10", "12"]
    assert canvas[2:] == [["Martin, Alice", "501", "1001", "", "A", "8", "8"],
                          ["Durand, Bob", "502", "1002", "", "B", "4.5", ""],
                          ["Li, Carol", "", "1003", "", "A", "", "3"]]  # fmt: skip
    with (out / "moodle.csv").open(newline="") as stream:
        moodle = list(csv.reader(stream))
    assert moodle[0] == [*MOODLE_COLUMNS, "Lab 05", "Lab 07"]
    assert moodle[1:] == [["Alice", "Martin", "1001", "alice@uni.example", "8", "8"],
                          ["Bob", "Durand", "1002", "bob@uni.example", "4.5", ""],
                          ["Carol", "Li", "1003", "carol@uni.example", "", "3"]]  # fmt: skip
    book = {row["student_id"]: row for row in csv.DictReader((out / "gradebook.csv").open())}
    assert [book["1001"][k] for k in ("Lab 05 auto", "Lab 05 manual", "Lab 05 total", "total", "max", "pending")] == [
        "6",
        "2",
        "8",
        "16",
        "22",
        "0",
    ]
    assert book["1002"]["pending"] == "1"
    notes = (out / "gradebook.md").read_text()
    assert "on no roster line: stranger" in notes and "no submission from 1003" in notes

    with zipfile.ZipFile(handout / "1001.zip") as archive:
        assert sorted(archive.namelist()) == [
            "1001/Lab-05.html",
            "1001/Lab-05.md",
            "1001/Lab-07.html",
            "1001/Lab-07.md",
        ]
    assert "Feedback for alice_1001" in (handout / "1001" / "Lab-07.md").read_text()
    for path in (
        out / "canvas.csv",
        handout / "1001.zip",
        handout / "1001" / "Lab-05.md",
        lab5 / "feedback" / "stranger.md",
    ):
        assert stat.S_IMODE(path.stat().st_mode) == 0o640, path  # the course group reads, others do not


def test_a_submission_that_two_roster_lines_match_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = _lab_folder(tmp_path / "lab", {"alice": (1, 0)}, 4)
    roster = tmp_path / "roster.csv"
    roster.write_text("submission,student_id,name\na*,1,Alice A\nal*,2,Alan B\n")
    assert cli(["gradebook", "--roster", str(roster), "--lab", f"Lab={lab}", "--out", str(tmp_path / "out")]) == 2
    assert "submission 'alice' matches the roster lines of 1, 2" in capsys.readouterr().err


# --- what a student's page shows ---------------------------------------------------------------------


def test_no_developer_text_reaches_a_student_s_page(tmp_path: Path) -> None:
    band = ("FigureOutOfBand: ssim = 0.5 is outside its band [0.6, 0.7]. Bands hold on every machine and seed the "
            "kit was measured on: a figure outside its band means the code above changed what it computes (or the "
            "band is wrong: see docs/DEVELOPING.md).")  # fmt: skip
    result = Result("alice", "0" * 64, 0.0, 3.0, "cell-errors", "FigureOutOfBand in the lab's cell", 1.0,
                    errors=[["the lab's cell `report.figure(...)`", band]], integrity=["patches torch.allclose"],
                    stderr="Traceback (worker)")  # fmt: skip
    (tmp_path / "feedback").mkdir(), (tmp_path / "results").mkdir()
    write_feedback(result, tmp_path)
    for suffix in (".md", ".html"):
        page = (tmp_path / "feedback" / f"alice{suffix}").read_text()
        assert "ssim = 0.5 is outside its band" in page
        assert (
            "DEVELOPING" not in page and "docs/" not in page and "torch.allclose" not in page and "worker" not in page
        )
    assert for_students("it failed; see docs/scaling.md for the limits.") == "it failed."


# --- every exercise of every lab names itself and gives a hint ------------------------------------------


def _answer_cells(solution: Path) -> list[dict[str, Any]]:
    cells = json.loads(solution.read_text())["cells"]
    return [c for c in cells if c["cell_type"] == "code" and c["metadata"].get("nbgrader", {}).get("solution")]


@pytest.mark.parametrize(
    "solution",
    sorted((ROOT / "solutions").glob("*.ipynb")),
    ids=lambda path: path.stem[:2],
)
def test_every_solution_exercise_carries_its_number_and_a_hint(solution: Path) -> None:
    """Feedback names an exercise by its ``aelab: {exercise}`` metadata ("7.1 azimuthal average"),
    not by its grade_id, and the lab's stub gives its ``hint``."""
    cells = _answer_cells(solution)
    assert cells
    for cell in cells:
        meta = cell["metadata"].get("aelab", {})
        assert meta.get("exercise") and meta.get("hint"), (solution.name, cell["metadata"]["nbgrader"]["grade_id"])


# --- the grading section of the speed benchmark --------------------------------------------------------


def test_the_grading_bench_section_reports_both_worker_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    from aelab.commands import bench
    from aelab.grade import bench as grading

    monkeypatch.setattr(grading, "notebook_seconds", lambda path: 4.0)
    monkeypatch.setattr(grading, "_graded", lambda solution, submissions, jobs: (60.0 / jobs, 6.0))
    rows = bench.SECTIONS["grading"]()
    assert rows[0] == ("notebook's own run", "4.0 s (demo_solution.ipynb, nbclient, no sandbox)")
    assert rows[1:] == [
        ("1 worker(s), 4 submissions", "4.0 submissions/min; 6.0 s per submission (1.50x the notebook's own run)"),
        ("2 worker(s), 4 submissions", "8.0 submissions/min; 6.0 s per submission (1.50x the notebook's own run)"),
    ]
