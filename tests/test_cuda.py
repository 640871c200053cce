"""The CUDA paths: what a researcher with a GPU runs (the device choice, the trainer with every option
that builds a part or draws randomness on the device, checkpoints moved between devices, ``aelab
train`` and torchrun with NCCL). Skipped where torch sees no CUDA device (the course machines and
CI); run on a GPU machine with ``python -m pytest tests/test_cuda.py``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from aelab import models
from aelab.commands import train as command
from aelab.runtime import default_device
from aelab.train import Config, Trainer

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="torch sees no CUDA device")

SMALL = dict(archi="liae-ud", resolution=32, ae_dims=16, e_dims=8, d_dims=4, d_mask_dims=2, batch_size=4,
             pretrain=False)  # fmt: skip
#: Every option that builds a part (GAN; DF adds the code discriminator, true_face_power) or draws
#: randomness (warp, flips, hsv, lr_dropout, colour transfer) or adds a loss term, at once.
EVERYTHING = dict(SMALL, random_warp=True, random_src_flip=True, random_hsv_power=0.1, gan_power=0.1,
                  face_style_power=0.01, bg_style_power=0.01, lr_dropout=True,
                  ct_mode="rct", clipgrad=True, blur_out_mask=True, uniform_yaw=True)  # fmt: skip
SRC = str(Path(__file__).resolve().parents[1] / "src")


def _weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in trainer.model.state_dict().items()}


def test_the_default_device_is_the_gpu() -> None:
    assert default_device().type == "cuda"
    assert Trainer(Config(**SMALL), pool_size=16).device.type == "cuda"


@pytest.mark.parametrize("archi", ["liae-ud", "df-ud"])
@pytest.mark.parametrize("opt_on_gpu", [True, False])
def test_every_option_trains_on_the_gpu(archi: str, opt_on_gpu: bool) -> None:
    """All parts on the GPU, finite losses, every trainable weight moved; the optimiser's state on
    the GPU, or in CPU memory with ``models_opt_on_gpu`` off (DFL's ``optimizer_vars_on_cpu``)."""
    true_face = 0.01 if archi.startswith("df") else 0.0  # DFL: the code discriminator is DF's only
    config = Config(**dict(EVERYTHING, archi=archi, true_face_power=true_face, models_opt_on_gpu=opt_on_gpu))
    trainer = Trainer(config, device="cuda", pool_size=16)
    start = _weights(trainer)
    for _ in range(3):
        losses = trainer.step()
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values()), losses
    parts = [trainer.model, trainer.discriminator] + ([trainer.code_discriminator] if true_face else [])
    for part in parts:
        assert part is not None and all(p.device.type == "cuda" for p in part.parameters())
    states = [t for s in trainer.optimizer.state.values() for t in s.values() if isinstance(t, torch.Tensor)]
    assert states and {t.device.type for t in states} == {"cuda" if opt_on_gpu else "cpu"}
    moved = [k for k, v in _weights(trainer).items() if not torch.equal(v, start[k])]
    assert moved, "no weight changed"


def test_a_gpu_step_is_the_cpu_step() -> None:
    """The same seed draws the same faces and augmentation on either device (from CPU generators):
    the first step's losses agree to float rounding, and the next steps stay close (Adam's first
    updates are about lr·sign(g), so a gradient element near 0 may move either way: weights are not
    compared)."""
    config = Config(**dict(SMALL, random_warp=True, random_dst_flip=True, optimizer="adam", lr=1e-3))
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    a, b = Trainer(config, device="cpu", pool_size=32), Trainer(config, device="cuda", pool_size=32)
    for step in range(5):
        la, lb = a.step(), b.step()
        tolerance = 1e-4 if step == 0 else 2e-2
        assert la.keys() == lb.keys()
        assert all(abs(la[k] - lb[k]) <= tolerance * max(1.0, abs(la[k])) for k in la), (step, la, lb)


def test_a_gpu_checkpoint_loads_on_the_cpu(tmp_path: Path) -> None:
    trainer = Trainer(Config(**dict(EVERYTHING, gan_power=0.0)), device="cuda", pool_size=16)
    trainer.fit(2, progress=False)
    trainer.save(tmp_path)
    back = Trainer.load(tmp_path, device="cpu")
    assert back.iteration == 2 and back.device.type == "cpu"
    for name, value in _weights(trainer).items():
        assert torch.equal(value, back.model.state_dict()[name]), name
    back.step()  # and it trains on


def test_the_seed_model_trains_on_the_gpu() -> None:
    """The seed card's LIAE at 128 px (42,773,412 parameters) takes steps at DFL's batch 8."""
    trainer = Trainer(Config.preset("seed"), device="cuda", pool_size=16)
    assert models.count_parameters(trainer.model) == 42_773_412
    trainer.end_pretrain()
    losses = trainer.fit(2, progress=False)
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values()), losses


def test_aelab_train_on_the_gpu(tmp_path: Path) -> None:
    tiny = [item for k, v in SMALL.items() if k != "pretrain" for item in ("--set", f"{k}={v}")]
    args = ["--preset", "cpu", *tiny, "--pool-size", "16", "--no-progress", "--preview-every", "0", "--iterations", "2"]
    assert command.main(["--model-dir", str(tmp_path / "auto"), *args]) == 0
    assert command.main(["--model-dir", str(tmp_path / "cuda"), "--device", "cuda", *args]) == 0
    assert Trainer.load(tmp_path / "cuda" / "model", device="cuda").iteration == 2


def test_torchrun_with_nccl(tmp_path: Path) -> None:
    """``aelab train`` under torchrun on the GPU: one process per GPU, NCCL."""
    gpus = torch.cuda.device_count()
    tiny = [item for k, v in SMALL.items() if k != "pretrain" for item in ("--set", f"{k}={v}")]
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(gpus),
         "-m", "aelab.cli", "train", "--model-dir", str(tmp_path), "--preset", "cpu", *tiny,
         "--device", "cuda", "--pool-size", "16", "--no-progress", "--preview-every", "0", "--iterations", "3"],
        env={**os.environ, "PYTHONPATH": SRC}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert Trainer.load(tmp_path / "model", device="cpu").iteration == 3
