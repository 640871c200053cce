"""Small files the labs need and the kit cannot download: trained checkpoints, shipped as package data.

Each lab's files live in ``aelab/assets/<labNN>/`` inside the installed package, so a notebook finds
them wherever it runs -- a clone, a wheel install, nbgrader's course tree, a grading sandbox. Each set
is made by one committed command, ``python -m aelab.assets.make_<labNN>``, which prints the files'
SHA-256; the lab checks them with :func:`verify` before it loads anything.

Set ``AELAB_ASSETS`` to a folder laid out the same way (``<folder>/<labNN>/<file>``) to use other
copies (a course server's shared disk, say).
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = ["root", "path", "sha256", "verify", "make_one", "AssetError"]

#: The environment variable that points at another assets folder.
ENV = "AELAB_ASSETS"


class AssetError(FileNotFoundError):
    """A shipped file is missing or is not the file its lab expects."""


def root() -> Path:
    """The assets folder in use: ``$AELAB_ASSETS`` if set, else the one inside the package."""
    override = os.environ.get(ENV)
    return Path(override).expanduser() if override else Path(__file__).resolve().parent


def path(name: str) -> Path:
    """The path of the asset ``name`` (e.g. ``"lab03/liae.pt"``); AssetError if it is not there."""
    if not isinstance(name, str) or not name or name.startswith(("/", "\\")) or ".." in Path(name).parts:
        raise ValueError(f"asset name must be a relative path such as 'lab03/liae.pt', got {name!r}")
    found = root() / name
    if not found.is_file():
        where = f"${ENV}={os.environ[ENV]}" if os.environ.get(ENV) else "the installed aelab package"
        raise AssetError(
            f"asset {name!r} not found in {where} ({found}); reinstall aelab, unset {ENV}, or remake it "
            f"with: python -m aelab.assets.make_{Path(name).parts[0]}"
        )
    return found


def sha256(file: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with open(file, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(name: str, expected_sha256: str) -> Path:
    """The path of asset ``name`` after checking that its SHA-256 is ``expected_sha256``.

    Raises AssetError naming the file, both digests and the command that remakes it.
    """
    found = path(name)
    actual = sha256(found)
    if actual != expected_sha256:
        raise AssetError(
            f"{found} has SHA-256 {actual}, expected {expected_sha256}: the file is corrupt or from another "
            f"version of the kit; reinstall aelab or remake it with: python -m aelab.assets.make_{Path(name).parts[0]}"
        )
    return found


def make_one(argv: list[str], name: str, make: Callable[[], object]) -> int:
    """The ``main`` of a ``make_<labNN>`` command that writes one file: with no arguments in ``argv``,
    run ``make()`` on one torch thread, ``torch.save`` what it returns as asset ``name`` (e.g.
    ``"lab01/models.pt"``) under :func:`root`, print its SHA-256 and return 0; else print the usage, 2.
    """
    if argv:
        print(f"usage: python -m aelab.assets.make_{Path(name).parts[0]} (no arguments)", file=sys.stderr)
        return 2
    import torch  # only the commands that make files need it

    torch.set_num_threads(1)
    target = root() / name
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.save(make(), target)
    print(f"{sha256(target)}  {target.name}")
    return 0
