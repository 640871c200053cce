"""Checkpoint folders: one file per part as DeepFaceLab saves them, a manifest of SHA-256, and loading
that never unpickles objects.

DeepFaceLab writes ``<model>_encoder.npy``, ``<model>_inter_AB.npy`` ..., ``<model>_src_dst_opt.npy``,
``<model>_data.dat`` (options, iteration, loss history) and ``<model>_summary.txt``
(``ModelBase.save``). The kit writes the same parts as ``.pt`` state dicts, the config as JSON, and a
``manifest.json`` that lists every file's SHA-256, so a corrupt or edited file is named on loading.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path
from typing import Any

import torch

from aelab.train.config import Config

__all__ = ["FORMAT", "MANIFEST", "write", "read_manifest", "load_tensors", "sha256"]

#: v2: DeepFaceLab's recipe at 46fc239 (its option names, the samplers' epochs in trainer_state.pt);
#: a v1 folder (the kit's earlier recipe) is refused with this name in the message.
FORMAT = "aelab.train checkpoint v2"
MANIFEST = "manifest.json"


def sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, as hex."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write(
    folder: str | Path,
    parts: dict[str, Any],
    state: dict[str, Any],
    config: Config,
    history: dict[str, list[float]],
    summary: str,
) -> Path:
    """Write a checkpoint folder: each of ``parts`` (modules or optimisers, by DeepFaceLab's names) as
    ``<name>.pt``, ``state`` as ``trainer_state.pt``, ``config.json``, ``history.json``, ``summary.txt``
    and ``manifest.json`` (format, archi, the parts' names, every file's SHA-256). Returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, part in parts.items():
        torch.save(part.state_dict(), folder / f"{name}.pt")
    torch.save(state, folder / "trainer_state.pt")
    config.save(folder / "config.json")
    (folder / "history.json").write_text(json.dumps(history) + "\n")
    (folder / "summary.txt").write_text(summary + "\n")
    files = sorted(p.name for p in folder.iterdir() if p.name != MANIFEST)
    manifest = {
        "format": FORMAT,
        "archi": config.archi,
        "parts": list(parts),
        "files": {name: sha256(folder / name) for name in files},
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return folder


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of a checkpoint folder, after checking that every file it lists is intact.

    Raises ``FileNotFoundError`` for a missing folder or file, ``ValueError`` for a folder without an
    aelab manifest or a file whose SHA-256 differs; each message names the file.
    """
    if not folder.is_dir():
        raise FileNotFoundError(f"no checkpoint folder at {folder}")
    path = folder / MANIFEST
    if not path.is_file():
        raise ValueError(f"{folder} is not an aelab checkpoint: {path} is missing")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{path} is not an aelab checkpoint manifest (expected format {FORMAT!r})")
    for name, digest in manifest.get("files", {}).items():
        file = folder / name
        if not file.is_file():
            raise FileNotFoundError(f"checkpoint file {file} is missing")
        if sha256(file) != digest:
            raise ValueError(f"checksum mismatch for {file}: the file is corrupt or was changed after saving")
    return manifest


def load_tensors(path: Path) -> Any:
    """``torch.load`` with ``weights_only=True``: tensors and plain containers, never arbitrary objects."""
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file {path} is missing")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ValueError(f"{path} holds more than tensors and plain containers; refused to load it: {exc}") from None
