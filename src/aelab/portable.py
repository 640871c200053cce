"""Run the solutions as other CPUs would: the arithmetic capped to older instruction sets.

A figure that comes out of training or a floating-point reduction changes in its last digits from
CPU to CPU, because PyTorch, oneDNN and MKL choose their vector kernels by instruction set (and so
the order in which they add). Each of the three reads an environment variable that caps the choice,
which lets one machine compute as another would (docs/DEVELOPING.md, "What nbval compares"):

- ``default``: whatever this CPU offers (on the kit's development machine, AVX-512);
- ``avx2``: PyTorch, oneDNN and MKL capped at AVX2 (most laptops and CI runners of the last decade);
- ``sse41``: PyTorch's scalar-friendly default kernels, oneDNN at SSE4.1, MKL at SSE4.2 (the oldest
  x86 arithmetic the kit supports, and the furthest from the default).

Two commands (``python -m aelab.portable ...``):

- ``nbval [--settings S,...] PATH...``: nbval on the notebooks once per setting, each run in its own
  pytest process (the variables must be set before torch starts); fails when any run fails.
  ``make test-portable`` runs every solution under all three; ``make test`` runs the training-heavy
  lab 03 under ``sse41``.
- ``spread [--settings S,...] [--replace OLD=>NEW ...] NOTEBOOK``: execute one notebook under each
  setting (and, once more per ``--replace``, with that text replaced in its code: another seed),
  then print each figure of :mod:`aelab.report` with its band and the range measured across the
  runs, and the compared outputs that differ between runs. This is how bands are chosen.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

__all__ = ["SETTINGS", "environment", "main"]

#: Setting name -> the environment variables that cap PyTorch's, oneDNN's and MKL's kernels.
SETTINGS: dict[str, dict[str, str]] = {
    "default": {},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
    "sse41": {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"},
}

#: One row of aelab.report.table: its name, its measured cells, its verdict.
TABLE_ROW = re.compile(r"^\s*(?P<name>.*?)(?P<cells>(?:\s+≈ +\S+)+)  (?P<verdict>ok|shown|OUT OF BAND.*)$")
#: One line printed by aelab.report.figure(s): name, value, optional unit, band, verdict.
FIGURE_LINE = re.compile(
    r"^(?P<name>.+?)\s+≈ (?P<value>\S+)(?: (?P<unit>[^\s(]+))?  "
    r"\(expected (?P<lo>\S+) – (?P<hi>\S+?)(?: \S+)?: (?P<verdict>ok|OUT OF BAND)\)$"
)


def environment(setting: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) with ``setting``'s variables set, the others
    of :data:`SETTINGS` removed (so that a capped shell does not leak into the default run)."""
    if setting not in SETTINGS:
        raise ValueError(f"setting must be one of {', '.join(SETTINGS)}, got {setting!r}")
    env = dict(os.environ if base is None else base)
    for name in {name for variables in SETTINGS.values() for name in variables}:
        env.pop(name, None)
    env.update(SETTINGS[setting])
    return env


def _settings(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in SETTINGS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"settings are a comma-separated subset of {', '.join(SETTINGS)}, got {text!r}"
        )
    return names


def nbval(paths: Sequence[str], settings: Sequence[str], pytest_args: Sequence[str] = ()) -> int:
    """nbval on ``paths`` once per setting; the worst exit code."""
    worst = 0
    for setting in settings:
        variables = " ".join(f"{k}={v}" for k, v in SETTINGS[setting].items()) or "(no variables)"
        print(f"\n=== nbval under the {setting} setting: {variables}", flush=True)
        command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *pytest_args, *paths]
        code = subprocess.run(command, env=environment(setting), check=False).returncode
        worst = max(worst, code)
    return worst


