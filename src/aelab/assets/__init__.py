"""Small files the labs need and the kit cannot download: trained checkpoints, shipped as package data.

Each lab's files live in ``aelab/assets/<labNN>/`` inside the installed package, so a notebook finds
them wherever it runs -- a clone, a wheel install, nbgrader's course tree, a grading sandbox. One
manifest, ``aelab/assets/manifest.json``, lists every shipped file: its name (``"lab03/liae.pt"``) ->
``sha256``, ``size`` in bytes and the ``command`` that makes it. :func:`verified` checks a file
against its entry before anything reads it, and :func:`load` reads it (``torch.load(...,
weights_only=True)`` for ``.pt``, :mod:`json` for ``.json``).

Each lab's files are made by one committed command, ``python -m aelab.assets.make_<labNN>``, which
runs the lab's recipe (:mod:`aelab.course`) and writes the files with :func:`save`: it prints each
file's SHA-256 and size and whether they are the manifest's; with ``--write-manifest`` it also records
them as the manifest's entries (:func:`arguments`).

Set ``AELAB_ASSETS`` to a folder laid out the same way (``<folder>/<labNN>/<file>``) to use other
copies (a course server's shared disk, say); they are checked against the same manifest.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "ENV",
    "MANIFEST",
    "AssetError",
    "root",
    "path",
    "sha256",
    "manifest",
    "verified",
    "load",
    "save",
    "arguments",
]

#: The environment variable that points at another assets folder.
ENV = "AELAB_ASSETS"
#: The manifest of every shipped file (package data beside this module).
MANIFEST = Path(__file__).resolve().parent / "manifest.json"


class AssetError(FileNotFoundError):
    """A shipped file is missing or is not the file its lab expects."""


def root() -> Path:
    """The assets folder in use: ``$AELAB_ASSETS`` if set, else the one inside the package."""
    override = os.environ.get(ENV)
    return Path(override).expanduser() if override else Path(__file__).resolve().parent


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name or name.startswith(("/", "\\")) or ".." in Path(name).parts:
        raise ValueError(f"asset name must be a relative path such as 'lab03/liae.pt', got {name!r}")
    return name


def manifest() -> dict[str, dict[str, Any]]:
    """The manifest: asset name -> ``{"sha256", "size", "command"}``."""
    return json.loads(MANIFEST.read_text(encoding="utf-8"))


def _command(name: str) -> str:
    entry = manifest().get(name)
    return entry["command"] if entry else f"python -m aelab.assets.make_{Path(name).parts[0]}"


def path(name: str) -> Path:
    """The path of the asset ``name`` (e.g. ``"lab03/liae.pt"``) under :func:`root`, unchecked;
    AssetError if it is not there."""
    found = root() / _check_name(name)
    if not found.is_file():
        where = f"${ENV}={os.environ[ENV]}" if os.environ.get(ENV) else "the installed aelab package"
        raise AssetError(
            f"asset {name!r} not found in {where} ({found}); reinstall aelab, unset {ENV}, or remake it "
            f"with: {_command(name)}"
        )
    return found


def sha256(file: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with open(file, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verified(name: str) -> Path:
    """The path of asset ``name`` after checking its size and SHA-256 against the manifest.

    Raises AssetError naming the file, both digests and the command that remakes it.
    """
    entry = manifest().get(_check_name(name))
    if entry is None:
        raise AssetError(
            f"asset {name!r} is not in the manifest ({MANIFEST}); the shipped files are: "
            f"{', '.join(sorted(manifest()))}"
        )
    found = path(name)
    size, actual = found.stat().st_size, sha256(found)
    if size != entry["size"] or actual != entry["sha256"]:
        raise AssetError(
            f"{found} has SHA-256 {actual} ({size} bytes), the manifest expects {entry['sha256']} ({entry['size']} "
            f"bytes): the file is corrupt or from another version of the kit; reinstall aelab or remake it with: "
            f"{entry['command']}"
        )
    return found


def load(name: str) -> Any:
    """The contents of asset ``name`` after :func:`verified`: ``torch.load(..., weights_only=True)`` of a
    ``.pt`` file (tensors, numbers and strings only), :func:`json.loads` of a ``.json`` file."""
    found = verified(name)
    if found.suffix == ".json":
        return json.loads(found.read_text(encoding="utf-8"))
    import torch  # the assets that are not JSON are torch files

    return torch.load(found, weights_only=True)


def save(name: str, content: Any, *, command: str, write_manifest: bool = False) -> Path:
    """Write asset ``name`` under :func:`root`: ``content`` as text if it is a string (a JSON file's
    text), else ``torch.save`` of it. Print its SHA-256, size and whether the manifest has them; with
    ``write_manifest``, record them (and ``command``, the command that made it) as its manifest entry."""
    target = root() / _check_name(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        target.write_text(content, encoding="utf-8")
    else:
        import torch  # only the commands that make files need it

        torch.save(content, target)
    entry = {"sha256": sha256(target), "size": target.stat().st_size, "command": command}
    known = manifest()
    same = known.get(name, {}).get("sha256") == entry["sha256"]
    print(
        f"{entry['sha256']}  {name}  {entry['size']} bytes  ({'as in' if same else 'not as in'} the manifest)",
        flush=True,
    )
    if write_manifest:
        known[name] = entry
        MANIFEST.write_text(json.dumps(dict(sorted(known.items())), indent=1) + "\n", encoding="utf-8")
    return target


def arguments(
    lab: str, argv: Sequence[str], targets: Sequence[str] = (), *, workers: int | None = None, about: str = ""
) -> argparse.Namespace:
    """The command line of ``python -m aelab.assets.make_<lab>``: the ``targets`` to make (none given:
    all of them, in order), ``--write-manifest`` and, where ``workers`` is a default, ``--workers N``.
    Exits with status 2 and the usage on a wrong argument."""
    parser = argparse.ArgumentParser(prog=f"python -m aelab.assets.make_{lab}", description=about)
    if targets:
        parser.add_argument(
            "targets", nargs="*", metavar="target", help=f"what to make (default: all, in order): {' '.join(targets)}"
        )
    if workers is not None:
        parser.add_argument("--workers", type=int, default=workers, help=f"worker processes (default {workers})")
    parser.add_argument(
        "--write-manifest",
        action="store_true",
        help="record the new files' SHA-256 and sizes in aelab/assets/manifest.json",
    )
    args = parser.parse_args(list(argv))
    if targets:
        unknown = [name for name in args.targets if name not in targets]
        if unknown:
            parser.error(f"unknown target {' '.join(unknown)}; choose from: {' '.join(targets)}")
        args.targets = args.targets or list(targets)
    return args
