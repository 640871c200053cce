"""Training under torchrun (aelab.distributed): K processes at batch b take the steps of one process
at batch K·b; ranks draw disjoint faces; ``aelab train`` resumes whatever K was before."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from aelab import distributed
from aelab.data import faces
from aelab.train import Config, Trainer

sys.path.insert(0, str(Path(__file__).parent))
import ddp_steps  # noqa: E402

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
SRC = str(Path(__file__).resolve().parents[1] / "src")


def _env() -> dict[str, str]:
    path = os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}


def _torchrun(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*TORCHRUN, *args], env=_env(), capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.mark.slow
def test_two_gloo_processes_equal_one_process_with_twice_the_batch(tmp_path: Path) -> None:
    """3 steps of 2 processes at batch 2 (DDP, gloo) give the weights of 1 process at batch 4, to
    float rounding, for the mean reduction (DDP averages) and the sum (gradients summed)."""
    batch, steps = 2, 3
    out = tmp_path / "ddp.pt"
    _torchrun(str(Path(ddp_steps.__file__)), str(out), str(batch), str(steps))
    weights = torch.load(out, weights_only=True)
    torch.set_num_threads(1)
    for reduction in ("mean", "sum"):
        reference = Trainer(Config(**ddp_steps.TINY, batch_size=2 * batch), device="cpu", seed=0, pool_size=64)
        reference.loss_reduction = reduction
        start = {k: v.clone() for k, v in reference.model.state_dict().items()}
        ddp_steps.train(reference, steps, 2 * batch)
        got, expected = weights[reduction], reference.model.state_dict()
        moved = max(float((expected[k] - start[k]).abs().max()) for k in expected)
        worst = max(float((expected[k] - got[k]).abs().max()) for k in expected)
        assert moved > 1e-4, "the reference did not train"
        assert worst < 2e-5, f"{reduction}: DDP weights differ by {worst:.3g} (steps moved them by {moved:.3g})"


def test_ranks_draw_disjoint_faces() -> None:
    """With shard (r, K) a trainer draws only pool entries r, r + K, ...: no face in two ranks."""
    config = Config(**ddp_steps.TINY, batch_size=64)
    n = 16
    images = torch.arange(n, dtype=torch.float32).div(n).view(n, 1, 1, 1).expand(n, 3, 32, 32).contiguous()
    ones = torch.ones(n, 1, 32, 32)
    pool = faces.FaceBatch(images, ones, ones, {}, "A")  # face i is flat grey i/16: its centre names it
    drawn = []
    for rank in range(2):
        trainer = Trainer(config, device="cpu", seed=0, pool_size=64)
        trainer._src_pool = pool
        trainer.set_shard(rank, 2)
        centre = trainer._samples("src").target[:, 0, 16, 16]
        indices = {round(float(v) * n) for v in centre}
        assert all(i % 2 == rank for i in indices), indices
        drawn.append(indices)
    assert not drawn[0] & drawn[1]
    assert len(drawn[0]) > 4


def test_one_process_context_without_torchrun(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    context = distributed.init("cpu")
    assert (context.rank, context.world_size, context.is_main, context.distributed) == (0, 1, True, False)
    assert distributed.agree(context, [True, False]) == [True, False]
    with pytest.raises(ValueError, match="device must be one of"):
        distributed.init("tpu")


@pytest.mark.slow
def test_train_under_torchrun_then_resume_with_one_process(tmp_path: Path) -> None:
    """``aelab train`` under torchrun (2 gloo processes) writes one model (rank 0 only, with both
    ranks' face streams); one process resumes it."""
    run = tmp_path / "run"
    tiny = [arg for key, value in ddp_steps.TINY.items() for arg in ("--set", f"{key}={_json(value)}")]
    common = ["-m", "aelab.cli", "train", "--model-dir", str(run), *tiny, "--set", "batch_size=2",
              "--pool-size", "32", "--no-progress", "--preview-every", "0"]  # fmt: skip
    result = _torchrun(*common, "--iterations", "3")
    assert result.stdout.count("training liae-ud from iteration 0") == 1  # rank 0 alone speaks
    assert "2 processes (gloo)" in result.stdout
    assert Trainer.load(run / "model").iteration == 3
    assert (run / "model" / "ranks.pt").is_file()
    single = subprocess.run(
        [sys.executable, *common, "--iterations", "5"], env=_env(), capture_output=True, text=True, timeout=240
    )
    assert single.returncode == 0, single.stderr[-3000:]
    assert "from iteration 3" in single.stdout
    resumed = Trainer.load(run / "model")
    assert resumed.iteration == 5 and len(resumed.history["src_total"]) == 5
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["00000005"]


def _json(value: object) -> str:
    import json

    return json.dumps(value) if not isinstance(value, str) else value
