"""SynthFaces: shapes, ranges, determinism, masks, swaps, anti-aliasing and parameter checks."""

import math
from collections.abc import Iterator

import pytest
import torch
import torch.nn.functional as F

from aelab.data import face_drawing, faces
from aelab.data.faces import DOMAINS, FACTORS, FaceBatch, draw, iter_render, render, render_swap, sample_factors


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Render on one thread: the renderer's many small ops gain little from a second thread and
    lose a lot when the machine is shared (threads wait on each other); results do not change."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def batches() -> dict[str, FaceBatch]:
    return {domain: render(48, domain=domain, seed=7) for domain in DOMAINS}


def _high_frequency_share(x: torch.Tensor) -> float:
    """Share of an image's (mean-removed) spectral power beyond 0.375 cycles per pixel."""
    power = torch.fft.fft2(x - x.mean(dim=(-2, -1), keepdim=True)).abs().square()
    freq = torch.fft.fftfreq(x.shape[-1]).abs()
    band = (freq[None, :] > 0.375) | (freq[:, None] > 0.375)
    return (power[..., band].sum(-1) / power.sum(dim=(-2, -1))).mean().item()


def test_domains_and_factor_table() -> None:
    assert DOMAINS == ("A", "B", "mixed")
    for name, factor in FACTORS.items():
        assert factor.low < factor.high and factor.description, name
        assert factor.group in ("pose", "expression", "light", "background", "identity"), name
    for identity in faces.IDENTITIES.values():
        assert set(identity) == set(faces.IDENTITY_FACTORS)
        for name, value in identity.items():
            assert FACTORS[name].low <= value <= FACTORS[name].high, name


@pytest.mark.parametrize("resolution", [16, 32, 64, 128])
def test_shapes_dtypes_and_ranges(resolution: int) -> None:
    batch = render(5, resolution=resolution, domain="mixed", seed=1)
    assert len(batch) == 5 and batch.domain == "mixed"
    assert batch.images.shape == (5, 3, resolution, resolution)
    assert batch.face_mask.shape == batch.eyes_mouth_mask.shape == (5, 1, resolution, resolution)
    for tensor in (batch.images, batch.face_mask, batch.eyes_mouth_mask):
        assert tensor.dtype == torch.float32
        assert 0 <= tensor.min() and tensor.max() <= 1
    assert set(batch.factors) == set(FACTORS)
    assert all(v.shape == (5,) and v.dtype == torch.float32 for v in batch.factors.values())


def test_factors_in_range_and_identities(batches: dict[str, FaceBatch]) -> None:
    for domain, batch in batches.items():
        for name, value in batch.factors.items():
            assert FACTORS[name].low <= value.min() and value.max() <= FACTORS[name].high, (domain, name)
    for domain in ("A", "B"):
        for name in faces.IDENTITY_FACTORS:
            expected = torch.tensor(faces.IDENTITIES[domain][name])
            assert torch.equal(batches[domain].factors[name], expected.expand(48)), name
    mixed = batches["mixed"].factors
    assert all(mixed[name].unique().numel() > 1 for name in faces.IDENTITY_FACTORS)
    assert set(mixed["hair_style"].tolist()) == {0.0, 1.0, 2.0}
    assert all(batches["A"].factors[name].unique().numel() == 48 for name in faces.FREE_FACTORS)


def test_same_arguments_same_images_and_seeds_differ(batches: dict[str, FaceBatch]) -> None:
    again = render(48, domain="A", seed=7)
    assert torch.equal(again.images, batches["A"].images)
    assert torch.equal(again.eyes_mouth_mask, batches["A"].eyes_mouth_mask)
    other = render(48, domain="A", seed=8)
    assert (other.images - batches["A"].images).abs().amax(dim=(1, 2, 3)).min() > 0.05
    assert not torch.equal(batches["A"].factors["yaw"], batches["B"].factors["yaw"])


def test_global_rng_does_not_matter() -> None:
    torch.manual_seed(123)
    first = render(4, seed=3)
    torch.rand(1000)
    assert torch.equal(render(4, seed=3).images, first.images)


