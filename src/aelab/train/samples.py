"""SAEHD's training samples: which faces each step draws, and how it processes them.

- :func:`face_pool` -- the face set: synthetic faces rendered once and cached (DeepFaceLab loads
  a folder of aligned faces once, ``SampleLoader``).
- :class:`IndexHost` -- ``core/mplib/__init__.py`` ``IndexHost``: the order in which samples are
  drawn, an epoch at a time: a shuffled list of every index, used up before it is shuffled again
  (a batch can straddle two epochs). :class:`Index2DHost` -- ``Index2DHost``, the same over yaw
  bins, then within the bin, for ``uniform_yaw`` (``SampleGeneratorFace``, :func:`yaw_bins`).
- :func:`process` -- ``samplelib/SampleProcessor.py`` ``process`` with the four outputs
  ``Model_SAEHD`` asks for: the network's input (colour transfer, random HSV, warp + affine +
  flip), the target image, the face mask and the eyes-and-mouth mask (affine + flip only), all with
  one set of warp parameters per face (:func:`aelab.augment.augment_batch`, SAEHD's ranges).
- :func:`blur_out_mask` -- ``Model_SAEHD``'s ``blur_out_mask`` option, applied to the targets.

Images are tensors (N, 3, R, R) of floats in [0, 1], masks (N, 1, R, R) in [0, 1].
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from aelab import augment, color, losses
from aelab.data import faces

__all__ = [
    "YAW_BINS",
    "face_pool",
    "Samples",
    "IndexHost",
    "Index2DHost",
    "yaw_bins",
    "process",
    "blur_out_mask",
]

#: ``SampleGeneratorFace`` with ``uniform_yaw_distribution``: 128 bins over yaw -1.2..1.2 radians.
YAW_BINS = 128
_YAW_LIMIT = 1.2


@functools.lru_cache(maxsize=6)
def face_pool(domain: str, resolution: int, size: int, seed: int) -> faces.FaceBatch:
    """``size`` faces of ``domain`` rendered once at ``resolution`` and cached for the session.

    Rendering every step would cost more than the training step itself; a pool of a few thousand
    faces, re-augmented at every draw, is what DeepFaceLab's sample generators do with a face set.
    """
    return faces.render(size, resolution=resolution, domain=domain, seed=seed)


@dataclass
class Samples:
    """One side's training batch, as DeepFaceLab's sample generator yields it.

    ``warped``: the network's input (affine, flip and, with random warp, warp); ``target``: the
    same faces with only the affine and flip; ``mask`` and ``em_mask``: the face and eyes-and-mouth
    masks transformed like ``target``. Images (N, 3, H, W) and masks (N, 1, H, W) in [0, 1].
    """

    warped: torch.Tensor
    target: torch.Tensor
    mask: torch.Tensor
    em_mask: torch.Tensor


class IndexHost:
    """Sample indexes 0..count-1 drawn an epoch at a time (``core/mplib`` ``IndexHost``).

    Each epoch is a fresh random permutation of every index; :meth:`multi_get` takes the next ones
    and starts a new epoch when the current one runs out, mid-batch if need be. So within an epoch
    no sample repeats, and every sample is seen once per epoch. Draws from ``generator`` (CPU).
    """

    def __init__(self, count: int, generator: torch.Generator) -> None:
        self.count = count
        self.generator = generator
        self.queue = torch.empty(0, dtype=torch.long)

    def multi_get(self, n: int) -> torch.Tensor:
        """The next ``n`` indexes, (n,) long."""
        taken = []
        while n > 0:
            if len(self.queue) == 0:
                self.queue = torch.randperm(self.count, generator=self.generator)
            taken.append(self.queue[:n])
            self.queue = self.queue[n:]
            n -= len(taken[-1])
        return torch.cat(taken) if taken else torch.empty(0, dtype=torch.long)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """What is left of the current epoch (the generator's state is saved by its owner)."""
        return {"queue": self.queue.clone()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.queue = state["queue"].clone()


class Index2DHost:
    """Indexes drawn bin by bin (``core/mplib`` ``Index2DHost``): ``uniform_yaw``'s sampler.

    ``bins`` lists the sample indexes of each non-empty bin. Each draw takes the next bin from an
    :class:`IndexHost` over the bins (every bin once per round, in shuffled order), then the next
    sample of that bin from the bin's own :class:`IndexHost`. A bin of rare yaws is drawn as often
    as a crowded one.
    """

    def __init__(self, bins: list[torch.Tensor], generator: torch.Generator) -> None:
        self.bins = bins
        self.outer = IndexHost(len(bins), generator)
        self.inner = [IndexHost(len(members), generator) for members in bins]

    def multi_get(self, n: int) -> torch.Tensor:
        """The next ``n`` indexes, (n,) long."""
        chosen = [int(b) for b in self.outer.multi_get(n)]
        return torch.stack([self.bins[b][self.inner[b].multi_get(1)[0]] for b in chosen])

    def state_dict(self) -> dict[str, torch.Tensor]:
        state = {"outer": self.outer.queue.clone()}
        state |= {f"inner{i}": host.queue.clone() for i, host in enumerate(self.inner)}
        return state

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.outer.queue = state["outer"].clone()
        for i, host in enumerate(self.inner):
            host.queue = state[f"inner{i}"].clone()


def yaw_bins(yaw_degrees: torch.Tensor) -> list[torch.Tensor]:
    """The samples of each non-empty yaw bin, as ``SampleGeneratorFace`` sorts them for uniform_yaw.

    128 bins start at ``linspace(-1.2, 1.2, 128)`` radians of ``-yaw`` (DFL's landmark yaw; its
    sign does not matter here); the first bin also takes everything below -1.2, the last everything
    from its start up. The synthetic faces' yaw (±35 degrees) fills the middle bins.
    """
    starts = torch.linspace(-_YAW_LIMIT, _YAW_LIMIT, YAW_BINS, dtype=torch.float64)
    s_yaw = -torch.deg2rad(yaw_degrees.detach().cpu().double())
    index = (torch.searchsorted(starts, s_yaw, right=True) - 1).clamp(0, YAW_BINS - 1)
    return [members for g in range(YAW_BINS) if len(members := (index == g).nonzero().flatten())]


def blur_out_mask(images: torch.Tensor, mask: torch.Tensor, resolution: int) -> torch.Tensor:
    """``Model_SAEHD``'s ``blur_out_mask``: the background of (N, 3, R, R) images blurred near the face.

    With σ = resolution / 128: outside the (N, 1, R, R) mask m the image becomes
    blur(x·(1 − m)) / (1 − blur(m)) -- a blur of the background alone, renormalised so that the face
    does not bleed into it (where 1 − blur(m) is 0 the divisor is 1) -- and inside it stays x.
    """
    anti = 1.0 - mask
    sigma = resolution / 128
    background = losses.gaussian_blur(images * anti, sigma)
    weight = 1.0 - losses.gaussian_blur(mask, sigma)
    weight = torch.where(weight == 0, torch.ones_like(weight), weight)
    return images * mask + background / weight * anti


def process(
    pool: faces.FaceBatch,
    index: torch.Tensor,
    *,
    generator: torch.Generator,
    random_warp: bool,
    random_flip: bool,
    random_hsv_power: float = 0.0,
    ct_mode: str | None = None,
    ct_images: torch.Tensor | None = None,
) -> Samples:
    """SAEHD's four outputs for the faces ``pool[index]`` (``SampleProcessor.process``).

    ``ct_images``: one dst face per sample whose colours the src faces take (``ct_mode``), in input
    and target alike; ``random_hsv_power``: a random hue/saturation/value shift of the input only,
    before its warp. Then one set of warp parameters per face is applied to every output
    (:func:`aelab.augment.augment_batch`): the input gets warp (if ``random_warp``) + affine + flip;
    the target the affine + flip; the masks the same, bilinear with zero borders; the
    eyes-and-mouth mask is then divided by its maximum ("normalize to 1.0 after warp").
    """
    index = index.to(pool.images.device)
    images, mask, em_mask = pool.images[index], pool.face_mask[index], pool.eyes_mouth_mask[index]
    if ct_mode is not None and ct_images is not None:
        images = color.transfer(images, ct_images, ct_mode, generator=generator)
    batch = augment.augment_batch(
        images,
        [mask, em_mask],
        generator=generator,
        random_warp=random_warp,
        random_flip=random_flip,
        normalize_max=[False, True],
        random_hsv_power=random_hsv_power,
    )
    return Samples(batch.warped, batch.target, *batch.masks)
