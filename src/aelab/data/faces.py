"""SynthFaces: procedural cartoon faces with their ground truth, rendered in torch.

The renderer stands in for the aligned face sets DeepFaceLab extracts from video
(``samplelib/SampleLoader.py`` / ``SampleProcessor.py``: a face image, its face mask and the
eyes-and-mouth mask that ``eyes_prio`` / ``mouth_prio`` weight), but it shows no real person and it
knows every factor that made each image. Two fixed identities, the domains ``"A"`` and ``"B"``, play
DeepFaceLab's ``src`` and ``dst``; ``"mixed"`` draws a new identity per image, like the generic face
set used to pretrain. :func:`render_swap` draws the *true* swap: a batch's pose, expression, light and
background with another domain's identity.

This module holds the factors, the batches and the rendering API; :mod:`aelab.data.face_drawing`
draws them (anti-aliased signed distances, the head's frame, shading). Images are tensors
(N, 3, R, R) of float32 in [0, 1]; masks (N, 1, R, R) in [0, 1].

Randomness: the factors of image ``i`` of a stream ``(seed, domain)`` come from a ``torch.Generator``
seeded from ``(seed, domain, i // 1024)`` alone, so an image does not depend on how many images are
rendered with it, nor on the chunks they are rendered in, nor on the global RNG state.
"""

from __future__ import annotations

import hashlib
import math
import numbers
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import torch
from torch import Tensor

from aelab.data.face_drawing import draw_faces
from aelab.runtime import one_thread
from aelab.validate import check_choice, check_columns, check_instance, check_int, check_seed

if TYPE_CHECKING:
    from aelab.plotting import Figure


class Factor(NamedTuple):
    """One generative factor: its group, its range and what it means."""

    group: str
    low: float
    high: float
    description: str


#: name -> Factor. Groups: "pose", "expression", "light", "background" are free in every domain;
#: "identity" factors are fixed by the domains "A" and "B" and drawn per image in "mixed".
#: Lengths are in image half-widths unless said otherwise; ``hair_style`` takes the integers 0, 1, 2.
FACTORS: dict[str, Factor] = {
    "yaw": Factor("pose", -35.0, 35.0, "head turn in degrees; positive turns the face to the viewer's right"),
    "pitch": Factor("pose", -20.0, 20.0, "head nod in degrees; positive tips the face down"),
    "roll": Factor("pose", -20.0, 20.0, "in-plane head tilt in degrees; positive turns clockwise on screen"),
    "gaze_x": Factor("expression", -1.0, 1.0, "pupils from the viewer's left (-1) to right (+1)"),
    "gaze_y": Factor("expression", -1.0, 1.0, "pupils from up (-1) to down (+1)"),
    "smile": Factor("expression", -1.0, 1.0, "mouth corners from down (frown, -1) to up (smile, +1)"),
    "mouth_open": Factor("expression", 0.0, 1.0, "lips from closed (0) to wide apart, teeth showing (1)"),
    "brow_raise": Factor("expression", -1.0, 1.0, "brows lowered and slanted in (-1) to raised (+1)"),
    "light_azimuth": Factor("light", -180.0, 180.0, "where the light comes from, degrees anticlockwise from the right"),
    "light_strength": Factor("light", 0.0, 1.0, "flat ambient light (0) to strong directional shading (1)"),
    "background_hue": Factor("background", 0.0, 1.0, "hue of the backdrop (HSV hue)"),
    "background_value": Factor("background", 0.35, 0.95, "brightness of the backdrop (HSV value)"),
    "face_width": Factor("identity", 0.46, 0.62, "half-width of the face"),
    "face_height": Factor("identity", 0.58, 0.72, "half-height of the face"),
    "jaw_taper": Factor("identity", 0.0, 0.3, "how much narrower the chin is than the forehead"),
    "eye_spacing": Factor("identity", 0.32, 0.46, "half the distance between the eyes, in face widths"),
    "eye_size": Factor("identity", 0.17, 0.27, "half-width of an eye, in face widths"),
    "eye_height": Factor("identity", -0.15, 0.05, "height of the eyes, in face heights (0 = centre, - = up)"),
    "nose_length": Factor("identity", 0.22, 0.38, "eye line to nose tip, in face heights"),
    "nose_width": Factor("identity", 0.08, 0.16, "half-width of the nose tip, in face widths"),
    "mouth_width": Factor("identity", 0.22, 0.36, "half-width of the mouth, in face widths"),
    "mouth_height": Factor("identity", 0.46, 0.62, "height of the mouth below the face centre, in face heights"),
    "skin_tone": Factor("identity", 0.0, 1.0, "skin colour on a ramp from light to dark"),
    "hair_tone": Factor("identity", 0.0, 1.0, "hair colour: black, dark brown, brown, auburn, blond, grey"),
    "eye_tone": Factor("identity", 0.0, 1.0, "iris colour: brown, hazel, green, blue, grey"),
    "hair_style": Factor("identity", 0.0, 2.0, "hairline: 0 crop (high, curved), 1 fringe (straight), 2 side part"),
    "hair_length": Factor("identity", 0.0, 1.0, "hair from ear length (0) to shoulder length (1)"),
    "hair_volume": Factor("identity", 0.03, 0.12, "how far the hair stands off the head"),
}

