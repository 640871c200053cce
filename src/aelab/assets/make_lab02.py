"""Reproduce lab 02's file: the plain autoencoder and the VAE whose code spaces the lab explores.

    .venv/bin/python -m aelab.assets.make_lab02

writes ``models.pt`` into ``lab02/`` of the assets folder (:func:`aelab.assets.root`) and prints its
SHA-256 and size beside the manifest's (``--write-manifest`` records them). The recipe and the file's
contents are :mod:`aelab.course.lab02`'s; this command only runs it. One torch thread, fixed seeds: the
bytes repeat with the same torch version and the same aelab code.
"""

from __future__ import annotations

import sys

import torch

from aelab import assets
from aelab.course import lab02


def main(argv: list[str]) -> int:
    args = assets.arguments("lab02", argv, about=__doc__.splitlines()[0])
    torch.set_num_threads(1)
    assets.save(
        "lab02/models.pt",
        lab02.make_models(),
        command="python -m aelab.assets.make_lab02",
        write_manifest=args.write_manifest,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
