"""Reproduce lab 07's files: the four upsampling autoencoders, the blend-boundary detector and its control.

    .venv/bin/python -m aelab.assets.make_lab07             # all six
    .venv/bin/python -m aelab.assets.make_lab07 blend       # or some of: pixel_shuffle transposed nearest
                                                            #   bilinear blend blend_control

writes ``ae_<kind>.pt``, ``blend.pt`` and ``blend_control.pt`` into ``lab07/`` of the assets folder
(:func:`aelab.assets.root`) and prints their SHA-256 and sizes beside the manifest's
(``--write-manifest`` records them). The recipe and the files' contents are :mod:`aelab.course.lab07`'s;
this command only runs it, on one torch thread.
"""

from __future__ import annotations

import sys

import torch

from aelab import assets
from aelab.course import lab07


def main(argv: list[str]) -> int:
    args = assets.arguments("lab07", argv, tuple(lab07.FILES), about=__doc__.splitlines()[0])
    torch.set_num_threads(1)
    for target in args.targets:
        assets.save(
            f"lab07/{lab07.FILES[target]}",
            lab07.make(target),
            command=f"python -m aelab.assets.make_lab07 {target}",
            write_manifest=args.write_manifest,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
