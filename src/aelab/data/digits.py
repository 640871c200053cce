"""Digit sets in the IDX format: MNIST, Fashion-MNIST and Kuzushiji-MNIST, with checksums.

:func:`read_idx` reads any IDX file (gzip or raw) and checks its header against its length.
:func:`mnist`, :func:`fashion_mnist` and :func:`kmnist` read a split from ``root`` after checking
each ``.gz`` file against its published SHA-256 sum, and download the files when asked to (to a
temporary file, checked, then renamed into place). :func:`load_digits` gives images ready for a model,
from MNIST when its files are present and otherwise from scikit-learn's bundled 8x8 digits, which
need no download.

The data sets live under one folder, :func:`data_root`: ``$AELAB_DATA`` if set, else the user's data
folder (``$XDG_DATA_HOME/aelab``, by default ``~/.local/share/aelab``), with MNIST in ``mnist/``. It
does not depend on where a notebook runs (a clone, a wheel install, nbgrader's course tree).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import struct
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from aelab.validate import check_choice

#: IDX type code -> NumPy dtype (big-endian, as the format stores it).
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

SPLITS = ("train", "test")


@dataclass(frozen=True)
class IdxDataset:
    """Where a digit set comes from: its file names per split, download mirrors, SHA-256 sums."""

    name: str
    mirrors: tuple[str, ...]
    files: dict[str, tuple[str, str]]  # split -> (images file, labels file)
    sha256: dict[str, str]  # file -> published SHA-256 of the .gz file


_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def _sums(*digests: str) -> dict[str, str]:
    names = [name for split in SPLITS for name in _FILES[split]]
    return dict(zip(names, digests, strict=True))


#: The published files. Sums as listed by torchvision's dataset code and TensorFlow Datasets.
DATASETS: dict[str, IdxDataset] = {
    "mnist": IdxDataset(
        "MNIST",
        ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/"),
        _FILES,
        _sums(
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        ),
    ),
    "fashion_mnist": IdxDataset(
        "Fashion-MNIST",
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        _FILES,
        _sums(
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        ),
    ),
    "kmnist": IdxDataset(
        "Kuzushiji-MNIST",
        ("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
        _FILES,
        _sums(
            "51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4",
            "e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17",
            "edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5",
            "20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c",
        ),
    ),
}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (gzip-compressed or raw) into an array of its dtype and dimensions.

    Raises ValueError naming the file when the magic number, the type code or the number of
    dimensions is wrong, or when the data is shorter or longer than the dimensions say.
    """
    path = Path(path)
    with open(path, "rb") as handle:
        data = handle.read()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as error:
            raise ValueError(f"{path}: corrupt or truncated gzip stream ({error})") from error
    if len(data) < 4:
        raise ValueError(f"{path}: truncated IDX header ({len(data)} bytes, need at least 4)")
    if data[:2] != b"\x00\x00":
        raise ValueError(f"{path}: wrong magic number {data[:4].hex()}; an IDX file starts with two zero bytes")
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02X}; known codes: {known}")
    if ndim == 0:
        raise ValueError(f"{path}: IDX header gives 0 dimensions; at least 1 is needed")
    offset = 4 + 4 * ndim
    if len(data) < offset:
        raise ValueError(f"{path}: truncated IDX header ({len(data)} bytes, {ndim} dimensions need {offset})")
    shape = struct.unpack(f">{ndim}I", data[4:offset])
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - offset != expected:
        state = "truncated" if len(data) - offset < expected else "too long"
        raise ValueError(
            f"{path}: {state}: dimensions {shape} of {dtype.name} need {expected} data bytes, "
            f"the file holds {len(data) - offset}"
        )
    return np.frombuffer(data, dtype, offset=offset).reshape(shape).astype(dtype.newbyteorder("="))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(spec: IdxDataset, name: str, target: Path) -> None:
    """Fetch ``name`` from the first mirror that answers, into a temporary file beside ``target``;
    rename it into place only once its SHA-256 matches."""
    target.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    for mirror in spec.mirrors:
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{name}.", suffix=".part")
        try:
            with os.fdopen(handle, "wb") as out, urllib.request.urlopen(mirror + name, timeout=60) as response:
                shutil.copyfileobj(response, out)
            digest = _sha256(Path(temporary))
            if digest != spec.sha256[name]:
                raise ValueError(f"SHA-256 {digest}, expected {spec.sha256[name]}")
            os.replace(temporary, target)
            return
        except (urllib.error.URLError, OSError, ValueError) as error:
            failures.append(f"{mirror + name}: {error}")
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
    raise OSError(f"could not download {spec.name} file {name}:\n  " + "\n  ".join(failures))


