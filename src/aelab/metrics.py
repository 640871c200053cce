"""Measures of reconstruction, of what a latent code holds, and of face swaps against the truth.

- :func:`psnr`: peak signal-to-noise ratio of images in [0, 1]; :func:`masked_psnr` inside a mask.
- :func:`linear_probe`: how much of each ground-truth factor a linear read-out recovers from codes
  (R² on held-out samples), the standard "linear probe" of representation learning.
- :class:`FactorReader`: a small CNN that reads generative factors (pose, gaze, smile, light,
  identity) back from face images, trained on rendered faces whose factors are known.
- :func:`score_swaps`: a swapping model's swaps (:func:`swaps_of`) against the true swaps of
  :func:`aelab.data.faces.render_swap` (:func:`score_swap_images`) -- SSIM/PSNR, which factors carry
  over from dst (R²) and how much of dst's identity leaks into the swap (:func:`identity_leak`);
  :func:`swap_table` puts several models side by side.

Images are tensors (N, C, H, W) of floats in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from aelab import losses
from aelab.data import faces
from aelab.fitting import fit_steps
from aelab.models import SAEHDSwap
from aelab.report import measured
from aelab.validate import (
    check_choice,
    check_columns,
    check_float,
    check_image_pair,
    check_images,
    check_instance,
    check_int,
    check_mask,
    check_positive_int,
    check_seed,
    check_tensor,
)

__all__ = [
    "psnr",
    "masked_psnr",
    "linear_probe",
    "r2_score",
    "CARRY_FACTORS",
    "IDENTITY_READ",
    "factor_targets",
    "FactorReader",
    "identity_leak",
    "SwapScores",
    "swaps_of",
    "score_swaps",
    "score_swap_images",
    "swap_table",
]


def psnr(x: torch.Tensor, y: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    """PSNR in dB of images in [0, 1] (data range 1): 10·log10(1 / MSE), per image then reduced.

    ``reduction``: "mean" (a scalar) or "none" (one value per image). Identical images give +inf.
    """
    check_image_pair(("x", "y"), x, y)
    check_choice("reduction", reduction, ("mean", "none"))
    mse = (x.float() - y.float()).pow(2).flatten(1).mean(1)
    values = -10.0 * torch.log10(mse)
    return values.mean() if reduction == "mean" else values


def masked_psnr(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """PSNR in dB of images (N, C, H, W) in [0, 1] over the pixels of a mask (N, 1, H, W) in [0, 1].

    MSE = Σ mask·(x − y)² / (C · Σ mask) per image, then 10·log10(1 / MSE): one value per image (N,).
    """
    check_image_pair(("x", "y"), x, y)
    check_mask("mask", mask, like=x)
    weight = mask.float()
    mse = (weight * (x.float() - y.float()).pow(2)).flatten(1).sum(1) / (x.shape[1] * weight.flatten(1).sum(1))
    return -10.0 * torch.log10(mse)


def r2_score(target: torch.Tensor, prediction: torch.Tensor) -> float:
    """Coefficient of determination 1 − SS_res / SS_tot of a 1-D target; 0 for a constant target."""
    target, prediction = target.double().flatten(), prediction.double().flatten()
    ss_tot = (target - target.mean()).pow(2).sum()
    if ss_tot <= 0:
        return 0.0
    return float(1.0 - (target - prediction).pow(2).sum() / ss_tot)


def linear_probe(
    codes: torch.Tensor,
    factors: Mapping[str, torch.Tensor],
    *,
    test_fraction: float = 0.25,
    ridge: float = 1e-3,
    seed: int = 0,
) -> dict[str, float]:
    """Held-out R² of a ridge-regularised linear read-out of each factor from the codes.

    ``codes``: (N, D) (or (N, ...) flattened); ``factors``: name -> (N,) tensor. The samples are split
    once at random (seeded) into train and test; codes are standardised on the train part. The
    read-out is the ridge of :func:`aelab.latent.factor_direction`: scikit-learn's ``Ridge`` with
    ``alpha = ridge · (train samples)``, the bias not penalised (``ridge = 0``: ``LinearRegression``).
    An R² near 1 means the factor is linearly readable from the code; near 0 (or below) means it is not.
    """
    from sklearn.linear_model import LinearRegression, Ridge

    test_fraction = check_float(
        "test_fraction", test_fraction, minimum=0, maximum=1, min_inclusive=False, max_inclusive=False
    )
    ridge = check_float("ridge", ridge, minimum=0)
    seed = check_seed("seed", seed)
    x = check_tensor("codes", codes).detach().flatten(1).double().cpu()
    n = x.shape[0]
    n_test = int(round(n * test_fraction))
    if n_test < 2 or n - n_test < 2:
        raise ValueError(f"need more samples for a held-out probe: got {n} with test_fraction {test_fraction}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    train, test = order[n_test:], order[:n_test]
    mean, std = x[train].mean(0), x[train].std(0).clamp_min(1e-8)
    x, train, test = ((x - mean) / std).numpy(), train.numpy(), test.numpy()
    model = Ridge(alpha=ridge * len(train)) if ridge > 0 else LinearRegression()
    scores = {}
    for name, values in factors.items():
        y = values.detach().double().cpu().flatten()
        if y.shape[0] != n:
            raise ValueError(f"factor {name!r} has {y.shape[0]} values for {n} codes")
        y = y.numpy()
        prediction = model.fit(x[train], y[train]).predict(x[test])
        scores[name] = r2_score(torch.from_numpy(y[test]), torch.from_numpy(prediction))
    return scores


# ----------------------------------------------------------------------------------------------------
# Reading factors back from images, and scoring face swaps against the true swap (lab 03)
# ----------------------------------------------------------------------------------------------------

#: What a swap should carry over from dst, as :class:`FactorReader` reads it: pose, gaze, expression
#: and the light (as a vector, see :func:`factor_targets`).
CARRY_FACTORS: tuple[str, ...] = (
    "yaw",
    "pitch",
    "roll",
    "gaze_x",
    "gaze_y",
    "smile",
    "mouth_open",
    "light_x",
    "light_y",
)
#: Identity factors of the face region (hair is outside the face mask) that a swap should take from src.
IDENTITY_READ: tuple[str, ...] = ("face_width", "face_height", "jaw_taper", "eye_spacing", "eye_size", "skin_tone")


def factor_targets(factors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The quantities a :class:`FactorReader` learns, from a face batch's ``factors`` (name -> (N,)).

    Every factor as it is, plus the light as a vector, ``light_x = light_strength·cos(light_azimuth)``
    and ``light_y = light_strength·sin(light_azimuth)``: the azimuth alone wraps around at ±180° and
    means nothing when the light is flat, the vector does neither.
    """
    targets = {name: value.detach().float().cpu().flatten() for name, value in factors.items()}
    if "light_azimuth" in targets and "light_strength" in targets:
        angle = torch.deg2rad(targets["light_azimuth"])
        targets["light_x"] = targets["light_strength"] * torch.cos(angle)
        targets["light_y"] = targets["light_strength"] * torch.sin(angle)
    return targets


