"""The folder of a training run (``aelab train --model-dir DIR``): the model, saved atomically,
its previews, loss history and autobackups.

::

    DIR/model              -> checkpoints/00000400   the current model (a symbolic link; open it
                                                     with aelab.train.Trainer.load("DIR/model"))
    DIR/checkpoints/       the model folder(s) written by Trainer.save
    DIR/previews/preview.png, previews/history/0000010.png   the latest preview; the numbered series
    DIR/history.csv, history.png                               the loss terms per iteration, and a plot
    DIR/autobackups/00000400/ ...                              copies of the model, the last K kept

DeepFaceLab keeps the same things beside its model files (``models/ModelBase.py``: ``save``,
``create_backup`` into ``<model>_autobackups/01..24``, the preview history into ``<model>_history``
as ``{iter:07d}.jpg`` when ``write_preview_history`` is on; ``mainscripts/Trainer.py`` saves every
25 minutes). Two differences: a backup is named by its iteration rather than rotated through
01..24, and every save is atomic. A save writes a new checkpoint folder next to the current one,
flushes every file to disk (fsync), and only then points ``DIR/model`` at it by replacing the link
(``os.replace``: atomic on POSIX). A crash, a full disk or Ctrl-C at any moment of a save leaves
``DIR/model`` pointing at the previous complete checkpoint, whose files the manifest's SHA-256
sums vouch for.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from aelab.train import Trainer

__all__ = ["RunFolder", "atomic_write"]

#: The entries ``aelab train`` makes in DIR; a folder holding anything else is not a training run.
_OWN = {"model", "checkpoints", "previews", "autobackups", "history.csv", "history.png", ".model.link"}
#: Per-process face streams of a multi-process run, written beside the checkpoint's own files.
RANKS_FILE = "ranks.pt"


def _fsync_path(path: Path) -> None:
    """Flush a file or a folder's entries to disk (folders: where the OS allows opening them)."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) if path.is_dir() else os.O_RDONLY
    try:
        fd = os.open(path, flags)
    except OSError:  # Windows cannot open folders
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a part:
    a temporary file beside it, fsync, then ``os.replace``."""
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(temporary, "wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, path)
    _fsync_path(path.parent)


def _figure_png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


class RunFolder:
    """The run folder ``root`` (see the module docstring). Nothing is written until a save."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.model = self.root / "model"
        self.checkpoints = self.root / "checkpoints"
        self.previews = self.root / "previews"
        self.autobackups = self.root / "autobackups"

    def exists(self) -> bool:
        """Whether the folder holds a model to resume.

        Raises ValueError for a folder that holds something else (a file, or a folder with files
        ``aelab train`` does not make): the run would mix with them.
        """
        if os.path.lexists(self.model):
            return True
        if not self.root.exists():
            return False
        if not self.root.is_dir():
            raise ValueError(f"--model-dir {self.root} is a file; give a new or empty folder, or an earlier run's")
        foreign = sorted(entry.name for entry in self.root.iterdir() if entry.name not in _OWN)
        if foreign:
            raise ValueError(
                f"--model-dir {self.root} is not an aelab training run (no {self.model}, and it holds "
                f"{', '.join(foreign[:5])}); give a new or empty folder, or an earlier run's"
            )
        return False

    # -- the model -----------------------------------------------------------------------------

    def save(self, trainer: Trainer, ranks: list[dict[str, Any]] | None = None) -> Path:
        """Save ``trainer`` as the current model, atomically; return the checkpoint folder.

        ``ranks``: the face streams of every process of a multi-process run
        (:func:`aelab.distributed.gather_sampling_states`), kept in ``ranks.pt`` for an exact
        resume with as many processes.
        """
        name = f"{trainer.iteration:08d}"
        target = self.checkpoints / name
        if os.path.lexists(self.model) and self.model.resolve() == target.resolve():
            return target  # nothing trained since the last save: it is already on disk
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        temporary = self.checkpoints / f".{name}.tmp"
        shutil.rmtree(temporary, ignore_errors=True)
        trainer.save(temporary)
        if ranks is not None and len(ranks) > 1:
            torch.save(ranks, temporary / RANKS_FILE)
        for file in temporary.iterdir():
            _fsync_path(file)
        _fsync_path(temporary)
        shutil.rmtree(target, ignore_errors=True)  # an unreferenced leftover of an interrupted run
        os.rename(temporary, target)
        _fsync_path(self.checkpoints)
        link = self.root / ".model.link"
        if os.path.lexists(link):
            link.unlink()
        os.symlink(Path("checkpoints") / name, link, target_is_directory=True)
        os.replace(link, self.model)
        _fsync_path(self.root)
        for old in self.checkpoints.iterdir():
            if old.name != name:
                shutil.rmtree(old, ignore_errors=True)
        return target

    def load(self, device: torch.device) -> tuple[Trainer, list[dict[str, Any]] | None]:
        """The current model (verified by :meth:`aelab.train.Trainer.load`) and its saved face streams."""
        from aelab.train import Trainer

        trainer = Trainer.load(self.model, device=device)
        ranks_file = self.model / RANKS_FILE
        ranks = torch.load(ranks_file, weights_only=True) if ranks_file.is_file() else None
        return trainer, ranks

    def backup(self, iteration: int, keep: int) -> Path:
        """Copy the current model to ``autobackups/<iteration>`` and keep the last ``keep`` backups."""
        self.autobackups.mkdir(parents=True, exist_ok=True)
        name = f"{iteration:08d}"
        target = self.autobackups / name
        temporary = self.autobackups / f".{name}.tmp"
        shutil.rmtree(temporary, ignore_errors=True)
        shutil.copytree(self.model.resolve(), temporary)
        for file in temporary.iterdir():
            _fsync_path(file)
        shutil.rmtree(target, ignore_errors=True)
        os.rename(temporary, target)
        backups = sorted(p for p in self.autobackups.iterdir() if not p.name.startswith("."))
        for old in backups[: max(0, len(backups) - keep)]:
            shutil.rmtree(old, ignore_errors=True)
        return target

    # -- what people look at ---------------------------------------------------------------------

    def write_preview(self, trainer: Trainer, *, history: bool = False) -> Path:
        """``previews/preview.png`` (DeepFaceLab's preview grid, :meth:`aelab.train.Trainer.preview`),
        and with ``history`` also ``previews/history/<iteration - 1:07d>.png`` (DFL numbers its
        series before it counts the iteration: 0000000, 0000010, ...)."""
        png = _figure_png(trainer.preview())
        self.previews.mkdir(parents=True, exist_ok=True)
        atomic_write(self.previews / "preview.png", png)
        if history:
            (self.previews / "history").mkdir(exist_ok=True)
            atomic_write(self.previews / "history" / f"{trainer.iteration - 1:07d}.png", png)
        return self.previews / "preview.png"

    def write_history(self, trainer: Trainer) -> None:
        """``history.csv`` (one row per iteration, one column per loss term) and ``history.png``
        (src and dst loss against iteration, smoothed)."""
        from aelab.plotting import loss_curves

        history = trainer.history
        if not history:
            return
        names = list(history)
        rows = max(len(values) for values in history.values())
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(["iteration", *names])
        first = trainer.iteration - rows + 1
        for row in range(rows):
            values = [history[name][row] if row < len(history[name]) else "" for name in names]
            writer.writerow([first + row, *(f"{v:.6g}" if v != "" else "" for v in values)])
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write(self.root / "history.csv", text.getvalue().encode())
        curves = {side: history[f"{side}_total"] for side in ("src", "dst") if history.get(f"{side}_total")}
        if curves:
            smooth = max(1, min(50, rows // 20))
            figure = loss_curves(curves, smooth=smooth, title=f"SAEHD loss, iteration {trainer.iteration}")
            atomic_write(self.root / "history.png", _figure_png(figure))
