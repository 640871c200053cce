"""Training one model in several processes: torchrun's environment, DistributedDataParallel, and
rank-disjoint face streams.

``aelab train`` calls :func:`init` and :func:`prepare`; run it under ``torchrun --nproc_per_node K``
(and across nodes through torchrun's rendezvous) and the K processes train one model:

- :func:`init` reads what torchrun sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``
  ...) and starts PyTorch's process group: gloo on the CPU, NCCL on CUDA (one GPU per local rank).
  Without torchrun it returns a one-process :class:`Context` and starts nothing.
- :func:`prepare` makes the trainer's face stream this rank's own (pool entries ``rank``,
  ``rank + K``, ... drawn with a generator of its own, so no two ranks train on the same face in a
  step) and puts a :class:`~torch.nn.parallel.DistributedDataParallel` module in place of the
  trainer's forward pass (:meth:`aelab.train.Trainer.forward_sides`), which all-reduces the
  gradients during ``backward``.
- Only rank 0 writes (``Context.is_main``); :func:`gather_sampling_states` brings every rank's
  face stream to it for the checkpoint, so that a resume with the same K continues exactly.

What K processes compute. The trainer differentiates the *sum* of the per-sample G losses over
its batch, as DeepFaceLab does (``tf.gradients`` of the per-sample ``gpu_G_loss`` vector;
:attr:`aelab.train.Trainer.loss_reduction`). So the gradients of the K processes are *summed*
(:func:`_allreduce_sum`, a DDP communication hook in place of DDP's average): the sum over K
batches of b samples is the sum over the K·b samples, and K processes at batch b take the same
steps as one process at batch K·b, to float rounding (the sums run in another order). With the
"mean" reduction DDP's own average keeps the same equivalence. DeepFaceLab's own multi-GPU SAEHD
(``Model_SAEHD.on_initialize``) *averages* its GPUs' gradients of per-GPU sums (``nn.average_gv_list``),
so there K GPUs at batch b step like one GPU at batch K·b with the gradient divided by K; the kit
keeps the one-process equivalence instead. Each rank draws its own faces and colour-transfer
references. The discriminators are not wrapped: :func:`prepare` refuses ``gan_power`` or
``true_face_power`` > 0 with K > 1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist

from aelab.runtime import default_device

if TYPE_CHECKING:
    from aelab.train import Trainer

__all__ = ["Context", "init", "prepare", "shutdown", "agree", "gather_sampling_states", "barrier"]

#: Devices ``aelab train --device`` accepts; "auto" is :func:`aelab.runtime.default_device`.
DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class Context:
    """Where this process stands: its rank among ``world_size`` processes, its device and backend."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        """Whether this process writes (previews, history, checkpoints) and prints: rank 0."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, str(default))
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name}={value!r} is not an integer (torchrun sets it)") from None


def _device(name: str, local_rank: int, world_size: int) -> torch.device:
    """The device ``--device`` names, with one CUDA device per local rank."""
    if name not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}; got {name!r}")
    kind = default_device().type if name == "auto" else name
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device 'cuda' was asked for, but torch sees no CUDA device; use --device cpu")
        if local_rank >= torch.cuda.device_count():
            raise ValueError(
                f"local rank {local_rank} has no GPU of its own ({torch.cuda.device_count()} visible): start "
                "torchrun with --nproc_per_node at most the number of GPUs"
            )
        return torch.device("cuda", local_rank)
    if kind == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError("device 'mps' was asked for, but this torch has no Apple MPS device; use --device cpu")
        if world_size > 1:
            raise ValueError(
                "PyTorch's process groups do not run on Apple's MPS; train with --device cpu under torchrun"
            )
    return torch.device(kind)


def init(device: str = "auto") -> Context:
    """Start the process group torchrun describes (gloo on CPU, NCCL on CUDA); one process: nothing.

    Raises ValueError for a device this machine lacks or a torchrun environment that does not fit it.
    """
    world_size, rank, local_rank = _env_int("WORLD_SIZE", 1), _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    where = _device(device, local_rank, world_size)
    if world_size == 1:
        return Context(device=where)
    backend = "nccl" if where.type == "cuda" else "gloo"
    if where.type == "cuda":
        torch.cuda.set_device(where)
    if not dist.is_initialized():
        dist.init_process_group(backend, rank=rank, world_size=world_size)
    return Context(rank, world_size, local_rank, where, backend)


def shutdown(context: Context) -> None:
    """End the process group that :func:`init` started."""
    if context.distributed and dist.is_initialized():
        dist.destroy_process_group()