class FactorReader:
    """Reads generative factors back from face images: a small CNN regressor, trained on rendered faces
    whose factors are known (:meth:`for_faces`), then used on images whose factors are not (swaps).

    ``fit(images, factors)`` trains it on a fixed set (Adam, MSE on standardised targets, a fixed
    number of seeded steps); :meth:`for_faces` trains it on freshly rendered faces at every step, so
    it never sees a face twice and cannot overfit. ``predict(images)`` returns name -> (N,) readings
    in each factor's own units; ``score`` the R² per factor (:func:`r2_score`). Images are
    (N, 3, R, R) floats in [0, 1] at the reader's ``resolution``. The network: per stage a 3×3 conv
    and a strided 3×3 conv, each with batch norm and leaky ReLU 0.1 (width, 2·width, ... channels),
    down to 4×4, then two dense layers.
    """

    def __init__(
        self,
        names: Sequence[str] = CARRY_FACTORS + IDENTITY_READ,
        *,
        resolution: int = 32,
        width: int = 16,
        seed: int = 0,
    ) -> None:
        if isinstance(names, str) or not names or not all(isinstance(n, str) for n in names):
            raise ValueError(f"names must be a non-empty sequence of factor names, got {names!r}")
        resolution = check_int("resolution", resolution, minimum=8, expected="a power of two >= 8")
        if resolution & (resolution - 1):
            raise ValueError(f"resolution must be a power of two >= 8, got {resolution}")
        width = check_positive_int("width", width)
        seed = check_seed("seed", seed)
        self.names = tuple(names)
        self.resolution = resolution
        self.width = width
        self.fitted = False
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            layers: list[nn.Module] = []
            channels, side = 3, resolution
            while side > 4:
                out = width * 2 ** min(len(layers) // 6, 3)
                for stride in (1, 2):
                    layers += [
                        nn.Conv2d(channels, out, 3, stride=stride, padding=1),
                        nn.BatchNorm2d(out),
                        nn.LeakyReLU(0.1),
                    ]
                    channels = out
                side //= 2
            self.net = nn.Sequential(
                *layers, nn.Flatten(), nn.Linear(channels * 16, 128), nn.LeakyReLU(0.1), nn.Linear(128, len(self.names))
            )
        self._mean = torch.zeros(len(self.names))
        self._std = torch.ones(len(self.names))

    def _targets(self, factors: Mapping[str, torch.Tensor], n: int) -> torch.Tensor:
        targets = factor_targets(factors)
        length = check_columns("factors", targets, self.names, fix=f"the reader reads {list(self.names)}")
        if length != n:
            raise ValueError(f"factors hold {length} values per name for {n} images")
        return torch.stack([targets[name] for name in self.names], dim=1)

    def _train(
        self, draw: Callable[[int], tuple[torch.Tensor, torch.Tensor]], steps: int, lr: float, progress: bool, desc: str
    ) -> list[float]:
        """``steps`` Adam steps (:func:`aelab.fitting.fit_steps`) on the batches ``draw(step) -> (images,
        targets)``, the MSE on standardised targets; returns the loss of each step."""
        device = next(self.net.parameters()).device

        def step_loss(step: int) -> torch.Tensor:
            images, y = draw(step)
            return F.mse_loss(self.net(images.to(device)), ((y - self._mean) / self._std).to(device))

        history = fit_steps(self.net, step_loss, steps=steps, lr=lr, progress=progress, desc=desc)
        self.fitted = True
        return history

    def fit(
        self,
        images: torch.Tensor,
        factors: Mapping[str, torch.Tensor],
        *,
        steps: int = 600,
        batch_size: int = 64,
        lr: float = 2e-3,
        seed: int = 0,
        progress: bool = True,
    ) -> FactorReader:
        """Train on ``images`` (N, 3, R, R) in [0, 1] whose ``factors`` (name -> (N,)) are known; returns self."""
        images = check_images("images", images, channels=3, resolution=self.resolution)
        y = self._targets(factors, images.shape[0])
        batch_size = check_int("batch_size", batch_size, minimum=1, maximum=len(y))
        seed = check_seed("seed", seed)
        self._mean, self._std = y.mean(0), y.std(0).clamp_min(1e-6)
        generator = torch.Generator().manual_seed(seed)

        def draw(_step: int) -> tuple[torch.Tensor, torch.Tensor]:
            index = torch.randint(len(y), (batch_size,), generator=generator)
            return images[index], y[index]

        self._train(draw, steps, lr, progress, "factor reader")
        return self

    @classmethod
    def for_faces(
        cls,
        *,
        resolution: int = 32,
        steps: int = 600,
        batch_size: int = 64,
        lr: float = 2e-3,
        masked: bool = True,
        seed: int = 0,
        progress: bool = True,
        **kwargs: Any,
    ) -> FactorReader:
        """A reader trained on faces of the "mixed" domain (a new identity each, so that it reads identity
        factors as well as pose, expression and light), ``batch_size`` new faces at every step.

        ``masked``: train on ``image · face_mask`` (the face alone, as SAEHD's masked training sees it);
        then read images masked the same way. Other keyword arguments go to the constructor.
        """
        reader = cls(resolution=resolution, seed=seed, **kwargs)
        reader._fit_faces(
            steps,
            batch_size,
            lr,
            seed,
            masked=masked,
            reference_start=steps * batch_size,
            progress=progress,
            desc="factor reader",
        )
        return reader

    def _fit_faces(
        self,
        steps: int,
        batch_size: int,
        lr: float,
        seed: int,
        *,
        masked: bool,
        reference_start: int,
        progress: bool,
        desc: str,
    ) -> list[float]:
        """Train on ``batch_size`` new "mixed" faces (stream ``seed``) at each step, through their face masks
        if ``masked``; the targets standardised with the 1024 faces of the stream from ``reference_start``
        (which training never reaches). Returns the loss of each step."""
        resolution = self.resolution

        def draw(step: int) -> tuple[torch.Tensor, torch.Tensor]:
            batch = faces.render(batch_size, resolution=resolution, domain="mixed", seed=seed, start=step * batch_size)
            images = batch.images * batch.face_mask if masked else batch.images
            return images, self._targets(batch.factors, batch_size)

        reference = faces.render(1024, resolution=resolution, domain="mixed", seed=seed, start=reference_start)
        y = self._targets(reference.factors, len(reference))
        self._mean, self._std = y.mean(0), y.std(0).clamp_min(1e-6)
        return self._train(draw, steps, lr, progress, desc)

    @torch.no_grad()
    def predict(self, images: torch.Tensor, *, batch_size: int = 256) -> dict[str, torch.Tensor]:
        """The readings of images (N, 3, R, R) in [0, 1]: name -> (N,) tensor on the CPU, in each factor's units."""
        if not self.fitted:
            raise RuntimeError(
                "this FactorReader is not trained yet: call fit(images, factors) or use FactorReader.for_faces"
            )
        images = check_images("images", images, channels=3, resolution=self.resolution)
        device = next(self.net.parameters()).device
        self.net.eval()
        out = torch.cat(
            [self.net(images[i : i + batch_size].to(device)).cpu() for i in range(0, len(images), batch_size)]
        )
        out = out * self._std + self._mean
        return {name: out[:, k] for k, name in enumerate(self.names)}

    def score(self, images: torch.Tensor, factors: Mapping[str, torch.Tensor]) -> dict[str, float]:
        """R² per factor of the readings of ``images`` against their known ``factors``."""
        targets = self._targets(factors, images.shape[0])
        read = self.predict(images)
        return {name: r2_score(targets[:, k], read[name]) for k, name in enumerate(self.names)}

    def to(self, device: str | torch.device) -> FactorReader:
        """Move the network to ``device``; returns self."""
        self.net.to(device)
        return self

    def state_dict(self) -> dict[str, Any]:
        """Everything a trained reader is, as tensors, strings and ints (``torch.save`` it; load with
        ``torch.load(path, weights_only=True)`` and :meth:`from_state_dict`)."""
        return {
            "names": list(self.names),
            "resolution": self.resolution,
            "width": self.width,
            "mean": self._mean,
            "std": self._std,
            "fitted": self.fitted,
            "net": {k: v.detach().cpu() for k, v in self.net.state_dict().items()},
        }

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any]) -> FactorReader:
        """The reader that :meth:`state_dict` described."""
        reader = cls(state["names"], resolution=int(state["resolution"]), width=int(state["width"]))
        reader.net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state["net"].items()})
        reader._mean, reader._std = state["mean"].float(), state["std"].float()
        reader.fitted = bool(state["fitted"])
        reader.net.eval()
        return reader


