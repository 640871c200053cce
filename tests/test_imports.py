"""The direction of imports inside src/aelab, enforced: the layer table of docs/DEVELOPING.md ("Map of
the modules") puts every module of aelab in one layer, and a module imports -- at the top or inside a
function -- only from its own layer or the ones below; no module imports in a cycle."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import aelab

ROOT = Path(aelab.__file__).parent
#: The layers, bottom to top: a module or package (with everything inside it) per entry.
LAYERS: dict[str, tuple[str, ...]] = {
    # what everything stands on: argument checks, statistics, devices and threads, printed figures,
    # and drawn figures (plotting imports validate and stats only, so the run folder may draw)
    "foundation": (
        "aelab",
        "aelab.validate",
        "aelab.stats",
        "aelab.runtime",
        "aelab.threads",
        "aelab.report",
        "aelab.plotting",
    ),
    "data": ("aelab.data",),
    "models": ("aelab.models",),
    "ops": ("aelab.losses", "aelab.augment", "aelab.color", "aelab.optim"),
    "training": ("aelab.train", "aelab.fitting", "aelab.distributed", "aelab.runfolder"),
    "analysis": (
        "aelab.metrics",
        "aelab.latent",
        "aelab.featurenet",
        "aelab.realism",
        "aelab.appearance",
        "aelab.merge",
        "aelab.forensics",
        "aelab.provenance",
        "aelab.scorecard",
    ),
    # each lab's recipe, its files, its checks, solutions -> labs, the grader, the course's tools
    "course": (
        "aelab.course",
        "aelab.assets",
        "aelab.checks",
        "aelab.notebooks",
        "aelab.grade",
        "aelab.portable",
        "aelab.speed",
        "aelab.kernel",
    ),
    "interface": ("aelab.commands", "aelab.cli"),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def _imports(name: str) -> set[str]:
    """The kit's modules that ``name`` imports anywhere in its source (top level or inside a function)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            # `from aelab import losses` imports a module; `from aelab.losses import ssim` the module itself
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        found.update(target for target in targets if target in MODULES and target != name)
    return found


GRAPH = {name: _imports(name) for name in MODULES}


def _in(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def _cycle() -> list[str] | None:
    """One import cycle between different packages' modules, or None. A package's ``__init__`` that
    re-exports its own submodules is not a cycle with them (Python imports the package first)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def edges(name: str) -> list[str]:
        return [
            t for t in sorted(GRAPH[name]) if not (MODULES[name].name == "__init__.py" and t.startswith(name + "."))
        ]

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        stack.append(name)
        for target in edges(name):
            if state.get(target) == 1:
                return stack[stack.index(target) :] + [target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[name] = 2
        return None

    for name in sorted(MODULES):
        if name not in state and (found := visit(name)):
            return found
    return None


def test_the_graph_sees_the_imports() -> None:
    assert "aelab.models.deepfakearchi" in GRAPH["aelab.models.saehd"]
    assert "aelab.losses" in GRAPH["aelab.train.trainer"]
    assert "aelab.validate" in GRAPH["aelab.losses"]


def test_no_module_imports_in_a_cycle() -> None:
    cycle = _cycle()
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def layer(name: str) -> int:
    """The layer of a module (its index in :data:`LAYERS`): the most specific entry that holds it."""
    found = [
        (len(entry), index)
        for index, entries in enumerate(LAYERS.values())
        for entry in entries
        if name == entry or (entry != "aelab" and name.startswith(entry + "."))
    ]
    if not found:
        raise KeyError(f"{name} is in no layer: add it to LAYERS and to docs/DEVELOPING.md's map")
    return max(found)[1]


def test_every_module_is_in_a_layer_and_every_entry_is_a_module() -> None:
    placed = {
        name: any(name == e or (e != "aelab" and name.startswith(e + ".")) for es in LAYERS.values() for e in es)
        for name in MODULES
    }
    missing = [name for name, found in placed.items() if not found]
    assert not missing, f"add these modules to LAYERS and to docs/DEVELOPING.md's map: {missing}"
    entries = [entry for entries in LAYERS.values() for entry in entries]
    assert len(entries) == len(set(entries)), "an entry is in two layers"
    assert not [entry for entry in entries if entry not in MODULES], "an entry names no module or package"


def test_no_module_imports_from_a_higher_layer() -> None:
    names = list(LAYERS)
    upward = {
        f"{name} ({names[layer(name)]})": [
            f"{t} ({names[layer(t)]})" for t in sorted(GRAPH[name]) if layer(t) > layer(name)
        ]
        for name in MODULES
    }
    assert not {name: targets for name, targets in upward.items() if targets}


def test_the_table_places_modules_as_documented() -> None:
    assert layer("aelab") == 0 and layer("aelab.data.faces") == 1 and layer("aelab.forensics.spectra") == 5
    assert layer("aelab.course.lab08") == layer("aelab.grade.results") == 6 and layer("aelab.commands.bench") == 7
    assert "aelab.plotting" in GRAPH["aelab.runfolder"] and layer("aelab.plotting") < layer("aelab.runfolder")


def test_asset_commands_only_run_their_lab_s_recipe_and_nothing_imports_them() -> None:
    """``python -m aelab.assets.make_labNN`` parses its arguments and runs ``aelab.course.labNN``; the
    checks, the notebooks and the tests import recipes from aelab.course, never from an asset command."""
    commands = [name for name in MODULES if name.startswith("aelab.assets.make_")]
    assert len(commands) == 10
    for name in commands:
        lab = name.rpartition("make_")[2]
        assert GRAPH[name] == {"aelab.assets", f"aelab.course.{lab}"}, name
    assert not [name for name in MODULES if GRAPH[name] & set(commands)]
    solutions = sorted((ROOT.parents[1] / "solutions").glob("*.ipynb"))
    tests = sorted(Path(__file__).parent.glob("*.py"))
    imports = re.compile(r"(from|import) aelab\.assets(\.make_| import [\w, ]*make_)")
    assert solutions and not [
        path.name for path in solutions + tests if imports.search(path.read_text(encoding="utf-8"))
    ]
