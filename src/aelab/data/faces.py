"""SynthFaces: procedural cartoon faces with their ground truth, rendered in torch.

The renderer stands in for the aligned face sets DeepFaceLab extracts from video
(``samplelib/SampleLoader.py`` / ``SampleProcessor.py``: a face image, its face mask and the
eyes-and-mouth mask that ``eyes_prio`` / ``mouth_prio`` weight), but it shows no real person and it
knows every factor that made each image. Two fixed identities, the domains ``"A"`` and ``"B"``, play
DeepFaceLab's ``src`` and ``dst``; ``"mixed"`` draws a new identity per image, like the generic face
set used to pretrain. :func:`render_swap` draws the *true* swap: a batch's pose, expression, light and
background with another domain's identity.

Every shape is drawn from an analytic signed distance with a smoothstep over one pixel, so edges are
anti-aliased and carry no jagged pattern that a detector could learn instead of generator artifacts.

Coordinates: the image spans [-1, 1] on both axes (x to the right, y downwards), a pixel is
``2 / resolution`` wide. Images are tensors (N, 3, R, R) of float32 in [0, 1]; masks (N, 1, R, R) in
[0, 1].

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
        "face_width": 0.57, "face_height": 0.63, "jaw_taper": 0.10, "eye_spacing": 0.40, "eye_size": 0.25,
        "eye_height": -0.04, "nose_length": 0.25, "nose_width": 0.10, "mouth_width": 0.31,
        "mouth_height": 0.50, "skin_tone": 0.12, "hair_tone": 0.52, "eye_tone": 0.78, "hair_style": 1.0,
        "hair_length": 0.15, "hair_volume": 0.07,
    },
    "B": {
        "face_width": 0.49, "face_height": 0.71, "jaw_taper": 0.26, "eye_spacing": 0.36, "eye_size": 0.19,
        "eye_height": -0.10, "nose_length": 0.35, "nose_width": 0.15, "mouth_width": 0.26,
        "mouth_height": 0.57, "skin_tone": 0.72, "hair_tone": 0.02, "eye_tone": 0.05, "hair_style": 2.0,
        "hair_length": 0.95, "hair_volume": 0.10,
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
_HEAD_Y = 0.06  # the head's centre sits slightly below the image centre (hair takes the top)
_LIGHT_ELEVATION = math.radians(55.0)
_MAX_ROLL = math.radians(max(abs(FACTORS["roll"].low), abs(FACTORS["roll"].high)))

_SKIN = ((0.98, 0.86, 0.76), (0.96, 0.78, 0.64), (0.87, 0.65, 0.49), (0.71, 0.49, 0.34),
         (0.51, 0.34, 0.23), (0.36, 0.24, 0.17))
_HAIR = ((0.10, 0.08, 0.07), (0.30, 0.18, 0.10), (0.55, 0.34, 0.17), (0.68, 0.30, 0.12),
         (0.88, 0.72, 0.40), (0.72, 0.72, 0.72))
_IRIS = ((0.36, 0.20, 0.08), (0.48, 0.40, 0.14), (0.22, 0.52, 0.24), (0.22, 0.45, 0.80), (0.50, 0.56, 0.62))
# Hairline v = (h0 + h1 * u + h2 * u**2) * face_height, u in face widths, per hair_style.
_HAIRLINES = ((-0.62, 0.0, 0.32), (-0.42, 0.0, 0.08), (-0.50, 0.22, 0.12))
_WHITE = (0.97, 0.97, 0.95)
_INK = (0.12, 0.08, 0.08)
_MOUTH = (0.38, 0.07, 0.10)
_LIPS = (0.62, 0.22, 0.22)


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
        return FaceBatch(self.images[index], self.face_mask[index], self.eyes_mouth_mask[index],
                         {k: v[index] for k, v in self.factors.items()}, self.domain)

    def to(self, device: torch.device | str) -> FaceBatch:
        """The same batch with every tensor on ``device``."""
        return FaceBatch(self.images.to(device), self.face_mask.to(device), self.eyes_mouth_mask.to(device),
                         {k: v.to(device) for k, v in self.factors.items()}, self.domain)


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
    ``hair_style`` among 0, 1, 2, for "mixed").
    """
    domain = check_choice("domain", domain, DOMAINS, expected="known domains:")
    seed = check_seed("seed", seed)
    index = torch.as_tensor(indices, dtype=torch.int64).reshape(-1)
    if index.numel() and int(index.min()) < 0:
        raise ValueError(f"indices must be >= 0, got {int(index.min())}")
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


