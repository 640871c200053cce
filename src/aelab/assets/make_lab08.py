"""Reproduce lab 08's files: the benchmark's five models trained from three seeds on one budget, and
what the lab reads of them.

    .venv/bin/python -m aelab.assets.make_lab08              # everything
    .venv/bin/python -m aelab.assets.make_lab08 h128 results # or some of: h128 liae_ud ae seeds results

- ``h128``, ``liae_ud``, ``ae``: ``h128.pt``, ``liae_ud.pt`` and ``ae.pt`` in ``lab08/`` of the assets
  folder (:func:`aelab.assets.root`), the three models trained from seed 0 that lab 03 does not ship
  (the benchmark's DF and LIAE from seed 0 are lab 03's ``df.pt`` and ``liae.pt``, made by
  ``python -m aelab.assets.make_lab03`` with this very budget, so they are not shipped twice).
- ``seeds``: the five models trained from the other seeds of :data:`aelab.course.lab08.SEEDS`, into
  ``runs/lab08/<stem>-seed<k>.pt`` under the working folder (not shipped; a file already there is kept).
- ``results``: ``results.json`` in ``lab08/`` (:func:`aelab.course.lab08.make_results`).

The recipe and the files' contents are :mod:`aelab.course.lab08`'s; this command only runs it, on one
torch thread. It prints each shipped file's SHA-256 and size beside the manifest's (``--write-manifest``
records them), and each training's CPU seconds per step (a figure of the machine, kept out of the files).
"""

from __future__ import annotations

import sys

import torch

from aelab import assets
from aelab.course import lab08

#: The shipped models from seed 0: target -> model name.
TARGETS = {"h128": "H128", "liae_ud": "LIAE-ud", "ae": "AE"}


def _train(name: str, seed: int, write_manifest: bool) -> None:
    saved, seconds = lab08.make_model(name, seed)
    if seed == 0:
        stem = lab08.STEMS[name]
        assets.save(
            f"lab08/{stem}.pt",
            saved,
            command=f"python -m aelab.assets.make_lab08 {stem}",
            write_manifest=write_manifest,
        )
    else:
        path = lab08.checkpoint(name, seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(saved, path)
        print(f"{assets.sha256(path)}  {path}", flush=True)
    print(f"{name} from seed {seed}: {1000 * seconds:.0f} CPU-ms per step", flush=True)


def main(argv: list[str]) -> int:
    args = assets.arguments("lab08", argv, (*TARGETS, "seeds", "results"), about=__doc__.splitlines()[0])
    torch.set_num_threads(1)
    for target in args.targets:
        if target in TARGETS:
            _train(TARGETS[target], 0, args.write_manifest)
        elif target == "seeds":
            for seed in lab08.SEEDS[1:]:
                for name in lab08.STEMS:
                    if not lab08.checkpoint(name, seed).is_file():
                        _train(name, seed, args.write_manifest)
        else:
            assets.save(
                "lab08/results.json",
                lab08.make_results(),
                command="python -m aelab.assets.make_lab08 results",
                write_manifest=args.write_manifest,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
