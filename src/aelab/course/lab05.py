"""Lab 05's recipe: lab 03's LIAE fine-tuned with every ct_mode under a lighting change, and with
DeepFaceLab's patch GAN; their scores against the true swap, and their swaps.

Shared by ``python -m aelab.assets.make_lab05`` (which runs :func:`make`) and
``solutions/05-color-and-gan.ipynb`` (which reruns the first steps of its runs). Every run starts
from lab 03's ``liae.pt`` (3000 steps, verified against the assets' manifest), trains at lr 5e-4 (the
rate lab 03 trained it at) on one torch thread, for each seed of :data:`SEEDS` (the seed picks the
training faces, every random draw -- warp, flips, the ct_mode's dst sample -- and the discriminator's
initialisation), and scores the swaps of :data:`N_HELD_OUT` held-out dst faces against the true swaps
(:mod:`aelab.appearance`). Writes into ``lab05/`` of the assets folder:

- ``ct.json``: :data:`CT_STEPS` steps with each ``ct_mode`` of :data:`CT_MODES` (None: the control;
  ``hist_match`` is DeepFaceLab's merger mode, the kit's extension as a training mode) on the
  lighting change of :func:`lit_faces` -- src lit flat, dst strongly from the left -- per run
  ``delta_e`` (mean ΔE in L*a*b* inside the true swap's face mask), ``ssim`` (inside it) and
  ``history`` (the first :data:`HISTORY_STEPS` values of ``src_total``);
- ``ct_swaps.pt``: ``dst``, ``truth`` and one swap per ct_mode (``none``, ``rct``, ...) of seed 0
  (uint8, (:data:`N_SHOWN`, 3, 32, 32)), for the lab's picture;
- ``gan.json``: :data:`GAN_STEPS` steps with each ``gan_power`` of :data:`GAN_POWERS` (0: the
  control, the same steps without the GAN) on lab 03's faces, per run ``metrics`` (``swap_error``: MSE
  inside the true swap's face mask; ``ssim``; ``hf_energy`` and ``hf_energy_truth``: the share of
  spectral power above 0.25 cycles per pixel; ``edge_ratio``: gradient magnitude over the truth's),
  ``spectrum`` (the batch mean of :func:`aelab.forensics.spectra.azimuthal_average` of the swaps' log
  power spectra; ``truth_spectrum`` once) and ``history`` (the first steps of ``src_total`` and
  ``gan``);
- ``swaps.pt``: ``dst``, ``truth`` and ``gan_<power>`` swaps of seed 0 (uint8, (N, 3, 32, 32)) and the
  dst faces' ``seed`` -- saved for the forensics lab (07): real (truth) against fakes of rising GAN power.

The time a step takes is not in the files (it would change their bytes on every run): the lab
measures it on the student's machine.
"""

from __future__ import annotations

import json
from multiprocessing import get_context
from typing import Any

import torch

from aelab import appearance, assets, losses
from aelab.data import faces
from aelab.forensics.spectra import azimuthal_average, power_spectrum
from aelab.train import Config, Trainer
from aelab.train.trainer import EVAL_SEED
from aelab.validate import check_int

__all__ = [
    "SEEDS",
    "LR",
    "POOL_SIZE",
    "N_HELD_OUT",
    "N_SHOWN",
    "HISTORY_STEPS",
    "CT_STEPS",
    "CT_MODES",
    "GAN_STEPS",
    "GAN_POWERS",
    "warm_trainer",
    "lit_faces",
    "lighting_change",
    "ct_trainer",
    "swap",
    "run_ct",
    "spectrum",
    "run_gan",
    "run",
    "make",
]

SEEDS = (0, 1, 2)
LR = 5e-4
POOL_SIZE = 512
N_HELD_OUT = 64
N_SHOWN = 8
HISTORY_STEPS = 5
CT_STEPS = 50
#: None (no transfer, the control), DeepFaceLab's five training modes, and the kit's hist_match.
CT_MODES = (None, "rct", "lct", "mkl", "idt", "sot", "hist_match")
GAN_STEPS = 200
GAN_POWERS = (0.0, 0.1, 1.0)