def identity_leak(
    swap: Mapping[str, torch.Tensor], truth: Mapping[str, torch.Tensor], dst: Mapping[str, torch.Tensor]
) -> dict[str, float]:
    """How far a swap's identity sits from src's (0) toward dst's (1), per factor.

    Each argument maps factor names to (N,) readings (:meth:`FactorReader.predict`) of the swaps,
    the true swaps (src's identity) and the dst faces, image by image. Per name of ``swap``:
    ``mean(swap - truth) / mean(dst - truth)``; comparing readings with readings cancels the
    reader's own bias. NaN where the reader cannot tell the two identities apart (``mean(dst - truth) == 0``).
    """
    leaks = {}
    for name, values in swap.items():
        gap = float((dst[name].double() - truth[name].double()).mean())
        shift = float((values.double() - truth[name].double()).mean())
        leaks[name] = shift / gap if gap != 0 else float("nan")
    return leaks


@dataclass(frozen=True)
class SwapScores:
    """How well a model's swaps of dst faces match the true swaps (see :func:`score_swaps`).

    ``ssim``, ``psnr``: the swap against the true swap inside the true swap's face mask (``psnr``
    in dB, over the masked pixels only); ``carry_over``: R² per factor of :data:`CARRY_FACTORS` between
    what the reader reads from the swap and dst's true value (1: carried over, 0 or below: lost);
    ``ceiling``: the same for the true swaps (the reader's own limit); ``identity_leak``: per factor
    of :data:`IDENTITY_READ`, 0 = src's identity, 1 = dst's (:func:`identity_leak`).
    """

    ssim: float
    psnr: float
    carry_over: dict[str, float]
    ceiling: dict[str, float]
    identity_leak: dict[str, float]

    @property
    def mean_leak(self) -> float:
        """The identity leak averaged over the factors."""
        return sum(self.identity_leak.values()) / len(self.identity_leak)