IDENTITY_FACTORS: tuple[str, ...] = tuple(k for k, f in FACTORS.items() if f.group == "identity")
FREE_FACTORS: tuple[str, ...] = tuple(k for k, f in FACTORS.items() if f.group != "identity")

#: Fixed identities: DeepFaceLab's two sides of a swap.
IDENTITIES: dict[str, dict[str, float]] = {
    "A": {
        "face_width": 0.57,
        "face_height": 0.63,
        "jaw_taper": 0.10,
        "eye_spacing": 0.40,
        "eye_size": 0.25,
        "eye_height": -0.04,
        "nose_length": 0.25,
        "nose_width": 0.10,
        "mouth_width": 0.31,
        "mouth_height": 0.50,
        "skin_tone": 0.12,
        "hair_tone": 0.52,
        "eye_tone": 0.78,
        "hair_style": 1.0,
        "hair_length": 0.15,
        "hair_volume": 0.07,
    },
    "B": {
        "face_width": 0.49,
        "face_height": 0.71,
        "jaw_taper": 0.26,
        "eye_spacing": 0.36,
        "eye_size": 0.19,
        "eye_height": -0.10,
        "nose_length": 0.35,
        "nose_width": 0.15,
        "mouth_width": 0.26,
        "mouth_height": 0.57,
        "skin_tone": 0.72,
        "hair_tone": 0.02,
        "eye_tone": 0.05,
        "hair_style": 2.0,
        "hair_length": 0.95,
        "hair_volume": 0.10,
    },
}

#: Known domains: two fixed identities and a random identity per image (for pretraining).
DOMAINS: tuple[str, ...] = (*IDENTITIES, "mixed")

# Factors of a stream are drawn in blocks of this many images, one generator per block.
_BLOCK = 1024
# Images rendered per vectorised pass: pixels per pass stay near 2**19 whatever the resolution, so that
# each full-image temporary (2 MiB) is recycled by malloc instead of being mapped and page-faulted
# afresh at every op, while the feature windows stay large enough to be split across threads.
_PIXELS_PER_PASS = 2**19
_MAX_ROLL = math.radians(max(abs(FACTORS["roll"].low), abs(FACTORS["roll"].high)))


@dataclass(frozen=True)
class FaceBatch:
    """Faces with their ground truth.

    Attributes:
        images: (N, 3, R, R) float32 in [0, 1].
        face_mask: (N, 1, R, R) float32 in [0, 1], the face's skin region (forehead under a fringe
            included, hair excluded), like DeepFaceLab's face mask.
        eyes_mouth_mask: (N, 1, R, R) float32 in [0, 1], the eyes and the mouth, inside ``face_mask``.
        factors: name -> (N,) float32 tensor, every name of :data:`FACTORS`.
        domain: the domain whose identity was drawn ("A", "B" or "mixed").
    """

    images: Tensor
    face_mask: Tensor
    eyes_mouth_mask: Tensor
    factors: dict[str, Tensor]
    domain: str

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int | slice | Sequence[int] | Tensor) -> FaceBatch:
        """Select images; an int gives a batch of one, so the result is always a FaceBatch."""
        if isinstance(index, numbers.Integral) and not isinstance(index, bool):
            position = int(index) + len(self) if index < 0 else int(index)
            if not 0 <= position < len(self):
                raise IndexError(f"index {index} is out of range for a FaceBatch of {len(self)} faces")
            index = slice(position, position + 1)
        return FaceBatch(
            self.images[index],
            self.face_mask[index],
            self.eyes_mouth_mask[index],
            {k: v[index] for k, v in self.factors.items()},
            self.domain,
        )

    def to(self, device: torch.device | str) -> FaceBatch:
        """The same batch with every tensor on ``device``."""
        return FaceBatch(
            self.images.to(device),
            self.face_mask.to(device),
            self.eyes_mouth_mask.to(device),
            {k: v.to(device) for k, v in self.factors.items()},
            self.domain,
        )