def warm_trainer(seed: int, **overrides: Any) -> Trainer:
    """Lab 03's LIAE loaded into a trainer at lr 5e-4 with ``overrides`` (``gan_power``, ``ct_mode``)."""
    saved = assets.load("lab03/liae.pt")
    trainer = Trainer(
        Config.from_dict({**saved["config"], "lr": LR, **overrides}), device="cpu", seed=seed, pool_size=POOL_SIZE
    )
    trainer.model.load_state_dict({key: value.float() for key, value in saved["state_dict"].items()})
    return trainer


def lit_faces(domain: str, n: int, seed: int) -> faces.FaceBatch:
    """``n`` faces of ``domain`` under the lab's lighting change, at lab 03's resolution (32).

    src ("A") is lit flat (``light_strength`` scaled into [0, 0.3]); dst ("B") strongly from the left
    (strength in [0.7, 1], ``light_azimuth`` in [150°, 210°]): the renderer's light factors of the
    stream ``(seed, domain)``, mapped into those ranges. The identities already differ in palette
    (skin, hair and eye colours), so src and dst differ in both.
    """
    factors = faces.sample_factors(n, domain=domain, seed=seed)
    strength, azimuth = factors["light_strength"], factors["light_azimuth"]
    if domain == "A":
        factors["light_strength"] = 0.3 * strength
    else:
        factors["light_strength"] = 0.7 + 0.3 * strength
        factors["light_azimuth"] = 180.0 + azimuth / 6.0
    return faces.draw(factors, resolution=32, domain=domain)


def lighting_change(n: int) -> tuple[faces.FaceBatch, faces.FaceBatch]:
    """(dst, true swap): ``n`` held-out dst faces lit as :func:`lit_faces` lights dst, and the renderer's
    swap of each -- src's identity under that same light."""
    dst = lit_faces("B", n, EVAL_SEED)
    return dst, faces.render_swap(dst, "A")


def ct_trainer(ct_mode: str | None, seed: int) -> Trainer:
    """:func:`warm_trainer` with ``ct_mode``, training on :func:`lit_faces` (pools of :data:`POOL_SIZE`)."""
    trainer = warm_trainer(seed, ct_mode=ct_mode)
    trainer.use_faces(lit_faces("A", POOL_SIZE, seed), lit_faces("B", POOL_SIZE, seed))
    return trainer


def swap(trainer: Trainer, dst: torch.Tensor) -> torch.Tensor:
    """The trained model's swaps (N, 3, H, W) of the dst images (N, 3, H, W) in [0, 1]."""
    trainer.model.eval()
    with torch.no_grad():
        return trainer.model.swap(dst).pred_src_dst


def _first(trainer: Trainer, keys: tuple[str, ...]) -> dict[str, list[float]]:
    return {key: trainer.history[key][:HISTORY_STEPS] for key in keys if key in trainer.history}


def run_ct(ct_mode: str | None, seed: int) -> dict[str, Any]:
    """Fine-tune with ``ct_mode`` on the lighting change and score the swaps; its entry of ``ct.json``."""
    trainer = ct_trainer(ct_mode, seed)
    trainer.fit(CT_STEPS, progress=False)
    dst, truth = lighting_change(N_HELD_OUT)
    swapped, inside = swap(trainer, dst.images), truth.face_mask
    return {
        "ct_mode": ct_mode or "none",
        "seed": seed,
        "delta_e": float(appearance.lab_error(swapped, truth.images, inside).mean()),
        "ssim": float(losses.ssim(swapped * inside, truth.images * inside)),
        "history": _first(trainer, ("src_total",)),
        "images": {"dst": dst.images[:N_SHOWN], "truth": truth.images[:N_SHOWN], "swap": swapped[:N_SHOWN]},
    }


def spectrum(images: torch.Tensor) -> list[float]:
    """The batch mean of the images' azimuthally averaged log power spectra (the forensics lab's)."""
    return azimuthal_average(power_spectrum(images)).mean(0).tolist()


