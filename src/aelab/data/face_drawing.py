"""How SynthFaces are drawn: signed distances, the head's frame, feature windows and shading.

:mod:`aelab.data.faces` draws its factors and its batches with :func:`draw_faces`; this module holds
the geometry. Every shape is drawn from an analytic signed distance with a smoothstep over one
pixel, so edges are anti-aliased and carry no jagged pattern that a detector could learn instead of
generator artifacts.

Coordinates: the image spans [-1, 1] on both axes (x to the right, y downwards), a pixel is
``2 / resolution`` wide. The factors ``f`` are name -> (n,) float64 tensors, every name of
:data:`aelab.data.faces.FACTORS`; the outputs are written in place.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

__all__ = ["draw_faces"]

_HEAD_Y = 0.06  # the head's centre sits slightly below the image centre (hair takes the top)
_LIGHT_ELEVATION = math.radians(55.0)
_LINE = 0.55  # half-width of ink lines, pixels

_SKIN = (
    (0.98, 0.86, 0.76),
    (0.96, 0.78, 0.64),
    (0.87, 0.65, 0.49),
    (0.71, 0.49, 0.34),
    (0.51, 0.34, 0.23),
    (0.36, 0.24, 0.17),
)
_HAIR = (
    (0.10, 0.08, 0.07),
    (0.30, 0.18, 0.10),
    (0.55, 0.34, 0.17),
    (0.68, 0.30, 0.12),
    (0.88, 0.72, 0.40),
    (0.72, 0.72, 0.72),
)
_IRIS = ((0.36, 0.20, 0.08), (0.48, 0.40, 0.14), (0.22, 0.52, 0.24), (0.22, 0.45, 0.80), (0.50, 0.56, 0.62))
# Hairline v = (h0 + h1 * u + h2 * u**2) * face_height, u in face widths, per hair_style.
_HAIRLINES = ((-0.62, 0.0, 0.32), (-0.42, 0.0, 0.08), (-0.50, 0.22, 0.12))
_WHITE = (0.97, 0.97, 0.95)
_INK = (0.12, 0.08, 0.08)
_MOUTH = (0.38, 0.07, 0.10)
_LIPS = (0.62, 0.22, 0.22)


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
    """Per-image head frame: the roll rotation about the head centre and the pixel scale;
    ``max_roll`` (radians) bounds the roll of any face, so a window's size does not depend on the
    faces drawn with it."""

    def __init__(self, roll_degrees: Tensor, resolution: int, max_roll: float) -> None:
        roll = torch.deg2rad(roll_degrees)
        self.cos, self.sin = roll.cos(), roll.sin()
        self.resolution = resolution
        self.scale = resolution / 2  # pixels per image unit
        self.max_roll = max_roll

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
        c, s = math.cos(self.max_roll), math.sin(self.max_roll)
        half = max(half_width * c + half_height * s, half_width * s + half_height * c)
        return 2 * math.ceil(half * self.scale + 1)


class _Window:
    """A square window of the image and of the eyes-and-mouth mask, gathered for drawing and
    scattered back by :meth:`commit`; what is drawn in it stays inside the face."""

    def __init__(
        self,
        frame: _Frame,
        u: Tensor,
        v: Tensor,
        half_size: tuple[float, float],
        image: Tensor,
        face_mask: Tensor,
        em: Tensor,
    ) -> None:
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


def draw_faces(
    f: Mapping[str, Tensor], resolution: int, max_roll: float, image: Tensor, face_mask: Tensor, em: Tensor
) -> None:
    """Draw faces with factors ``f`` ((n,) float64 each) into the (n, C, R, R) outputs, in place.

    ``max_roll``: the largest roll of the factor range, in radians (features are drawn in windows
    that hold them at any roll up to it); ``em`` must start at 0 (the eyes and mouth are added).
    Backdrop, head (hair and skin), features, then the shading over the head.
    """
    n = len(f["yaw"])
    frame = _Frame(f["roll"], resolution, max_roll)
    skin, hair = _ramp(f["skin_tone"], _SKIN), _ramp(f["hair_tone"], _HAIR)
    azimuth = torch.deg2rad(f["light_azimuth"])
    light = torch.cos(azimuth), -torch.sin(azimuth)
    _draw_backdrop(f, resolution, light, image)
    head_alpha, sphere = _draw_head(f, frame, skin, hair, image, face_mask)
    # Eyes, brows, nose and mouth, each drawn in a small window around it, on flat views of the outputs.
    flat = (image.view(n, 3, -1), face_mask.view(n, 1, -1), em.view(n, 1, -1))
    _draw_eyes(f, frame, hair, *flat)
    _draw_nose(f, frame, skin, *flat)
    _draw_mouth(f, frame, *flat)
    _shade(f, frame, light, sphere, head_alpha, image)
    torch.minimum(em, face_mask, out=em)


def _draw_backdrop(f: Mapping[str, Tensor], r: int, light: tuple[Tensor, Tensor], image: Tensor) -> None:
    """The background colour, a little brighter towards the light (separable, one pass), into ``image``."""
    light_x, light_y = light
    strength = f["light_strength"]
    coords = torch.linspace(-1 + 1 / r, 1 - 1 / r, r, dtype=torch.float64)
    backdrop = _hsv(f["background_hue"], 0.35, f["background_value"] / 1.2)[:, :, None]
    along_x = backdrop * (1 + 0.1 * (strength * light_x)[:, None, None] * coords)
    along_y = backdrop * ((0.1 * strength * light_y - 0.05)[:, None, None] * coords)
    torch.add(along_x.float()[:, :, None, :], along_y.float()[:, :, :, None], out=image)


def _draw_head(
    f: Mapping[str, Tensor], frame: _Frame, skin: Tensor, hair: Tensor, image: Tensor, face_mask: Tensor
) -> tuple[Tensor, tuple[Tensor, Tensor, Tensor]]:
    """Paint the hair and the skin into ``image`` and the face mask into ``face_mask``; returns the
    head's coverage (N, 1, R, R) and the face's sphere (un, vn, un² + vn²) that :func:`_shade` lights."""
    n, r, px = len(f["yaw"]), frame.resolution, frame.scale
    fw, fh = f["face_width"], f["face_height"]
    yaw = torch.deg2rad(f["yaw"])

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
    return head_alpha, (un, vn, radius2)


def _shade(
    f: Mapping[str, Tensor],
    frame: _Frame,
    light: tuple[Tensor, Tensor],
    sphere: tuple[Tensor, Tensor, Tensor],
    head_alpha: Tensor,
    image: Tensor,
) -> None:
    """A sphere's normals (un, vn, nz) lit from the light direction (turned into the face frame): the
    unlit side of the head darkens by up to half the light strength. Overwrites ``sphere``."""
    light_x, light_y = light
    un, vn, radius2 = sphere
    tilt = math.sin(_LIGHT_ELEVATION)
    light_u = tilt * (frame.cos * light_x + frame.sin * light_y)
    light_v = tilt * (-frame.sin * light_x + frame.cos * light_y)
    unlit = radius2.neg_().add_(1).clamp_(min=0).sqrt_().mul_(-math.cos(_LIGHT_ELEVATION)).add_(1)
    unlit = unlit.addcmul_(un, _col(-light_u)).addcmul_(vn, _col(-light_v)).clamp_(0, 1)
    image.mul_(unlit.mul_(_col(-0.5 * f["light_strength"])).unsqueeze(1).mul_(head_alpha).add_(1))


def _draw_eyes(f: Mapping[str, Tensor], frame: _Frame, hair: Tensor, *outputs: Tensor) -> None:
    """Eyes: white, iris and pupil looking along the gaze, a glint, an outline; a brow arches above,
    its inner end down when frowning and up when surprised. ``outputs``: the image (n, 3, R*R), face
    mask and eyes-and-mouth mask (n, 1, R*R), flat views of :func:`draw_faces`'s outputs."""
    n, px = len(f["yaw"]), frame.scale
    yaw, pitch = torch.deg2rad(f["yaw"]), torch.deg2rad(f["pitch"])
    fw, fh = f["face_width"], f["face_height"]
    white, ink = _rgb(_WHITE, n), _rgb(_INK, n)
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
        win = _Window(frame, eye_u, (eye_v + brow_v) / 2, (0.24, 0.23), *outputs)
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
        win.paint(ink, d_white.abs().sub_(_LINE))
        win.add_to_mask(d_white.sub_(1.0))
        brow_u = qu.mul_(1 / 1.1)
        brow_d = _curve(
            brow_u,
            win.grid.v(_col(1 / (1.1 * eye_fy * eye_a)), _col(-brow_v)),
            _col(torch.full_like(eye_a, 0.15 / 1.1)),
            _col(side * 0.11 * f["brow_raise"]),
        )
        win.paint(_rgb(hair * 0.75, n), brow_d.sub_(0.16 / 1.1).mul_(_col(1.1 * eye_a * px)))
        win.commit()


