"""The ``aelab`` command. Each verb lives in its own module of :mod:`aelab.commands` (``grade``: in
:mod:`aelab.grade`) and is imported only when used, so that ``aelab make-labs --check`` does not pay
for importing torch. The kit's threading policy (:mod:`aelab.threads`) is applied before a verb is
imported.

Every verb module exposes ``main(argv: list[str]) -> int``.
"""

from __future__ import annotations

import importlib
import sys

from aelab import threads

#: verb -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "make-labs": ("aelab.commands.make_labs", "write labs/ from solutions/ (--check: fail if labs/ is stale)"),
    "grade": ("aelab.grade", "grade student notebooks against a solution, each in its own sandbox"),
    "gradebook": (
        "aelab.grade.gradebook",
        "gather every lab's grades by student; write Canvas and Moodle import files",
    ),
    "export": ("aelab.commands.export", "export a solution notebook to otter-grader (tests and student notebook)"),
    "summary": ("aelab.commands.summary", "print a model's per-part parameter table, like DeepFaceLab's summary.txt"),
    "train": (
        "aelab.commands.train",
        "train a SAEHD model in a run folder (resumes; previews, history, backups; torchrun)",
    ),
    "bench": ("aelab.commands.bench", "print the kit's speed figures (faces/s, training step, FLOP ratio)"),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: aelab <command> [options]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "Run 'aelab <command> --help' for the options of one command."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"aelab: unknown command {name!r}; known commands: {', '.join(COMMANDS)}\n", file=sys.stderr)
        print(_usage(), file=sys.stderr)
        return 2
    threads.apply()  # before a verb imports torch (aelab.threads)
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