def _ramp(t: Tensor, anchors: Sequence[tuple[float, float, float]]) -> Tensor:
    """(N,) in [0, 1] -> (N, 3) colours, piecewise linear through ``anchors``."""
    table = torch.tensor(anchors, dtype=t.dtype)
    position = t.clamp(0, 1) * (len(anchors) - 1)
    low = position.floor().clamp_(max=len(anchors) - 2).long()
    return torch.lerp(table[low], table[low + 1], (position - low)[:, None])


def _hsv(hue: Tensor, saturation: float, value: Tensor) -> Tensor:
    """(N,) hue in [0, 1], value in [0, 1] -> (N, 3) RGB."""
    k = (hue[:, None] * 6 + torch.tensor([5.0, 3.0, 1.0], dtype=hue.dtype)) % 6
    ramp = torch.minimum(k, 4 - k).clamp_(0, 1)
    return value[:, None] * (1 - saturation * ramp)


def _col(values: Tensor | float) -> Tensor:
    """(N,) float64 per-image parameter -> (N, 1, 1) float32, to broadcast over pixels."""
    return torch.as_tensor(values, dtype=torch.float32).reshape(-1, 1, 1)


def _rgb(colours: Tensor | Sequence[float], n: int) -> Tensor:
    """(N, 3) colours or one RGB triple -> (N, 3, 1, 1) float32."""
    return torch.as_tensor(colours, dtype=torch.float32).expand(n, 3)[:, :, None, None]


def _coverage(distance: Tensor) -> Tensor:
    """Anti-aliased coverage from a signed distance in pixels (negative inside); overwrites it.

    A smoothstep over one pixel centred on the edge: 1 inside, 0 outside, intermediate values on
    the edge pixels. Returns (N, 1, h, w).
    """
    t = distance.neg_().add_(0.5).clamp_(0, 1)
    return t.mul(-2).add_(3).mul_(t).mul_(t).unsqueeze(1)


def _paint(canvas: Tensor, colour: Tensor, distance: Tensor, clip: Tensor | None = None) -> Tensor:
    """Composite ``colour`` (N, 3, 1, 1) over ``canvas`` (N, 3, h, w) inside the shape whose signed
    distance in pixels is ``distance`` (N, h, w, overwritten), and inside the coverage ``clip``
    (N, 1, h, w) if given; returns the shape's coverage (N, 1, h, w)."""
    alpha = _coverage(distance)
    if clip is not None:
        alpha.mul_(clip)
    canvas.lerp_(colour.expand_as(canvas), alpha.expand_as(canvas))
    return alpha


def _ellipse(u: Tensor, v: Tensor, scale: Tensor) -> Tensor:
    """Signed distance to the unit circle of (u, v), overwriting u, times ``scale``: with u, v
    divided by an ellipse's semi-axes and scale = the smaller semi-axis (in pixels), a close
    approximation of the distance to that ellipse."""
    return u.square_().addcmul_(v, v).sqrt_().sub_(1).mul_(scale)


def _curve(u: Tensor, v: Tensor, curvature: Tensor, slope: Tensor) -> Tensor:
    """Unsigned distance to the arc v = curvature * (u^2 - 1/3) + slope * u, |u| <= 1."""
    offset = v - curvature * (u * u - 1 / 3) - slope * u
    gradient = 2 * curvature * u + slope
    return torch.maximum(offset.abs_().mul_(torch.rsqrt(gradient.square_().add_(1))), u.abs() - 1)


