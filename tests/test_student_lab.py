"""What ``make lab`` gives a student: the kit's kernel (the threading policy applied first), labs that
JupyterLab opens without anything to save, a student's extensions only, and lines that fit the screen."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aelab import threads
from aelab.kernel import KERNELSPEC, NAME
from aelab.notebooks import LINE_LIMIT, read_notebook

ROOT = Path(__file__).resolve().parents[1]
LABS = sorted((ROOT / "labs").glob("*.ipynb"))
#: JupyterLab extensions a student's JupyterLab runs (JupyterLab's own aside): widgets, and the
#: highlighting of exported notebooks; server extensions likewise.
STUDENT_LAB_EXTENSIONS = {"@jupyter-widgets/jupyterlab-manager", "jupyterlab_pygments"}
STUDENT_SERVER_EXTENSIONS = {"jupyterlab", "jupyter_lsp", "jupyter_server_terminals", "notebook_shim"}


def _make(venv: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    return subprocess.run(["make", "-C", str(ROOT), f"VENV={venv}", *args], capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The kernel spec ``make lab`` installs, started as JupyterLab starts it, with the policy's
    variables and overrides removed from its environment: its kernel_info reply, its spec and what
    its environment holds."""
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager

    venv = tmp_path_factory.mktemp("venv")
    (venv / "bin").mkdir()
    (venv / "bin" / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (venv / "bin" / "python").chmod(0o755)
    (venv / ".aelab-lab-installed").touch()
    done = _make(venv, str(venv / "share" / "jupyter" / "kernels" / NAME / "kernel.json"))
    assert done.returncode == 0, done.stderr
    specs = KernelSpecManager(kernel_dirs=[str(venv / "share" / "jupyter" / "kernels")])
    policy = (threads.OVERRIDE, threads.ADAPT, *threads.COUNT_VARIABLES, *threads.WAIT_VARIABLES)
    env = {name: value for name, value in os.environ.items() if name not in policy}
    manager = KernelManager(kernel_name=NAME, kernel_spec_manager=specs)
    manager.start_kernel(env=env)
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=120)
        info = client.kernel_info(reply=True, timeout=60)["content"]
        shown: list[str] = []
        code = f"import os, json; print(json.dumps({{k: os.environ.get(k) for k in {policy!r}}}))"
        client.execute_interactive(
            code, timeout=60, output_hook=lambda msg: shown.append(msg["content"].get("text", ""))
        )
        yield {"info": info, "spec": specs.get_kernel_spec(NAME), "environ": json.loads("".join(shown)), "env": env}
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


@pytest.mark.slow
def test_the_kernel_starts_with_the_threading_policy(kernel: dict[str, Any]) -> None:
    expected = threads.decide(kernel["env"]).variables
    assert {name: value for name, value in kernel["environ"].items() if value is not None} == expected
    assert kernel["spec"].argv[1:3] == ["-m", "aelab.kernel"]


@pytest.mark.slow
@pytest.mark.parametrize("lab", LABS, ids=lambda path: path.stem)
def test_a_lab_opens_with_nothing_to_save(kernel: dict[str, Any], lab: Path) -> None:
    """What JupyterLab sets when it opens a notebook: nbformat 4.5 with cell ids (older files are
    converted), then, once the kernel is up, ``kernelspec`` and ``language_info`` from the kernel
    (NotebookPanel's _updateSpec and _updateLanguage); a value that differs marks the notebook modified."""
    raw = json.loads(lab.read_text(encoding="utf-8"))
    assert (raw["nbformat"], raw["nbformat_minor"]) == (4, 5) and all("id" in cell for cell in raw["cells"])
    spec = kernel["spec"]
    assert raw["metadata"]["kernelspec"] == {"name": NAME, "display_name": spec.display_name, "language": spec.language}
    assert raw["metadata"]["kernelspec"] == KERNELSPEC
    assert raw["metadata"]["language_info"] == kernel["info"]["language_info"]


def test_make_lab_installs_the_notebooks_extra_only_and_runs_the_student_configuration(tmp_path: Path) -> None:
    done = _make(tmp_path / "venv", "-n", "lab")
    assert done.returncode == 0, done.stderr
    installs = [line for line in done.stdout.splitlines() if "pip install" in line]
    assert len(installs) == 1 and installs[0].endswith('-e ".[notebooks]"')
    (launch,) = [line for line in done.stdout.splitlines() if "jupyter lab" in line]
    assert launch.startswith(f"JUPYTER_CONFIG_PATH={ROOT / 'etc' / 'student'} ") and "--notebook-dir=labs" in launch
    assert f"--MultiKernelManager.default_kernel_name={NAME}" in launch


@pytest.fixture
def student_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Jupyter's configuration as ``make lab`` sets it (and no user configuration)."""
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(ROOT / "etc" / "student"))
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "user-config"))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")


def test_the_students_jupyterlab_runs_no_instructor_extension(student_config: None) -> None:
    """Whatever this environment holds (make test's adds nbgrader, otter-grader, Jupytext), the
    extensions enabled under the student's configuration are a student's."""
    config = pytest.importorskip("jupyterlab_server.config")
    from jupyter_core.paths import jupyter_path

    paths = jupyter_path("labextensions")
    disabled = config.get_page_config(paths)["disabledExtensions"]  # a list of names, or name -> bool
    disabled = {name for name in disabled if not isinstance(disabled, dict) or disabled[name]}
    assert set(config.get_federated_extensions(paths)) - disabled <= STUDENT_LAB_EXTENSIONS


def test_the_students_jupyter_server_loads_no_instructor_extension(student_config: None) -> None:
    """As ServerApp decides: its configured ``jpserver_extensions`` (etc/student's), then those that
    installed packages enable in ``jupyter_server_config.d`` (nbgrader's, Jupytext's)."""
    serverapp = pytest.importorskip("jupyter_server.serverapp")
    from jupyter_server.extension.config import ExtensionConfigManager

    app = serverapp.ServerApp()
    app.load_config_file()
    found = ExtensionConfigManager(read_config_path=app.config_file_paths).get_jpserver_extensions()
    enabled = {name for name, on in {**found, **app.jpserver_extensions}.items() if on}
    assert enabled <= STUDENT_SERVER_EXTENSIONS


@pytest.mark.parametrize("lab", LABS, ids=lambda path: path.stem)
def test_exercise_cells_fit_the_line_limit(lab: Path) -> None:
    """Every line of a cell the student writes in (given code, stub and hint) fits the notebook's
    default width; solutions/ is where a long line is fixed, and the stubs wrap themselves."""
    long = [f"cell {cell.id}: {len(line)} characters: {line.strip()[:60]}..."
            for cell in read_notebook(lab).cells
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution")
            for line in cell.source.splitlines() if len(line) > LINE_LIMIT]  # fmt: skip
    assert not long, f"lines longer than {LINE_LIMIT} characters in {lab.name}:\n" + "\n".join(long)
