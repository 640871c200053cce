"""``aelab grade`` as another CPU computes: a good submission still gets full marks.

The judge's tolerances must hold whatever kernels the grader's machine picks. Each solution's
exercises are graded by the real command, in its sandbox, with PyTorch, oneDNN and MKL capped to the
``sse41`` setting of :mod:`aelab.portable` (the furthest from the development machine's AVX-512);
the sandbox passes the caps on, so probe and judge both compute as that CPU would.

To keep this inside ``make test``'s budget, the graded solution keeps only what the checks need: its
set-up cell (the first code cell), its answer cells and its check cells -- not the training cells
that nbval already runs. A lab whose answers need another cell lists that cell's id in
:data:`KEEP_CELLS`. One capped interpreter runs ``aelab grade`` (the command's ``main``) for every
lab the session selects, in turn, so the grader and torch start once, not once per lab; each lab
still gets its own grading, sandbox and kernel.

``make test`` grades the labs of :data:`IN_MAKE_TEST` (``-m "not portable"``); ``make test-portable``
grades every lab (the others carry the ``portable`` mark).
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from aelab import report
from aelab.portable import SETTINGS, _figures, environment

SOLUTIONS = sorted((Path(__file__).parents[1] / "solutions").glob("*.ipynb"))
#: The labs ``make test`` grades under ``sse41``, which show the grading path under capped kernels: the
#: sandbox passes the caps on, and judges that compare floats within tight tolerances hold (lab 05:
#: colour transfer, the GAN's BCE and a spectrum; lab 07: ring means to 1e-6, and accuracies of trained
#: detectors). Every lab's check cells also pass under ``sse41`` in nbval (``make test-portable``; lab
#: 03 in ``make test``), where probe and judge run in one capped kernel.
IN_MAKE_TEST = {"05-color-and-gan", "07-forensics"}
#: solution file name -> ids of further cells its answers need
KEEP_CELLS: dict[str, set[str]] = {
    "04-training-recipe.ipynb": {"8d21f2b9", "fc920645"},  # the shipped results, and the table of effects
    # the models, the short H128 run, the judges, the five models' merged frames, the five rows and their
    # bands, the variant and its row
    "08-architecture-benchmark.ipynb": {
        "lab08-10",
        "lab08-12",
        "lab08-15",
        "lab08-16",
        "lab08-16a",
        "lab08-18",
        "lab08-28",
        "lab08-29",
    },
}


def _exercises_only(solution: Path) -> dict:
    """``solution`` with only its set-up cell, its nbgrader cells and the cells of KEEP_CELLS."""
    notebook = json.loads(solution.read_text("utf-8"))
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    keep = KEEP_CELLS.get(solution.name, set())
    notebook["cells"] = [
        cell for cell in code if cell is code[0] or "nbgrader" in cell["metadata"] or cell.get("id") in keep
    ]
    return notebook


def test_make_test_grades_labs_that_exist() -> None:
    assert IN_MAKE_TEST and IN_MAKE_TEST <= {path.stem for path in SOLUTIONS}


def test_settings_cap_the_kernels_and_default_clears_the_caps() -> None:
    capped = environment("sse41", {"PATH": "/bin", "ONEDNN_MAX_CPU_ISA": "AVX2"})
    assert capped == {"PATH": "/bin", **SETTINGS["sse41"]}
    assert environment("default", capped) == {"PATH": "/bin"}
    with pytest.raises(ValueError, match="avx2"):
        environment("avx512")


def test_spread_reads_every_figure_and_table_cell(capsys: pytest.CaptureFixture[str]) -> None:
    report.figures({"test PSNR": (22.31, (21.8, 22.8))}, digits=1, unit="dB")
    report.table(
        {
            "MSE": {"SSIM": (0.79, (0.7, 0.9)), "edges": (-0.01, (-0.1, 0.5))},
            "yours": {"SSIM": (0.5, None), "edges": (0.2, None)},
        },
        label="loss",
    )
    found = _figures(capsys.readouterr().out.splitlines())
    assert found == [
        ("test PSNR", 22.3, "21.8 – 22.8", True),
        ("MSE SSIM", 0.79, "table", True),
        ("MSE edges", -0.01, "table", True),
        ("yours SSIM", 0.5, "table", True),
        ("yours edges", 0.2, "table", True),
    ]


#: Runs ``aelab grade`` (the command line's ``main``) once per argument list of argv[1:] (JSON), in one
#: interpreter; its exit status is the largest of theirs.
GRADE_EACH = (
    "import json, sys\nfrom aelab.cli import main\nsys.exit(max(main(args) for args in json.loads(sys.argv[1])))"
)


@pytest.fixture(scope="module")
def capped_grades(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The exercises of each solution that this session's tests take (``-m``, ``-k``), as its lab's
    solution and as a submission ("good"), graded under ``sse41`` by one capped interpreter: solution
    stem -> the grader's output folder."""
    selected = [
        item.callspec.params["solution"]
        for item in request.session.items
        if getattr(item, "module", None) is request.module  # nbval's cells have no module
        and hasattr(item, "callspec")
        and "solution" in item.callspec.params
    ]
    root = tmp_path_factory.mktemp("capped")
    outs, runs = {}, []
    for solution in selected:
        folder = root / solution.stem
        (folder / "submissions").mkdir(parents=True)
        graded = folder / "solution.ipynb"
        graded.write_text(json.dumps(_exercises_only(solution)), "utf-8")
        (folder / "submissions" / "good.ipynb").write_text(graded.read_text("utf-8"), "utf-8")
        outs[solution.stem] = folder / "out"
        runs.append(
            [
                "grade",
                str(graded),
                str(folder / "submissions"),
                "--out",
                str(outs[solution.stem]),
                "--jobs",
                "1",
                "--memory",
                "8192",  # lab 02 dies at the default 4096 MiB (a sandbox-error): reported
                "--timeout",
                "1200",
                "--cell-timeout",
                "600",
            ]
        )  # lab 08's training cells, on a loaded machine
    done = subprocess.run(
        [sys.executable, "-c", GRADE_EACH, json.dumps(runs)],
        env=environment("sse41"),
        capture_output=True,
        text=True,
        timeout=600 + 600 * len(runs),
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return outs


#: Each solution, those outside IN_MAKE_TEST marked for make test-portable alone.
CASES = [
    pytest.param(path, id=path.stem, marks=[] if path.stem in IN_MAKE_TEST else [pytest.mark.portable])
    for path in SOLUTIONS
]


@pytest.mark.slow
@pytest.mark.parametrize("solution", CASES)
def test_the_solution_gets_full_marks_under_capped_kernels(solution: Path, capped_grades: dict[str, Path]) -> None:
    out = capped_grades[solution.stem]
    with (out / "grades.csv").open() as stream:
        (row,) = csv.DictReader(stream)
    feedback = (out / "feedback" / "good.md").read_text("utf-8")
    assert (row["status"], float(row["auto"])) == ("ok", float(row["max_score"])), feedback
    assert float(row["max_score"]) > 0