def run_gan(gan_power: float, seed: int) -> dict[str, Any]:
    """Fine-tune with ``gan_power`` on lab 03's faces and score the swaps; its entry of ``gan.json``."""
    trainer = warm_trainer(seed, gan_power=gan_power)
    trainer.fit(GAN_STEPS, progress=False)
    _, dst = trainer.held_out(N_HELD_OUT)
    truth = faces.render_swap(dst, "A")
    swapped, mask = swap(trainer, dst.images), truth.face_mask
    return {
        "gan_power": gan_power,
        "seed": seed,
        "metrics": {
            "swap_error": float(losses.mse(swapped * mask, truth.images * mask)),
            "ssim": float(losses.ssim(swapped * mask, truth.images * mask)),
            "hf_energy": float(appearance.high_frequency_energy(swapped).mean()),
            "hf_energy_truth": float(appearance.high_frequency_energy(truth.images).mean()),
            "edge_ratio": float(appearance.edge_ratio(swapped, truth.images).mean()),
        },
        "history": _first(trainer, ("src_total", "gan")),
        "spectrum": spectrum(swapped),
        "truth_spectrum": spectrum(truth.images),
        "images": {"dst": dst.images, "truth": truth.images, "swap": swapped},
    }


def run(task: tuple[str, Any, int]) -> dict[str, Any]:
    """One run in a worker process, on one torch thread: ``("ct", ct_mode, seed)`` or ``("gan", power, seed)``."""
    torch.set_num_threads(1)
    kind, setting, seed = task
    entry = run_ct(setting, seed) if kind == "ct" else run_gan(setting, seed)
    print(f"done {kind} {setting} seed {seed}", flush=True)
    return entry


def _uint8(images: torch.Tensor) -> torch.Tensor:
    return (images.clamp(0, 1) * 255).round().to(torch.uint8)


def _shown(entries: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """The images of the seed-0 runs, uint8, keyed by ``name(entry)``, with the first run's dst and truth."""
    first = next(entry["images"] for entry in entries if entry["seed"] == SEEDS[0])
    shown: dict[str, Any] = {"dst": _uint8(first["dst"]), "truth": _uint8(first["truth"])}
    for entry in entries:
        images = entry.pop("images")
        if entry["seed"] == SEEDS[0]:
            shown[name(entry)] = _uint8(images["swap"])
    return shown


def make(workers: int = 2) -> dict[str, Any]:
    """Every run in ``workers`` processes; return the files of ``lab05/``: name -> contents (the JSON
    files as their text)."""
    # The slowest runs first (sot and idt recolour every step; the GAN trains a second network).
    tasks = [("ct", mode, seed) for mode in ("sot", "idt") for seed in SEEDS]
    tasks += [("gan", power, seed) for power in GAN_POWERS for seed in SEEDS]
    tasks += [("ct", mode, seed) for mode in CT_MODES if mode not in ("sot", "idt") for seed in SEEDS]
    with get_context("spawn").Pool(check_int("workers", workers, minimum=1)) as pool:
        entries = pool.map(run, tasks, chunksize=1)
    order = {
        (kind, setting, seed): i
        for i, (kind, setting, seed) in enumerate(
            [("ct", m or "none", s) for m in CT_MODES for s in SEEDS]
            + [("gan", p, s) for p in GAN_POWERS for s in SEEDS]
        )
    }
    ct = sorted((e for e in entries if "ct_mode" in e), key=lambda e: order["ct", e["ct_mode"], e["seed"]])
    gan = sorted((e for e in entries if "gan_power" in e), key=lambda e: order["gan", e["gan_power"], e["seed"]])
    files: dict[str, Any] = {
        "ct_swaps.pt": _shown(ct, lambda e: e["ct_mode"]),
        "swaps.pt": {**_shown(gan, lambda e: f"gan_{e['gan_power']}"), "seed": EVAL_SEED},
    }
    truth_spectrum = gan[0]["truth_spectrum"]
    for entry in gan:
        entry.pop("truth_spectrum")
    files["ct.json"] = json.dumps({"steps": CT_STEPS, "lr": LR, "runs": ct}, indent=1) + "\n"
    files["gan.json"] = (
        json.dumps({"steps": GAN_STEPS, "lr": LR, "runs": gan, "truth_spectrum": truth_spectrum}, indent=1) + "\n"
    )
    return files
