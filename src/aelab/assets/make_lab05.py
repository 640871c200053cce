"""Reproduce lab 05's GAN files: lab 03's LIAE fine-tuned with DeepFaceLab's patch GAN, and its swaps.

    .venv/bin/python -m aelab.assets.make_lab05            # 3 runs in 3 worker processes

starts from lab 03's ``liae.pt`` (3000 steps, SHA-256 verified) and fine-tunes it :data:`STEPS`
steps at lr 5e-4 (the rate lab 03 trained it at) with ``gan_power`` in :data:`GAN_POWERS` (0: the control, the same steps without
the GAN), seed 0, one torch thread each, then scores the swaps of :data:`N_HELD_OUT` held-out dst
faces against the true swaps (:mod:`aelab.appearance`). Writes into ``lab05/`` of the assets folder:

- ``gan.json``: per power, ``metrics`` (``swap_error``: MSE inside the true swap's face mask;
  ``ssim``; ``hf_energy`` and ``hf_energy_truth``: the share of spectral power above 0.25 cycles per
  pixel; ``edge_ratio``: gradient magnitude over the truth's), ``spectrum`` (:func:`aelab.appearance.radial_spectrum`
  of the swaps; ``truth_spectrum`` once) and ``history`` (the first :data:`HISTORY_STEPS` values of
  ``src_total`` and ``gan``);
- ``swaps.pt``: ``dst``, ``truth`` and ``gan_<power>`` swaps (uint8, (N, 3, 32, 32)) and the dst
  faces' ``seed`` -- saved for the forensics lab (07): real (truth) against fakes of rising GAN power.

It prints each file's SHA-256 (compare with ``lab05/README.md``).
"""

from __future__ import annotations

import json
import sys
from multiprocessing import get_context
from typing import Any

import torch

from aelab import appearance, assets, losses
from aelab.data import faces
from aelab.train import Config, Trainer

STEPS = 400
GAN_POWERS = (0.0, 0.1, 1.0)
LR = 5e-4
N_HELD_OUT = 64
HISTORY_STEPS = 5
LIAE = ("lab03/liae.pt", "65e5ff32dd8d91b0c38a2272e96420f45c54e9d3e905585fdc22e44b42d949d4")


def warm_trainer(gan_power: float) -> Trainer:
    """Lab 03's LIAE, loaded into a trainer at lr 5e-4 with ``gan_power`` (its history restarts)."""
    saved = torch.load(assets.verify(*LIAE), weights_only=True)
    trainer = Trainer(Config.from_dict({**saved["config"], "lr": LR, "gan_power": gan_power}), device="cpu",
                      seed=0, pool_size=512)
    trainer.model.load_state_dict({key: value.float() for key, value in saved["state_dict"].items()})
    return trainer


def held_out_swaps(trainer: Trainer) -> tuple[faces.FaceBatch, faces.FaceBatch, torch.Tensor]:
    """(dst, true swap, the model's swaps) on :data:`N_HELD_OUT` held-out dst faces."""
    _, dst = trainer.held_out(N_HELD_OUT)
    trainer.model.eval()
    with torch.no_grad():
        swap = trainer.model.swap(dst.images).pred_src_dst
    return dst, faces.render_swap(dst, "A"), swap


def run(gan_power: float) -> dict[str, Any]:
    """Fine-tune and score one power; return its entry of ``gan.json`` and its swaps."""
    torch.set_num_threads(1)
    trainer = warm_trainer(gan_power)
    trainer.fit(STEPS, progress=False)
    dst, truth, swap = held_out_swaps(trainer)
    mask = truth.face_mask
    metrics = {
        "swap_error": float(losses.mse(swap * mask, truth.images * mask)),
        "ssim": float(losses.ssim(swap * mask, truth.images * mask)),
        "hf_energy": float(appearance.high_frequency_energy(swap).mean()),
        "hf_energy_truth": float(appearance.high_frequency_energy(truth.images).mean()),
        "edge_ratio": float(appearance.edge_ratio(swap, truth.images).mean()),
    }
    history = {key: trainer.history[key][:HISTORY_STEPS] for key in ("src_total", "gan") if key in trainer.history}
    print(f"done gan_power {gan_power}", flush=True)
    return {
        "gan_power": gan_power, "metrics": metrics, "history": history,
        "spectrum": appearance.radial_spectrum(swap)[1].tolist(),
        "truth_spectrum": appearance.radial_spectrum(truth.images)[1].tolist(),
        "images": {"dst": dst.images, "truth": truth.images, "swap": swap},
    }


def _uint8(images: torch.Tensor) -> torch.Tensor:
    return (images.clamp(0, 1) * 255).round().to(torch.uint8)


def main(argv: list[str]) -> int:
    workers = int(argv[0]) if argv else len(GAN_POWERS)
    with get_context("spawn").Pool(workers) as pool:
        entries = pool.map(run, GAN_POWERS, chunksize=1)
    folder = assets.root() / "lab05"
    folder.mkdir(parents=True, exist_ok=True)
    first = entries[0]["images"]
    swaps = {"dst": _uint8(first["dst"]), "truth": _uint8(first["truth"]), "seed": faces_seed()}
    for entry in entries:
        swaps[f"gan_{entry['gan_power']}"] = _uint8(entry.pop("images")["swap"])
    torch.save(swaps, folder / "swaps.pt")
    results = {"steps": STEPS, "lr": LR, "runs": entries, "truth_spectrum": entries[0]["truth_spectrum"]}
    for entry in entries:
        entry.pop("truth_spectrum")
    (folder / "gan.json").write_text(json.dumps(results, indent=1) + "\n")
    for name in ("gan.json", "swaps.pt"):
        print(f"{assets.sha256(folder / name)}  {name}")
    return 0


def faces_seed() -> int:
    """The seed of the held-out faces (:data:`aelab.train.trainer.EVAL_SEED`)."""
    from aelab.train.trainer import EVAL_SEED

    return EVAL_SEED


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
