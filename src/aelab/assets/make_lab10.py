"""Reproduce lab 10's files: the watermark extractor and LIAE's signed decoder (the recipe is
:mod:`aelab.course.lab10`; this command only runs it).

    .venv/bin/python -m aelab.assets.make_lab10              # both, in order
    .venv/bin/python -m aelab.assets.make_lab10 signed       # or one of: extractor signed

writes ``extractor.pt`` and ``signed.pt`` into ``lab10/`` of the assets folder (:func:`aelab.assets.root`)
and prints their SHA-256 (compare with ``lab10/README.md``). ``signed`` reads ``lab03/liae.pt`` and
``lab10/extractor.pt``. One torch thread, fixed seeds: the bytes repeat with the same torch version and
the same aelab code. Each file holds tensors, numbers and strings only (``torch.load(path,
weights_only=True)``).
"""

from __future__ import annotations

import sys

import torch

from aelab import assets
from aelab.course import lab10

#: The files, in the order they are made.
FILES = ("extractor", "signed")


def _load(name: str) -> dict:
    return torch.load(assets.path(name), weights_only=True)


def main(argv: list[str]) -> int:
    unknown = [name for name in argv if name not in FILES]
    if unknown:
        print(f"usage: python -m aelab.assets.make_lab10 [{' '.join(FILES)}]; unknown: {' '.join(unknown)}",
              file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    makers = {"extractor": lab10.extractor_file,
              "signed": lambda: lab10.signed_file(_load("lab03/liae.pt"), _load("lab10/extractor.pt"))}
    for name in argv or list(FILES):
        path = assets.root() / "lab10" / f"{name}.pt"
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(makers[name](), path)
        print(f"{assets.sha256(path)}  {path.name}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