# --------------------------------------------------------------------------------------------------
# Parameter checks


def check_face_batch(name: str, value: object) -> FaceBatch:
    """``value`` if it is a :class:`FaceBatch`; the TypeError says that :func:`render` makes one."""
    return check_instance(name, value, FaceBatch, made_by="aelab.data.faces.render")


# --------------------------------------------------------------------------------------------------
# Factors


def _block_uniforms(seed: int, domain: str, block: int) -> Tensor:
    """(1024, len(FACTORS)) float64 uniforms of one block of a stream, from its own generator."""
    digest = hashlib.sha256(f"aelab.faces/{seed}/{domain}/{block}".encode()).digest()
    generator = torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)
    return torch.rand(_BLOCK, len(FACTORS), dtype=torch.float64, generator=generator)


def factors_at(indices: Sequence[int] | Tensor, *, domain: str = "A", seed: int = 0) -> dict[str, Tensor]:
    """The factors of images ``indices`` of the stream ``(seed, domain)``: name -> (N,) float32.

    Free factors are uniform over their range; identity factors are the domain's (drawn uniformly,
    ``hair_style`` among 0, 1, 2, for "mixed"). Runs on one torch thread, as :func:`draw` does.
    """
    domain = check_choice("domain", domain, DOMAINS, expected="known domains:")
    seed = check_seed("seed", seed)
    index = torch.as_tensor(indices, dtype=torch.int64).reshape(-1)
    if index.numel() and int(index.min()) < 0:
        raise ValueError(f"indices must be >= 0, got {int(index.min())}")
    with one_thread():  # small ops: with the other cores busy, a second thread stalls each of them
        return _factors(index, domain, seed)


def _factors(index: Tensor, domain: str, seed: int) -> dict[str, Tensor]:
    """:func:`factors_at` for a checked 1-D index tensor."""
    blocks = torch.div(index, _BLOCK, rounding_mode="floor")
    uniforms = torch.empty(index.numel(), len(FACTORS), dtype=torch.float64)
    for block in blocks.unique().tolist():
        rows = blocks == block
        uniforms[rows] = _block_uniforms(seed, domain, block)[index[rows] - block * _BLOCK]
    factors = {}
    for column, (name, factor) in enumerate(FACTORS.items()):
        u = uniforms[:, column]
        if name in IDENTITY_FACTORS and domain in IDENTITIES:
            value = torch.full_like(u, IDENTITIES[domain][name])
        elif name == "hair_style":
            value = torch.floor(u * 3).clamp_(max=2)
        else:
            value = factor.low + (factor.high - factor.low) * u
        factors[name] = value.float()
    return factors


def sample_factors(n: int, *, domain: str = "A", seed: int = 0, start: int = 0) -> dict[str, Tensor]:
    """The factors of images ``start .. start + n - 1`` of the stream ``(seed, domain)``."""
    n = check_int("n", n, minimum=0)
    start = check_int("start", start, minimum=0)
    return factors_at(torch.arange(start, start + n), domain=domain, seed=seed)


# --------------------------------------------------------------------------------------------------
# Drawing


