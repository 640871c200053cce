"""torch Dataset wrappers: items, batches through a DataLoader, and parameter checks."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from aelab.data import DigitDataset, FaceDataset, load_digits, render


def test_face_dataset_items_match_render() -> None:
    dataset = FaceDataset(40, resolution=32, domain="B", seed=2)
    reference = render(40, resolution=32, domain="B", seed=2)
    assert len(dataset) == 40
    item = dataset[7]
    assert item["image"].shape == (3, 32, 32) and item["face_mask"].shape == (1, 32, 32)
    assert item["index"] == 7 and item["factors"]["yaw"].shape == ()
    assert torch.equal(item["image"], reference.images[7])
    assert torch.equal(dataset[-1]["eyes_mouth_mask"], reference.eyes_mouth_mask[39])
    with pytest.raises(IndexError, match="out of range for a FaceDataset of 40"):
        dataset[40]


def test_face_dataset_in_a_shuffling_data_loader() -> None:
    dataset = FaceDataset(30, resolution=16, domain="mixed", seed=1)
    reference = render(30, resolution=16, domain="mixed", seed=1)
    loader = DataLoader(dataset, batch_size=8, shuffle=True, num_workers=0, generator=torch.Generator().manual_seed(0))
    seen = []
    for batch in loader:
        assert batch["image"].shape[1:] == (3, 16, 16) and batch["image"].dtype == torch.float32
        assert torch.equal(batch["image"], reference.images[batch["index"]])
        assert torch.equal(batch["factors"]["smile"], reference.factors["smile"][batch["index"]])
        seen += batch["index"].tolist()
    assert sorted(seen) == list(range(30))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n": -3}, ValueError, "n must be an int >= 0"),
        ({"n": 5, "domain": "C"}, ValueError, "known domains"),
        ({"n": 5, "resolution": 20}, ValueError, "multiple of 16"),
        ({"n": 5, "seed": 1.5}, TypeError, "seed"),
    ],
)
def test_face_dataset_checks_arguments(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        FaceDataset(**kwargs)


def test_digit_dataset_from_uint8_and_from_digits() -> None:
    images = np.arange(3 * 28 * 28, dtype=np.uint8).reshape(3, 28, 28)
    dataset = DigitDataset(images, np.array([4, 1, 9], dtype=np.uint8))
    image, label = dataset[2]
    assert image.shape == (1, 28, 28) and image.dtype == torch.float32 and image.max() <= 1
    assert label.dtype == torch.int64 and int(label) == 9
    digits = load_digits()
    loader = DataLoader(DigitDataset(digits.images, digits.labels), batch_size=64)
    batch_images, batch_labels = next(iter(loader))
    assert batch_images.shape == (64, 1, 8, 8) and batch_labels.shape == (64,)


def test_digit_dataset_checks_shapes() -> None:
    with pytest.raises(ValueError, match="images must be uint8 \\(N, H, W\\) or float \\(N, 1, H, W\\)"):
        DigitDataset(np.zeros((3, 28, 28), np.float32), np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="labels must be integers of shape \\(3,\\)"):
        DigitDataset(np.zeros((3, 28, 28), np.uint8), np.zeros(4, np.int64))