@torch.no_grad()
def swaps_of(model: torch.nn.Module, dst: faces.FaceBatch, *, batch_size: int = 128) -> SAEHDSwap:
    """A swapping model's swaps of ``dst`` (a :class:`aelab.data.faces.FaceBatch`), on the CPU: its
    :class:`aelab.models.SAEHDSwap` (images (N, 3, R, R), their masks and dst's as the model draws it,
    (N, 1, R, R), in [0, 1]), drawn in eval mode ``batch_size`` at a time (the model's mode is restored)."""
    faces.check_face_batch("dst", dst)
    batch_size = check_positive_int("batch_size", batch_size)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        parts = [model.swap(dst.images[i : i + batch_size].to(device)) for i in range(0, len(dst), batch_size)]
    finally:
        model.train(was_training)
    return SAEHDSwap(*(torch.cat([getattr(p, key) for p in parts]).cpu() for key in SAEHDSwap._fields))


def score_swaps(
    model: torch.nn.Module, dst: faces.FaceBatch, reader: FactorReader, *, src_domain: str = "A", batch_size: int = 128
) -> SwapScores:
    """Score a swapping model's swaps of ``dst`` (a :class:`aelab.data.faces.FaceBatch`; DF, LIAE or any
    :class:`aelab.models.SwapModel`) against the true swaps: :func:`swaps_of`, then
    :func:`score_swap_images`."""
    check_instance("reader", reader, FactorReader, made_by="FactorReader.for_faces")
    swap = swaps_of(model, dst, batch_size=batch_size)
    return score_swap_images(swap.pred_src_dst, swap.pred_src_dstm, dst, reader, src_domain=src_domain)