class _Grid:
    """Face-frame coordinates (u, v) of a square block of pixels, kept separable: u = ux + uy and
    v = vx + vy with ux, vx of shape (N, 1, W) and uy, vy of shape (N, W, 1), so that any
    per-image affine function of u or v costs one pass over the pixels."""

    def __init__(self, cos: Tensor, sin: Tensor, x: Tensor, y: Tensor) -> None:
        c, s = cos[:, None], sin[:, None]
        self.ux, self.uy = (c * x)[:, None, :], (s * y)[:, :, None]
        self.vx, self.vy = (-s * x)[:, None, :], (c * y)[:, :, None]

    def u(self, scale: Tensor | float = 1.0, offset: Tensor | float = 0.0) -> Tensor:
        """(u + offset) * scale, (N, W, W); scale and offset are numbers or (N, 1, 1)."""
        return torch.add((self.ux + offset) * scale, self.uy * scale)

    def v(self, scale: Tensor | float = 1.0, offset: Tensor | float = 0.0) -> Tensor:
        """(v + offset) * scale, (N, W, W)."""
        return torch.add(self.vx * scale, (self.vy + offset) * scale)


class _Frame:
    """Per-image head frame: the roll rotation about the head centre and the pixel scale."""

    def __init__(self, roll_degrees: Tensor, resolution: int) -> None:
        roll = torch.deg2rad(roll_degrees)
        self.cos, self.sin = roll.cos(), roll.sin()
        self.resolution = resolution
        self.scale = resolution / 2  # pixels per image unit

    def grid(self, col0: Tensor, row0: Tensor, size: int) -> _Grid:
        """The face-frame grid of the size x size block whose top-left pixel is (col0, row0)."""
        steps = torch.arange(size, dtype=torch.float64)
        x = (col0[:, None] + steps + 0.5) / self.scale - 1
        y = (row0[:, None] + steps + 0.5) / self.scale - 1 - _HEAD_Y
        return _Grid(self.cos.float(), self.sin.float(), x.float(), y.float())

    def window(self, u: Tensor, v: Tensor, size: int) -> tuple[Tensor, _Grid]:
        """A size x size window centred on the face-frame point (u, v), each (N,) float64:
        (flat pixel indices (N, size * size), its grid)."""
        x = self.cos * u - self.sin * v
        y = self.sin * u + self.cos * v + _HEAD_Y
        limit = self.resolution - size
        col0 = torch.round((x + 1) * self.scale - size / 2).clamp_(0, limit)
        row0 = torch.round((y + 1) * self.scale - size / 2).clamp_(0, limit)
        steps = torch.arange(size)
        flat = (row0.long()[:, None, None] + steps[:, None]) * self.resolution + col0.long()[:, None, None] + steps
        return flat.reshape(len(x), -1), self.grid(col0, row0, size)

    def size(self, half_width: float, half_height: float) -> int:
        """Side in pixels of a window that holds a half_width x half_height box (image units) in
        any roll of the face, plus a pixel of anti-aliasing."""
        c, s = math.cos(_MAX_ROLL), math.sin(_MAX_ROLL)
        half = max(half_width * c + half_height * s, half_width * s + half_height * c)
        return 2 * math.ceil(half * self.scale + 1)


