"""The loss terms of one SAEHD iteration: ``Model_SAEHD``'s graph (``models/Model_SAEHD/Model.py``).

Every function returns *per-sample* terms, one value per face, as DeepFaceLab's per-sample loss
vectors; :class:`aelab.train.Trainer` sums them over the batch and updates the weights. A
discriminator that scores the generator's output is frozen while it does (its weights receive no
gradient from the generator's terms).

- :func:`side_loss` -- one side's reconstruction terms (``src_loss`` / ``dst_loss``).
- :func:`style_terms` -- ``face_style_power`` and ``bg_style_power``, added to the src loss.
- :func:`true_face_term` and :func:`code_discriminator_loss` -- ``true_face_power``'s pair.
- :func:`gan_generator_loss` and :func:`discriminator_loss` -- ``gan_power``'s pair.

Images are tensors (N, C, H, W) of floats in [0, 1]; masks (N, 1, H, W) in [0, 1].
"""

from __future__ import annotations

import torch

from aelab import losses, models
from aelab.train.config import Config
from aelab.train.samples import Samples

__all__ = [
    "bce",
    "side_loss",
    "style_terms",
    "true_face_term",
    "code_discriminator_loss",
    "gan_generator_loss",
    "discriminator_loss",
]


def bce(logits: torch.Tensor, label: float) -> torch.Tensor:
    """Per-sample BCE of discriminator logits against a constant label (``Model_SAEHD``'s ``DLoss``)."""
    return (
        torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.full_like(logits, label), reduction="none")
        .flatten(1)
        .mean(1)
    )


def side_loss(config: Config, samples: Samples, pred: torch.Tensor, pred_mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """One side's per-sample SAEHD loss terms (:func:`aelab.losses.saehd_loss`)."""
    c = config
    return losses.saehd_loss(
        samples.target,
        pred,
        samples.mask,
        pred_mask,
        c.resolution,
        em_mask=samples.em_mask,
        masked_training=c.masked_training,
        eyes_prio=c.eyes_mouth_prio,
        learn_mask=c.learn_mask,
        reduction="none",
    )


def style_terms(
    config: Config,
    decoder_src: torch.nn.Module,
    codes: models.SAEHDCodes,
    src: Samples,
    dst: Samples,
    pred_dst: tuple[torch.Tensor, torch.Tensor],
) -> dict[str, torch.Tensor]:
    """``face_style_power`` and ``bg_style_power``: per-sample terms added to the src loss.

    Face style: :func:`aelab.losses.style_loss` (blur radius resolution // 8, weight
    10000 · power / 100) between the swap, drawn from a code that passes no gradient, times its
    mask, and dst's reconstruction times its mask. Background style: 10 · power / 100 · (DSSIM +
    MSE) between the swap and the dst target outside a mask. The mask is the *src* target's
    blurred mask: ``Model_SAEHD`` computes a style mask from the predicted masks and then
    overwrites it with ``target_srcm_blur`` (its quirk, reproduced).
    """
    c, terms = config, {}
    pred_dst_dst, pred_dst_dstm = pred_dst
    if c.face_style_power:
        swap, swap_mask = decoder_src(codes.src_dst_code.detach())
        terms["face_style"] = losses.style_loss(
            swap * swap_mask.detach(),
            (pred_dst_dst * pred_dst_dstm).detach(),
            blur_sigma=c.resolution // 8,
            weight=10000 * c.face_style_power / 100,
        )
    if c.bg_style_power:
        swap, _ = decoder_src(codes.src_dst_code)
        anti = 1.0 - losses.blur_mask(src.mask, c.resolution).clamp(0.0, 1.0).detach()
        power = 10 * c.bg_style_power / 100
        terms["bg_style"] = power * losses.dssim(
            swap * anti, dst.target * anti, kernel_size=losses.dfl_kernel_size(c.resolution), reduction="none"
        ) + power * losses.mse(swap * anti, dst.target * anti, reduction="none")
    return terms


def true_face_term(config: Config, code_discriminator: torch.nn.Module, codes: models.SAEHDCodes) -> torch.Tensor:
    """The generator's true-face term: true_face_power · BCE(D_code(src code)→1), per sample.

    It pushes src's codes to pass as dst's, so the one ``inter`` codes both faces alike.
    """
    code_discriminator.requires_grad_(False)
    term = config.true_face_power * bce(code_discriminator(codes.src_code), 1.0)
    code_discriminator.requires_grad_(True)
    return term


def code_discriminator_loss(code_discriminator: torch.nn.Module, codes: models.SAEHDCodes) -> torch.Tensor:
    """The true-face code discriminator's per-sample loss (``Model_SAEHD``'s ``D_code_loss``).

    (BCE(D(dst code)→1) + BCE(D(src code)→0)) / 2: it learns to tell dst's codes from src's. As for
    the GAN, the kit reuses the iteration's codes.
    """
    return (bce(code_discriminator(codes.dst_code), 1.0) + bce(code_discriminator(codes.src_code), 0.0)) * 0.5


def _masked_opt(config: Config, samples: Samples, images: torch.Tensor) -> torch.Tensor:
    """``*_masked_opt`` of ``Model_SAEHD``: images times the blurred mask with masked training."""
    if not config.masked_training:
        return images
    return losses.masked(images, losses.blur_mask(samples.mask, config.resolution))


def gan_generator_loss(
    config: Config, gan_power: float, discriminator: torch.nn.Module, src: Samples, pred: torch.Tensor
) -> torch.Tensor:
    """Per-sample GAN terms of the G loss (``Model_SAEHD``, gan_power > 0).

    gan_power · (BCE(D(pred)→real) on the centre and on the per-pixel output); with masked
    training also 1e-6 · total variation (squared) of the prediction and 0.02 · MSE of the
    background outside the mask, which DeepFaceLab adds to keep GAN dots out of the background.
    """
    discriminator.requires_grad_(False)
    centre, pixels = discriminator(_masked_opt(config, src, pred))
    discriminator.requires_grad_(True)
    loss = gan_power * (bce(centre, 1.0) + bce(pixels, 1.0))
    if config.masked_training:
        outside = 1.0 - losses.blur_mask(src.mask, config.resolution)
        dy, dx = pred.diff(dim=2), pred.diff(dim=3)
        loss = loss + 1e-6 * (dy.square().flatten(1).sum(1) + dx.square().flatten(1).sum(1))
        loss = loss + 0.02 * ((pred - src.target) * outside).square().flatten(1).mean(1)
    return loss


def discriminator_loss(
    config: Config, discriminator: torch.nn.Module, src: Samples, pred: torch.Tensor
) -> torch.Tensor:
    """The patch discriminator's per-sample loss: masked src target → real, reconstruction → fake.

    ``Model_SAEHD``'s ``D_src_dst_loss``: (BCE(real→1) + BCE(fake→0)) / 2 on the centre output
    plus the same on the per-pixel output. DeepFaceLab runs the updated generator again for this
    step; the kit reuses the iteration's reconstruction (one forward pass fewer).
    """
    real_centre, real_pixels = discriminator(_masked_opt(config, src, src.target))
    fake_centre, fake_pixels = discriminator(_masked_opt(config, src, pred))
    return (bce(real_centre, 1.0) + bce(fake_centre, 0.0)) * 0.5 + (bce(real_pixels, 1.0) + bce(fake_pixels, 0.0)) * 0.5
