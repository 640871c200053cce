"""Reproduce lab 04's files: the training recipe measured one option at a time.

    .venv/bin/python -m aelab.assets.make_lab04                # all runs, 5 worker processes
    .venv/bin/python -m aelab.assets.make_lab04 --workers 2

runs the study of :mod:`aelab.course.lab04` (:func:`aelab.course.lab04.make`: every run, its scores
and the shipped weights), writes ``results.json``, ``baseline.pt`` and ``masked_training.pt`` into
``lab04/`` of the assets folder (:func:`aelab.assets.root`) and prints their SHA-256 and sizes beside
the manifest's (``--write-manifest`` records them). This command only runs the recipe.
"""

from __future__ import annotations

import sys

from aelab import assets
from aelab.course import lab04


def main(argv: list[str]) -> int:
    args = assets.arguments("lab04", argv, workers=5, about=__doc__.splitlines()[0])
    for name, content in lab04.make(args.workers).items():
        assets.save(
            f"lab04/{name}", content, command="python -m aelab.assets.make_lab04", write_manifest=args.write_manifest
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
