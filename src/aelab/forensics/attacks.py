"""White-box attacks on detectors: FGSM and PGD in the L∞ ball, and each detector as a differentiable logit.

Madry et al. 2018 ("Towards deep learning models resistant to adversarial attacks"): projected
gradient descent (ascent, on the detector's loss) from a random start in the ε-ball,

    x ← clip_[0, 1]( clip_[x₀ − ε, x₀ + ε]( x + α · sign(∇ₓ L(x)) ) ),

``steps`` times with step α (2.5 ε / steps by default, Madry et al.'s choice). FGSM (Goodfellow et al.
2015) is one such step of α = ε from x₀. The loss is the margin L = −(2y − 1) · logit(x) rather than
Madry's cross-entropy: the sign of its gradient is the same, but the cross-entropy's gradient is
exactly 0 in float32 once a detector is sure (|logit| above about 17), and a step of sign 0 does not
move -- gradient masking by saturation, which made a confident CNN look robust. For a fake (y = 1)
the step lowers its "fake" logit: the
forger's attack (Carlini & Farid 2020 took forensic classifiers to near-chance AUC so). With the true
labels of both classes it is Madry's inner maximisation, what adversarial training trains on.

:func:`detector_logit` turns the kit's detectors into functions images -> (N,) logits that gradients
go through: a :class:`~aelab.forensics.detectors.CNNDetector` (or a blend detector: the log-odds of the
mean of its networks' probabilities) and a :class:`~aelab.forensics.detectors.SpectralDetector` on the
azimuthal average (its scaler and logistic regression written out in torch), and :func:`mean_logit`
combines several (an ensemble's mean probability). An attacker who differentiates through everything
a defence does is Tramèr et al.'s (2020) **adaptive** attacker.

Images are tensors (N, C, H, W) of floats in [0, 1]; the attacked images stay within ε of the clean
ones in every pixel and in [0, 1]; they are not rounded to 8 bits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from aelab.forensics.detectors import CNNDetector, SpectralDetector
from aelab.forensics.spectra import azimuthal_average, power_spectrum
from aelab.validate import check_bool, check_float, check_images, check_int, check_seed

__all__ = ["Logit", "pgd_step", "pgd", "fgsm", "detector_logit", "mean_logit"]

#: A detector as a differentiable function: images (N, C, H, W) -> (N,) logits of "fake".
Logit = Callable[[Tensor], Tensor]


def pgd_step(images: Tensor, gradient: Tensor, clean: Tensor, epsilon: float, step_size: float) -> Tensor:
    """One step: ``images`` moved by ``step_size`` along the sign of ``gradient`` (of the loss to
    raise), projected into the L∞ ball of radius ``epsilon`` around ``clean``, then into [0, 1]."""
    moved = images + step_size * gradient.sign()
    return torch.min(torch.max(moved, clean - epsilon), clean + epsilon).clamp(0.0, 1.0)


def pgd(
    logit: Logit,
    images: Tensor,
    labels: Tensor | float = 1.0,
    *,
    epsilon: float,
    steps: int = 10,
    step_size: float | None = None,
    random_start: bool = True,
    seed: int = 0,
) -> Tensor:
    """Projected gradient ascent on the margin −(2·labels − 1)·logit(x) within ε of ``images`` (N, C, H, W) in [0, 1].

    ``labels``: (N,) or one number; 1 (every image a fake) is the forger's attack. ``random_start``:
    begin at a uniform draw in the ε-ball (from ``seed``). Returns the attacked images, detached.
    """
    images = check_images("images", images)
    epsilon = check_float("epsilon", epsilon, minimum=0.0, maximum=1.0)
    steps = check_int("steps", steps, minimum=1)
    step_size = 2.5 * epsilon / steps if step_size is None else check_float("step_size", step_size, minimum=0.0)
    random_start = check_bool("random_start", random_start)
    seed = check_seed("seed", seed)
    clean = images.detach()
    target = torch.as_tensor(labels, dtype=clean.dtype, device=clean.device).expand(len(clean))
    x = clean
    if random_start:
        generator = torch.Generator().manual_seed(seed)
        noise = (torch.rand(clean.shape, generator=generator) * 2 - 1).to(clean)
        x = (clean + epsilon * noise).clamp(0.0, 1.0)
    for _ in range(steps):
        x = x.detach().requires_grad_(True)
        loss = -((2 * target - 1) * logit(x)).sum()  # the margin: its gradient never vanishes
        (gradient,) = torch.autograd.grad(loss, x)
        x = pgd_step(x.detach(), gradient, clean, epsilon, step_size)
    return x.detach()


def fgsm(logit: Logit, images: Tensor, labels: Tensor | float = 1.0, *, epsilon: float) -> Tensor:
    """FGSM: one signed-gradient step of size ε from the clean images (N, C, H, W) in [0, 1]."""
    return pgd(logit, images, labels, epsilon=epsilon, steps=1, step_size=epsilon, random_start=False)


def _cnn_logit(detector: CNNDetector) -> Logit:
    if not detector.nets_:
        raise RuntimeError("fit the detector before attacking it")
    return mean_logit(list(detector.nets_))


def _spectral_logit(detector: SpectralDetector) -> Logit:
    if detector.model_ is None:
        raise RuntimeError("fit the detector before attacking it")
    if detector.features != "azimuthal":
        raise ValueError(
            f"only the azimuthal spectral detector is differentiable here, got features={detector.features!r}"
        )
    scaler, regression = detector.model_[0], detector.model_[-1]
    mean, scale = (torch.as_tensor(v, dtype=torch.float64) for v in (scaler.mean_, scaler.scale_))
    weights = torch.as_tensor(regression.coef_[0], dtype=torch.float64)
    bias = float(regression.intercept_[0])

    def logit(x: Tensor) -> Tensor:
        features = azimuthal_average(power_spectrum(x))
        return (((features - mean) / scale) @ weights + bias).to(x.dtype)

    return logit


def detector_logit(detector: object) -> Logit:
    """A fitted CNN, blend or azimuthal spectral detector as a differentiable ``images -> (N,) logits``;
    ``sigmoid`` of it is the detector's :meth:`score`."""
    if isinstance(detector, CNNDetector):
        return _cnn_logit(detector)
    if isinstance(detector, SpectralDetector):
        return _spectral_logit(detector)
    raise TypeError(
        f"detector must be a fitted CNNDetector, BlendDetector or SpectralDetector, got {type(detector).__name__}"
    )


def mean_logit(logits: Sequence[Logit]) -> Logit:
    """The log-odds of the mean of several detectors' probabilities (an ensemble), differentiable and
    never saturated: log Σ sigmoid(z_k) − log Σ sigmoid(−z_k), each by logsumexp. One logit as it is."""
    logits = list(logits)
    if not logits:
        raise ValueError("logits must hold at least one detector's logit")
    if len(logits) == 1:
        return logits[0]

    def logit(x: Tensor) -> Tensor:
        z = torch.stack([f(x) for f in logits])
        return torch.logsumexp(F.logsigmoid(z), dim=0) - torch.logsumexp(F.logsigmoid(-z), dim=0)

    return logit