def test_factors_are_stable_values() -> None:
    """The factor stream is part of the data set's definition: pin a few values."""
    f = sample_factors(3, domain="A", seed=0)
    reference = sample_factors(1, domain="A", seed=0, start=2)
    assert f["yaw"][2] == reference["yaw"][0]
    assert torch.allclose(f["yaw"], torch.tensor([31.797581, -23.593206, 7.143347]), atol=1e-4)


def test_chunking_does_not_change_images(monkeypatch: pytest.MonkeyPatch) -> None:
    """Image i is the same whatever else is rendered with it; 1030 crosses a block of the factor stream."""
    whole = render(1030, resolution=16, domain="mixed", seed=5)
    pieces = torch.cat(
        [
            render(n, resolution=16, domain="mixed", seed=5, start=s).images
            for s, n in ((0, 1000), (1000, 3), (1003, 27))
        ]
    )
    assert torch.equal(pieces, whole.images)
    streamed = torch.cat([b.images for b in iter_render(1030, batch_size=333, resolution=16, domain="mixed", seed=5)])
    assert torch.equal(streamed, whole.images)
    monkeypatch.setattr(faces, "_PIXELS_PER_PASS", 7 * 16 * 16)  # 7 faces per vectorised pass
    assert torch.allclose(render(100, resolution=16, domain="mixed", seed=5).images, whole.images[:100], atol=1e-6)


