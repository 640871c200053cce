"""The kit's notebooks with the real nbgrader and otter-grader (the ``grading`` extra, which
``make test`` installs): nbgrader's release of the solutions is the kit's labs/ (stubs aside),
nbgrader autogrades the demo, and ``aelab export otter`` gives tests that otter runs (no Docker).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from aelab.commands.export import otter_tests
from aelab.notebooks import read_notebook

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "tests" / "fixtures" / "demo_solution.ipynb"
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))

#: The demo with a right mean and a normalize that returns its input: 1 point of the checks' 3.
HALF_DONE = {"normalize": "def normalize(x, eps=1e-6):\n    return x\n"}


def _submission(path: Path, **sources: str) -> Path:
    """The demo solution with the answer cells named by grade_id replaced by ``sources``, at ``path``."""
    notebook = json.loads(DEMO.read_text())
    for cell in notebook["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if grade_id in sources:
            cell["source"] = sources[grade_id]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(notebook))
    return path


def _run(command: list[str], cwd: Path) -> str:
    """Run a tool of this environment (its bin folder first on PATH, the kit importable); its output."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": os.pathsep.join(sys.path)}  # fmt: skip
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=540, check=False)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


# --- nbgrader ----------------------------------------------------------------------------------------


def _course(root: Path) -> Path:
    """An nbgrader course folder with its configuration (timeout 300 s, as docs/instructors.md says)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        "c.CourseDirectory.course_id = 'aelab'\n"
        f"c.CourseDirectory.db_url = 'sqlite:///{root / 'gradebook.db'}'\n"
        "c.Execute.timeout = 300\n"
    )
    return root


def _stubbed(source: str) -> str:
    """A source with any NotImplementedError stub written nbgrader's way (the kit's names its exercise)."""
    return re.sub(r'raise NotImplementedError\((?:\s*"(?:[^"\\]|\\.)*")*\s*\)', "raise NotImplementedError()", source)


def _cells(path: Path) -> list[tuple[str, str, str, Any]]:
    return [
        (cell.id, cell.cell_type, _stubbed(cell.source).rstrip(), cell.metadata.get("nbgrader"))
        for cell in read_notebook(path).cells
    ]


@pytest.mark.slow
def test_nbgrader_releases_the_solutions_as_the_kits_labs(tmp_path: Path) -> None:
    pytest.importorskip("nbgrader")
    course = _course(tmp_path / "course")
    (course / "source" / "labs").mkdir(parents=True)
    for solution in SOLUTIONS:
        shutil.copy(solution, course / "source" / "labs" / solution.name)
    _run([sys.executable, "-m", "nbgrader", "generate_assignment", "labs", "--force"], course)
    for solution in SOLUTIONS:
        release = _cells(course / "release" / "labs" / solution.name)
        lab = _cells(ROOT / "labs" / solution.name)
        assert [cell[:2] for cell in release] == [cell[:2] for cell in lab]  # the same cells, ids and kinds
        for (cell_id, _, released, _), (_, _, ours, _) in zip(release, lab):
            assert "BEGIN HIDDEN TESTS" not in released and "BEGIN SOLUTION" not in released, cell_id
            assert released == ours, cell_id  # the same text, stubs written nbgrader's way


@pytest.mark.slow
def test_nbgrader_autogrades_the_demo(tmp_path: Path) -> None:
    api = pytest.importorskip("nbgrader.api")
    course = _course(tmp_path / "course")
    (course / "source" / "demo").mkdir(parents=True)
    shutil.copy(DEMO, course / "source" / "demo" / "demo.ipynb")
    _run([sys.executable, "-m", "nbgrader", "generate_assignment", "demo", "--force"], course)
    _submission(course / "submitted" / "alice" / "demo" / "demo.ipynb", **HALF_DONE)
    _run([sys.executable, "-m", "nbgrader", "db", "student", "add", "alice"], course)
    _run([sys.executable, "-m", "nbgrader", "autograde", "demo", "--force"], course)
    with api.Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission("demo", "alice")
        scores = {grade.name: (grade.score, grade.max_score) for nb in submission.notebooks for grade in nb.grades}
    assert scores == {"check-mean": (1.0, 1.0), "check-normalize": (0.0, 2.0), "why-eps": (0.0, 1.0)}


# --- otter-grader --------------------------------------------------------------------------------------


def test_export_otter_writes_exception_based_tests_with_the_hidden_calls() -> None:
    tests = otter_tests(DEMO)
    assert sorted(tests) == ["check-mean", "check-normalize"]
    text = tests["check-normalize"]
    assert "OK_FORMAT = False" in text and "points = 2" in text
    assert (
        "@test_case(points=1, hidden=False)\ndef check_normalize_1(env):\n    check_normalize.require(env['normalize'])"
        in text
    )
    assert "@test_case(points=1, hidden=True)\ndef check_normalize_constant_2(env):" in text
    compile(text, "check-normalize.py", "exec")


@pytest.mark.slow
def test_otter_grades_the_exported_demo_without_docker(tmp_path: Path) -> None:
    pytest.importorskip("otter")
    from aelab.cli import main as cli

    assert cli(["export", "otter", str(DEMO), "--out", str(tmp_path / "otter")]) == 0
    assert "NotImplementedError" in (tmp_path / "otter" / "demo_solution.ipynb").read_text()  # the student's copy
    _run([sys.executable, "-m", "otter", "generate", "-t", "otter/tests", "-o", "autograder.zip", "--no-requirements",
          "--no-environment", "--no-config"], tmp_path)  # fmt: skip
    submission = _submission(tmp_path / "alice.ipynb", **HALF_DONE)
    (tmp_path / "results").mkdir()
    _run([sys.executable, "-m", "otter", "run", "-a", "autograder.zip", "-o", "results", "--no-logo", submission.name],
         tmp_path)  # fmt: skip
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    scores = {test["name"]: (test["score"], test["max_score"]) for test in results["tests"] if "score" in test}
    assert scores == {"check-mean": (1, 1), "check-normalize": (0, 2)}
