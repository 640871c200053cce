"""Reproduce lab 05's files: lab 03's LIAE fine-tuned with every ct_mode under a lighting change, and
with DeepFaceLab's patch GAN; their scores against the true swap, and their swaps.

    .venv/bin/python -m aelab.assets.make_lab05                # 2 worker processes
    .venv/bin/python -m aelab.assets.make_lab05 --workers 4

runs :func:`aelab.course.lab05.make` (the recipe and the files' contents are :mod:`aelab.course.lab05`'s;
this command only runs it), writes ``ct.json``, ``ct_swaps.pt``, ``gan.json`` and ``swaps.pt`` into
``lab05/`` of the assets folder (:func:`aelab.assets.root`) and prints their SHA-256 and sizes beside the
manifest's (``--write-manifest`` records them).
"""

from __future__ import annotations

import sys

from aelab import assets
from aelab.course import lab05


def main(argv: list[str]) -> int:
    args = assets.arguments("lab05", argv, workers=2, about=__doc__.splitlines()[0])
    for name, content in lab05.make(args.workers).items():
        assets.save(
            f"lab05/{name}", content, command="python -m aelab.assets.make_lab05", write_manifest=args.write_manifest
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
