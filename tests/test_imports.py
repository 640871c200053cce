"""The direction of imports inside src/aelab (docs/DEVELOPING.md, "Map of the modules"): no module
imports in a cycle, lazily or not, and the library never imports the course tooling."""

from __future__ import annotations

import ast
from pathlib import Path

import aelab

ROOT = Path(aelab.__file__).parent
#: Course tooling: what students and instructors run around the library, never imported by it.
TOOLING = ("aelab.checks", "aelab.notebooks", "aelab.kernel", "aelab.grade")
#: The command line sits on top of everything.
TOP = ("aelab.cli", "aelab.commands")


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
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
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
        return [t for t in sorted(GRAPH[name]) if not (MODULES[name].name == "__init__.py" and t.startswith(name + "."))]

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        stack.append(name)
        for target in edges(name):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
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


def test_the_library_never_imports_the_course_tooling() -> None:
    library = [name for name in MODULES if not _in(name, TOOLING + TOP)]
    wrong = {name: sorted(t for t in GRAPH[name] if _in(t, TOOLING + TOP)) for name in library}
    assert not {name: targets for name, targets in wrong.items() if targets}


def test_only_the_course_tooling_and_the_asset_commands_import_the_course() -> None:
    # the course (a lab's recipe) sits on the library; the library never reads a lab's recipe
    allowed = TOOLING + TOP + ("aelab.course", "aelab.assets")
    wrong = {name: sorted(t for t in GRAPH[name] if _in(t, ("aelab.course",)))
             for name in MODULES if not _in(name, allowed)}
    assert not {name: targets for name, targets in wrong.items() if targets}