def draw(factors: Mapping[str, Tensor], *, resolution: int = 64, domain: str = "mixed") -> FaceBatch:
    """Draw the faces that ``factors`` describe (name -> (N,) tensor, every name of :data:`FACTORS`).

    Use it to vary one factor and hold the rest (a latent traversal with ground truth). ``domain``
    only labels the batch. Returns a :class:`FaceBatch`: images (N, 3, R, R) float32 in [0, 1] and
    masks (N, 1, R, R) in [0, 1], on the CPU. It runs on one torch thread (:func:`aelab.runtime.one_thread`)
    and gives the thread count back when done.
    """
    resolution = check_int("resolution", resolution, minimum=16, multiple_of=16)
    domain = check_choice("domain", domain, DOMAINS, expected="known domains:")
    n = check_columns("factors", factors, FACTORS, fix="every name of FACTORS is needed (see sample_factors)")
    stored = {name: torch.as_tensor(factors[name]).detach().to("cpu", torch.float32) for name in FACTORS}
    images = torch.empty(n, 3, resolution, resolution)
    face_mask = torch.empty(n, 1, resolution, resolution)
    eyes_mouth_mask = torch.empty(n, 1, resolution, resolution)
    chunk = max(1, _PIXELS_PER_PASS // resolution**2)
    with one_thread():  # small per-pixel ops: one thread is as fast quiet and never stalls when busy
        for lo in range(0, n, chunk):
            hi = min(n, lo + chunk)
            part = {name: value[lo:hi].double() for name, value in stored.items()}
            draw_faces(part, resolution, _MAX_ROLL, images[lo:hi], face_mask[lo:hi], eyes_mouth_mask[lo:hi].zero_())
    return FaceBatch(images, face_mask, eyes_mouth_mask, stored, domain)


def render(n: int, *, resolution: int = 64, domain: str = "A", seed: int = 0, start: int = 0) -> FaceBatch:
    """Render images ``start .. start + n - 1`` of the stream ``(seed, domain)``.

    Args:
        n: how many faces (>= 0).
        resolution: image side in pixels, a multiple of 16.
        domain: "A" or "B" (fixed identities) or "mixed" (a random identity per image).
        seed: the stream's seed (int >= 0); the same arguments give the same images on any machine.
        start: index of the first image in the stream; image i does not depend on n or start.

    Returns:
        A :class:`FaceBatch`: images (n, 3, R, R) float32 in [0, 1], face and eyes-and-mouth masks
        (n, 1, R, R) in [0, 1], and the factors that made them.
    """
    return draw(sample_factors(n, domain=domain, seed=seed, start=start), resolution=resolution, domain=domain)


def iter_render(
    n: int, *, batch_size: int = 1024, resolution: int = 64, domain: str = "A", seed: int = 0
) -> Iterator[FaceBatch]:
    """Render the first ``n`` faces of the stream ``(seed, domain)`` as consecutive batches of
    ``batch_size``, so that memory stays flat however large ``n`` is."""
    n = check_int("n", n, minimum=0)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    for start in range(0, n, batch_size):
        yield render(min(batch_size, n - start), resolution=resolution, domain=domain, seed=seed, start=start)


def render_swap(batch: FaceBatch, domain: str) -> FaceBatch:
    """The true swap: ``batch``'s pose, expression, light and background drawn with the identity of
    ``domain`` ("A" or "B"). Returns a :class:`FaceBatch` at ``batch``'s resolution and device."""
    check_face_batch("batch", batch)
    if domain not in IDENTITIES:
        known = ", ".join(map(repr, IDENTITIES))
        raise ValueError(f"render_swap draws a fixed identity: domain must be one of {known}, got {domain!r}")
    factors = {name: value.cpu() for name, value in batch.factors.items()}
    factors.update({name: torch.full((len(batch),), IDENTITIES[domain][name]) for name in IDENTITY_FACTORS})
    swapped = draw(factors, resolution=batch.images.shape[-1], domain=domain)
    return swapped.to(batch.images.device)


def faces_grid(columns: int = 8, resolution: int = 64, seed: int = 0) -> Figure:
    """SynthFaces, ``columns`` per row: domains A, B and mixed, another A and its true swap into B
    (:func:`render_swap`), as an :func:`aelab.plotting.image_grid`. README's picture:
    ``faces_grid().savefig("docs/images/synthfaces_grid.png", dpi=150)``."""
    from aelab.plotting import image_grid  # matplotlib is imported only for this picture

    columns = check_int("columns", columns, minimum=1)
    source = render(columns, resolution=resolution, domain="A", seed=seed + 1)
    rows = {
        "A": render(columns, resolution=resolution, domain="A", seed=seed),
        "B": render(columns, resolution=resolution, domain="B", seed=seed),
        "mixed": render(columns, resolution=resolution, domain="mixed", seed=seed),
        "another A": source,
        "true swap\nA → B": render_swap(source, "B"),
    }
    return image_grid(
        torch.cat([batch.images for batch in rows.values()]), nrow=columns, row_labels=list(rows), cell_size=0.9
    )
