"""The one training loop of every small fitted model, and the repeatable autoencoder fit of labs 01 and 02.

:func:`fit_steps` is the loop every fitted model of the library runs (:func:`fit_autoencoder`,
:func:`aelab.forensics.generators.train_autoencoder`, :class:`aelab.metrics.FactorReader` and
:class:`aelab.featurenet.FeatureNet`, the CNN detectors of :mod:`aelab.forensics.detectors`, lab 10's
watermark extractor, signed decoder and forger in :mod:`aelab.course.lab10`): Adam on
the model's trainable parameters for a fixed number of steps, the loss of step k from a callable, a
``tqdm.auto`` progress bar and the per-step loss history; a NaN or infinite loss stops it and names
the step. DeepFaceLab's full SAEHD recipe is :class:`aelab.train.Trainer`'s own.

:func:`fit_autoencoder` is the loop a lab would otherwise write again in every notebook: seeded
mini-batches without replacement through :func:`fit_steps`. It is deliberately plain -- no
augmentation, masks or second domain.

Images are tensors (N, C, H, W) of floats in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from aelab.runtime import AdaptiveThreads
from aelab.validate import check_float, check_images, check_int, check_seed

__all__ = ["fit_steps", "fit_autoencoder"]


def _batch_indices(n: int, batch_size: int, steps: int, generator: torch.Generator) -> torch.Tensor:
    """(steps, batch_size) indices into n images: shuffled epochs, each image once per epoch.

    The epochs' permutations are concatenated, so a batch may straddle two epochs.
    """
    epochs = -(-steps * batch_size // n)
    order = torch.cat([torch.randperm(n, generator=generator) for _ in range(epochs)])
    return order[: steps * batch_size].view(steps, batch_size)


def fit_steps(
    model: nn.Module,
    step_loss: Callable[[int], torch.Tensor],
    *,
    steps: int,
    lr: float,
    progress: bool = True,
    desc: str | None = None,
) -> list[float]:
    """Train ``model`` for ``steps`` Adam steps on the losses ``step_loss(k)``; return each step's loss.

    Step k (0, 1, ..., ``steps`` - 1) calls ``step_loss(k)``, which draws its batch, runs the model
    and returns a scalar tensor; then the gradients are cleared, the loss back-propagated and Adam
    (default betas, learning rate ``lr``) steps the model's trainable parameters. Nothing else draws
    random numbers, so a seeded ``step_loss`` repeats exactly on a given thread count. On the CPU the
    steps run on the thread count they find fastest (:class:`aelab.runtime.AdaptiveThreads`). The
    model is in train mode while it trains and left in eval mode.

    Args:
        model: the ``nn.Module`` to train, on the device its parameters are on.
        step_loss: ``step_loss(k) -> scalar tensor``, the loss of step k.
        steps: how many optimiser steps.
        lr: Adam's learning rate.
        progress: show a ``tqdm.auto`` progress bar labelled ``desc``, with the latest loss.
        desc: the progress bar's label.

    Returns:
        The per-step losses as Python floats (``len == steps``).

    Raises:
        ValueError: on a bad argument, a ``step_loss`` that returns no scalar tensor, or a loss that
            becomes NaN or infinite (the step is named, counted from 1).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(step_loss):
        raise TypeError(f"step_loss must be callable as step_loss(step) -> loss, got {type(step_loss).__name__}")
    steps = check_int("steps", steps, minimum=1)
    lr = check_float("lr", lr, minimum=0, min_inclusive=False)
    parameters = [p for p in model.parameters() if p.requires_grad]
    if not parameters:
        raise ValueError("model has no trainable parameters")
    optimizer = torch.optim.Adam(parameters, lr=lr)
    history: list[float] = []
    model.train()
    threads = AdaptiveThreads(enabled=parameters[0].device.type == "cpu")
    bar = tqdm(range(steps), desc=desc, disable=not progress, leave=True)
    for step in bar:
        with threads.step():
            loss = step_loss(step)
            if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
                raise ValueError(
                    f"the loss of step {step + 1} must be a scalar tensor, got {type(loss).__name__} "
                    f"{tuple(loss.shape) if isinstance(loss, torch.Tensor) else ''}"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            value = loss.item()
        if not math.isfinite(value):
            raise ValueError(f"the loss became {value} at step {step + 1}; lower lr or check the loss")
        history.append(value)
        if progress and ((step + 1) % 10 == 0 or step + 1 == steps):
            bar.set_postfix(loss=f"{value:.4f}", refresh=False)
    bar.close()
    model.eval()
    return history


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
    device = next((p.device for p in model.parameters() if p.requires_grad), None)  # None: fit_steps says why

    torch.manual_seed(seed)
    batches = _batch_indices(images.shape[0], batch_size, steps, torch.Generator().manual_seed(seed))

    def step_loss(step: int) -> torch.Tensor:
        batch = images[batches[step].to(images.device)].to(device, non_blocking=True)
        return loss_fn(batch, model(batch))

    return fit_steps(model, step_loss, steps=steps, lr=lr, progress=progress, desc=desc)