def _draw_nose(f: Mapping[str, Tensor], frame: _Frame, skin: Tensor, *outputs: Tensor) -> None:
    """Nose: the lower arc of its tip, which sticks out and so moves further with the yaw."""
    n, px = len(f["yaw"]), frame.scale
    yaw, pitch = torch.deg2rad(f["yaw"]), torch.deg2rad(f["pitch"])
    fw, fh = f["face_width"], f["face_height"]
    nose_v, nose_fy = _project((f["eye_height"] + f["nose_length"]) * fh, fh, pitch)
    nose_u = 1.2 * fw * torch.sin(yaw)
    nose_a = f["nose_width"] * fw
    win = _Window(frame, nose_u, nose_v + 0.25 * nose_a, (0.12, 0.05), *outputs)
    qv = win.grid.v(_col(1 / (0.6 * nose_a * nose_fy)), _col(-nose_v))
    tip = _ellipse(win.grid.u(_col(1 / (nose_a * torch.cos(yaw))), _col(-nose_u)), qv.clone(), _col(0.6 * nose_a * px))
    win.paint(_rgb(skin * 0.55, n), torch.maximum(tip.abs_().sub_(_LINE), qv.mul_(_col(-0.6 * nose_a * px))))
    win.commit()


def _draw_mouth(f: Mapping[str, Tensor], frame: _Frame, *outputs: Tensor) -> None:
    """Mouth: a centre line curved by the smile; opening parts the lips around it, teeth at the top."""
    n, px = len(f["yaw"]), frame.scale
    yaw, pitch = torch.deg2rad(f["yaw"]), torch.deg2rad(f["pitch"])
    fw, fh = f["face_width"], f["face_height"]
    mouth_v, mouth_fy = _project(f["mouth_height"] * fh, fh, pitch)
    mouth_radius = _slice_radius(f, f["mouth_height"] * fh)
    half = f["mouth_width"] * fw
    win = _Window(frame, mouth_radius * torch.sin(yaw), mouth_v, (0.27, 0.19), *outputs)
    qu = _surface_u(win.grid, mouth_radius, yaw, torch.zeros_like(yaw), half)
    qv = win.grid.v(_col(1 / (mouth_fy * half)), _col(-mouth_v))
    bend = _col(-0.4 * f["smile"])
    opening = qu.square().neg_().add_(1).clamp_(min=0).mul_(_col(0.4 * f["mouth_open"]))
    inside = _curve(qu, qv, bend, torch.zeros_like(bend)).sub_(opening).mul_(_col(half * px))
    teeth = qv.sub_(bend * (qu.square_() - 1 / 3)).add_(0.3 * opening).mul_(_col(half * px))
    win.paint(_rgb(_MOUTH, n), inside.clone())
    win.paint(_rgb(_WHITE, n), torch.maximum(inside, teeth, out=teeth))
    win.paint(_rgb(_LIPS, n), inside.abs().sub_(_LINE + 0.25))
    win.add_to_mask(inside.sub_(_col(0.15 * half * px)).sub_(1.0))
    win.commit()
