"""Reproduce lab 06's feature network: the network whose features the realism metrics compare.

    .venv/bin/python -m aelab.assets.make_lab06

writes ``features.pt`` into ``lab06/`` of the assets folder (:func:`aelab.assets.root`) and prints its
SHA-256 and size beside the manifest's (``--write-manifest`` records them). The recipe and the file's
contents are :mod:`aelab.course.lab06`'s; this command only runs it, on one torch thread.
"""

from __future__ import annotations

import sys

import torch

from aelab import assets
from aelab.course import lab06


def main(argv: list[str]) -> int:
    args = assets.arguments("lab06", argv, about=__doc__.splitlines()[0])
    torch.set_num_threads(1)
    assets.save(
        "lab06/features.pt",
        lab06.make_features(),
        command="python -m aelab.assets.make_lab06",
        write_manifest=args.write_manifest,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