def _execute(notebook: Path, replacements: Sequence[tuple[str, str]]) -> list[list[str]]:
    """Run ``notebook`` (its code with ``replacements`` applied) in a kernel that inherits this
    process's environment; the text outputs of each code cell (errors kept, execution goes on)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            for old, new in replacements:
                cell.source = cell.source.replace(old, new)
    NotebookClient(nb, timeout=900, allow_errors=True, resources={"metadata": {"path": str(notebook.parent)}}).execute()
    texts = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        parts = []
        for output in cell.outputs:
            if output.output_type == "stream":
                parts.append(output.text)
            elif output.output_type == "execute_result":
                parts.append(output.data.get("text/plain", ""))
            elif output.output_type == "error":
                parts.append(f"{output.ename}: {output.evalue}")
        texts.append("".join(parts).splitlines())
    return texts


def spread(
    notebook: Path,
    settings: Sequence[str],
    replacements: Sequence[tuple[str, str]],
    jobs: int = 1,
    save: Path | None = None,
) -> int:
    """Execute ``notebook`` under each setting (and each replacement under the default setting),
    ``jobs`` runs at a time, and print the range of every figure across the runs and the compared
    lines that differ; ``save``: a file for every run's text outputs (JSON)."""
    variants = [(setting, ()) for setting in settings] + [("default", (pair,)) for pair in replacements]

    def run(variant: tuple[str, Sequence[tuple[str, str]]]) -> subprocess.CompletedProcess[str]:
        setting, replace = variant
        command = [sys.executable, "-m", "aelab.portable", "_execute", str(notebook)]
        command += [f"{old}=>{new}" for old, new in replace]
        return subprocess.run(command, env=environment(setting), capture_output=True, text=True, check=False)

    labels = [setting + "".join(f" [{old}=>{new}]" for old, new in replace) for setting, replace in variants]
    print(f"running {notebook} under {', '.join(labels)} ...", file=sys.stderr, flush=True)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(run, variants))
    runs: dict[str, list[list[str]]] = {}
    for label, result in zip(labels, results):
        if result.returncode != 0:
            print(f"{label}:\n{result.stderr}", file=sys.stderr)
            return result.returncode
        runs[label] = json.loads(result.stdout)
    if save is not None:
        save.write_text(json.dumps(runs, indent=1), "utf-8")

    rules = _sanitize_rules(notebook.parent / "sanitize.cfg")
    print(f"# {notebook}: {len(runs)} runs ({', '.join(runs)})")
    print(f"{'figure':<48} {'band':>18} {'min':>10} {'max':>10} {'spread':>9}  runs out of band")
    cells = len(runs[labels[0]])
    for index in range(cells):
        figures: dict[str, list[tuple[str, float, str, bool]]] = {}
        for label in labels:
            for name, value, band, ok in _figures(runs[label][index]):
                figures.setdefault(name, []).append((label, value, band, ok))
        for name, seen in figures.items():
            values = [value for _, value, _, _ in seen]
            out = [label for label, _, _, ok in seen if not ok]
            print(
                f"{name[:48]:<48} {seen[0][2]:>18} {min(values):>10.4g} {max(values):>10.4g} "
                f"{max(values) - min(values):>9.3g}  {', '.join(out)}"
            )
    print("\n# compared lines (after sanitising) that differ between runs, by code cell")
    for index in range(cells):
        texts = {label: [_sanitize(line, rules) for line in runs[label][index]] for label in labels}
        reference = texts[labels[0]]
        for label in labels[1:]:
            if texts[label] != reference:
                print(f"code cell {index}, {labels[0]} -> {label}:")
                for old, new in zip(reference, texts[label]):
                    if old != new:
                        print(f"  - {old}\n  + {new}")
                if len(reference) != len(texts[label]):
                    print(f"  ({len(reference)} lines -> {len(texts[label])} lines)")
    return 0


def _figures(lines: Sequence[str]) -> list[tuple[str, float, str, bool]]:
    """(name, value, band, in band) of each figure and table cell printed by aelab.report in ``lines``
    (a table's bands are not printed: its cells show "table" as their band)."""
    found: list[tuple[str, float, str, bool]] = []
    header: list[str] = []
    for line in lines:
        figure, row = FIGURE_LINE.match(line.strip()), TABLE_ROW.match(line)
        if figure:
            band = f"{figure['lo']} – {figure['hi']}"
            found.append((figure["name"], float(figure["value"]), band, figure["verdict"] == "ok"))
        elif row:
            values = [float(v) for v in re.findall(r"≈ +(\S+)", row["cells"])]
            columns = header[-len(values) :] if len(header) >= len(values) else [str(k) for k in range(len(values))]
            missed = (
                row["verdict"].removeprefix("OUT OF BAND: ").split(", ") if row["verdict"].startswith("OUT") else []
            )
            found += [(f"{row['name'].strip()} {c}", v, "table", c not in missed) for c, v in zip(columns, values)]
        elif "≈" not in line:
            header = line.strip().split("  ")
            header = [part.strip() for part in header if part.strip()]
    return found


def _sanitize_rules(path: Path) -> list[tuple[str, str]]:
    """nbval's sanitising rules (``regex:`` / ``replace:`` pairs) from ``path``; none if it is absent."""
    if not path.is_file():
        return []
    return re.findall(r"^regex: (.*)$\n^replace: (.*)$", path.read_text("utf-8"), re.M)


def _sanitize(text: str, rules: Sequence[tuple[str, str]]) -> str:
    for regex, replace in rules:
        text = re.sub(regex, replace, text)
    return text


def _replacement(text: str) -> tuple[str, str]:
    if "=>" not in text:
        raise argparse.ArgumentTypeError(f"a replacement is OLD=>NEW, got {text!r}")
    old, new = text.split("=>", 1)
    return old, new


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_execute"]:  # the child of ``spread``: one run, its outputs as JSON on stdout
        print(json.dumps(_execute(Path(argv[1]), [_replacement(text) for text in argv[2:]])))
        return 0
    parser = argparse.ArgumentParser(prog="python -m aelab.portable", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("nbval", help="nbval on notebooks under each setting")
    run.add_argument("--settings", type=_settings, default=list(SETTINGS))
    run.add_argument("paths", nargs="+")
    measure = commands.add_parser("spread", help="the range of each figure across settings and seeds")
    measure.add_argument("--settings", type=_settings, default=list(SETTINGS))
    measure.add_argument(
        "--replace",
        type=_replacement,
        action="append",
        default=[],
        help="OLD=>NEW in the notebook's code, run once more under the default setting",
    )
    measure.add_argument("--jobs", type=int, default=1, help="runs at a time (default 1)")
    measure.add_argument("--save", type=Path, help="write every run's text outputs to this JSON file")
    measure.add_argument("notebook", type=Path)
    args, extra = parser.parse_known_args(argv)
    if args.command == "nbval":
        return nbval(args.paths, args.settings, extra)
    if extra:
        parser.error(f"unrecognised arguments: {' '.join(extra)}")
    return spread(args.notebook, args.settings, args.replace, max(args.jobs, 1), args.save)


if __name__ == "__main__":
    raise SystemExit(main())