@torch.no_grad()
def score_swap_images(
    swap: torch.Tensor, swap_mask: torch.Tensor, dst: faces.FaceBatch, reader: FactorReader, *, src_domain: str = "A"
) -> SwapScores:
    """Score swaps of ``dst`` (images (N, 3, R, R) and their masks (N, 1, R, R) in [0, 1], DFL's
    ``pred_src_dst`` and ``pred_src_dstm``) against the true swaps that
    :func:`aelab.data.faces.render_swap` draws (dst's pose, expression and light with ``src_domain``'s
    identity).

    PSNR compares swap and truth inside the true swap's face mask (:func:`masked_psnr`). SSIM (window
    11) is that of the two images with everything outside that mask set to 0, averaged over the whole
    image: the zeroed background scores a perfect 1, so the figure is higher than SSIM inside the face
    alone (as :meth:`aelab.train.Trainer.evaluate`'s masked SSIM). The reader
    (trained with ``masked=True``) reads each image through its own face mask: the swap through its
    mask ``swap_mask``, the truth and dst through their rendered masks -- never the truth's mask on
    the swap, whose outline alone would give the pose away.
    """
    faces.check_face_batch("dst", dst)
    check_instance("reader", reader, FactorReader, made_by="FactorReader.for_faces")
    dst = dst.to("cpu")
    swap = check_images("swap", swap, channels=3, resolution=dst.images.shape[-1]).detach().cpu()
    swap_mask = check_mask("swap_mask", swap_mask, like=swap).detach().cpu()
    if len(swap) != len(dst):
        raise ValueError(f"swap holds {len(swap)} images for {len(dst)} dst faces; give one swap per dst face")
    truth = faces.render_swap(dst, src_domain)
    mask = truth.face_mask
    read_swap = reader.predict(swap * swap_mask)
    read_truth = reader.predict(truth.images * mask)
    read_dst = reader.predict(dst.images * dst.face_mask)
    targets = factor_targets(dst.factors)
    carried = [name for name in CARRY_FACTORS if name in reader.names]
    kept = [name for name in IDENTITY_READ if name in reader.names]
    return SwapScores(
        ssim=float(losses.ssim(swap * mask, truth.images * mask)),
        psnr=float(masked_psnr(swap, truth.images, mask).mean()),
        carry_over={name: r2_score(targets[name], read_swap[name]) for name in carried},
        ceiling={name: r2_score(targets[name], read_truth[name]) for name in carried},
        identity_leak=identity_leak({n: read_swap[n] for n in kept}, read_truth, read_dst),
    )


