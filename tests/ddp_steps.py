"""Run by tests/test_distributed.py under ``torchrun --nproc_per_node K``: K processes at batch b
take a few SAEHD steps on fixed faces with DistributedDataParallel; rank 0 saves the weights.

``python tests/ddp_steps.py OUT.pt BATCH STEPS``: OUT.pt gets {reduction: weights} for both loss
reductions (:attr:`aelab.train.Trainer.loss_reduction` "mean" and "sum"). The faces of each step are the same 2·b... K·b
batch in every process, rank r training on its slice [r·b, (r+1)·b): so the one-process reference
(batch K·b, the whole batch) sees exactly the same samples.
"""

import sys

import torch

from aelab import distributed
from aelab.data import faces
from aelab.train import Samples, Trainer

TINY = dict(
    archi="liae-ud",
    resolution=32,
    ae_dims=16,
    e_dims=8,
    d_dims=4,
    d_mask_dims=2,
    pretrain=False,
    random_warp=True,
    random_src_flip=False,
    random_dst_flip=False,
    optimizer="adam",
    lr=1e-4,
    target_iter=0,
)


def fixed_samples(step: int, batch: int) -> tuple[Samples, Samples]:
    """The whole batch of step ``step``: src faces from domain A, dst from B, no augmentation."""
    sides = []
    for domain in ("A", "B"):
        f = faces.render(batch, resolution=32, domain=domain, seed=100 + step)
        sides.append(Samples(f.images, f.images, f.face_mask, f.eyes_mouth_mask))
    return sides[0], sides[1]


def train(trainer: Trainer, steps: int, total_batch: int, rank: int = 0, world_size: int = 1) -> None:
    """``steps`` steps on the fixed faces; this process takes its slice of each whole batch."""
    per_rank = total_batch // world_size
    part = slice(rank * per_rank, (rank + 1) * per_rank)
    for step in range(steps):
        src, dst = fixed_samples(step, total_batch)
        mine = {side: Samples(*(getattr(s, name)[part] for name in ("warped", "target", "mask", "em_mask")))
                for side, s in (("src", src), ("dst", dst))}  # fmt: skip
        trainer._samples = mine.__getitem__  # type: ignore[method-assign]
        trainer.step()


def main() -> None:
    out, batch, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(1)
    context = distributed.init("cpu")
    from aelab.train import Config

    weights = {}
    for reduction in ("mean", "sum"):
        trainer = Trainer(Config(**TINY, batch_size=batch), device="cpu", seed=0, pool_size=64)
        trainer.loss_reduction = reduction
        distributed.prepare(trainer, context)
        train(trainer, steps, batch * context.world_size, context.rank, context.world_size)
        weights[reduction] = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
    if context.is_main:
        torch.save(weights, out)
    distributed.shutdown(context)


if __name__ == "__main__":
    main()
