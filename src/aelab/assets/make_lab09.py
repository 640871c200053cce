"""Reproduce lab 09's file: the CNN detectors it attacks and defends, three kinds from three seeds.

    .venv/bin/python -m aelab.assets.make_lab09

writes ``detectors.pt`` into ``lab09/`` of the assets folder (:func:`aelab.assets.root`) and prints its
SHA-256 and size beside the manifest's (``--write-manifest`` records them). The recipe and the file's
contents are :mod:`aelab.course.lab09`'s (:func:`aelab.course.lab09.make_detectors`); this command only
runs it. One torch thread, fixed seeds: the bytes repeat with the same torch version and aelab code.
"""

from __future__ import annotations

import sys

import torch

from aelab import assets
from aelab.course import lab09


def main(argv: list[str]) -> int:
    args = assets.arguments("lab09", argv, about=__doc__.splitlines()[0])
    torch.set_num_threads(1)
    assets.save(
        "lab09/detectors.pt",
        lab09.make_detectors(),
        command="python -m aelab.assets.make_lab09",
        write_manifest=args.write_manifest,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
