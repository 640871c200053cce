"""IDX reading, checksummed digit-set loading and downloading, on small IDX files written here."""

import dataclasses
import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from aelab.data import digits
from aelab.data.digits import DATASETS, fashion_mnist, kmnist, load_digits, mnist, read_idx

CODES = {np.dtype(np.uint8): 0x08, np.dtype(">i2"): 0x0B, np.dtype(">f4"): 0x0D}


def idx_bytes(array: np.ndarray) -> bytes:
    array = np.asarray(array)
    dtype = array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    header = bytes([0, 0, CODES[dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(dtype).tobytes()


def write(path: Path, data: bytes, compress: bool = True) -> Path:
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@pytest.fixture
def fake_mnist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A 'train' split of 5 random 28x28 digits under tmp_path/src, registered as MNIST with its sums."""
    rng = np.random.default_rng(0)
    source = tmp_path / "src"
    source.mkdir()
    images = write(source / "train-images-idx3-ubyte.gz", idx_bytes(rng.integers(0, 256, (5, 28, 28), np.uint8)))
    labels = write(source / "train-labels-idx1-ubyte.gz", idx_bytes(rng.integers(0, 10, 5, np.uint8)))
    sums = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (images, labels)}
    spec = dataclasses.replace(DATASETS["mnist"], mirrors=(source.as_uri() + "/",), sha256=sums)
    monkeypatch.setitem(DATASETS, "mnist", spec)
    return source


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize(
    "array",
    [
        np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4),
        np.array([[-2, 300], [7, -32768]], dtype=np.int16),
        np.array([0.5, -1.25, 3.0], dtype=np.float32),
    ],
)
def test_read_idx_round_trip(tmp_path: Path, array: np.ndarray, compress: bool) -> None:
    result = read_idx(write(tmp_path / "x.idx", idx_bytes(array), compress))
    assert result.shape == array.shape and result.dtype.isnative
    np.testing.assert_array_equal(result, array)
    result[...] = 0  # writable, owned


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (
            idx_bytes(np.zeros((4, 2), np.uint8))[:-3],
            "truncated: dimensions \\(4, 2\\) of uint8 need 8 data bytes, the file holds 5",
        ),
        (idx_bytes(np.zeros((4, 2), np.uint8)) + b"\0", "too long"),
        (idx_bytes(np.zeros((4, 2), np.uint8))[:9], "truncated IDX header"),
        (b"\0\0", "truncated IDX header"),
        (b"\x01\x02" + idx_bytes(np.zeros(3, np.uint8))[2:], "wrong magic number 0102"),
        (b"\0\0\x42\x01" + struct.pack(">I", 1) + b"\0", "unknown IDX type code 0x42"),
        (b"\0\0\x08\x00", "0 dimensions"),
    ],
)
def test_read_idx_rejects_bad_files(tmp_path: Path, data: bytes, match: str) -> None:
    path = write(tmp_path / "bad-idx.gz", data)
    with pytest.raises(ValueError, match=match) as error:
        read_idx(path)
    assert "bad-idx.gz" in str(error.value)


def test_read_idx_rejects_a_cut_gzip_stream(tmp_path: Path) -> None:
    whole = gzip.compress(idx_bytes(np.zeros((50, 28, 28), np.uint8)))
    path = write(tmp_path / "cut.gz", whole[: len(whole) // 2], compress=False)
    with pytest.raises(ValueError, match="cut.gz: corrupt or truncated gzip"):
        read_idx(path)


def test_published_sums_table() -> None:
    sums = [s for spec in DATASETS.values() for s in spec.sha256.values()]
    assert len(sums) == 12 and len(set(sums)) == 12
    assert all(len(s) == 64 and int(s, 16) >= 0 for s in sums)
    assert DATASETS["mnist"].sha256["train-images-idx3-ubyte.gz"].startswith("440fcabf")


def test_mnist_reads_checked_files(fake_mnist: Path) -> None:
    images, labels = mnist(fake_mnist, "train")
    assert images.shape == (5, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (5,) and labels.dtype == np.uint8 and labels.max() < 10


def test_missing_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="MNIST file t10k-images-idx3-ubyte.gz is missing from .*download=True"):
        mnist(tmp_path, "test")
    with pytest.raises(FileNotFoundError, match="Fashion-MNIST file train-images"):
        fashion_mnist(tmp_path)
    with pytest.raises(FileNotFoundError, match="Kuzushiji-MNIST file train-images"):
        kmnist(tmp_path)


def test_checksum_mismatch_is_an_error(fake_mnist: Path) -> None:
    (fake_mnist / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros(5, np.uint8))))
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte.gz has SHA-256 .* corrupt or not the official"):
        mnist(fake_mnist)


def test_mismatched_counts_are_an_error(fake_mnist: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    labels = write(fake_mnist / "train-labels-idx1-ubyte.gz", idx_bytes(np.zeros(4, np.uint8)))
    sums = {**DATASETS["mnist"].sha256, labels.name: hashlib.sha256(labels.read_bytes()).hexdigest()}
    monkeypatch.setitem(DATASETS, "mnist", dataclasses.replace(DATASETS["mnist"], sha256=sums))
    with pytest.raises(ValueError, match="holds 5 images but .* holds 4 labels"):
        mnist(fake_mnist)


def test_bad_split_is_named(fake_mnist: Path) -> None:
    with pytest.raises(ValueError, match="unknown split 'valid'; known splits: 'train', 'test'"):
        mnist(fake_mnist, "valid")


def test_download_from_a_mirror(fake_mnist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = DATASETS["mnist"]
    missing_mirror = (tmp_path / "nowhere").as_uri() + "/"
    monkeypatch.setitem(DATASETS, "mnist", dataclasses.replace(spec, mirrors=(missing_mirror, *spec.mirrors)))
    root = tmp_path / "downloaded"
    images, labels = mnist(root, download=True)
    assert images.shape == (5, 28, 28) and len(labels) == 5
    assert sorted(p.name for p in root.iterdir()) == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]


def test_download_with_wrong_sum_leaves_nothing(
    fake_mnist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = DATASETS["mnist"]
    wrong = {name: "0" * 64 for name in spec.sha256}
    monkeypatch.setitem(DATASETS, "mnist", dataclasses.replace(spec, sha256=wrong))
    root = tmp_path / "downloaded"
    expected = "(?s)could not download MNIST file train-images-idx3-ubyte.gz.*SHA-256 [0-9a-f]{64}, expected 0{64}"
    with pytest.raises(OSError, match=expected):
        mnist(root, download=True)
    assert list(root.iterdir()) == []


def test_load_digits_prefers_mnist(fake_mnist: Path, tmp_path: Path) -> None:
    found = load_digits(fake_mnist)
    assert found.source == "mnist" and found.images.shape == (5, 1, 28, 28)
    assert found.images.dtype == torch.float32 and 0 <= found.images.min() and found.images.max() <= 1
    fallback = load_digits(tmp_path / "empty")
    assert fallback.source == "sklearn-8x8" and fallback.images.shape == (1797, 1, 8, 8)
    assert fallback.images.max() == 1 and fallback.labels.dtype == torch.int64
    assert set(fallback.labels.tolist()) == set(range(10))
    assert load_digits().source == "sklearn-8x8"
    assert digits.Digits is type(found)