def _cell(value: float) -> str:
    """A measured number of the table: `` ≈``, then 2 decimals right-aligned in 5 characters (nbval
    masks the digits with the padding before them, so the line compares the same whatever they are)."""
    return f" {measured(0.0 if abs(value) < 0.005 else value, 2, width=5)}"  # never "-0.00"


def _verdict(
    names: list[str], values: list[float], *, higher: bool, tolerance: float, ceiling: float | None = None
) -> str:
    """Which model a row favours: its name, "tie" (within ``tolerance``), and for carry-over rows
    "neither" (every R² below 0.2) or "unreadable" (the reader's own R² on the truth below 0.5)."""
    if ceiling is not None and ceiling < 0.5:
        return "unreadable"
    if ceiling is not None and max(values) < 0.2:
        return "neither"
    keys = values if higher else [-abs(v) for v in values]
    order = sorted(range(len(values)), key=lambda k: keys[k], reverse=True)
    if len(order) > 1 and keys[order[0]] - keys[order[1]] < tolerance:
        return "tie"
    return names[order[0]]


def swap_table(scores: Mapping[str, SwapScores]) -> str:
    """Several models' :class:`SwapScores` side by side in one text table (numbers at 2 decimals,
    each marked ``≈`` as a measured figure of :mod:`aelab.report`: nbval compares the verdicts).

    The "truth" column is the reader's R² on the true swaps (the most a swap can score on that row);
    the last column names the model each row favours: higher SSIM and PSNR, higher carry-over R², an
    identity leak nearer 0; "tie" within 0.02 SSIM, 0.1 dB, 0.05 R² or 0.05 leak; "neither" when every
    model's R² is below 0.2; "unreadable" when the reader itself cannot read the factor (R² < 0.5).
    """
    if not scores:
        raise ValueError("scores is empty: give {model name: SwapScores}")
    names = list(scores)
    first = scores[names[0]]
    # (label, values, ceiling, higher is better, tolerance)
    rows: list[tuple[str, list[float], float | None, bool, float]] = [
        ("SSIM vs true swap", [s.ssim for s in scores.values()], None, True, 0.02),
        ("PSNR vs true swap (dB)", [s.psnr for s in scores.values()], None, True, 0.1),
    ]
    rows += [
        (f"carry-over R² {f}", [s.carry_over[f] for s in scores.values()], first.ceiling[f], True, 0.05)
        for f in first.carry_over
    ]
    rows += [
        (f"identity leak {f}", [s.identity_leak[f] for s in scores.values()], None, False, 0.05)
        for f in first.identity_leak
    ]
    rows.append(("identity leak (mean)", [s.mean_leak for s in scores.values()], None, False, 0.05))
    width = max(len(r[0]) for r in rows) + 2
    header = f"{'':<{width}}" + "".join(f"{n:>8}" for n in names) + f"{'truth':>8}  verdict"
    lines = [header, "-" * len(header)]
    for label, values, ceiling, higher, tolerance in rows:
        verdict = _verdict(names, values, higher=higher, tolerance=tolerance, ceiling=ceiling)
        lines.append(
            f"{label:<{width}}"
            + "".join(_cell(v) for v in values)
            + (_cell(ceiling) if ceiling is not None else " " * 8)
            + f"  {verdict}"
        )
    return "\n".join(lines)
