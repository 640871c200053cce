"""``aelab export otter SOLUTION --out DIR``: a solution notebook as an otter-grader assignment.

::

    aelab export otter tests/fixtures/demo_solution.ipynb --out otter/
    otter generate -t otter/tests -o otter/autograder.zip --no-requirements --no-environment --no-config
    otter run -a otter/autograder.zip -o results/ alice.ipynb        # no Docker: runs here

writes

- ``DIR/<name>.ipynb``: the student notebook (as ``aelab make-labs`` writes it);
- ``DIR/tests/<grade_id>.py``: one otter test file per check cell, in otter's *exception-based*
  format (``OK_FORMAT = False``): each call to a check becomes a test case that calls its
  ``require``, which raises :class:`~aelab.checks.CheckFailed` for any failure, and that is what
  fails an otter test case. The calls between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``
  become hidden test cases; a check cell's points are shared equally by its calls, as ``aelab grade`` shares them.

Written answers (graded by hand) have no test file: give their points in otter's manual grading,
or use ``aelab grade``, which collects them (see docs/instructors.md).
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

import nbformat

from aelab import notebooks
from aelab.checks import load_checks

__all__ = ["main", "otter_tests", "write_otter"]


class _FromEnvironment(ast.NodeTransformer):
    """Rewrite every name a call reads into ``env["name"]``: otter hands a test case the notebook's
    global namespace as ``env``."""

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if not isinstance(node.ctx, ast.Load):
            return node
        return ast.copy_location(ast.Subscript(ast.Name("env", ast.Load()), ast.Constant(node.id), ast.Load()), node)


def _case(call: notebooks.CheckCall, number: int, points: float) -> str:
    """The test case of one check call: a function of the notebook's namespace that calls the check."""
    copy = ast.parse(ast.unparse(call.call), mode="eval").body
    assert isinstance(copy, ast.Call)
    rewrite = _FromEnvironment()
    arguments = [rewrite.visit(arg) for arg in copy.args]
    keywords = [ast.keyword(k.arg, rewrite.visit(k.value)) for k in copy.keywords]
    strict = ast.Attribute(ast.Name(call.check, ast.Load()), "require", ast.Load())  # raises: fails the case
    rewritten = ast.fix_missing_locations(ast.Call(strict, arguments, keywords))
    return (
        f"@test_case(points={points:g}, hidden={call.hidden})\n"
        f"def {call.check}_{number}(env):\n"
        f"    {ast.unparse(rewritten)}\n"
    )


def otter_tests(solution: Path) -> dict[str, str]:
    """The otter test files of a solution notebook: grade_id -> the file's text.

    Raises :class:`~aelab.notebooks.NotebookError` for a solution that breaks the kit's conventions.
    """
    notebook = notebooks.read_notebook(solution)
    registry = load_checks()
    files = {}
    for exercise in notebooks.lint(notebook):
        if exercise.kind != "grade":
            continue
        calls = notebooks.check_calls(notebook.cells[exercise.cell])
        share = (exercise.points or 0.0) / len(calls)
        modules = sorted({(registry[call.check]._probe.__module__, call.check) for call in calls})
        imports = "\n".join(f"from {module} import {name}" for module, name in modules)
        cases = "\n\n".join(_case(call, number, share) for number, call in enumerate(calls, 1))
        files[exercise.grade_id] = (
            f'"""{exercise.grade_id}: {exercise.points:g} points; exported by `aelab export otter` from '
            f'{solution.name}."""\n\n'
            f"from otter.test_files import test_case\n\n{imports}\n\n"
            f"OK_FORMAT = False\n\nname = {exercise.grade_id!r}\npoints = {exercise.points:g}\n\n\n{cases}"
        )
    return files


def write_otter(solution: Path, out: Path) -> list[Path]:
    """Write the student notebook and the otter tests of ``solution`` into ``out``; return the files."""
    tests = otter_tests(solution)
    (out / "tests").mkdir(parents=True, exist_ok=True)
    written = [out / solution.name]
    nbformat.write(notebooks.make_lab(solution), written[0])
    for grade_id, text in tests.items():
        written.append(out / "tests" / f"{grade_id}.py")
        written[-1].write_text(text, encoding="utf-8")
    return written


def main(argv: list[str]) -> int:
    """The ``aelab export`` command; returns 0 when written, 2 for an unusable solution or options."""
    parser = argparse.ArgumentParser(
        prog="aelab export",
        description="Export a solution notebook to another grading tool (otter-grader).",
    )
    parser.add_argument("tool", choices=["otter"], help="the tool to export to")
    parser.add_argument("solution", type=Path, help="the solution notebook (with its hidden tests)")
    parser.add_argument("--out", type=Path, required=True, help="the folder to write the assignment into")
    args = parser.parse_args(argv)
    try:
        files = write_otter(args.solution, args.out)
    except notebooks.NotebookError as exc:
        print(f"aelab export: {exc}", file=sys.stderr)
        return 2
    print("\n".join(f"wrote {path}" for path in files))
    print(
        f"next: otter generate -t {args.out / 'tests'} -o {args.out / 'autograder.zip'} --no-requirements "
        "--no-environment --no-config"
    )
    return 0
