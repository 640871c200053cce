"""Reproduce lab 03's warm-start files: DF and LIAE trained on SynthFaces A (src) and B (dst), and the
factor reader that scores their swaps.

    .venv/bin/python -m aelab.assets.make_lab03            # all three
    .venv/bin/python -m aelab.assets.make_lab03 reader     # or some of: df liae reader

writes ``df.pt``, ``liae.pt`` and ``reader.pt`` into ``lab03/`` of the assets folder
(:func:`aelab.assets.root`) and prints their SHA-256 and sizes beside the manifest's
(``--write-manifest`` records them). The recipe and the files' contents are
:mod:`aelab.course.lab03`'s; this command only runs it. Everything runs on one torch thread with fixed
seeds: the bytes repeat with the same torch version and the same aelab code (thread count and kernels
change float rounding).
"""

from __future__ import annotations

import sys

import torch

from aelab import assets
from aelab.course import lab03


def main(argv: list[str]) -> int:
    args = assets.arguments("lab03", argv, lab03.FILES, about=__doc__.splitlines()[0])
    torch.set_num_threads(1)
    for name in args.targets:
        assets.save(
            f"lab03/{name}.pt",
            lab03.make(name),
            command=f"python -m aelab.assets.make_lab03 {name}",
            write_manifest=args.write_manifest,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
