"""``aelab train``: a new folder starts, an existing one resumes exactly; previews, history,
atomic saves, autobackups, Ctrl-C, and one-line errors with exit status 2 for bad input."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from aelab.commands import train as command
from aelab.runfolder import RunFolder
from aelab.train import Trainer

TINY = ["--set", "archi=liae-ud", "--set", "resolution=32", "--set", "ae_dims=16", "--set", "e_dims=8",
        "--set", "d_dims=4", "--set", "d_mask_dims=2", "--set", "batch_size=2", "--pool-size", "32",
        "--no-progress"]  # fmt: skip


def _train(folder: Path, *extra: str) -> int:
    return command.main(["--model-dir", str(folder), "--preset", "cpu", *TINY, *extra])


def _weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in trainer.model.state_dict().items()}


def test_resume_continues_exactly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """4 iterations, then on to 12, equal 12 in one go: weights, optimiser, history, random state;
    the preview history is DeepFaceLab's series (every 10 iterations at this resolution)."""
    torch.set_num_threads(1)
    history = ["--set", "write_preview_history=true"]
    assert _train(tmp_path / "a", "--iterations", "4", "--preview-every", "2", *history) == 0
    assert _train(tmp_path / "a", "--iterations", "12", "--preview-every", "2", *history) == 0
    assert _train(tmp_path / "b", "--iterations", "12", "--preview-every", "0", *history) == 0
    assert "from iteration 4 to 12" in capsys.readouterr().out
    a, b = Trainer.load(tmp_path / "a" / "model"), Trainer.load(tmp_path / "b" / "model")
    assert a.iteration == b.iteration == 12
    assert a.history == b.history
    for name, value in _weights(a).items():
        assert torch.equal(value, b.model.state_dict()[name]), name
    assert a.generator.get_state().equal(b.generator.get_state())
    assert sorted(p.name for p in (tmp_path / "a" / "previews" / "history").iterdir()) == ["0000000.png", "0000010.png"]
    assert (tmp_path / "a" / "previews" / "preview.png").stat().st_size > 0
    assert (tmp_path / "a" / "history.png").stat().st_size > 0
    rows = (tmp_path / "a" / "history.csv").read_text().splitlines()
    assert rows[0].startswith("iteration,") and "src_total" in rows[0] and len(rows) == 13
    assert rows[-1].startswith("12,")


def test_a_crash_while_saving_leaves_the_previous_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    torch.set_num_threads(1)
    assert _train(tmp_path, "--iterations", "2", "--preview-every", "0") == 0
    real_save = Trainer.save

    def crash(self: Trainer, folder: Path) -> Path:
        real_save(self, folder)
        (Path(folder) / "encoder.pt").write_bytes(b"half")  # a torn file, then the crash
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Trainer, "save", crash)
    with pytest.raises(OSError, match="No space left"):
        _train(tmp_path, "--iterations", "3", "--preview-every", "0")
    assert Trainer.load(tmp_path / "model").iteration == 2
    monkeypatch.setattr(Trainer, "save", real_save)
    assert _train(tmp_path, "--iterations", "3", "--preview-every", "0") == 0
    assert Trainer.load(tmp_path / "model").iteration == 3
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["00000003"]


def test_autobackups_keep_the_last_k(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    assert _train(tmp_path, "--iterations", "1", "--preview-every", "0") == 0
    run = RunFolder(tmp_path)
    for iteration in (1, 2, 3, 4):
        run.backup(iteration, keep=2)
    assert sorted(p.name for p in run.autobackups.iterdir()) == ["00000003", "00000004"]
    assert Trainer.load(run.autobackups / "00000004").iteration == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--preset", "nope"], "unknown preset 'nope'"),
        (["--set", "colour=red"], "unknown config key 'colour'"),
        (["--set", "batch_size=0"], "batch_size must be an int >= 1, got 0"),
        (["--set", "gan_power=9"], "gan_power must be a finite number in [0.0, 5.0], got 9.0"),
        (["--set", "lr=abc"], "lr must be a number, got 'abc'"),
        (["--set", "batch_size"], "is not KEY=VALUE"),
        (["--iterations", "-1"], "--iterations must be an int >= 0"),
        (["--device", "tpu"], "device must be one of"),
    ],
)
def test_bad_options_end_with_one_line_and_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert command.main(["--model-dir", str(tmp_path / "m"), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "m").exists()


def test_foreign_corrupt_or_incompatible_folders_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    torch.set_num_threads(1)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert command.main(["--model-dir", str(foreign)]) == 2
    assert "is not an aelab training run" in capsys.readouterr().err
    run = tmp_path / "run"
    assert _train(run, "--iterations", "1", "--preview-every", "0") == 0
    capsys.readouterr()
    assert _train(run, "--iterations", "2", "--set", "ae_dims=32") == 2
    assert "holds a model with ae_dims 16, not 32" in capsys.readouterr().err
    assert command.main(["--model-dir", str(run), "--preset", "seed", "--iterations", "2"]) == 2
    assert "holds a model with archi 'liae-ud', not 'liae'" in capsys.readouterr().err
    assert command.main(["--model-dir", str(run), "--set", "lr=0.5"]) == 2
    assert "lr cannot change when a run resumes" in capsys.readouterr().err
    with (run / "model" / "decoder.pt").open("r+b") as stream:
        stream.seek(100)
        stream.write(b"\x00\x01\x02")
    assert _train(run, "--iterations", "2") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "checksum mismatch" in err and "decoder.pt" in err


@pytest.mark.slow
def test_ctrl_c_saves_and_exits_with_a_message(tmp_path: Path) -> None:
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")])),
        "OMP_NUM_THREADS": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "aelab.cli", "train", "--model-dir", str(tmp_path), "--preset", "cpu", *TINY,
         "--set", "target_iter=0", "--preview-every", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert process.stdout is not None
    assert "training liae-ud from iteration 0" in process.stdout.readline()
    time.sleep(2.0)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == command.EXIT_INTERRUPTED, err[-2000:]
    assert "stopped at iteration" in out and "on request" in out
    assert Trainer.load(tmp_path / "model").iteration >= 1
