"""Training SAEHD: the configuration (the seed model card's table) and the trainer, in one file.

Read it top to bottom, like DeepFaceLab's ``models/Model_SAEHD/Model.py`` which it reproduces:

1. :class:`Config` -- the model card's table (``archi``, ``resolution``, ``ae_dims`` ...), validated,
   saved as JSON, with named presets (:meth:`Config.preset`: "seed", "cpu", "dfl-defaults").
2. Data -- a pool of synthetic faces rendered once per (domain, resolution, size, seed) and cached;
   each step samples a batch from it and augments it like DeepFaceLab's ``SampleProcessor``.
3. :class:`Trainer` -- ``step()`` runs one SAEHD iteration (loss per side, optional GAN, DFL's
   optimiser), ``fit()`` many, ``evaluate()`` measures masked SSIM on held-out faces,
   ``preview()`` draws DeepFaceLab's preview grid, ``save()`` / ``Trainer.load()`` write and verify
   checkpoints that resume exactly.

Images are tensors (N, C, H, W) of floats in [0, 1]; masks (N, 1, H, W) in [0, 1].
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from tqdm.auto import tqdm

from aelab import augment, color, losses, models
from aelab.data import faces
from aelab.optim import AdaBelief, Adam, RMSprop
from aelab.runtime import default_device

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Config", "Trainer", "FACE_TYPES", "CT_MODES", "OPTIMIZERS", "PRESETS"]

#: DeepFaceLab's face types: half, mid-full, full, whole face, head.
FACE_TYPES = ("h", "mf", "f", "wf", "head")
#: Colour transfer of src samples toward dst (``ct_mode``); None is DeepFaceLab's "none".
CT_MODES = (None, *color.CT_MODES)
#: SAEHD's optimisers, AdaBelief (option ``adabelief``, the default) or RMSprop, and Adam (the kit's
#: CPU recipe); see :mod:`aelab.optim`.
OPTIMIZERS = ("adabelief", "rmsprop", "adam")
#: The keep probability of SAEHD's lr_dropout when it is on (``Model_SAEHD``: 0.3) ...
LR_DROPOUT_ON = 0.3
#: ... and its cosine lr period then (``lr_cos = 500``).
LR_COS_WITH_DROPOUT = 500
#: The seed of the held-out faces that :meth:`Trainer.evaluate` and :meth:`Trainer.preview` use;
#: training pools use the trainer's seed, which is kept below it.
EVAL_SEED = 2**31 - 1


# ---------------------------------------------------------------------------------------------
# 1. Config: the model card's table
# ---------------------------------------------------------------------------------------------


@dataclass
class Config:
    """The options of a SAEHD model, named and defaulted as the seed model card's table.

    The defaults are the card's values (LIAE.f.128.80.48.16, masked training, learned mask, eyes
    priority, random warp and flip, batch 8, pretrain) and DeepFaceLab's own defaults for what the
    card does not list (``ct_mode`` none, AdaBelief, lr 5e-5, no lr_dropout, SAEHD's lr_cos). Every field is
    checked on construction; a bad value raises ``ValueError``/``TypeError`` naming the field and
    what it allows.

    - ``archi``: "df" or "liae" with DeepFaceLab's options, e.g. "liae-ud" (parsed by
      :mod:`aelab.models`).
    - ``resolution``: image side in pixels, a multiple of 16 (32 with the "-d" or "-t" option).
    - ``face_type``: one of :data:`FACE_TYPES` (recorded; the synthetic faces are full faces).
    - ``ae_dims``, ``e_dims``, ``d_dims``, ``d_mask_dims``: widths of the code, encoder, decoder
      and mask decoder.
    - ``masked_training``, ``learn_mask``, ``eyes_prio``: the loss switches (``eyes_prio`` is
      DeepFaceLab's later ``eyes_mouth_prio``: eyes and mouth).
    - ``gan_power``: weight of the patch-GAN term, in [0, 1]; 0 switches the GAN off.
    - ``random_warp``, ``random_flip``: sample augmentation.
    - ``batch_size``, ``target_iter`` (0: no target), ``pretrain``, ``clipgrad``.
    - ``ct_mode``: one of :data:`CT_MODES`.
    - ``optimizer``: one of :data:`OPTIMIZERS`; ``lr``: its learning rate (SAEHD: 5e-5).
    - ``lr_dropout``: DeepFaceLab's switch (True = keep probability 0.3, with lr_cos 500; False =
      off) or a keep probability in (0, 1] (1.0 = off).
    - ``lr_cos``: the period, in optimiser steps, of DeepFaceLab's cosine lr factor
      (cos(2π·t / lr_cos) + 1) / 2 (``OptimizerBase``). Not an SAEHD option, and not on the card:
      0 (the default) keeps SAEHD's own choice, 500 with lr_dropout and none without. A period of
      twice the planned optimiser steps anneals lr to 0 at the end of a run (the "cpu" preset).
    """

    archi: str = "liae"
    resolution: int = 128
    face_type: str = "f"
    ae_dims: int = 128
    e_dims: int = 80
    d_dims: int = 48
    d_mask_dims: int = 16
    masked_training: bool = True
    learn_mask: bool = True
    eyes_prio: bool = True
    gan_power: float = 0.0
    random_warp: bool = True
    random_flip: bool = True
    batch_size: int = 8
    pretrain: bool = True
    clipgrad: bool = False
    target_iter: int = 1_000_000
    ct_mode: str | None = None
    optimizer: str = "adabelief"
    lr: float = 5e-5
    lr_dropout: bool | float = False
    lr_cos: int = 0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field's type and range; raise naming the field and what it allows."""
        for field in dataclasses.fields(self):
            _check_type(field.name, getattr(self, field.name), _FIELD_TYPES[field.name])
        models.check_resolution(self.resolution, models.parse_archi(self.archi)[1])
        _check_choice("face_type", self.face_type, FACE_TYPES)
        _check_choice("ct_mode", self.ct_mode, CT_MODES)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        for name in ("ae_dims", "e_dims", "d_dims", "d_mask_dims", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr_cos < 0:
            raise ValueError(f"lr_cos must be >= 0 (0: SAEHD's own choice), got {self.lr_cos}")
        if self.target_iter < 0:
            raise ValueError(f"target_iter must be >= 0 (0: no target), got {self.target_iter}")
        if not 0.0 <= self.gan_power <= 1.0:
            raise ValueError(f"gan_power must be in [0, 1] (0: no GAN), got {self.gan_power}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr}")
        if not isinstance(self.lr_dropout, bool) and not 0.0 < self.lr_dropout <= 1.0:
            raise ValueError(
                f"lr_dropout must be True/False (DeepFaceLab's switch) or a keep probability in "
                f"(0, 1], got {self.lr_dropout}"
            )

    @property
    def lr_dropout_keep(self) -> float:
        """The keep probability of each update: 0.3 for ``lr_dropout=True``, 1.0 when off."""
        if isinstance(self.lr_dropout, bool):
            return LR_DROPOUT_ON if self.lr_dropout else 1.0
        return float(self.lr_dropout)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (what :meth:`save` writes)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Config:
        """A config from a mapping of field names; fields it leaves out keep their defaults.

        Unknown keys raise ``ValueError`` naming the key and listing the valid ones.
        """
        if not isinstance(values, dict):
            raise TypeError(f"a config must be a mapping of field names to values, got {type(values).__name__}")
        valid = [f.name for f in dataclasses.fields(cls)]
        for key in values:
            if key not in valid:
                raise ValueError(f"unknown config key {key!r}; valid keys: {', '.join(valid)}")
        return cls(**values)

    def save(self, path: str | Path) -> None:
        """Write the config as JSON to ``path``."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Config:
        """Read a config written by :meth:`save` (or any JSON object of field names) and validate it."""
        path = Path(path)
        try:
            values = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not valid JSON: {exc}") from None
        try:
            return cls.from_dict(values)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{path}: {exc}") from None

    @classmethod
    def preset(cls, name: str) -> Config:
        """A named configuration from :data:`PRESETS` ("seed", "cpu", "dfl-defaults")."""
        _check_choice("preset name", name, tuple(PRESETS))
        return cls(**PRESETS[name])


_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    f.name: {
        "bool": (bool,),
        "int": (int,),
        "float": (int, float),
        "str": (str,),
        "str | None": (str, type(None)),
        "bool | float": (bool, int, float),
    }[f.type]
    for f in dataclasses.fields(Config)
}


def _check_type(name: str, value: Any, allowed: tuple[type, ...]) -> None:
    ok = isinstance(value, allowed) and not (isinstance(value, bool) and bool not in allowed)
    if not ok:
        names = " or ".join("None" if t is type(None) else t.__name__ for t in allowed)
        raise TypeError(f"{name} must be {names}, got {type(value).__name__} {value!r}")


def _check_choice(name: str, value: Any, allowed: tuple[Any, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")


#: Named configurations. "seed": the model card exactly. "cpu": the labs' recipe for a 2-core CPU,
#: chosen by experiment (``python -m aelab.bench``; the runs are listed in docs/DEVELOPING.md):
#:
#: - sizes: "liae-ud" at 64 px with ae_dims 32, e_dims 16, d_dims 12, d_mask_dims 4. The -d option
#:   decodes at 32 px and depth-to-spaces to 64, which halves the step against plain "liae" (-u, the
#:   pixel norm of the codes, neither helped nor hurt: "liae-d" scored the same); ae_dims 32
#:   keeps the decoder's first, widest layer small, and the 28 factors need no more. d_dims 12 rather
#:   than 8 costs 40 % more per step, learns as much per second, and runs at 0.88 of the matmul rate
#:   (d_dims 8: 0.72).
#: - batch 8, Adam at lr 1e-3 (bias correction keeps the first steps at lr; 2e-3 was worse, with or
#:   without clipgrad), and DeepFaceLab's cosine lr factor annealed to 0 at ``target_iter`` = 2000
#:   (``lr_cos`` = 2 x 2000 x 17/16 optimiser steps: one hard-sample step comes every 16).
#: - the card's loss switches (masked training, learned mask, eyes-and-mouth priority); no random
#:   warp and no flips (both make the first minutes' task harder: the held-out faces are unflipped).
#:
#: Measured by ``make bench`` on the quiet 2-core machine (masked SSIM = the lower of held-out src and
#: dst; src, face set A with its large eyes and fringe, is the harder side): a step is 8.2 GFLOP in
#: 89 ms on one thread, 0.85 of the matmul rate; on both cores SSIM 0.90 after 71 s (1,271 steps;
#: seeds 1 and 2: 101 s and 91 s), where "dfl-defaults" reaches 0.847 after 353 s.
#:
#: "dfl-defaults": DeepFaceLab's training recipe (RMSprop, lr 5e-5, batch 8, random warp and flips on,
#: eye priority and lr_cos off, no target) at the cpu preset's size and data, the benchmark's baseline.
PRESETS: dict[str, dict[str, Any]] = {
    "seed": {},
    "cpu": dict(
        archi="liae-ud", resolution=64, ae_dims=32, e_dims=16, d_dims=12, d_mask_dims=4, batch_size=8,
        pretrain=False, random_warp=False, random_flip=False, eyes_prio=True, optimizer="adam", lr=1e-3,
        target_iter=2000, lr_cos=4250,
    ),
}
PRESETS["dfl-defaults"] = dict(
    PRESETS["cpu"], optimizer="rmsprop", lr=5e-5, random_warp=True, random_flip=True, eyes_prio=False,
    target_iter=0, lr_cos=0,
)


# ---------------------------------------------------------------------------------------------
# 2. Data: a cached pool of rendered faces, sampled and augmented every step
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# 3. The trainer
# ---------------------------------------------------------------------------------------------


class Trainer:
    """Trains a SAEHD model (DF or LIAE) on synthetic faces as DeepFaceLab's ``Model_SAEHD`` does.

    ``src`` faces come from domain "A", ``dst`` faces from domain "B"; with ``config.pretrain``
    both sides draw from "mixed" with random warp, GAN and lr_dropout off and flips on, until
    :meth:`end_pretrain`. ``seed`` fixes the model's initialisation, the face pools and every random
    draw, so two trainers with the same arguments produce the same losses. ``pool_size`` faces per
    domain are rendered once (and cached); ``device`` defaults to
    :func:`aelab.runtime.default_device`.

    Hooks for training in several processes (:mod:`aelab.distributed`, under ``torchrun``):
    :attr:`shard` makes this process draw only its own share of each pool, :meth:`forward_sides`
    can be replaced by a DistributedDataParallel module, and :meth:`sampling_state` /
    :meth:`load_sampling_state` carry what differs between processes (the face stream).
    """

    #: How the per-sample G loss becomes the scalar that is differentiated: "mean" over the batch.
    #: :mod:`aelab.distributed` reduces gradients across processes to match it.
    loss_reduction = "mean"

    def __init__(
        self,
        config: Config,
        *,
        device: str | torch.device | None = None,
        seed: int = 0,
        pool_size: int = 1024,
    ) -> None:
        if not isinstance(config, Config):
            raise TypeError(f"config must be an aelab.train.Config, got {type(config).__name__}")
        config.validate()
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < EVAL_SEED:
            raise ValueError(f"seed must be an int in [0, {EVAL_SEED}), got {seed!r}")
        if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < config.batch_size:
            raise ValueError(f"pool_size must be an int >= batch_size ({config.batch_size}), got {pool_size!r}")
        self.config = config
        self.device = torch.device(device) if device is not None else default_device()
        self.seed = seed
        self.pool_size = pool_size
        #: (rank, world size): training faces are drawn from pool entries rank, rank + size, ...
        self.shard = (0, 1)
        self.iteration = 0
        self.history: dict[str, list[float]] = {}
        self.generator = torch.Generator().manual_seed(seed)
        self.dropout_generator = torch.Generator(self.device).manual_seed(seed)
        self.model = models.build(config, seed=seed).to(self.device)
        self.optimizer = self._make_optimizer(self.model.parameters())
        self.discriminator: torch.nn.Module | None = None
        self.d_optimizer: torch.optim.Optimizer | None = None
        self._hard_samples: dict[str, torch.Tensor] = {}
        self._set_phase()

    # -- set-up --------------------------------------------------------------------------------

    @property
    def gan_power(self) -> float:
        """The GAN weight in effect: ``config.gan_power``, but 0 while pretraining (``Model_SAEHD``)."""
        return 0.0 if self.config.pretrain else self.config.gan_power

    def _make_optimizer(self, params: Any) -> torch.optim.Optimizer:
        """SAEHD's optimiser (AdaBelief or RMSprop; or Adam), clipnorm 1.0 with clipgrad (``Model_SAEHD``)."""
        cls = {"adabelief": AdaBelief, "rmsprop": RMSprop, "adam": Adam}[self.config.optimizer]
        return cls(
            params,
            lr=self.config.lr,
            clipnorm=1.0 if self.config.clipgrad else 0.0,
            generator=self.dropout_generator,
        )

    def _set_phase(self) -> None:
        """Apply what pretraining switches (data, lr_dropout, GAN), as ``Model_SAEHD.on_initialize``."""
        keep = 1.0 if self.config.pretrain else self.config.lr_dropout_keep
        optimizers = [self.optimizer]
        if self.gan_power > 0 and self.discriminator is None:
            res = self.config.resolution
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed + 1)
                self.discriminator = models.UNetPatchDiscriminator(res // 8, in_channels=3, base_ch=16)
            self.discriminator.to(self.device)
            self.d_optimizer = self._make_optimizer(self.discriminator.parameters())
        if self.d_optimizer is not None:
            optimizers.append(self.d_optimizer)
        lr_cos = self.config.lr_cos or (LR_COS_WITH_DROPOUT if keep < 1.0 else 0)
        for optimizer in optimizers:
            for group in optimizer.param_groups:
                group["lr_dropout"] = keep
                group["lr_cos"] = lr_cos
        res, n = self.config.resolution, self.pool_size
        if self.config.pretrain:
            self._src_pool = self._dst_pool = face_pool("mixed", res, n, self.seed).to(self.device)
        else:
            self._src_pool = face_pool("A", res, n, self.seed).to(self.device)
            self._dst_pool = face_pool("B", res, n, self.seed).to(self.device)

    def end_pretrain(self) -> None:
        """Leave pretraining as DeepFaceLab does when ``pretrain`` is switched off.

        The inter layers (``inter`` for DF; ``inter_AB`` and ``inter_B`` for LIAE) are initialised
        afresh, the encoder and decoder(s) and the optimiser's state are kept, the iteration count
        and loss history restart from 0 (``ModelBase.set_iter(0)``), and the data switch to src =
        "A", dst = "B" with the config's warp, lr_dropout and GAN.
        """
        if not self.config.pretrain:
            raise ValueError("end_pretrain: this trainer is not pretraining (config.pretrain is False)")
        self.config = dataclasses.replace(self.config, pretrain=False)
        seed = int(torch.randint(EVAL_SEED, (1,), generator=self.generator))
        fresh = models.build(self.config, seed=seed)
        for name, part in self.model.parts().items():
            if name.startswith("inter"):
                part.load_state_dict(getattr(fresh, name).state_dict())
        self.iteration = 0
        self.history = {}
        self._hard_samples = {}
        self._set_phase()

    # -- data ----------------------------------------------------------------------------------

    def _samples(self, pool: faces.FaceBatch, ct_pool: faces.FaceBatch | None) -> Samples:
        """Draw a batch from ``pool`` and augment it as DeepFaceLab's ``SampleProcessor``.

        ``ct_pool``: recolour the faces toward random faces of that pool first (``ct_mode``).
        Random warp is off while pretraining, flips on (``Model_SAEHD``).
        """
        n = self.config.batch_size
        rank, size = self.shard
        index = (torch.randint(len(pool) // size, (n,), generator=self.generator) * size + rank).to(self.device)
        images, mask, em_mask = pool.images[index], pool.face_mask[index], pool.eyes_mouth_mask[index]
        if ct_pool is not None:
            reference = torch.randint(len(ct_pool), (n,), generator=self.generator).to(self.device)
            images = color.transfer(images, ct_pool.images[reference], self.config.ct_mode, generator=self.generator)
        batch = augment.augment_batch(
            images,
            [mask, em_mask],
            generator=self.generator,
            random_warp=self.config.random_warp and not self.config.pretrain,
            random_flip=self.config.random_flip or self.config.pretrain,
        )
        return Samples(batch.warped, batch.target, *batch.masks)

    def _next_samples(self) -> tuple[Samples, Samples]:
        ct = self._dst_pool if self.config.ct_mode is not None and not self.config.pretrain else None
        return self._samples(self._src_pool, ct), self._samples(self._dst_pool, None)

    # -- one iteration -------------------------------------------------------------------------

    def _side_loss(self, samples: Samples, pred: torch.Tensor, pred_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """One side's per-sample SAEHD loss terms (:func:`aelab.losses.saehd_loss`)."""
        c = self.config
        return losses.saehd_loss(
            samples.target,
            pred,
            samples.mask,
            pred_mask,
            c.resolution,
            em_mask=samples.em_mask,
            masked_training=c.masked_training,
            eyes_prio=c.eyes_prio,
            learn_mask=c.learn_mask,
            reduction="none",
        )

    def _train_generator(self, src: Samples, dst: Samples) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """One update of the autoencoder on (src, dst); returns per-sample terms and the src prediction.

        The G loss is src total + dst total (+ the GAN terms), ``Model_SAEHD``'s ``gpu_G_loss``. The
        swap is not decoded: no loss needs it (TensorFlow skips it too when it runs the update).
        """
        (pred_src_src, pred_src_srcm), (pred_dst_dst, pred_dst_dstm) = self.forward_sides(src.warped, dst.warped)
        src_terms = self._side_loss(src, pred_src_src, pred_src_srcm)
        dst_terms = self._side_loss(dst, pred_dst_dst, pred_dst_dstm)
        terms = {f"src_{k}": v for k, v in src_terms.items()} | {f"dst_{k}": v for k, v in dst_terms.items()}
        g_loss = src_terms["total"] + dst_terms["total"]
        if self.gan_power > 0:
            terms["gan"] = self._gan_generator_loss(src, pred_src_src)
            g_loss = g_loss + terms["gan"]
        self.optimizer.zero_grad(set_to_none=True)
        (g_loss.mean() if self.loss_reduction == "mean" else g_loss.sum()).backward()
        self.optimizer.step()
        return {name: value.detach() for name, value in terms.items()}, pred_src_src.detach()

    def forward_sides(
        self, src: torch.Tensor, dst: torch.Tensor
    ) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
        """The training forward pass: ((src→src, its mask), (dst→dst, its mask)) of warped src and dst.

        One call, so that :func:`aelab.distributed.prepare` can put a DistributedDataParallel
        module in its place (an instance attribute of the same name).
        """
        return self.model.decode_sides(self.model.codes(src, dst))

    def _masked_opt(self, samples: Samples, images: torch.Tensor) -> torch.Tensor:
        """``*_masked_opt`` of ``Model_SAEHD``: images times the blurred mask with masked training."""
        if not self.config.masked_training:
            return images
        return losses.masked(images, losses.blur_mask(samples.mask, self.config.resolution))

    def _gan_generator_loss(self, src: Samples, pred: torch.Tensor) -> torch.Tensor:
        """Per-sample GAN terms of the G loss (``Model_SAEHD``, gan_power > 0).

        gan_power · (BCE(D(pred)→real) on the centre and on the per-pixel output); with masked
        training also 1e-6 · total variation (squared) of the prediction and 0.02 · MSE of the
        background outside the mask, which DeepFaceLab adds to keep GAN dots out of the background.
        """
        assert self.discriminator is not None
        self.discriminator.requires_grad_(False)
        centre, pixels = self.discriminator(self._masked_opt(src, pred))
        self.discriminator.requires_grad_(True)
        loss = self.gan_power * (_bce(centre, 1.0) + _bce(pixels, 1.0))
        if self.config.masked_training:
            outside = 1.0 - losses.blur_mask(src.mask, self.config.resolution)
            dy, dx = pred.diff(dim=2), pred.diff(dim=3)
            loss = loss + 1e-6 * (dy.square().flatten(1).sum(1) + dx.square().flatten(1).sum(1))
            loss = loss + 0.02 * ((pred - src.target) * outside).square().flatten(1).mean(1)
        return loss

    def _train_discriminator(self, src: Samples, pred: torch.Tensor) -> torch.Tensor:
        """One update of the patch discriminator: masked src target → real, reconstruction → fake.

        ``Model_SAEHD``'s ``D_src_dst_loss``: (BCE(real→1) + BCE(fake→0)) / 2 on the centre output
        plus the same on the per-pixel output. DeepFaceLab runs the generator again for this step;
        the kit reuses this iteration's reconstruction (one forward pass fewer).
        """
        assert self.discriminator is not None and self.d_optimizer is not None
        real_centre, real_pixels = self.discriminator(self._masked_opt(src, src.target))
        fake_centre, fake_pixels = self.discriminator(self._masked_opt(src, pred))
        loss = (_bce(real_centre, 1.0) + _bce(fake_centre, 0.0)) * 0.5 + (
            _bce(real_pixels, 1.0) + _bce(fake_pixels, 0.0)
        ) * 0.5
        self.d_optimizer.zero_grad(set_to_none=True)
        loss.mean().backward()
        self.d_optimizer.step()
        return loss.detach()

    def _mine_hard_samples(self, src: Samples, dst: Samples, terms: dict[str, torch.Tensor]) -> None:
        """DeepFaceLab's extra step on the hardest samples (``Model_SAEHD.onTrainOneIter``).

        Every 16 iterations the batch_size samples of each side with the highest loss among the
        last 16 batches are trained once more, with the unwarped target as input.
        """
        for side, samples in (("src", src), ("dst", dst)):
            new = {"target": samples.target, "mask": samples.mask, "em_mask": samples.em_mask}
            new["loss"] = terms[f"{side}_total"]
            for name, value in new.items():
                key = f"{side}_{name}"
                self._hard_samples[key] = torch.cat([self._hard_samples[key], value]) if key in self._hard_samples else value
        if len(self._hard_samples["src_loss"]) < 16 * self.config.batch_size:
            return
        sides = []
        for side in ("src", "dst"):
            hardest = self._hard_samples[f"{side}_loss"].argsort(descending=True, stable=True)[: self.config.batch_size]
            target, mask, em_mask = (self._hard_samples[f"{side}_{name}"][hardest] for name in ("target", "mask", "em_mask"))
            sides.append(Samples(target, target, mask, em_mask))
        self._hard_samples = {}
        self._train_generator(*sides)

    def step(self) -> dict[str, float]:
        """One SAEHD iteration; returns its loss terms (batch means) and records them in :attr:`history`.

        Terms: ``src_dssim``, ``src_mse``, ``src_eyes_mouth``, ``src_mask``, ``src_total`` and the
        same for ``dst`` (``src_total``/``dst_total`` are DeepFaceLab's ``src_loss``/``dst_loss``);
        with the GAN also ``gan`` (the generator's GAN terms) and ``discriminator``.
        """
        self.model.train()
        src, dst = self._next_samples()
        terms, pred_src = self._train_generator(src, dst)
        self._mine_hard_samples(src, dst, terms)
        if self.gan_power > 0:
            terms["discriminator"] = self._train_discriminator(src, pred_src)
        self.iteration += 1
        result = {name: float(value.mean()) for name, value in terms.items()}
        for name, value in result.items():
            self.history.setdefault(name, []).append(value)
        return result

    def fit(self, iterations: int, progress: bool = True) -> dict[str, float]:
        """Run ``iterations`` steps (fewer if ``config.target_iter`` is reached); return the last terms.

        A ``tqdm`` progress bar shows the src and dst losses unless ``progress=False``.
        """
        if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 0:
            raise ValueError(f"iterations must be an int >= 0, got {iterations!r}")
        if self.config.target_iter:
            iterations = max(0, min(iterations, self.config.target_iter - self.iteration))
        terms: dict[str, float] = {}
        with tqdm(total=iterations, disable=not progress, desc="SAEHD", unit="it") as bar:
            for _ in range(iterations):
                terms = self.step()
                bar.update()
                bar.set_postfix(src=f"{terms['src_total']:.3f}", dst=f"{terms['dst_total']:.3f}", refresh=False)
        return terms

    # -- measuring -----------------------------------------------------------------------------

    def held_out(self, n: int) -> tuple[faces.FaceBatch, faces.FaceBatch]:
        """``n`` held-out src ("A") and dst ("B") faces, never in a training pool (fixed seed)."""
        res = self.config.resolution
        return (
            face_pool("A", res, n, EVAL_SEED).to(self.device),
            face_pool("B", res, n, EVAL_SEED).to(self.device),
        )

    @torch.no_grad()
    def reconstruct(self, src: torch.Tensor, dst: torch.Tensor) -> models.SAEHDOutput:
        """The model's outputs for (N, 3, H, W) src and dst images in [0, 1], without augmentation."""
        self.model.eval()
        try:
            return self.model(src.to(self.device), dst.to(self.device))
        finally:
            self.model.train()

    def evaluate(self, n: int = 256) -> dict[str, float]:
        """Masked SSIM on ``n`` held-out src and dst faces: SSIM(target·mask, pred·mask), window 11.

        Returns ``{"src": ..., "dst": ...}``; 1.0 is a perfect reconstruction of the face region.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be an int >= 1, got {n!r}")
        src, dst = self.held_out(n)
        scores = {"src": [], "dst": []}
        for start in range(0, n, 64):
            part = slice(start, start + 64)
            out = self.reconstruct(src.images[part], dst.images[part])
            for side, batch, pred in (("src", src, out.pred_src_src), ("dst", dst, out.pred_dst_dst)):
                mask = batch.face_mask[part]
                scores[side].append(losses.ssim(batch.images[part] * mask, pred * mask, reduction="none"))
        return {side: float(torch.cat(values).mean()) for side, values in scores.items()}

    def preview(self, n: int = 4) -> Figure:
        """DeepFaceLab's preview on ``n`` held-out pairs: a matplotlib Figure.

        Columns: src, src→src, dst, dst→dst, src→dst (the swap), then the same masked as
        ``Model_SAEHD.onGetPreview`` shows them (src·mask, src→src, dst·mask, dst→dst·its mask,
        swap·dst mask·swap mask).
        """
        from matplotlib.figure import Figure

        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 16:
            raise ValueError(f"n must be an int in [1, 16], got {n!r}")
        src, dst = self.held_out(n)
        out = self.reconstruct(src.images, dst.images)
        columns = {
            "src": src.images,
            "src→src": out.pred_src_src,
            "dst": dst.images,
            "dst→dst": out.pred_dst_dst,
            "swap": out.pred_src_dst,
            "src·m": src.images * src.face_mask,
            "src→src ": out.pred_src_src,
            "dst·m": dst.images * dst.face_mask,
            "dst→dst·m": out.pred_dst_dst * out.pred_dst_dstm,
            "swap·m": out.pred_src_dst * out.pred_dst_dstm * out.pred_src_dstm,
        }
        fig = Figure(figsize=(1.2 * len(columns), 1.2 * n + 0.4))
        axes = fig.subplots(n, len(columns), squeeze=False)
        for col, (title, images) in enumerate(columns.items()):
            axes[0, col].set_title(title.strip(), fontsize=8)
            for row in range(n):
                axes[row, col].imshow(images[row].detach().clamp(0, 1).permute(1, 2, 0).cpu().numpy())
                axes[row, col].axis("off")
        fig.suptitle(f"SAEHD {self.config.archi} @ iteration {self.iteration}", fontsize=9)
        return fig

    # -- checkpoints ---------------------------------------------------------------------------

    def _parts(self) -> dict[str, torch.nn.Module | torch.optim.Optimizer]:
        """The saved parts, named as DeepFaceLab's files (``encoder``, ``inter_AB`` ..., ``src_dst_opt``)."""
        parts: dict[str, Any] = self.model.parts()
        parts["src_dst_opt"] = self.optimizer
        if self.discriminator is not None:
            parts["GAN"] = self.discriminator
            parts["GAN_opt"] = self.d_optimizer
        return parts

    def _state(self) -> dict[str, Any]:
        """Everything beyond weights that exact resumption needs: counters, RNGs, the hard-sample buffer."""
        return {
            "iteration": self.iteration,
            "seed": self.seed,
            "pool_size": self.pool_size,
            "dropout_generator": self.dropout_generator.get_state(),
            **self.sampling_state(),
        }

    def sampling_state(self) -> dict[str, Any]:
        """This process's face stream: the sampling generator and the hard-sample buffer (CPU tensors)."""
        return {"generator": self.generator.get_state(), "hard_samples": {k: v.cpu() for k, v in self._hard_samples.items()}}

    def load_sampling_state(self, state: dict[str, Any]) -> None:
        """Continue the face stream that :meth:`sampling_state` returned."""
        self.generator.set_state(state["generator"])
        self._hard_samples = {k: v.to(self.device) for k, v in state["hard_samples"].items()}

    def _load_state(self, state: dict[str, Any]) -> None:
        self.iteration = int(state["iteration"])
        self.dropout_generator.set_state(state["dropout_generator"])
        self.load_sampling_state(state)

    def save(self, folder: str | Path) -> Path:
        """Write a checkpoint folder; return its path.

        One ``.pt`` file per part named as DeepFaceLab's (LIAE: ``encoder``, ``inter_AB``,
        ``inter_B``, ``decoder``; DF: ``encoder``, ``inter``, ``decoder_src``, ``decoder_dst``; then
        ``src_dst_opt`` and, with the GAN, ``GAN`` and ``GAN_opt``), ``trainer_state.pt`` (iteration,
        RNG states), ``config.json``, ``history.json``, ``summary.txt`` and ``manifest.json`` with
        every file's SHA-256. Tensors only: :meth:`load` reads them with ``weights_only=True``.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name, part in self._parts().items():
            torch.save(part.state_dict(), folder / f"{name}.pt")
        torch.save(self._state(), folder / "trainer_state.pt")
        self.config.save(folder / "config.json")
        (folder / "history.json").write_text(json.dumps(self.history) + "\n")
        (folder / "summary.txt").write_text(self.summary() + "\n")
        files = sorted(p.name for p in folder.iterdir() if p.name != _MANIFEST)
        manifest = {
            "format": _FORMAT,
            "archi": self.config.archi,
            "parts": list(self._parts()),
            "files": {name: _sha256(folder / name) for name in files},
        }
        (folder / _MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        return folder

    @classmethod
    def load(cls, folder: str | Path, *, device: str | torch.device | None = None) -> Trainer:
        """Read a folder written by :meth:`save`, verify it, and return a trainer that resumes exactly.

        Raises ``FileNotFoundError`` for a missing folder or file and ``ValueError`` for a foreign
        folder (no aelab manifest), a checksum mismatch, or parts that do not fit the config's archi;
        each message names the file. Nothing is unpickled: ``torch.load(..., weights_only=True)``.
        """
        folder = Path(folder)
        manifest = _read_manifest(folder)
        config = Config.load(folder / "config.json")
        if manifest.get("archi") != config.archi:
            raise ValueError(
                f"{folder / 'config.json'}: archi {config.archi!r} does not match the manifest's "
                f"{manifest.get('archi')!r}"
            )
        state = _load_tensors(folder / "trainer_state.pt")
        trainer = cls(config, device=device, seed=int(state["seed"]), pool_size=int(state["pool_size"]))
        parts = trainer._parts()
        if list(parts) != manifest.get("parts"):
            raise ValueError(
                f"{folder / _MANIFEST}: this folder holds parts {manifest.get('parts')}, but a "
                f"{config.archi!r} trainer needs {list(parts)}"
            )
        for name, part in parts.items():
            path = folder / f"{name}.pt"
            try:
                part.load_state_dict(_load_tensors(path))
            except (RuntimeError, KeyError, ValueError) as exc:
                raise ValueError(f"{path} does not fit this model's {name}: {exc}") from None
        trainer._load_state(state)
        trainer.history = json.loads((folder / "history.json").read_text())
        return trainer

    def summary(self) -> str:
        """The model's per-part table (:func:`aelab.models.summary`) and the options, like DFL's summary.txt."""
        width = max(len(f.name) for f in dataclasses.fields(self.config))
        options = "\n".join(f"{k:>{width}}: {v}" for k, v in self.config.to_dict().items())
        return f"{models.summary(self.model)}\n\n== Model options ==\n{options}\n{'iteration':>{width}}: {self.iteration}"


def _bce(logits: torch.Tensor, label: float) -> torch.Tensor:
    """Per-sample BCE of discriminator logits against a constant label (``Model_SAEHD``'s ``DLoss``)."""
    return torch.nn.functional.binary_cross_entropy_with_logits(
        logits, torch.full_like(logits, label), reduction="none"
    ).flatten(1).mean(1)


_FORMAT = "aelab.train checkpoint v1"
_MANIFEST = "manifest.json"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of a checkpoint folder, after checking that every file it lists is intact."""
    if not folder.is_dir():
        raise FileNotFoundError(f"no checkpoint folder at {folder}")
    path = folder / _MANIFEST
    if not path.is_file():
        raise ValueError(f"{folder} is not an aelab checkpoint: {path} is missing")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != _FORMAT:
        raise ValueError(f"{path} is not an aelab checkpoint manifest (expected format {_FORMAT!r})")
    for name, digest in manifest.get("files", {}).items():
        file = folder / name
        if not file.is_file():
            raise FileNotFoundError(f"checkpoint file {file} is missing")
        if _sha256(file) != digest:
            raise ValueError(f"checksum mismatch for {file}: the file is corrupt or was changed after saving")
    return manifest


def _load_tensors(path: Path) -> Any:
    """``torch.load`` with ``weights_only=True``: tensors and plain containers, never arbitrary objects."""
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file {path} is missing")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ValueError(f"{path} holds more than tensors and plain containers; refused to load it: {exc}") from None