class _Sides(torch.nn.Module):
    """The trainer's forward pass as one module, for DDP to wrap (DDP hooks only ``forward``)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, src: torch.Tensor, dst: torch.Tensor) -> Any:
        codes = self.model.codes(src, dst)
        return codes, self.model.decode_sides(codes)


def _allreduce_sum(process_group, bucket):  # type: ignore[no-untyped-def]
    """A DDP communication hook that sums gradients across ranks (DDP's default averages them).

    (No annotations: DDP checks the hook's, and this module's are strings.)
    """
    group = process_group if process_group is not None else dist.group.WORLD
    work = dist.all_reduce(bucket.buffer(), group=group, async_op=True)
    return work.get_future().then(lambda future: future.value()[0])


def stream_seed(seed: int, rank: int) -> int:
    """The seed of rank ``rank``'s face stream when a run starts with a new number of processes."""
    return (seed * 1_000_003 + 7919 * (rank + 1)) % (2**63 - 1)


def prepare(trainer: Trainer, context: Context, states: list[dict[str, Any]] | None = None) -> None:
    """Make ``trainer`` this rank's part of a K-process run (K = ``context.world_size``).

    Rank-disjoint faces (:meth:`aelab.train.Trainer.set_shard`); the face stream continues from ``states`` (what
    :func:`gather_sampling_states` saved) when they come from a run of K processes too, otherwise
    (a new run, or a resume with another K) each rank's generator is seeded from (seed, rank) and
    its samplers start a new epoch; then DDP in place of the forward pass. One process: nothing
    changes (the trainer's own stream goes on).
    """
    if not context.distributed:
        return
    if trainer.gan_power > 0 or trainer.config.true_face_power > 0:
        raise ValueError(
            "the discriminators (gan_power, true_face_power > 0) are not trained under torchrun yet; "
            "train in one process"
        )
    trainer.set_shard(context.rank, context.world_size)
    if states is not None and len(states) == context.world_size:
        trainer.load_sampling_state(states[context.rank])
    else:
        trainer.generator.manual_seed(stream_seed(trainer.seed, context.rank))
    device_ids = [context.device.index] if context.device.type == "cuda" else None
    ddp = torch.nn.parallel.DistributedDataParallel(_Sides(trainer.model), device_ids=device_ids)
    if trainer.loss_reduction == "sum":
        ddp.register_comm_hook(None, _allreduce_sum)
    trainer.forward_sides = ddp  # type: ignore[method-assign]


def agree(context: Context, flags: list[bool]) -> list[bool]:
    """Each flag true on any rank, on every rank (one all-reduce): how the ranks stop or save together."""
    if not context.distributed:
        return list(flags)
    values = torch.tensor([int(flag) for flag in flags], dtype=torch.int64, device=_comm_device(context))
    dist.all_reduce(values, op=dist.ReduceOp.MAX)
    return [bool(value) for value in values.tolist()]


def _comm_device(context: Context) -> torch.device:
    return context.device if context.backend == "nccl" else torch.device("cpu")


def gather_sampling_states(trainer: Trainer, context: Context) -> list[dict[str, Any]] | None:
    """Every rank's face stream (:meth:`aelab.train.Trainer.sampling_state`), on rank 0; None elsewhere."""
    state = trainer.sampling_state()
    if not context.distributed:
        return [state]
    states: list[Any] | None = [None] * context.world_size if context.is_main else None
    dist.gather_object(state, states, dst=0)
    return states


def barrier(context: Context) -> None:
    """Wait for every rank (no-op in one process)."""
    if context.distributed:
        dist.barrier()


# -- speed: aelab bench --only ddp (aelab.speed) ---------------------------------------------------


def bench_section(seconds: float = 20.0) -> list[tuple[str, str]]:
    """Iterations/s and samples/s of the cpu preset in 1 and 2 gloo processes (torchrun, one thread
    each); samples/s counts the faces of one side: iterations/s × processes × batch_size."""
    rows = []
    for processes in (1, 2):
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
                   "-m", "aelab.distributed", str(seconds)]  # fmt: skip
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=seconds * 10 + 300)
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode != 0 or not lines:
            rows.append((f"{processes} process(es)", f"failed: {done.stderr.strip()[-200:]}"))
            continue
        figures = json.loads(lines[-1])
        rows.append((f"{processes} process(es), batch {figures['batch']} each",
                     f"{figures['iterations_per_s']:.2f} it/s, {figures['samples_per_s']:.1f} samples/s"))  # fmt: skip
    return rows


def _bench_main(seconds: float) -> None:
    """Under torchrun: train the cpu preset for ``seconds`` after 3 warm-up steps; rank 0 prints JSON."""
    from aelab.train import Config, Trainer

    torch.set_num_threads(1)
    context = init("cpu")
    trainer = Trainer(Config.preset("cpu"), device="cpu", seed=0, pool_size=256)
    prepare(trainer, context)
    for _ in range(3):
        trainer.step()
    barrier(context)
    start, steps = time.perf_counter(), 0
    while True:
        trainer.step()
        steps += 1
        if agree(context, [time.perf_counter() - start >= seconds])[0]:
            break
    rate = steps / (time.perf_counter() - start)
    if context.is_main:
        batch = trainer.config.batch_size
        print(
            json.dumps({"iterations_per_s": rate, "samples_per_s": rate * batch * context.world_size, "batch": batch})
        )
    shutdown(context)


if __name__ == "__main__":
    _bench_main(float(sys.argv[1]) if len(sys.argv) > 1 else 20.0)
