"""Any of the kit's swapping models from a spec, and a shipped checkpoint's model.

A spec is a mapping with ``archi`` and the archi's own arguments, ``resolution`` included: an SAEHD
archi such as ``"liae-ud"`` (:func:`aelab.models.build`: ``ae_dims``, ``e_dims``, ``d_dims``,
``d_mask_dims``), ``"h128"`` (:class:`aelab.models.H128`: ``ae_dims``, ``e_dims``) or ``"ae"``
(:class:`aelab.models.SwapAutoencoder`: ``latent_dims``, ``width``). A shipped checkpoint (lab 03's
``df.pt`` and ``liae.pt``, lab 08's models) is a dict read with ``torch.load(..., weights_only=True)``:
its ``state_dict`` (float16 weights) and either its spec (``model``) or the trainer's ``config``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from aelab.models.autoencoders import SwapAutoencoder
from aelab.models.h128 import H128
from aelab.models.saehd import CONFIG_KEYS, SwapModel, build
from aelab.validate import check_seed

__all__ = ["spec_of", "from_spec", "from_checkpoint"]


def spec_of(saved: Mapping[str, Any]) -> dict[str, Any]:
    """The model spec of a shipped checkpoint: its ``model`` entry (lab 08's files), else the SAEHD
    archi and dims of its ``config`` (lab 03's), with the resolution."""
    if "model" in saved:
        return dict(saved["model"])
    return {key: saved["config"][key] for key in CONFIG_KEYS}


def from_spec(spec: Mapping[str, Any], *, seed: int = 0) -> SwapModel:
    """The model a spec describes, its weights drawn from ``seed`` (torch's global generator is left as
    it was)."""
    seed = check_seed("seed", seed)
    values = dict(spec)
    archi = values.pop("archi", None)
    if archi not in ("h128", "ae"):
        return build(dict(spec), seed=seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return H128(**values) if archi == "h128" else SwapAutoencoder(**values)


def from_checkpoint(saved: Mapping[str, Any]) -> SwapModel:
    """A shipped checkpoint's model, its float16 weights as float32, in eval mode."""
    model = from_spec(spec_of(saved))
    model.load_state_dict({key: value.float() for key, value in saved["state_dict"].items()})
    return model.eval()