class _Window:
    """A square window of the image and of the eyes-and-mouth mask, gathered for drawing and
    scattered back by :meth:`commit`; what is drawn in it stays inside the face."""

    def __init__(self, frame: _Frame, u: Tensor, v: Tensor, half_size: tuple[float, float], image: Tensor,
                 face_mask: Tensor, em: Tensor) -> None:
        size = frame.size(*half_size)
        self.flat, self.grid = frame.window(u, v, size)
        self.image, self.em = image, em
        n, pixels = len(self.flat), image.shape[2]
        # Offsets into the whole flattened tensors: index_select on them is faster than gather.
        planes = torch.arange(0, 3 * n * pixels, pixels).view(n, 3, 1)
        flat_rgb = (planes + self.flat[:, None]).view(-1)
        flat_mask = (planes[:, :1] // 3 + self.flat[:, None]).view(-1)
        self.canvas = image.reshape(-1).index_select(0, flat_rgb).view(n, 3, size, size)
        self.face = face_mask.reshape(-1).index_select(0, flat_mask).view(n, 1, size, size)
        self.mask = em.reshape(-1).index_select(0, flat_mask).view(n, 1, size, size)

    def paint(self, colour: Tensor, distance: Tensor) -> None:
        """Composite ``colour`` (N, 3, 1, 1) inside the shape of signed distance ``distance``
        (pixels, overwritten) and inside the face."""
        _paint(self.canvas, colour, distance, self.face)

    def add_to_mask(self, distance: Tensor) -> None:
        """Add the shape of signed distance ``distance`` (pixels, overwritten) to the mask."""
        torch.maximum(self.mask, _coverage(distance), out=self.mask)

    def commit(self) -> None:
        n = len(self.flat)
        self.image.scatter_(2, self.flat[:, None].expand(n, 3, -1), self.canvas.view(n, 3, -1))
        self.em.scatter_(2, self.flat[:, None], self.mask.view(n, 1, -1))


def _project(v0: Tensor, half: Tensor, angle: Tensor) -> tuple[Tensor, Tensor]:
    """Where a point at height ``v0`` on a head of half-height ``half`` lands after nodding by
    ``angle`` (radians), and the vertical foreshortening of things drawn there: (position, scale)."""
    theta = torch.asin((v0 / half).clamp(-0.95, 0.95))
    return half * torch.sin(theta + angle), torch.cos(theta + angle) / torch.cos(theta)


def _slice_radius(f: Mapping[str, Tensor], v0: Tensor) -> Tensor:
    """Half-width of the face's egg at height ``v0`` (before the pitch): the radius of the head's
    horizontal slice that features at that height turn on with the yaw."""
    vn = v0 / f["face_height"]
    return f["face_width"] * (1 - f["jaw_taper"] * vn) * torch.sqrt(1 - vn * vn)


def _surface_u(grid: _Grid, radius: Tensor, yaw: Tensor, u0: Tensor, half: Tensor) -> Tensor:
    """Horizontal position on the head's surface of each pixel of ``grid``, as arc length from a
    feature at ``u0`` (frontal view) in units of its half-width ``half``. Turning the slice of
    ``radius`` back by the yaw squeezes features near the edge of the face, as a turned head does;
    beyond the edge the position runs on steeply (and continuously), so features end there without
    a jagged cut."""
    across = grid.u(_col(1 / radius))
    within = across.clamp(-0.999, 0.999)
    angle = across.sub_(within).mul_(10).add_(within.asin_())
    return angle.sub_(_col(yaw + torch.asin(u0 / radius))).mul_(_col(radius / half))


def _draw_chunk(f: Mapping[str, Tensor], resolution: int, image: Tensor, face_mask: Tensor, em: Tensor) -> None:
    """Draw faces with factors ``f`` ((n,) float64 each) into the (n, C, R, R) outputs, in place."""
    n, r = len(f["yaw"]), resolution
    frame = _Frame(f["roll"], r)
    px = frame.scale
    fw, fh = f["face_width"], f["face_height"]
    yaw = torch.deg2rad(f["yaw"])
    skin, hair = _ramp(f["skin_tone"], _SKIN), _ramp(f["hair_tone"], _HAIR)

    # Backdrop: the background colour, a little brighter towards the light (separable, one pass).
    azimuth = torch.deg2rad(f["light_azimuth"])
    strength = f["light_strength"]
    light_x, light_y = torch.cos(azimuth), -torch.sin(azimuth)
    coords = torch.linspace(-1 + 1 / r, 1 - 1 / r, r, dtype=torch.float64)
    backdrop = _hsv(f["background_hue"], 0.35, f["background_value"] / 1.2)[:, :, None]
    along_x = backdrop * (1 + 0.1 * (strength * light_x)[:, None, None] * coords)
    along_y = backdrop * ((0.1 * strength * light_y - 0.05)[:, None, None] * coords)
    torch.add(along_x.float()[:, :, None, :], along_y.float()[:, :, :, None], out=image)

    # Face: an egg, wider at the forehead. un, vn: pixel position in face widths / heights.
    zero = torch.zeros(n, dtype=torch.float64)
    grid = frame.grid(zero, zero, r)
    u = grid.u()
    vn = grid.v(_col(1 / fh))
    un = u / vn.mul(_col(-fw * f["jaw_taper"])).add_(_col(fw))
    radius2 = un.square().addcmul_(vn, vn)
    d_face = radius2.sqrt().sub_(1).mul_(_col(torch.minimum(fw, fh) * px))

    # Hair: a cap behind the head, shifted against the yaw, its sides falling straight down to
    # hair_length; plus the part of the face above the hairline.
    cap_a, cap_b = fw + f["hair_volume"], fh + f["hair_volume"]
    cap_u = grid.u(_col(1 / cap_a), _col(0.25 * fw * torch.sin(yaw)))
    cap_v = grid.v(_col(1 / cap_b), _col(0.12 * fh)).clamp_(max=0)
    d_hair = _ellipse(cap_u, cap_v, _col(torch.minimum(cap_a, cap_b) * px))
    hair_end = fh * (0.1 + 1.35 * f["hair_length"])
    torch.maximum(d_hair, grid.v(px, _col(-hair_end)), out=d_hair)
    line = torch.tensor(_HAIRLINES, dtype=torch.float64)[f["hair_style"].round().clamp(0, 2).long()] * fh[:, None]
    above = grid.v(-px, _col(-line[:, 0]))  # px * (hairline(u) - v), > 0 above the hairline
    above.addcmul_(u.mul(_col(line[:, 2] / fw**2 * px)).add_(_col(line[:, 1] / fw * px)), u)
    torch.minimum(d_hair, torch.maximum(d_face, -above), out=d_hair)
    d_skin = torch.maximum(d_face, above, out=above)

    head_alpha = _paint(image, _rgb(hair, n), d_hair)
    _paint(image, _rgb(skin, n), d_skin)
    face_mask.copy_(_coverage(d_face))
    torch.maximum(head_alpha, face_mask, out=head_alpha)
    _draw_features(f, frame, skin, hair, image.view(n, 3, -1), face_mask.view(n, 1, -1), em.view(n, 1, -1))

    # Shading: a sphere's normals (un, vn, nz) lit from the light direction (turned into the face
    # frame); the unlit side darkens by up to half the light strength.
    tilt = math.sin(_LIGHT_ELEVATION)
    light_u = tilt * (frame.cos * light_x + frame.sin * light_y)
    light_v = tilt * (-frame.sin * light_x + frame.cos * light_y)
    unlit = radius2.neg_().add_(1).clamp_(min=0).sqrt_().mul_(-math.cos(_LIGHT_ELEVATION)).add_(1)
    unlit = unlit.addcmul_(un, _col(-light_u)).addcmul_(vn, _col(-light_v)).clamp_(0, 1)
    image.mul_(unlit.mul_(_col(-0.5 * strength)).unsqueeze(1).mul_(head_alpha).add_(1))
    torch.minimum(em, face_mask, out=em)


def _draw_features(f: Mapping[str, Tensor], frame: _Frame, skin: Tensor, hair: Tensor, image: Tensor,
                   face_mask: Tensor, em: Tensor) -> None:
    """Eyes, brows, nose and mouth, each drawn in a small window around it; ``image`` (n, 3, R*R),
    ``face_mask`` and ``em`` (n, 1, R*R) are flat views of the outputs."""
    n, px = len(f["yaw"]), frame.scale
    yaw, pitch = torch.deg2rad(f["yaw"]), torch.deg2rad(f["pitch"])
    fw, fh = f["face_width"], f["face_height"]
    line = 0.55  # half-width of ink lines, pixels
    white, ink = _rgb(_WHITE, n), _rgb(_INK, n)

    # Eyes: white, iris and pupil looking along the gaze, a glint, an outline; a brow arches above,
    # its inner end down when frowning and up when surprised.
    eye_v, eye_fy = _project(f["eye_height"] * fh, fh, pitch)
    eye_a = f["eye_size"] * fw
    eye_b = 0.62 * eye_a
    iris_r = 0.85 * eye_b
    brow_v = eye_v - (0.22 + 0.07 * f["brow_raise"]) * fh * eye_fy
    iris = _rgb(_ramp(f["eye_tone"], _IRIS), n)
    eye_radius = _slice_radius(f, f["eye_height"] * fh)
    for side in (-1.0, 1.0):
        eye_u0 = side * f["eye_spacing"] * fw
        eye_u = eye_radius * torch.sin(torch.asin(eye_u0 / eye_radius) + yaw)
        win = _Window(frame, eye_u, (eye_v + brow_v) / 2, (0.24, 0.23), image, face_mask, em)
        qu = _surface_u(win.grid, eye_radius, yaw, eye_u0, eye_a)
        qv = win.grid.v(_col(1 / (eye_fy * eye_b)), _col(-eye_v))
        d_white = _ellipse(qu.clone(), qv, _col(eye_b * px))
        iris_u = torch.sub(qu * _col(eye_a), _col(f["gaze_x"] * (eye_a - iris_r) * 0.8))
        iris_v = win.grid.v(_col(1 / eye_fy), _col(-eye_v - eye_fy * f["gaze_y"] * eye_b * 0.3))
        iris_d = iris_u.square().addcmul_(iris_v, iris_v).sqrt_().mul_(px)
        shine = iris_u.add_(_col(0.3 * iris_r)).square_().addcmul_(*(2 * [iris_v.add_(_col(0.35 * iris_r))]))
        win.paint(white, d_white.clone())
        win.paint(iris, torch.maximum(iris_d - _col(iris_r * px), d_white))
        win.paint(ink, torch.maximum(iris_d.sub_(_col(0.5 * iris_r * px)), d_white))
        win.paint(white, torch.maximum(shine.sqrt_().sub_(_col(0.22 * iris_r)).mul_(px), d_white))
        win.paint(ink, d_white.abs().sub_(line))
        win.add_to_mask(d_white.sub_(1.0))
        brow_u = qu.mul_(1 / 1.1)
        brow_d = _curve(brow_u, win.grid.v(_col(1 / (1.1 * eye_fy * eye_a)), _col(-brow_v)),
                        _col(torch.full_like(eye_a, 0.15 / 1.1)), _col(side * 0.11 * f["brow_raise"]))
        win.paint(_rgb(hair * 0.75, n), brow_d.sub_(0.16 / 1.1).mul_(_col(1.1 * eye_a * px)))
        win.commit()

    # Nose: the lower arc of its tip, which sticks out and so moves further with the yaw.
    nose_v, nose_fy = _project((f["eye_height"] + f["nose_length"]) * fh, fh, pitch)
    nose_u = 1.2 * fw * torch.sin(yaw)
    nose_a = f["nose_width"] * fw
    win = _Window(frame, nose_u, nose_v + 0.25 * nose_a, (0.12, 0.05), image, face_mask, em)
    qv = win.grid.v(_col(1 / (0.6 * nose_a * nose_fy)), _col(-nose_v))
    tip = _ellipse(win.grid.u(_col(1 / (nose_a * torch.cos(yaw))), _col(-nose_u)), qv.clone(),
                   _col(0.6 * nose_a * px))
    win.paint(_rgb(skin * 0.55, n), torch.maximum(tip.abs_().sub_(line), qv.mul_(_col(-0.6 * nose_a * px))))
    win.commit()

    # Mouth: a centre line curved by the smile; opening parts the lips around it, teeth at the top.
    mouth_v, mouth_fy = _project(f["mouth_height"] * fh, fh, pitch)
    mouth_radius = _slice_radius(f, f["mouth_height"] * fh)
    half = f["mouth_width"] * fw
    win = _Window(frame, mouth_radius * torch.sin(yaw), mouth_v, (0.27, 0.19), image, face_mask, em)
    qu = _surface_u(win.grid, mouth_radius, yaw, torch.zeros_like(yaw), half)
    qv = win.grid.v(_col(1 / (mouth_fy * half)), _col(-mouth_v))
    bend = _col(-0.4 * f["smile"])
    opening = qu.square().neg_().add_(1).clamp_(min=0).mul_(_col(0.4 * f["mouth_open"]))
    inside = _curve(qu, qv, bend, torch.zeros_like(bend)).sub_(opening).mul_(_col(half * px))
    teeth = qv.sub_(bend * (qu.square_() - 1 / 3)).add_(0.3 * opening).mul_(_col(half * px))
    win.paint(_rgb(_MOUTH, n), inside.clone())
    win.paint(white, torch.maximum(inside, teeth, out=teeth))
    win.paint(_rgb(_LIPS, n), inside.abs().sub_(line + 0.25))
    win.add_to_mask(inside.sub_(_col(0.15 * half * px)).sub_(1.0))
    win.commit()


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
            _draw_chunk(part, resolution, images[lo:hi], face_mask[lo:hi], eyes_mouth_mask[lo:hi].zero_())
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


def iter_render(n: int, *, batch_size: int = 1024, resolution: int = 64, domain: str = "A",
                seed: int = 0) -> Iterator[FaceBatch]:
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
    return image_grid(torch.cat([batch.images for batch in rows.values()]), nrow=columns, row_labels=list(rows),
                      cell_size=0.9)
