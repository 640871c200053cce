"""A small, repeatable training loop for autoencoders on a tensor of images (labs 01 and 02).

:func:`fit_autoencoder` is the loop a lab would otherwise write again in every notebook: seeded
mini-batches without replacement, Adam, a ``tqdm.auto`` progress bar, and the per-step loss history.
It is deliberately plain -- no augmentation, masks or second domain; for DeepFaceLab's full SAEHD
recipe use :class:`aelab.train.Trainer`.

Images are tensors (N, C, H, W) of floats in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from aelab.validate import check_float, check_images, check_int, check_seed

__all__ = ["fit_autoencoder"]


def _batch_indices(n: int, batch_size: int, steps: int, generator: torch.Generator) -> torch.Tensor:
    """(steps, batch_size) indices into n images: shuffled epochs, each image once per epoch.

    The epochs' permutations are concatenated, so a batch may straddle two epochs.
    """
    epochs = -(-steps * batch_size // n)
    order = torch.cat([torch.randperm(n, generator=generator) for _ in range(epochs)])
    return order[: steps * batch_size].view(steps, batch_size)


def fit_autoencoder(
    model: nn.Module,
    images: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, Any], torch.Tensor],
    *,
    steps: int,
    batch_size: int = 32,
    lr: float = 1e-3,
    seed: int = 0,
    progress: bool = True,
    desc: str | None = None,
) -> list[float]:
    """Train ``model`` to reconstruct ``images`` for ``steps`` Adam steps; return the loss of each step.

    Args:
        model: an ``nn.Module`` whose ``model(batch)`` reconstructs a batch (e.g.
            :class:`aelab.models.ConvAutoencoder`, or :class:`aelab.models.VAE`, whose output is a
            ``VAEOutput``). Training runs on the device of its parameters: move it first with
            ``model.to(aelab.runtime.default_device())``. It is left in eval mode.
        images: the training set, (N, C, H, W) floats in [0, 1], on any device (each batch is
            moved to the model's device as it is drawn).
        loss_fn: ``loss_fn(target, output) -> scalar tensor``, called with the batch and what the
            model returned for it (the target first, as DeepFaceLab's losses take it).
        steps: how many optimiser steps (a fixed count, so results repeat).
        batch_size: images per step, at most N. Batches go through shuffled epochs.
        lr: Adam's learning rate (default betas).
        seed: seeds the batch order (a generator of its own) and torch's global generator, which
            anything random inside the model or the loss draws from (e.g. a VAE's noise). Seed the
            model's initialisation yourself (``torch.manual_seed``) before building it.
        progress: show a ``tqdm.auto`` progress bar with the running loss.
        desc: the progress bar's label.

    Returns:
        The per-step losses as Python floats (``len == steps``); plot them with
        :func:`aelab.plotting.loss_curves`.

    Raises:
        ValueError: on a bad argument, or when the loss becomes NaN or infinite (the step is named).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_images("images", images)
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable as loss_fn(target, output), got {type(loss_fn).__name__}")
    steps = check_int("steps", steps, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    if batch_size > images.shape[0]:
        raise ValueError(f"batch_size must be at most the number of images ({images.shape[0]}), got {batch_size}")
    lr = check_float("lr", lr, minimum=0, min_inclusive=False)
    seed = check_seed("seed", seed)
    parameters = [p for p in model.parameters() if p.requires_grad]
    if not parameters:
        raise ValueError("model has no trainable parameters")
    device = parameters[0].device

    torch.manual_seed(seed)
    batches = _batch_indices(images.shape[0], batch_size, steps, torch.Generator().manual_seed(seed))
    optimizer = torch.optim.Adam(parameters, lr=lr)
    history: list[float] = []
    model.train()
    bar = tqdm(batches, desc=desc, disable=not progress, leave=True)
    for step, index in enumerate(bar, start=1):
        batch = images[index.to(images.device)].to(device, non_blocking=True)
        loss = loss_fn(batch, model(batch))
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            raise ValueError(f"loss_fn must return a scalar tensor, got {type(loss).__name__} "
                             f"{tuple(loss.shape) if isinstance(loss, torch.Tensor) else ''}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        value = loss.item()
        if not math.isfinite(value):
            raise ValueError(f"the loss became {value} at step {step}; lower lr or check loss_fn")
        history.append(value)
        if progress and (step % 10 == 0 or step == steps):
            bar.set_postfix(loss=f"{value:.4f}", refresh=False)
    bar.close()
    model.eval()
    return history
