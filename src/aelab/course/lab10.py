"""Lab 10's recipe (provenance): the watermark extractor, the signed decoder and the forger's
fine-tuning, shared by ``python -m aelab.assets.make_lab10`` (which runs them in full) and
``solutions/10-provenance.ipynb`` (which reruns their first steps against the shipped histories).

- :func:`train_extractor`: a HiDDeN encoder/extractor pair (:mod:`aelab.provenance.hidden`) trained on
  SynthFaces ("mixed" domain, 32 px) to hide random :data:`BITS`-bit messages and read them back
  through the noise layer; loss = bits' BCE + ``image_weight`` · MSE(signed, image). A curriculum gets
  it started on a CPU budget: ``warmup`` steps without noise layer or image term, then the image term
  ramped up linearly over ``ramp`` steps.
- :func:`sign_decoder`: Stable Signature on lab 03's LIAE (``lab03/liae.pt``): its decoder fine-tuned
  so that its swaps of B faces carry :func:`key`, through the noise layer and DeepFaceLab's merge
  (the swap pasted into its dst frame through the swap's own mask, every other step), the extractor
  frozen; loss = :func:`aelab.provenance.signing.watermark_loss` with ``weight``. The paper fine-tunes
  without transformations (its robustness comes from the extractor); the noise layer here buys more
  robustness from a few hundred steps.
- :func:`remove_by_finetuning`: the forger's attack: the signed decoder fine-tuned on LIAE's own
  reconstruction loss (:func:`aelab.losses.reconstruction_loss`, src and dst faces), no watermark term.

Every function runs on the CPU from fixed seeds; a run repeats itself exactly on one machine and torch
thread count.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from aelab import assets, merge, models
from aelab.data import faces
from aelab.fitting import fit_steps
from aelab.losses import reconstruction_loss
from aelab.provenance import hidden, signing
from aelab.validate import check_choice, check_int

__all__ = [
    "BITS",
    "FPR",
    "KEY_SEED",
    "EXTRACTOR",
    "SIGNING",
    "FORGER",
    "key",
    "face_pool",
    "train_extractor",
    "sign_decoder",
    "remove_by_finetuning",
    "extractor_file",
    "load_extractor",
    "signed_file",
    "load_signed",
    "FILES",
    "make",
]

#: The key's length: Stable Signature's 48 bits.
BITS = 48
#: The false positive rate the lab's detector is set for.
FPR = 1e-6
#: The seed of the signed model's key.
KEY_SEED = 10
#: The HiDDeN pair's training.
EXTRACTOR = {
    "width": 16,
    "strength": 0.3,
    "steps": 700,
    "warmup": 100,
    "ramp": 300,
    "batch_size": 16,
    "lr": 2e-3,
    "image_weight": 30.0,
    "pool_size": 2048,
    "seed": 0,
}
#: Stable Signature's fine-tuning of LIAE's decoder.
SIGNING = {"steps": 400, "batch_size": 16, "lr": 1e-3, "weight": 10.0, "pool_size": 1024, "seed": 0}
#: The forger's fine-tuning without the watermark term (Adam at DeepFaceLab's default learning rate).
FORGER = {"batch_size": 8, "lr": 5e-5, "pool_size": 512, "seed": 1}

#: Render seeds of the pools (apart from lab 03's training pools and the evaluation faces).
_POOL_SEED = 1000


def key() -> Tensor:
    """The signed model's key: :data:`BITS` bits (long) from :data:`KEY_SEED`."""
    return signing.make_key(BITS, KEY_SEED)


def face_pool(n: int, domain: str, seed: int) -> faces.FaceBatch:
    """``n`` SynthFaces of ``domain`` at 32 px from the render seed ``_POOL_SEED + seed``."""
    return faces.render(n, resolution=32, domain=domain, seed=_POOL_SEED + seed)


def _batch_index(generator: torch.Generator, pool: int, batch: int) -> Tensor:
    return torch.randint(pool, (batch,), generator=generator)


