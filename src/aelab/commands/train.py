"""``aelab train``: DeepFaceLab's ``main.py train`` for the kit's SAEHD, from a laptop to torchrun.

::

    aelab train --model-dir DIR [--preset NAME | --config FILE] [--set key=value ...]
                [--iterations N] [--device auto|cpu|cuda|mps] [--seed S]
                [--preview-every N] [--save-every-minutes M]
                [--autobackup-minutes M] [--keep-backups K] [--no-progress]
    torchrun --nproc_per_node K -m aelab.cli train --model-dir DIR ...

A new (or empty) DIR starts a model from the preset (default "cpu"), the config file, and the
``--set`` overrides; a DIR that holds a model resumes it exactly where it stopped (weights,
optimiser state, iteration, loss history, random state; see :class:`aelab.runfolder.RunFolder`
for the layout). ``--iterations N`` trains until the model's iteration count reaches N (so
``--iterations 200`` then ``--iterations 400`` trains 200 more); without it, until the config's
``target_iter`` or Ctrl-C, as DeepFaceLab does.

On resume the model's own options hold: ``--preset``/``--config`` must describe the same network
(archi, resolution, dims), and ``--set`` may change only what DeepFaceLab also lets one change
between runs (:data:`CHANGEABLE`); switching ``pretrain`` off ends pretraining
(:meth:`aelab.train.Trainer.end_pretrain`), as in DeepFaceLab.

What DeepFaceLab's trainer loop does (``mainscripts/Trainer.py``: ``trainerThread``) and this
command does too: a line per iteration (here a progress bar with iteration, src and dst loss and
iterations/s), a save every 25 minutes and at the end, the preview, the loss history, the preview
history when the model's ``write_preview_history`` is on (``ModelBase.train_one_iter``: every
:meth:`~aelab.train.Trainer.preview_history_due` iteration, a numbered series), autobackups every
``autobackup_hour`` (``ModelBase.create_backup``; ``--autobackup-minutes`` overrides it), and a
stop on request that saves first (DeepFaceLab: Enter in its window; here Ctrl-C or SIGTERM, exit
status 130). A bad option, an unknown preset or key, a value out of range, or a DIR holding
something else or a corrupt model ends with one line naming the problem and exit status 2.

Under ``torchrun`` the processes train one model with DistributedDataParallel
(:mod:`aelab.distributed`); only rank 0 prints and writes. Resume works with any number of
processes (exactly with the same number; with another, each process starts a fresh face stream).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

#: Options that may change when a run resumes: they are read at every step, or (``pretrain``) end a phase.
CHANGEABLE = (
    "batch_size", "target_iter", "random_src_flip", "random_dst_flip", "eyes_mouth_prio", "masked_training",
    "ct_mode", "blur_out_mask", "random_hsv_power", "autobackup_hour", "write_preview_history", "pretrain",
)  # fmt: skip
#: Options that fix the network's shape: on resume, a preset or config file must agree on them.
SHAPE = ("archi", "resolution", "ae_dims", "e_dims", "d_dims", "d_mask_dims", "learn_mask")
#: Exit status after a stop on request (Ctrl-C / SIGTERM), as a shell reports a SIGINT.
EXIT_INTERRUPTED = 130


class UsageError(ValueError):
    """Bad input: printed as one line, exit status 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aelab train",
        description="Train a SAEHD model (DF or LIAE) on synthetic faces, as DeepFaceLab's main.py train.",
    )
    parser.add_argument(
        "--model-dir",
        type=Path,
        required=True,
        help="the run folder: new or empty to start, an earlier run's to resume",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--preset", help="a named configuration (aelab.train.PRESETS; default: cpu)")
    source.add_argument("--config", type=Path, help="a JSON file of config fields (aelab.train.Config)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config field; VALUE is JSON (8, 1e-3, true, null) or a bare string",
    )
    parser.add_argument("--iterations", type=int, help="train until the model's iteration count reaches N")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (auto: the best present)")
    parser.add_argument("--seed", type=int, default=0, help="a new model's seed (initialisation and faces)")
    parser.add_argument("--pool-size", type=int, default=1024, help="faces rendered per domain for a new model")
    parser.add_argument(
        "--preview-every", type=int, default=100, help="write the preview every N iterations (0: only at the end)"
    )
    parser.add_argument(
        "--save-every-minutes", type=float, default=25.0, help="save the model this often (DeepFaceLab: 25)"
    )
    parser.add_argument(
        "--autobackup-minutes",
        type=float,
        default=None,
        help="copy the model to autobackups/ this often (0: never; default: the model's autobackup_hour x 60)",
    )
    parser.add_argument("--keep-backups", type=int, default=24, help="autobackups kept, newest first (DeepFaceLab: 24)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


# -- the configuration ------------------------------------------------------------------------------


def _overrides(pairs: list[str]) -> dict[str, Any]:
    """``["key=value", ...]`` as a dict; values are read as JSON, else kept as strings."""
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--set {pair!r} is not KEY=VALUE (e.g. --set batch_size=16)")
        try:
            values[key.strip()] = json.loads(text)
        except json.JSONDecodeError:
            values[key.strip()] = text
    return values


def _config(args: argparse.Namespace) -> Any:
    """The config that ``--preset``/``--config`` and ``--set`` describe (validated)."""
    from aelab.train import PRESETS, Config

    if args.config is not None:
        if not args.config.is_file():
            raise UsageError(f"--config {args.config}: no such file")
        base = Config.load(args.config).to_dict()
    else:
        name = args.preset or "cpu"
        if name not in PRESETS:
            raise UsageError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
        base = Config.preset(name).to_dict()
    return Config.from_dict({**base, **_overrides(args.set)})


def _resume_config(trainer: Any, args: argparse.Namespace) -> Any:
    """The resumed model's config with ``--set``'s changes; refuse what the model cannot take.

    ``--preset``/``--config`` (with ``--set``) must describe the model's network (:data:`SHAPE`);
    other options keep the model's values except those ``--set`` changes among :data:`CHANGEABLE`.
    """
    from aelab.train import Config

    stored = trainer.config
    changes = _overrides(args.set)
    asked = (
        _config(args)
        if args.preset is not None or args.config is not None
        else Config.from_dict({**stored.to_dict(), **changes})
    )
    for key in SHAPE:
        if getattr(asked, key) != getattr(stored, key):
            raise UsageError(
                f"{args.model_dir} holds a model with {key} {getattr(stored, key)!r}, not {getattr(asked, key)!r} "
                "(the network's shape cannot change); start a new --model-dir"
            )
    for key, value in changes.items():
        if key not in CHANGEABLE and value != getattr(stored, key):
            raise UsageError(
                f"{key} cannot change when a run resumes (the model was built with {getattr(stored, key)!r}); "
                f"options that can: {', '.join(CHANGEABLE)}"
            )
    if changes.get("pretrain") is True and not stored.pretrain:
        raise UsageError("pretrain cannot be switched back on once it has ended (DeepFaceLab neither)")
    return dataclasses.replace(stored, **{key: value for key, value in changes.items() if key in CHANGEABLE})


# -- the loop -----------------------------------------------------------------------------------------


class _StopRequest:
    """Ctrl-C and SIGTERM ask the loop to stop after the current iteration (and save); a second
    Ctrl-C stops at once (the last save stays on disk: saves are atomic)."""

    def __init__(self) -> None:
        self.asked = False
        self._previous = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.asked and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.asked = True

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _save(run: Any, trainer: Any, context: Any, *, backup: int = 0) -> None:
    """Save on rank 0 (every rank's face stream gathered to it), and a backup when ``backup`` > 0."""
    from aelab import distributed

    ranks = distributed.gather_sampling_states(trainer, context)
    if context.is_main:
        run.save(trainer, ranks)
        run.write_history(trainer)
        if backup:
            run.backup(trainer.iteration, backup)
    distributed.barrier(context)


def _train(run: Any, trainer: Any, context: Any, args: argparse.Namespace, target: int | None) -> int:
    """DeepFaceLab's trainer loop; returns the exit status."""
    from tqdm.auto import tqdm

    from aelab import distributed

    stop = _StopRequest()
    say = print if context.is_main else (lambda *a, **k: None)
    where = f"{context.world_size} processes ({context.backend})" if context.distributed else "1 process"
    span = f"from iteration {trainer.iteration} to {target or 'Ctrl-C'}"
    say(f"training {trainer.config.archi} {span} on {context.device}, {where}", flush=True)
    last_save = last_backup = time.monotonic()
    backup_every = 60 * (
        args.autobackup_minutes if args.autobackup_minutes is not None else 60 * trainer.config.autobackup_hour
    )
    halt = False
    bar = tqdm(
        initial=trainer.iteration,
        total=target,
        unit="it",
        desc="SAEHD",
        disable=not context.is_main or args.no_progress,
    )
    try:
        while target is None or trainer.iteration < target:
            terms = trainer.step()
            bar.update()
            bar.set_postfix(src=f"{terms['src_total']:.4f}", dst=f"{terms['dst_total']:.4f}", refresh=False)
            now = time.monotonic()
            due_save = now - last_save >= args.save_every_minutes * 60
            due_backup = backup_every > 0 and now - last_backup >= backup_every
            halt, due_save, due_backup = distributed.agree(context, [stop.asked, due_save, due_backup])
            if context.is_main and trainer.preview_history_due():
                run.write_preview(trainer, history=True)
            if context.is_main and args.preview_every and trainer.iteration % args.preview_every == 0:
                run.write_preview(trainer)
                run.write_history(trainer)
            if halt:
                break
            if due_save or due_backup:
                _save(run, trainer, context, backup=args.keep_backups if due_backup else 0)
                last_save = now
                last_backup = now if due_backup else last_backup
        bar.close()
        _save(run, trainer, context)
        if context.is_main:
            run.write_preview(trainer)
    except KeyboardInterrupt:  # a second Ctrl-C
        say(f"aborted at iteration {trainer.iteration}; the last saved model stays in {run.model}", flush=True)
        return EXIT_INTERRUPTED
    finally:
        bar.close()
        stop.restore()
    if halt:
        say(f"stopped at iteration {trainer.iteration} on request; the model is saved in {run.model}", flush=True)
        return EXIT_INTERRUPTED
    last = {side: trainer.history.get(f"{side}_total") or [float("nan")] for side in ("src", "dst")}
    final = f"src loss {last['src'][-1]:.4f}, dst loss {last['dst'][-1]:.4f}"
    say(f"iteration {trainer.iteration}: {final}; saved in {run.model}", flush=True)
    return 0


def _check_options(args: argparse.Namespace) -> None:
    """The command's own numbers (the config's fields are checked by :class:`aelab.train.Config`)."""
    from aelab.validate import check_float, check_int

    for name, minimum in (("iterations", 0), ("preview_every", 0), ("keep_backups", 1), ("pool_size", 1), ("seed", 0)):
        if getattr(args, name) is not None:
            check_int(f"--{name.replace('_', '-')}", getattr(args, name), minimum=minimum)
    for name in ("save_every_minutes", "autobackup_minutes"):
        if getattr(args, name) is not None:
            check_float(f"--{name.replace('_', '-')}", getattr(args, name), minimum=0.0)


def _start(args: argparse.Namespace, context: Any, run: Any) -> tuple[Any, list[dict[str, Any]] | None]:
    """The trainer to train: resumed from DIR, or new."""
    from aelab.train import Trainer

    if run.exists():
        try:
            trainer, ranks = run.load(context.device)
        except (FileNotFoundError, ValueError, TypeError, RuntimeError) as exc:
            raise UsageError(f"cannot resume {run.model}: {exc}") from None
        config = _resume_config(trainer, args)
        if trainer.config.pretrain and not config.pretrain:
            trainer.end_pretrain()
        trainer.config = dataclasses.replace(config, pretrain=trainer.config.pretrain)
        return trainer, ranks
    return Trainer(_config(args), device=context.device, seed=args.seed, pool_size=args.pool_size), None


def _usage_error(exc: Exception, speak: bool) -> int:
    """Print one line naming the problem (rank 0 only, under torchrun); exit status 2."""
    if speak:
        print(f"aelab train: {exc}", file=sys.stderr)
    return 2


def main(argv: list[str]) -> int:
    """The ``aelab train`` command; see the module docstring for its exit statuses."""
    args = _parser().parse_args(argv)
    from aelab import distributed
    from aelab.runfolder import RunFolder

    speak = os.environ.get("RANK", "0") == "0"
    run = RunFolder(args.model_dir)
    try:
        _check_options(args)
        if not run.exists():
            _config(args)  # bad options fail here, before any process group starts
        context = distributed.init(args.device)
    except (ValueError, TypeError) as exc:
        return _usage_error(exc, speak)
    try:
        try:
            trainer, ranks = _start(args, context, run)
            distributed.prepare(trainer, context, ranks)
        except (ValueError, TypeError) as exc:
            return _usage_error(exc, speak)
        target = args.iterations
        if trainer.config.target_iter:
            target = min(target, trainer.config.target_iter) if target is not None else trainer.config.target_iter
        return _train(run, trainer, context, args, target)
    finally:
        distributed.shutdown(context)