def _checked_file(spec: IdxDataset, root: Path, name: str, download: bool) -> Path:
    """The path of ``name`` under ``root``, downloaded if missing and asked to, checksum verified."""
    path = root / name
    if not path.exists():
        if not download:
            raise FileNotFoundError(
                f"{spec.name} file {name} is missing from {root}: put the official file there "
                f"(from {spec.mirrors[0]}{name}) or pass download=True to fetch it"
            )
        _download(spec, name, path)
    digest = _sha256(path)
    if digest != spec.sha256[name]:
        raise ValueError(
            f"{path} has SHA-256 {digest}, but the published {spec.name} file has "
            f"{spec.sha256[name]}: the file is corrupt or not the official release; "
            "delete it and pass download=True"
        )
    return path


def _load(key: str, root: str | os.PathLike[str], split: str, download: bool) -> tuple[np.ndarray, np.ndarray]:
    spec = DATASETS[key]
    split = check_choice("split", split, SPLITS, expected="known splits:")
    image_file, label_file = (_checked_file(spec, Path(root), name, download) for name in spec.files[split])
    images, labels = read_idx(image_file), read_idx(label_file)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"{image_file}: expected uint8 images (N, H, W), got {images.dtype} {images.shape}")
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise ValueError(f"{label_file}: expected uint8 labels (N,), got {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(
            f"{spec.name} {split}: {image_file.name} holds {len(images)} images but "
            f"{label_file.name} holds {len(labels)} labels; the files do not belong together"
        )
    return images, labels


def mnist(root: str | os.PathLike[str], split: str = "train", download: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """MNIST handwritten digits from the ``.gz`` files in ``root``: (images uint8 (N, 28, 28),
    labels uint8 (N,)). ``split``: "train" (60,000) or "test" (10,000)."""
    return _load("mnist", root, split, download)


def fashion_mnist(
    root: str | os.PathLike[str], split: str = "train", download: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST (Zalando's clothing images), like :func:`mnist`."""
    return _load("fashion_mnist", root, split, download)


def kmnist(root: str | os.PathLike[str], split: str = "train", download: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Kuzushiji-MNIST (cursive Japanese characters), like :func:`mnist`."""
    return _load("kmnist", root, split, download)


@dataclass(frozen=True)
class Digits:
    """Digit images ready for a model.

    Attributes:
        images: (N, 1, H, W) float32 in [0, 1].
        labels: (N,) int64 class labels.
        source: which set was loaded: "mnist" or "sklearn-8x8".
    """

    images: Tensor
    labels: Tensor
    source: str


#: The environment variable that points at the folder of the kit's data sets.
DATA_ENV = "AELAB_DATA"


def data_root() -> Path:
    """The folder of the kit's data sets: ``$AELAB_DATA`` if set, else ``$XDG_DATA_HOME/aelab``
    (``~/.local/share/aelab`` when XDG_DATA_HOME is unset). It need not exist."""
    override = os.environ.get(DATA_ENV)
    if override:
        return Path(override).expanduser()
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share").expanduser() / "aelab"


def load_digits(root: str | os.PathLike[str] | None = None, split: str = "train") -> Digits:
    """MNIST's ``split`` from ``root`` (default: ``data_root() / "mnist"``) when its files are there,
    else scikit-learn's bundled 8x8 handwritten digits (1,797 images, no download; ``split`` then
    does not apply). ``source`` says which ran."""
    split = check_choice("split", split, SPLITS, expected="known splits:")
    spec = DATASETS["mnist"]
    root = data_root() / "mnist" if root is None else Path(root)
    if all((root / name).exists() for name in spec.files[split]):
        images, labels = mnist(root, split)
        return Digits(torch.from_numpy(images).float().div_(255).unsqueeze(1), torch.from_numpy(labels).long(), "mnist")
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    return Digits(
        torch.from_numpy(bunch.images).float().div_(16).unsqueeze(1),
        torch.from_numpy(bunch.target).long(),
        "sklearn-8x8",
    )
