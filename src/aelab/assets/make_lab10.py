"""Reproduce lab 10's files: the watermark extractor and LIAE's signed decoder.

    .venv/bin/python -m aelab.assets.make_lab10              # both, in order
    .venv/bin/python -m aelab.assets.make_lab10 signed       # or one of: extractor signed

writes ``extractor.pt`` and ``signed.pt`` into ``lab10/`` of the assets folder (:func:`aelab.assets.root`)
and prints their SHA-256 and sizes beside the manifest's (``--write-manifest`` records them). The recipe
and the files' contents are :mod:`aelab.course.lab10`'s; this command only runs it, on one torch thread.
``signed`` reads ``lab03/liae.pt`` and ``lab10/extractor.pt``.
"""

from __future__ import annotations

import sys

import torch

from aelab import assets
from aelab.course import lab10


def main(argv: list[str]) -> int:
    args = assets.arguments("lab10", argv, lab10.FILES, about=__doc__.splitlines()[0])
    torch.set_num_threads(1)
    for name in args.targets:
        assets.save(
            f"lab10/{name}.pt",
            lab10.make(name),
            command=f"python -m aelab.assets.make_lab10 {name}",
            write_manifest=args.write_manifest,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