def test_features_fit_their_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Features are drawn in windows around them; windows 16 px larger change nothing, even at the
    extremes of pose, expression and feature size."""
    f = sample_factors(200, domain="mixed", seed=2)
    for name in (
        "yaw",
        "pitch",
        "roll",
        "gaze_x",
        "gaze_y",
        "smile",
        "mouth_open",
        "brow_raise",
        "eye_size",
        "mouth_width",
        "nose_width",
        "eye_spacing",
    ):
        low, high = FACTORS[name].low, FACTORS[name].high
        f[name] = torch.where(f[name] > (low + high) / 2, high, low)
    reference = draw(f)
    size = face_drawing._Frame.size
    monkeypatch.setattr(face_drawing._Frame, "size", lambda self, w, h: min(self.resolution, size(self, w, h) + 16))
    wide = draw(f)
    assert torch.equal(wide.images, reference.images)
    assert torch.equal(wide.eyes_mouth_mask, reference.eyes_mouth_mask)


def test_masks_agree_with_images() -> None:
    f = sample_factors(32, domain="A", seed=4)
    f["light_strength"] = torch.zeros(32)  # flat light: skin pixels take the exact skin colour
    batch = draw(f, domain="A")
    skin = face_drawing._ramp(torch.tensor([faces.IDENTITIES["A"]["skin_tone"]]), face_drawing._SKIN).float()[0]
    is_skin = ((batch.images - skin[:, None, None]).abs() < 2e-3).all(dim=1, keepdim=True)
    assert batch.face_mask[is_skin].min() > 0.5  # skin-coloured pixels lie in the face mask
    inside = batch.face_mask > 0.99
    assert is_skin[inside].float().mean() > 0.4  # much of the face is bare skin
    em = batch.eyes_mouth_mask
    assert (em <= batch.face_mask).all()
    assert (em.amax(dim=(1, 2, 3)) > 0.99).all()  # every face has its eyes and mouth
    share = em.sum(dim=(1, 2, 3)) / batch.face_mask.sum(dim=(1, 2, 3))
    assert ((share > 0.03) & (share < 0.4)).all()


@pytest.mark.parametrize("names", [("smile", "mouth_open"), ("gaze_x", "gaze_y")])
def test_expression_changes_only_the_eyes_and_mouth(names: tuple[str, ...]) -> None:
    f = sample_factors(24, domain="mixed", seed=6)
    low, high = dict(f), dict(f)
    for name in names:
        low[name] = torch.full((24,), FACTORS[name].low)
        high[name] = torch.full((24,), FACTORS[name].high)
    a, b = draw(low), draw(high)
    changed = (a.images - b.images).abs().amax(dim=1, keepdim=True) > 0
    assert changed.any(dim=(1, 2, 3)).all()
    region = (a.eyes_mouth_mask > 0) | (b.eyes_mouth_mask > 0)
    assert not changed[~region].any()


def test_render_swap_keeps_pose_and_takes_identity(batches: dict[str, FaceBatch]) -> None:
    source = batches["A"]
    swap = render_swap(source, "B")
    assert swap.domain == "B" and swap.images.shape == source.images.shape
    for name in faces.FREE_FACTORS:
        assert torch.equal(swap.factors[name], source.factors[name]), name
    for name in faces.IDENTITY_FACTORS:
        assert torch.equal(swap.factors[name], batches["B"].factors[name]), name
    assert (swap.images - source.images).abs().mean() > 0.05
    assert torch.equal(render_swap(source, "A").images, source.images)  # a swap into itself changes nothing
    assert torch.equal(render_swap(batches["mixed"], "A").factors["face_width"], source.factors["face_width"])


def test_render_swap_rejects_bad_input(batches: dict[str, FaceBatch]) -> None:
    with pytest.raises(ValueError, match="fixed identity.*'A', 'B'.*'mixed'"):
        render_swap(batches["A"], "mixed")
    with pytest.raises(TypeError, match="FaceBatch"):
        render_swap(batches["A"].images, "B")


def test_edges_are_anti_aliased(batches: dict[str, FaceBatch]) -> None:
    batch = batches["mixed"]
    edge = ((batch.face_mask > 0.02) & (batch.face_mask < 0.98)).sum(dim=(1, 2, 3)).float()
    perimeter = 2 * math.pi * 32 * 0.5  # a face is about 0.5 image half-widths across: ~100 px around
    assert ((edge > 0.5 * perimeter) & (edge < 2 * perimeter)).all()  # about one intermediate pixel per edge step
    hard = (batch.face_mask > 0.5).float()
    assert _high_frequency_share(batch.face_mask) < 0.5 * _high_frequency_share(hard)
    assert _high_frequency_share(batch.images) < 0.04


def test_matches_a_supersampled_rendering() -> None:
    f = sample_factors(16, domain="mixed", seed=3)
    small, large = draw(f, resolution=64), draw(f, resolution=256)
    assert (F.avg_pool2d(large.face_mask, 4) - small.face_mask).abs().mean() < 0.005
    assert (F.avg_pool2d(large.images, 4) - small.images).abs().mean() < 0.015


def test_face_batch_indexing(batches: dict[str, FaceBatch]) -> None:
    batch = batches["B"]
    one = batch[3]
    assert isinstance(one, FaceBatch) and len(one) == 1 and one.domain == "B"
    assert torch.equal(one.images[0], batch.images[3])
    assert torch.equal(batch[-1].images, batch.images[-1:])
    part = batch[2:10:2]
    assert len(part) == 4 and torch.equal(part.factors["yaw"], batch.factors["yaw"][2:10:2])
    picked = batch[torch.tensor([5, 1])]
    assert torch.equal(picked.eyes_mouth_mask, batch.eyes_mouth_mask[[5, 1]])
    with pytest.raises(IndexError, match="out of range"):
        batch[48]
    moved = batch.to("cpu")
    assert moved.images.device.type == "cpu" and torch.equal(moved.face_mask, batch.face_mask)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n": -1}, ValueError, "n must be an int >= 0"),
        ({"n": 2.5}, TypeError, "n must be an int"),
        ({"n": True}, TypeError, "n must be an int"),
        ({"n": 1, "domain": "C"}, ValueError, "unknown domain 'C'; known domains: 'A', 'B', 'mixed'"),
        ({"n": 1, "resolution": 50}, ValueError, "multiple of 16"),
        ({"n": 1, "resolution": 8}, ValueError, "resolution must be an int >= 16"),
        ({"n": 1, "resolution": 64.0}, TypeError, "resolution must be an int"),
        ({"n": 1, "seed": -1}, ValueError, "seed must be an int >= 0"),
        ({"n": 1, "seed": "0"}, TypeError, "seed must be an int"),
        ({"n": 1, "seed": 2**63}, ValueError, "below 2\\*\\*63"),
        ({"n": 1, "start": -5}, ValueError, "start must be an int >= 0"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        render(**kwargs)


def test_draw_checks_its_factors() -> None:
    f = sample_factors(3)
    with pytest.raises(ValueError, match="lack \\['smile'\\]"):
        draw({k: v for k, v in f.items() if k != "smile"})
    with pytest.raises(ValueError, match="one length"):
        draw({**f, "yaw": torch.zeros(2)})
    with pytest.raises(ValueError, match="factors_at|indices must be >= 0"):
        faces.factors_at([3, -1])
