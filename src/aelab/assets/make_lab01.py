"""Reproduce lab 01's file: the autoencoders its loss comparison and its rate-distortion curve load.

    .venv/bin/python -m aelab.assets.make_lab01

writes ``models.pt`` into ``lab01/`` of the assets folder (:func:`aelab.assets.root`) and prints its
SHA-256 and size beside the manifest's (``--write-manifest`` records them). The recipe and the file's
contents are :mod:`aelab.course.lab01`'s; this command only runs it. One torch thread, fixed seeds: the
bytes repeat with the same torch version and the same aelab code.
"""

from __future__ import annotations

import sys

import torch

from aelab import assets
from aelab.course import lab01


def main(argv: list[str]) -> int:
    args = assets.arguments("lab01", argv, about=__doc__.splitlines()[0])
    torch.set_num_threads(1)
    assets.save(
        "lab01/models.pt",
        lab01.make_models(),
        command="python -m aelab.assets.make_lab01",
        write_manifest=args.write_manifest,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