def train_extractor(
    config: Mapping[str, Any] = EXTRACTOR, *, steps: int | None = None, progress: bool = True
) -> tuple[hidden.Encoder, hidden.Extractor, dict[str, list[float]]]:
    """Train the HiDDeN pair for ``steps`` (default: the config's); return encoder, extractor (eval mode)
    and the history of the loss and of the bit accuracy on the noised images, one value per step."""
    steps = check_int("steps", config["steps"] if steps is None else steps, minimum=0)
    torch.manual_seed(config["seed"])
    encoder = hidden.Encoder(BITS, config["width"], config["strength"])
    extractor = hidden.Extractor(BITS, config["width"])
    pool = face_pool(config["pool_size"], "mixed", config["seed"]).images
    generator = torch.Generator().manual_seed(config["seed"])
    history: dict[str, list[float]] = {"loss": [], "bit_accuracy": []}

    def step_loss(step: int) -> Tensor:
        images = pool[_batch_index(generator, len(pool), config["batch_size"])]
        message = hidden.message_bits(len(images), BITS, generator)
        signed = encoder(images, message)
        noised = hidden.noise_layer(signed, generator)[0] if step >= config["warmup"] else signed
        logits = extractor(noised)
        history["bit_accuracy"].append(_bit_accuracy(logits, message))
        ramp = min(1.0, max(0, step - config["warmup"]) / config["ramp"])
        return hidden.bits_loss(logits, message) + ramp * config["image_weight"] * (signed - images).pow(2).mean()

    if steps:
        pair = nn.ModuleList([encoder, extractor])
        history["loss"] = fit_steps(pair, step_loss, steps=steps, lr=config["lr"], progress=progress, desc="HiDDeN")
    return encoder.eval(), extractor.eval(), history


def _bit_accuracy(logits: Tensor, bits: Tensor) -> float:
    """The share of bits read right: logit > 0 reads 1."""
    return ((logits > 0) == bits.bool()).float().mean().item()


def _frozen(module: nn.Module) -> nn.Module:
    module = module.eval()
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    return module


def sign_decoder(
    liae: nn.Module,
    extractor: nn.Module,
    config: Mapping[str, Any] = SIGNING,
    *,
    steps: int | None = None,
    loss: Callable[..., Tensor] = signing.watermark_loss,
    progress: bool = True,
) -> tuple[nn.Module, dict[str, list[float]]]:
    """A copy of ``liae`` whose decoder is fine-tuned so that its swaps carry :func:`key` (Stable
    Signature) with ``loss`` (``watermark_loss(signed, unsigned, logits, key, weight)``); return it
    (eval mode) and the history of the loss and the bit accuracy, per step."""
    steps = check_int("steps", config["steps"] if steps is None else steps, minimum=0)
    original = _frozen(copy.deepcopy(liae))
    extractor = _frozen(extractor)
    signed = copy.deepcopy(liae).eval()
    for parameter in signed.parameters():
        parameter.requires_grad_(False)
    for parameter in signed.decoder.parameters():
        parameter.requires_grad_(True)
    dst = face_pool(config["pool_size"], "B", config["seed"]).images
    with torch.no_grad():
        codes = original.codes(None, dst).src_dst_code
        unsigned, masks = original.decoder(codes)
    generator = torch.Generator().manual_seed(config["seed"])
    target = key()
    history: dict[str, list[float]] = {"loss": [], "bit_accuracy": []}

    def step_loss(step: int) -> Tensor:
        index = _batch_index(generator, len(dst), config["batch_size"])
        images, _ = signed.decoder(codes[index])
        seen = merge.merge(dst[index], images, masks[index]).images if step % 2 else images
        noised, _ = hidden.noise_layer(seen, generator)
        logits = extractor(noised)
        history["bit_accuracy"].append(_bit_accuracy(logits, target))
        return loss(images, unsigned[index], logits, target, config["weight"])

    if steps:
        history["loss"] = fit_steps(signed, step_loss, steps=steps, lr=config["lr"], progress=progress, desc="signing")
    return _frozen(signed), history


