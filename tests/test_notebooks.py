"""Solutions -> labs (``aelab make-labs``): generation, ``--check``, validation, and running the result."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import ipykernel.kernelspec
import nbformat
import pytest
from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbformat import NotebookNode, v4

from aelab.commands.make_labs import main
from aelab.kernel import KERNELSPEC, LANGUAGE_INFO
from aelab.notebooks import LINE_LIMIT, Exercise, NotebookError, lab_text, lint, make_lab

FIXTURES = Path(__file__).parent / "fixtures"
DEMO = FIXTURES / "demo_solution.ipynb"


def _nbgrader(grade_id: str, *, solution: bool = False, grade: bool = False, **extra: Any) -> dict[str, Any]:
    return {"nbgrader": {"grade_id": grade_id, "solution": solution, "grade": grade, **extra}}


def _notebook(*cells: NotebookNode) -> NotebookNode:
    nb = v4.new_notebook(cells=list(cells))
    for index, cell in enumerate(nb.cells):
        cell.id = f"c{index}"
    return nb


def _solutions(tmp_path: Path, **notebooks: NotebookNode | str) -> Path:
    """A solutions folder holding ``<name>.ipynb`` for each notebook (or raw text) given."""
    folder = tmp_path / "solutions"
    folder.mkdir(exist_ok=True)
    for name, nb in notebooks.items():
        text = nb if isinstance(nb, str) else nbformat.writes(nb)
        (folder / f"{name}.ipynb").write_text(text, encoding="utf-8")
    return folder


def _make_labs(tmp_path: Path, *options: str) -> int:
    return main(["--solutions", str(tmp_path / "solutions"), "--labs", str(tmp_path / "labs"), *options])


# --- generation ----------------------------------------------------------------------------------


def test_lab_of_the_demo_replaces_solutions_and_removes_hidden_tests() -> None:
    solution = nbformat.read(DEMO, as_version=4)
    lab = make_lab(DEMO)
    text = nbformat.writes(lab)
    sources = {cell.id: cell.source for cell in lab.cells}
    assert "### BEGIN" not in text and "### END" not in text
    assert "x.sum() / x.numel()" not in text and "unbiased=False" not in text
    assert "check_normalize_constant" not in text  # the hidden test and its import are gone
    assert sources["mean"].endswith(
        '    # YOUR CODE HERE\n    raise NotImplementedError("Exercise 0.1 mean: replace this line with your code")'
    )
    assert (
        'NotImplementedError("Exercise 0.2 normalize: standardise each channel over (N, H, W)")' in sources["normalize"]
    )
    assert sources["check-normalize"] == "check_normalize(normalize)"
    assert sources["why-eps"] == "YOUR ANSWER HERE"
    assert [cell.id for cell in lab.cells] == [cell.id for cell in solution.cells]
    for before, after in zip(solution.cells, lab.cells, strict=True):
        assert after.metadata == before.metadata  # nbgrader and aelab metadata kept
        if after.cell_type == "code":
            assert after.outputs == [] and after.execution_count is None
    assert any(cell.get("outputs") for cell in solution.cells)
    assert lab.metadata == {"kernelspec": KERNELSPEC, "language_info": LANGUAGE_INFO}  # the kit's kernel's


def test_a_long_hint_is_wrapped_into_literals_that_fit_and_say_it_all() -> None:
    hint = "add up " + " ".join(f'layer{k} (k·k·in·out + out, "quoted")' for k in range(12))
    cell = v4.new_code_cell(
        "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION",
        metadata={**_nbgrader("long", solution=True), "aelab": {"exercise": "9.9 long", "hint": hint}},
    )
    source = make_lab(_notebook(cell)).cells[0].source
    lines = source.splitlines()
    assert lines[:3] == ["def f():", "    # YOUR CODE HERE", "    raise NotImplementedError("] and lines[-1] == "    )"
    assert len(lines) > 5 and max(map(len, lines)) <= LINE_LIMIT
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    with pytest.raises(NotImplementedError) as raised:
        namespace["f"]()
    assert str(raised.value) == f"Exercise 9.9 long: {hint}"


def test_regions_become_stubs_at_their_indentation() -> None:
    nb = _notebook(
        v4.new_code_cell(
            "def f(xs):\n    total = 0\n    for x in xs:\n        ### BEGIN SOLUTION\n        total += x\n"
            "        ### END SOLUTION\n    ### BEGIN SOLUTION\n    total *= 2\n    ### END SOLUTION\n    return total",
            metadata=_nbgrader("sum-twice", solution=True),
        ),
        v4.new_code_cell(
            "answer = 42",
            metadata={**_nbgrader("whole", solution=True), "tags": ["keep"], "execution": {"shell.execute_reply": "t"}},
        ),
        v4.new_markdown_cell(
            "Your answer:\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION\nThanks.",
            metadata=_nbgrader("why", solution=True, grade=True, points=1),
        ),
        v4.new_markdown_cell("Explain.", metadata=_nbgrader("why-2", solution=True, grade=True, points=1)),
    )
    stub = 'raise NotImplementedError("Exercise {}: replace this line with your code")'
    lab = make_lab(nb)
    assert lab.cells[1].metadata == {**_nbgrader("whole", solution=True), "tags": ["keep"]}  # timings dropped
    assert [cell.source for cell in lab.cells] == [
        "def f(xs):\n    total = 0\n    for x in xs:\n        # YOUR CODE HERE\n        "
        + stub.format("sum-twice")
        + "\n    # YOUR CODE HERE\n    "
        + stub.format("sum-twice")
        + "\n    return total",
        "# YOUR CODE HERE\n" + stub.format("whole"),
        "Your answer:\nYOUR ANSWER HERE\nThanks.",
        "YOUR ANSWER HERE",
    ]


def test_labs_are_byte_stable_and_written_like_jupyter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _solutions(tmp_path, demo=DEMO.read_text(encoding="utf-8"))
    assert _make_labs(tmp_path) == 0
    lab = tmp_path / "labs" / "demo.ipynb"
    first = lab.read_bytes()
    assert f"wrote {lab}" in capsys.readouterr().out
    assert _make_labs(tmp_path) == 0
    assert "wrote" not in capsys.readouterr().out  # nothing changed, nothing written
    assert lab.read_bytes() == first == lab_text(DEMO).encode("utf-8")
    assert first.endswith(b"}\n") and first.startswith(b'{\n "cells": [\n  {\n')  # indent 1, final newline
    assert nbformat.reads(first.decode("utf-8"), as_version=4).nbformat_minor == 5


def test_cells_without_ids_get_deterministic_ones(tmp_path: Path) -> None:
    raw = json.loads(nbformat.writes(_notebook(v4.new_code_cell("a = 1"), v4.new_markdown_cell("b"))))
    raw["nbformat_minor"] = 4
    for cell in raw["cells"]:
        del cell["id"]
    assert [cell.id for cell in make_lab(nbformat.from_dict(raw)).cells] == ["cell-0", "cell-1"]
    _solutions(tmp_path, old=json.dumps(raw))
    assert _make_labs(tmp_path) == 0
    lab = nbformat.read(tmp_path / "labs" / "old.ipynb", as_version=4)
    assert [cell.id for cell in lab.cells] == ["cell-0", "cell-1"] and lab.nbformat_minor == 5


# --- --check -------------------------------------------------------------------------------------


def test_check_passes_on_fresh_labs_and_names_each_stale_missing_or_extra_lab(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _solutions(tmp_path, a=DEMO.read_text(encoding="utf-8"), b=DEMO.read_text(encoding="utf-8"))
    assert _make_labs(tmp_path, "--check") == 1
    assert "missing: " in capsys.readouterr().err
    assert _make_labs(tmp_path) == 0
    assert _make_labs(tmp_path, "--check") == 0
    assert "up to date" in capsys.readouterr().out

    labs = tmp_path / "labs"
    (labs / "a.ipynb").write_text((labs / "a.ipynb").read_text(encoding="utf-8").replace("0.1 mean", "0.1 avg"))
    (labs / "b.ipynb").unlink()
    (labs / "zz.ipynb").write_text("{}")
    before = {path.name: path.read_bytes() for path in labs.iterdir()}
    assert _make_labs(tmp_path, "--check") == 1
    err = capsys.readouterr().err
    assert f"stale: {labs / 'a.ipynb'} (differs from what {tmp_path / 'solutions' / 'a.ipynb'} generates)" in err
    assert f"missing: {labs / 'b.ipynb'}" in err
    assert f"extra: {labs / 'zz.ipynb'} (there is no {tmp_path / 'solutions' / 'zz.ipynb'})" in err
    assert f"Run `aelab make-labs --solutions {tmp_path / 'solutions'} --labs {labs}`" in err
    assert {path.name: path.read_bytes() for path in labs.iterdir()} == before  # --check writes nothing

    assert _make_labs(tmp_path) == 0
    assert f"removed {labs / 'zz.ipynb'}" in capsys.readouterr().out
    assert sorted(path.name for path in labs.iterdir()) == ["a.ipynb", "b.ipynb"]
    assert _make_labs(tmp_path, "--check") == 0


def test_check_with_default_folders_says_make_labs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _solutions(tmp_path, a=DEMO.read_text(encoding="utf-8"))
    monkeypatch.chdir(tmp_path)
    assert main(["--check"]) == 1
    assert "Run `make labs` (or `aelab make-labs`) to regenerate it." in capsys.readouterr().err


def test_missing_solutions_folder_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _make_labs(tmp_path) == 2
    assert f"no folder {tmp_path / 'solutions'}/" in capsys.readouterr().err


# --- validation ----------------------------------------------------------------------------------

_CHECK = _nbgrader("check-mean", grade=True, points=1)

INVALID = {
    "begin-without-end": (
        v4.new_code_cell("### BEGIN SOLUTION\nx = 1", metadata=_nbgrader("x", solution=True)),
        "cell 1 (grade_id 'x'): line 1: '### BEGIN SOLUTION' is never closed; add '### END SOLUTION'",
    ),
    "end-without-begin": (
        v4.new_code_cell("x = 1\n### END SOLUTION", metadata=_nbgrader("x", solution=True)),
        "line 2: '### END SOLUTION' has no matching '### BEGIN SOLUTION' before it",
    ),
    "nested": (
        v4.new_code_cell(
            "### BEGIN SOLUTION\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n### END SOLUTION",
            metadata=_nbgrader("x", solution=True),
        ),
        "line 2: '### BEGIN SOLUTION' inside the SOLUTION region opened on line 1; regions cannot nest",
    ),
    "hidden-inside-solution": (
        v4.new_code_cell(
            "### BEGIN SOLUTION\n### BEGIN HIDDEN TESTS\n### END HIDDEN TESTS\n### END SOLUTION",
            metadata=_nbgrader("x", solution=True, grade=True, points=1),
        ),
        "'### BEGIN HIDDEN TESTS' inside the SOLUTION region",
    ),
    "crossed": (
        v4.new_code_cell("### BEGIN SOLUTION\n### END HIDDEN TESTS", metadata=_nbgrader("x", solution=True)),
        "'### END HIDDEN TESTS' has no matching '### BEGIN HIDDEN TESTS'",
    ),
    "loose-marker": (
        v4.new_code_cell("# BEGIN SOLUTION\nx = 1\n# END SOLUTION", metadata=_nbgrader("x", solution=True)),
        "line 1, '# BEGIN SOLUTION', looks like a marker",
    ),
    "solution-markers-without-metadata": (
        v4.new_code_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION"),
        "cell 1 ('### BEGIN SOLUTION'): has ### BEGIN SOLUTION markers but no metadata nbgrader.solution: true",
    ),
    "hidden-tests-outside-a-check-cell": (
        v4.new_code_cell("### BEGIN HIDDEN TESTS\n### END HIDDEN TESTS", metadata=_nbgrader("x", solution=True)),
        "has ### BEGIN HIDDEN TESTS markers but no metadata nbgrader.grade: true",
    ),
    "grade-without-points": (
        v4.new_code_cell("check_mean(mean)", metadata=_nbgrader("check-mean", grade=True)),
        "is graded (nbgrader.grade: true) but metadata nbgrader.points is None",
    ),
    "negative-points": (
        v4.new_code_cell("check_mean(mean)", metadata=_nbgrader("check-mean", grade=True, points=-1)),
        "metadata nbgrader.points is -1",
    ),
    "no-registered-check": (
        v4.new_code_cell("assert mean(x) == 0.5", metadata=_CHECK),
        "check cell calls no registered check (it calls: mean)",
    ),
    "magic-in-check-cell": (
        v4.new_code_cell("%time check_mean(mean)", metadata=_CHECK),
        "a check cell must be plain Python (no magics): line 1",
    ),
    "missing-grade-id": (
        v4.new_code_cell("x = 1", metadata={"nbgrader": {"solution": True}}),
        "metadata nbgrader.grade_id must be a name of letters, digits, '.', '_' or '-', got None",
    ),
    "odd-grade-id": (
        v4.new_code_cell("x = 1", metadata=_nbgrader("ex 1", solution=True)),
        "got 'ex 1'",
    ),
    "flag-not-bool": (
        v4.new_code_cell("x = 1", metadata=_nbgrader("x", solution="yes")),
        "metadata nbgrader.solution must be true or false, got 'yes'",
    ),
    "graded-markdown-not-an-answer": (
        v4.new_markdown_cell("Explain.", metadata=_nbgrader("why", grade=True, points=1)),
        "a graded markdown cell must be a written answer",
    ),
    "unknown-aelab-key": (
        v4.new_code_cell("x = 1", metadata={**_nbgrader("x", solution=True), "aelab": {"exersice": "1.1"}}),
        "metadata aelab.exersice is unknown; the keys are exercise, hint",
    ),
    "multi-line-hint": (
        v4.new_code_cell("x = 1", metadata={**_nbgrader("x", solution=True), "aelab": {"hint": "a\nb"}}),
        "metadata aelab.hint must be a one-line text",
    ),
}


@pytest.mark.parametrize("case", INVALID)
def test_invalid_cells_are_refused_naming_notebook_and_cell(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cell, message = INVALID[case]
    folder = _solutions(tmp_path, bad=_notebook(cell))
    with pytest.raises(NotebookError, match="^" + "(?s:.*)".join(map(re.escape, [str(folder / "bad.ipynb"), message]))):
        lint(folder / "bad.ipynb")
    assert _make_labs(tmp_path) == 1
    err = capsys.readouterr().err
    assert f"fix these solution notebooks first:\n  {folder / 'bad.ipynb'}, cell 1 (" in err and message in err
    assert not (tmp_path / "labs").exists()


def test_duplicate_grade_ids_name_both_cells_and_all_problems_are_listed() -> None:
    nb = _notebook(
        v4.new_code_cell("x = 1", metadata=_nbgrader("x", solution=True)),
        v4.new_code_cell("y = 1", metadata=_nbgrader("x", solution=True)),
        v4.new_code_cell("### END SOLUTION", metadata=_nbgrader("z", solution=True)),
    )
    with pytest.raises(NotebookError) as caught:
        lint(nb)
    assert caught.value.problems == [
        "notebook, cell 2 (grade_id 'x'): grade_id 'x' is already used by cell 1; "
        "give each graded or solution cell its own grade_id.",
        "notebook, cell 3 (grade_id 'z'): line 1: '### END SOLUTION' has no matching '### BEGIN SOLUTION' before it.",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not a notebook, it is not UTF-8 JSON"),
        ('{"nbformat": 3, "worksheets": []}', "not an nbformat 4 notebook (nbformat is 3)"),
        ("[]", "not an nbformat 4 notebook (nbformat is 'list')"),
        (
            '{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": {}}',
            "not a valid notebook (its 'cells' is not a list of cells)",
        ),
        (
            '{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code"}]}',
            "not a valid nbformat 4 notebook",
        ),
    ],
)
def test_malformed_notebooks_are_refused(text: str, message: str, tmp_path: Path) -> None:
    folder = _solutions(tmp_path, bad=text)
    with pytest.raises(NotebookError, match=re.escape(f"{folder / 'bad.ipynb'}: {message}")):
        lint(folder / "bad.ipynb")


def test_duplicate_cell_ids_are_refused(tmp_path: Path) -> None:
    nb = _notebook(v4.new_code_cell("a = 1"), v4.new_code_cell("b = 1"))
    nb.cells[1].id = "c0"
    folder = _solutions(tmp_path, dup=json.dumps(nb))
    with pytest.raises(NotebookError, match="cells 1 and 2 have the same id 'c0'"):
        lint(folder / "dup.ipynb")


def test_lint_lists_the_exercises_of_the_demo() -> None:
    assert lint(DEMO) == [
        Exercise("mean", "solution", None, (), 4, "0.1 mean"),
        Exercise("check-mean", "grade", 1.0, ("check_mean",), 5, "check-mean"),
        Exercise("normalize", "solution", None, (), 7, "0.2 normalize"),
        Exercise(
            "check-normalize", "grade", 2.0, ("check_normalize", "check_normalize_constant"), 8, "check-normalize"
        ),
        Exercise("why-eps", "answer", 1.0, (), 10, "why-eps"),
    ]


def test_lint_refuses_other_inputs() -> None:
    with pytest.raises(TypeError, match="notebook must be a path or an nbformat NotebookNode, got int"):
        lint(3)  # type: ignore[arg-type]


# --- running the notebooks -----------------------------------------------------------------------


class _ThisEnvironment(KernelSpecManager):
    """Kernel specs that always start this interpreter's ipykernel (what nbval's --nbval-current-env does)."""

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return KernelSpec(resource_dir=ipykernel.kernelspec.RESOURCES, **ipykernel.kernelspec.get_kernel_dict())


@pytest.mark.slow
def test_lab_stops_at_its_first_exercise_and_the_solution_runs(tmp_path: Path) -> None:
    """One kernel: the lab first (fresh), then, after a reset, the solution."""
    lab = make_lab(DEMO)
    solution = nbformat.read(DEMO, as_version=4)
    manager = KernelManager(kernel_spec_manager=_ThisEnvironment())
    client = NotebookClient(lab, km=manager, timeout=120, resources={"metadata": {"path": str(tmp_path)}})
    first_check = next(i for i, cell in enumerate(lab.cells) if cell.metadata.get("nbgrader", {}).get("grade"))
    with client.setup_kernel():
        for index, cell in enumerate(lab.cells[:first_check]):
            client.execute_cell(cell, index)
        with pytest.raises(CellExecutionError) as failed:
            client.execute_cell(lab.cells[first_check], first_check)
        shown_outputs = list(lab.cells[first_check].outputs)
        client.execute_cell(v4.new_code_cell("%reset -f"), 0)
        for index, cell in enumerate(solution.cells):
            cell.outputs = []
            client.execute_cell(cell, index)
    assert failed.value.ename == "CheckFailed"
    assert "not done yet: NotImplementedError: Exercise 0.1 mean: replace this line" in failed.value.evalue
    (shown,) = shown_outputs  # the message once: no printed copy, no frames of the kit
    assert shown.output_type == "error" and len(shown.traceback) == 1
    assert shown.traceback[0].startswith("CheckFailed: [NOT YET] check_mean: this exercise is not done yet")
    printed = "".join(
        out.get("text", "") for cell in solution.cells if cell.cell_type == "code" for out in cell.outputs
    )
    assert printed.count("[PASSED]") == 3 and "NOT YET" not in printed


# --- make lab: JupyterLab's settings in the kit's environment --------------------------------------


def test_make_lab_installs_settings_that_turn_off_jupyterlab_news(tmp_path: Path) -> None:
    """The overrides `make lab` copies into the environment, as JupyterLab itself reads them."""
    import shutil
    import subprocess
    import sys

    settings_utils = pytest.importorskip("jupyterlab_server.settings_utils")
    root = Path(__file__).resolve().parents[1]
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    stamp = venv / ".aelab-lab-installed"
    stamp.touch()
    settings = venv / "share/jupyter/lab/settings/overrides.json"
    done = subprocess.run(
        ["make", "-C", str(root), f"VENV={venv}", str(settings)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0 and shutil.which("make") is None:
        pytest.skip("make is not installed")
    assert done.returncode == 0, done.stderr
    app_settings = venv / "share" / "jupyter" / "lab" / "settings"
    schemas = Path(sys.prefix) / "share" / "jupyter" / "lab" / "schemas"
    found, _ = settings_utils.get_settings(str(app_settings), str(schemas), str(tmp_path / "user"),
                                           "@jupyterlab/apputils-extension:notification")  # fmt: skip
    defaults = found["schema"]["properties"]
    assert defaults["fetchNews"]["default"] == "false" and defaults["checkForUpdates"]["default"] is False


# --- data found wherever the notebook runs ----------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]


def test_the_data_root_is_aelab_data_or_the_users_data_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from aelab.data import digits

    monkeypatch.setenv("AELAB_DATA", str(tmp_path / "course-data"))
    assert digits.data_root() == tmp_path / "course-data"
    monkeypatch.delenv("AELAB_DATA")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert digits.data_root() == tmp_path / "xdg" / "aelab"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert digits.data_root() == Path.home() / ".local" / "share" / "aelab"


def test_load_digits_reads_mnist_from_the_data_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import numpy as np

    from aelab.data import digits

    monkeypatch.setenv("AELAB_DATA", str(tmp_path))
    assert digits.load_digits().source == "sklearn-8x8"  # nothing there yet
    (tmp_path / "mnist").mkdir()
    for name in digits.DATASETS["mnist"].files["train"]:
        (tmp_path / "mnist" / name).touch()
    read: list[Path] = []
    fake = (np.zeros((3, 28, 28), np.uint8), np.zeros(3, np.uint8))
    monkeypatch.setattr(digits, "mnist", lambda root, split: read.append(Path(root)) or fake)
    assert digits.load_digits().source == "mnist" and read == [tmp_path / "mnist"]


def test_a_copy_of_the_package_outside_the_repository_finds_its_data(tmp_path: Path) -> None:
    """As from a wheel: the package alone, imported from elsewhere, finds lab 03's checkpoints (package
    data) and the digits (the data root), with nothing of the repository around it."""
    import shutil
    import subprocess
    import sys

    site = tmp_path / "site-packages"
    shutil.copytree(REPO / "src" / "aelab", site / "aelab", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "course").mkdir()
    script = (
        "import aelab, sys\n"
        "from aelab import assets\n"
        "from aelab.data import digits\n"
        f"assert aelab.__file__.startswith({str(site)!r}), aelab.__file__\n"
        "files = sorted(p.name for p in (assets.root() / 'lab03').glob('*.pt'))\n"
        "assert files and all(assets.path('lab03/' + name).is_file() for name in files), files\n"
        "print(files, digits.data_root(), digits.load_digits().source)\n"
    )
    environment = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site), "AELAB_DATA": str(tmp_path / "data"),
                   "HOME": str(tmp_path)}  # fmt: skip
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path / "course", env=environment,
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == f"['df.pt', 'liae.pt', 'reader.pt'] {tmp_path / 'data'} sklearn-8x8"


@pytest.mark.parametrize("solution", sorted((REPO / "solutions").glob("*.ipynb")), ids=lambda p: p.name)
def test_solutions_do_not_depend_on_where_they_run(solution: Path) -> None:
    """No path relative to the notebook or to the repository: nbgrader's tree and a wheel install
    have neither ../data nor the package's parents."""
    notebook = nbformat.read(solution, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            for pattern in ('Path("..")', "'../", '"../', "parents[", "__file__", '"data/', "'data/"):
                assert pattern not in cell.source, f"{solution.name}, cell {cell.id}: {pattern}"