def extractor_file() -> dict[str, Any]:
    """What ``lab10/extractor.pt`` holds: the extractor trained by :func:`train_extractor` (its weights
    as float32), the config and the training history."""
    _, extractor, history = train_extractor()
    return {"config": dict(EXTRACTOR), "bits": BITS, "history": history, "state_dict": extractor.state_dict()}


def load_extractor(saved: Mapping[str, Any]) -> hidden.Extractor:
    """The extractor of ``lab10/extractor.pt``'s contents, frozen, in eval mode."""
    extractor = hidden.Extractor(saved["bits"], saved["config"]["width"])
    extractor.load_state_dict(saved["state_dict"])
    return _frozen(extractor)


def signed_file(liae: Mapping[str, Any], extractor: Mapping[str, Any]) -> dict[str, Any]:
    """What ``lab10/signed.pt`` holds: LIAE's decoder signed by :func:`sign_decoder` (float16 weights),
    the key, the config and the history; from the contents of ``lab03/liae.pt`` and ``lab10/extractor.pt``."""
    signed, history = sign_decoder(models.from_checkpoint(liae), load_extractor(extractor))
    return {
        "config": dict(SIGNING),
        "key": key(),
        "history": history,
        "decoder": {k: v.half() for k, v in signed.decoder.state_dict().items()},
    }


def load_signed(liae: Mapping[str, Any], saved: Mapping[str, Any]) -> nn.Module:
    """Lab 03's LIAE with the signed decoder of ``lab10/signed.pt``'s contents, frozen, in eval mode."""
    model = models.from_checkpoint(liae)
    model.decoder.load_state_dict({k: v.float() for k, v in saved["decoder"].items()})
    return _frozen(model)


#: The files (``lab10/<name>.pt``), in the order the command makes them (``signed`` reads ``extractor``).
FILES = ("extractor", "signed")


def make(name: str) -> dict[str, Any]:
    """What the file ``name`` of :data:`FILES` holds: ``signed`` from lab 03's LIAE (verified against the
    manifest) and the extractor file in the assets folder as it is (the command may just have made it)."""
    if check_choice("name", name, FILES) == "extractor":
        return extractor_file()
    return signed_file(assets.load("lab03/liae.pt"), torch.load(assets.path("lab10/extractor.pt"), weights_only=True))


def remove_by_finetuning(
    signed: nn.Module, checkpoints: Sequence[int], config: Mapping[str, Any] = FORGER, *, progress: bool = True
) -> dict[int, nn.Module]:
    """Copies of ``signed`` whose decoder is fine-tuned on LIAE's reconstruction loss of A (src) and B
    (dst) faces, without the watermark term (the forger's attack): one per number of steps in
    ``checkpoints`` (one run, copied at each), frozen, in eval mode."""
    steps = max(check_int("checkpoints", c, minimum=0) for c in checkpoints)
    copies: dict[int, nn.Module] = {}
    model = copy.deepcopy(signed).eval()
    for parameter in model.decoder.parameters():
        parameter.requires_grad_(True)
    src = face_pool(config["pool_size"], "A", config["seed"]).images
    dst = face_pool(config["pool_size"], "B", config["seed"] + 1).images
    generator = torch.Generator().manual_seed(config["seed"])

    def step_loss(step: int) -> Tensor:
        if step in checkpoints:  # the decoder after `step` updates
            copies[step] = _frozen(copy.deepcopy(model))
        s = src[_batch_index(generator, len(src), config["batch_size"])]
        d = dst[_batch_index(generator, len(dst), config["batch_size"])]
        with torch.no_grad():
            codes = model.codes(s, d)
        (pred_src, _), (pred_dst, _) = model.decode_sides(codes)
        return reconstruction_loss(s, pred_src, 32) + reconstruction_loss(d, pred_dst, 32)

    if steps:
        fit_steps(model, step_loss, steps=steps, lr=config["lr"], progress=progress, desc="forger")
    copies[steps] = _frozen(copy.deepcopy(model))
    return copies
