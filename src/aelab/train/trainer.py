"""The SAEHD trainer: DeepFaceLab's ``models/Model_SAEHD/Model.py`` training step, on synthetic faces.

Read it top to bottom, as ``Model_SAEHD`` (pinned commit 46fc239, 2023-04-27):

1. Set-up (``on_initialize``): what pretraining switches off and on, the optimisers, which weights
   each optimiser trains (``src_dst_trainable_weights``), the samplers.
2. One iteration (``onTrainOneIter``): draw both sides' samples, one update of the autoencoder on
   src loss + dst loss (+ the GAN, true-face and style terms), then the discriminators' updates.
   Gradients are those of the *sum* over the batch of the per-sample loss, as ``tf.gradients`` of
   DFL's per-sample loss vector gives them (one GPU; several average their slices' sums). The
   terms themselves are :mod:`aelab.train.terms`'.
3. Measuring (held-out masked SSIM, the preview grid) and checkpoints (:mod:`aelab.train.checkpoint`).

Images are tensors (N, C, H, W) of floats in [0, 1]; masks (N, 1, H, W) in [0, 1].
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from tqdm.auto import tqdm

from aelab import losses, models
from aelab.data import faces
from aelab.optim import AdaBelief, Adam, RMSprop
from aelab.runtime import AdaptiveThreads, default_device
from aelab.train import checkpoint, terms
from aelab.train.config import LR_COS_WITH_DROPOUT, Config
from aelab.train.samples import Index2DHost, IndexHost, Samples, blur_out_mask, face_pool, process, yaw_bins
from aelab.validate import check_int

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Trainer", "EVAL_SEED"]

#: The seed of the held-out faces that :meth:`Trainer.evaluate` and :meth:`Trainer.preview` use;
#: training pools use the trainer's seed, which is kept below it.
EVAL_SEED = 2**31 - 1


class Trainer:
    """Trains a SAEHD model (DF or LIAE) on synthetic faces as DeepFaceLab's ``Model_SAEHD`` does.

    ``src`` faces come from domain "A", ``dst`` faces from domain "B"; with ``config.pretrain``
    both sides draw from "mixed" (random warp, GAN, styles, random HSV and lr_dropout off, flips and
    uniform yaw on) until :meth:`end_pretrain`. ``seed`` fixes the model's initialisation, the face
    pools and every random draw, so two trainers with the same arguments produce the same losses.
    ``pool_size`` faces per domain are rendered once (and cached); ``device`` defaults to
    :func:`aelab.runtime.default_device`.

    ``model``: train this :class:`aelab.models.SwapModel` (e.g. :class:`aelab.models.H128`, built and
    seeded by the caller) instead of the DF or LIAE that ``config``'s archi and dims describe; the
    config then gives the recipe only. Such a trainer cannot pretrain (ending pretraining rebuilds the
    inters from the config) and does not :meth:`save` (DeepFaceLab's checkpoint is a DF's or LIAE's):
    save the model's ``state_dict`` yourself.

    Hooks for training in several processes (:mod:`aelab.distributed`, under ``torchrun``):
    :meth:`set_shard` makes this process draw only its own share of each pool, :meth:`forward_sides`
    can be replaced by a DistributedDataParallel module, and :meth:`sampling_state` /
    :meth:`load_sampling_state` carry what differs between processes (the face stream).
    """

    #: How the per-sample G loss becomes the scalar that is differentiated: DFL's batch "sum"
    #: (or "mean"); :mod:`aelab.distributed` reduces gradients across processes to match it.
    loss_reduction = "sum"

    def __init__(
        self,
        config: Config,
        *,
        device: str | torch.device | None = None,
        seed: int = 0,
        pool_size: int = 1024,
        model: models.SwapModel | None = None,
    ) -> None:
        if not isinstance(config, Config):
            raise TypeError(f"config must be an aelab.train.Config, got {type(config).__name__}")
        config.validate()
        if model is not None and not isinstance(model, models.SwapModel):
            raise TypeError(
                f"model must be an aelab.models.SwapModel (e.g. H128, SwapAutoencoder), got {type(model).__name__}"
            )
        if model is not None and (config.pretrain or config.true_face_power):
            raise ValueError(
                "a trainer given its own model trains it without pretraining and without true_face_power "
                "(both rebuild or read DF's and LIAE's inter): set pretrain=False and true_face_power=0.0"
            )
        self.seed = check_int("seed", seed, minimum=0, maximum=EVAL_SEED - 1)
        self.pool_size = check_int("pool_size (at least batch_size)", pool_size, minimum=config.batch_size)
        self.config = config
        self.device = torch.device(device) if device is not None else default_device()
        self.iteration = 0
        #: (rank, world size): training faces are drawn from pool entries rank, rank + size, ...
        self.shard = (0, 1)
        self.history: dict[str, list[float]] = {}
        self.generator = torch.Generator().manual_seed(seed)
        self.dropout_generator = torch.Generator(self.device).manual_seed(seed)
        self.custom_model = model is not None
        self.model = (models.build(config, seed=seed) if model is None else model).to(self.device)
        # DFL initialises the optimiser's state for every saveable weight, and updates the trainable ones.
        self.optimizer = self._make_optimizer(self.model.parameters())
        #: The CPU thread count of the steps, chosen by timing them (aelab.runtime.AdaptiveThreads).
        self.threads = AdaptiveThreads(enabled=self.device.type == "cpu")
        self.discriminator: torch.nn.Module | None = None
        self.d_optimizer: torch.optim.Optimizer | None = None
        self.code_discriminator: torch.nn.Module | None = None
        self.d_code_optimizer: torch.optim.Optimizer | None = None
        self._set_phase()

    # -- 1. set-up: Model_SAEHD.on_initialize --------------------------------------------------

    @property
    def pretraining(self) -> bool:
        """Whether the trainer is in DeepFaceLab's pretraining phase (``config.pretrain``)."""
        return self.config.pretrain

    @property
    def gan_power(self) -> float:
        """The GAN weight in effect: ``config.gan_power``, but 0 while pretraining."""
        return 0.0 if self.pretraining else self.config.gan_power

    @property
    def random_warp(self) -> bool:
        """Random warp in effect: ``config.random_warp``, but off while pretraining."""
        return self.config.random_warp and not self.pretraining

    def trainable_parts(self) -> list[str]:
        """The parts the autoencoder's optimiser updates (``src_dst_trainable_weights``).

        Every part, except LIAE's ``inter_AB`` when random warp is off (and so always while
        pretraining): then DeepFaceLab trains encoder, inter_B and decoder only, and inter_AB keeps
        the weights it has. Gradients still flow *through* inter_AB to the encoder.
        """
        names = list(self.model.parts())
        if self.model.archi_type == "liae" and not self.random_warp:
            names.remove("inter_AB")
        return names

    def _make_optimizer(self, params: Any) -> torch.optim.Optimizer:
        """SAEHD's optimiser (AdaBelief or RMSprop; or the kit's Adam), clipnorm 1.0 with clipgrad.

        With ``models_opt_on_gpu`` off on a GPU its state lives in CPU memory (DFL's
        ``optimizer_vars_on_cpu``; DFL keeps the weights there too, the kit only the state).
        """
        cls = {"adabelief": AdaBelief, "rmsprop": RMSprop, "adam": Adam}[self.config.optimizer]
        on_cpu = not self.config.models_opt_on_gpu and self.device.type != "cpu"
        return cls(
            params,
            lr=self.config.lr,
            clipnorm=1.0 if self.config.clipgrad else 0.0,
            generator=self.dropout_generator,
            state_device="cpu" if on_cpu else None,
        )

    def _set_phase(self) -> None:
        """Apply what pretraining switches and what the options build (``Model_SAEHD.on_initialize``)."""
        c = self.config
        keep = 1.0 if self.pretraining else c.lr_dropout_keep
        if self.gan_power > 0 and self.discriminator is None:
            self.discriminator = self._build_part(
                lambda: models.UNetPatchDiscriminator(c.gan_patch_size_in_effect, in_channels=3, base_ch=c.gan_dims), 1
            )
            self.d_optimizer = self._make_optimizer(self.discriminator.parameters())
        if c.true_face_power and self.code_discriminator is None:
            inter = self.model.inter
            self.code_discriminator = self._build_part(
                lambda: models.CodeDiscriminator(inter.out_ch, code_res=inter.out_res), 2
            )
            self.d_code_optimizer = self._make_optimizer(self.code_discriminator.parameters())
        lr_cos = c.lr_cos or (LR_COS_WITH_DROPOUT if keep < 1.0 else 0)
        for optimizer in (self.optimizer, self.d_optimizer, self.d_code_optimizer):
            for group in optimizer.param_groups if optimizer is not None else ():
                group["lr_dropout"] = keep
                group["lr_cos"] = lr_cos
        trainable = self.trainable_parts()
        for name, part in self.model.parts().items():
            part.requires_grad_(name in trainable)
        res, n = c.resolution, self.pool_size
        if self.pretraining:
            self._src_pool = self._dst_pool = face_pool("mixed", res, n, self.seed).to(self.device)
        else:
            self._src_pool = face_pool("A", res, n, self.seed).to(self.device)
            self._dst_pool = face_pool("B", res, n, self.seed).to(self.device)
        self._make_samplers()

    def _make_samplers(self) -> None:
        """Each side's sampler over this process's pool entries (all of them in one process)."""
        c = self.config
        uniform_yaw = c.uniform_yaw or self.pretraining
        rank, size = self.shard
        self._entries = {
            side: torch.arange(rank, len(pool), size)
            for side, pool in (("src", self._src_pool), ("dst", self._dst_pool))
        }
        self._hosts: dict[str, IndexHost | Index2DHost] = {
            side: Index2DHost(yaw_bins(pool.factors["yaw"][self._entries[side]]), self.generator)
            if uniform_yaw
            else IndexHost(len(self._entries[side]), self.generator)
            for side, pool in (("src", self._src_pool), ("dst", self._dst_pool))
        }
        if c.ct_mode is not None and not self.pretraining:
            self._hosts["ct"] = IndexHost(len(self._dst_pool), self.generator)

    def use_faces(self, src: faces.FaceBatch, dst: faces.FaceBatch) -> None:
        """Train on these src and dst faces instead of the rendered domain pools.

        For a face set the domains do not draw, e.g. lab 05's dst faces lit from one side
        (:func:`aelab.course.lab05.lit_faces`): DeepFaceLab trains on whatever faces its workspace holds.
        Each batch needs at least ``batch_size`` faces at the config's resolution; it replaces the
        pools until the phase changes (:meth:`end_pretrain` renders the domain pools again), and a
        trainer loaded from a checkpoint renders its domain pools.
        """
        c = self.config
        for name, batch in (("src", src), ("dst", dst)):
            faces.check_face_batch(name, batch)
            if len(batch) < c.batch_size or batch.images.shape[-1] != c.resolution:
                raise ValueError(
                    f"{name} must hold at least batch_size = {c.batch_size} faces at resolution {c.resolution}, "
                    f"got {len(batch)} at {batch.images.shape[-1]}"
                )
        self._src_pool, self._dst_pool = src.to(self.device), dst.to(self.device)
        self._make_samplers()

    def _build_part(self, make: Any, offset: int) -> torch.nn.Module:
        """A discriminator initialised from the trainer's seed (+ ``offset``), on the trainer's device."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed + offset)
            return make().to(self.device)

    def end_pretrain(self) -> None:
        """Leave pretraining as DeepFaceLab does when ``pretrain`` is switched off.

        The inter layers (``inter`` for DF; ``inter_AB`` and ``inter_B`` for LIAE) are initialised
        afresh, the encoder and decoder(s) and the optimiser's state are kept, the iteration count
        and loss history restart from 0 (``ModelBase.set_iter(0)``), and the data switch to src =
        "A", dst = "B" with the config's warp, flips, lr_dropout and GAN.
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
        self._set_phase()

    # -- 2. one iteration: Model_SAEHD.onTrainOneIter -------------------------------------------

    def _samples(self, side: str) -> Samples:
        """One side's batch (``SampleGeneratorFace`` with SAEHD's options; see :mod:`.samples`)."""
        c, pretraining = self.config, self.pretraining
        pool = self._src_pool if side == "src" else self._dst_pool
        index = self._entries[side][self._hosts[side].multi_get(c.batch_size)]
        ct_images = None
        if side == "src" and "ct" in self._hosts:
            ct_images = self._dst_pool.images[self._hosts["ct"].multi_get(c.batch_size).to(self.device)]
        flip = True if pretraining else (c.random_src_flip if side == "src" else c.random_dst_flip)
        samples = process(
            pool,
            index,
            generator=self.generator,
            random_warp=self.random_warp,
            random_flip=flip,
            random_hsv_power=0.0 if pretraining or side == "dst" else c.random_hsv_power,
            ct_mode=c.ct_mode,
            ct_images=ct_images,
        )
        if c.blur_out_mask:
            samples.target = blur_out_mask(samples.target, samples.mask, c.resolution)
        return samples

    def _train_generator(
        self, src: Samples, dst: Samples
    ) -> tuple[dict[str, torch.Tensor], models.SAEHDCodes, torch.Tensor]:
        """One update of the autoencoder on (src, dst); returns per-sample terms, the codes and the
        src prediction (both detached).

        The G loss is src loss + dst loss (+ GAN and true-face terms), ``Model_SAEHD``'s
        ``gpu_G_loss``, one value per sample (the true-face term is in DFL's graph whenever its power
        is set, pretraining included, though the code discriminator then does not train: kept); the
        update follows the gradient of its batch *sum* (``tf.gradients`` of the vector), so
        clipgrad's norm and the optimiser's ε see DFL's scale.
        The swap is decoded only when a style term needs it.
        """
        codes, ((pred_src_src, pred_src_srcm), pred_dst) = self.forward_sides(src.warped, dst.warped)
        c = self.config
        src_terms = terms.side_loss(c, src, pred_src_src, pred_src_srcm)
        dst_terms = terms.side_loss(c, dst, *pred_dst)
        if not self.pretraining:
            for name, value in terms.style_terms(c, self.model.decoders()[0], codes, src, dst, pred_dst).items():
                src_terms[name] = value
                src_terms["total"] = src_terms["total"] + value
        result = {f"src_{k}": v for k, v in src_terms.items()} | {f"dst_{k}": v for k, v in dst_terms.items()}
        g_loss = src_terms["total"] + dst_terms["total"]
        if c.true_face_power:
            assert self.code_discriminator is not None
            result["true_face"] = terms.true_face_term(c, self.code_discriminator, codes)
            g_loss = g_loss + result["true_face"]
        if self.gan_power > 0:
            assert self.discriminator is not None
            result["gan"] = terms.gan_generator_loss(c, self.gan_power, self.discriminator, src, pred_src_src)
            g_loss = g_loss + result["gan"]
        self.optimizer.zero_grad(set_to_none=True)
        (g_loss.sum() if self.loss_reduction == "sum" else g_loss.mean()).backward()
        self.optimizer.step()
        detached = models.SAEHDCodes(*(None if x is None else x.detach() for x in codes))
        return {name: value.detach() for name, value in result.items()}, detached, pred_src_src.detach()

    def forward_sides(self, src: torch.Tensor, dst: torch.Tensor) -> tuple[models.SAEHDCodes, Any]:
        """The training forward pass of warped src and dst: (codes, ((src→src, mask), (dst→dst, mask))).

        One call, so that :func:`aelab.distributed.prepare` can put a DistributedDataParallel
        module in its place (an instance attribute of the same name).
        """
        codes = self.model.codes(src, dst)
        return codes, self.model.decode_sides(codes)

    def set_shard(self, rank: int, world_size: int) -> None:
        """Draw training faces only from pool entries ``rank``, ``rank + world_size``, ... (process
        ``rank`` of a torchrun run); the samplers start a new epoch over those entries."""
        world_size = check_int("world_size", world_size, minimum=1)
        self.shard = (check_int("rank", rank, minimum=0, maximum=world_size - 1), world_size)
        self._make_samplers()

    def _discriminator_step(self, optimizer: torch.optim.Optimizer | None, loss: torch.Tensor) -> torch.Tensor:
        """One update of a discriminator on the batch sum of its per-sample loss; returns the loss."""
        assert optimizer is not None
        optimizer.zero_grad(set_to_none=True)
        loss.sum().backward()
        optimizer.step()
        return loss.detach()

    def _train_discriminator(self, src: Samples, pred: torch.Tensor) -> torch.Tensor:
        """One update of the patch discriminator (:func:`.terms.discriminator_loss`); returns its loss."""
        assert self.discriminator is not None
        return self._discriminator_step(
            self.d_optimizer, terms.discriminator_loss(self.config, self.discriminator, src, pred)
        )

    def _train_code_discriminator(self, codes: models.SAEHDCodes) -> torch.Tensor:
        """One update of the true-face code discriminator (:func:`.terms.code_discriminator_loss`)."""
        assert self.code_discriminator is not None
        return self._discriminator_step(
            self.d_code_optimizer, terms.code_discriminator_loss(self.code_discriminator, codes)
        )

    def step(self) -> dict[str, float]:
        """One SAEHD iteration; returns its loss terms (batch means) and records them in :attr:`history`.

        Terms: ``src_dssim``, ``src_mse``, ``src_eyes_mouth``, ``src_mask``, ``src_total`` and the
        same for ``dst`` (``src_total``/``dst_total`` are DeepFaceLab's ``src_loss``/``dst_loss``);
        with the style options also ``src_face_style``/``src_bg_style`` (part of ``src_total``); with
        the GAN ``gan`` (the generator's GAN terms) and ``discriminator``; with true_face_power
        ``true_face`` and ``code_discriminator``.
        """
        with self.threads.step():
            self.model.train()
            src, dst = self._samples("src"), self._samples("dst")
            values, codes, pred_src = self._train_generator(src, dst)
            if self.config.true_face_power and not self.pretraining:
                values["code_discriminator"] = self._train_code_discriminator(codes)
            if self.gan_power > 0:
                values["discriminator"] = self._train_discriminator(src, pred_src)
            self.iteration += 1
            result = {name: float(value.mean()) for name, value in values.items()}
        for name, value in result.items():
            self.history.setdefault(name, []).append(value)
        return result

    def fit(self, iterations: int, progress: bool = True) -> dict[str, float]:
        """Run ``iterations`` steps (fewer if ``config.target_iter`` is reached); return the last terms.

        A ``tqdm`` progress bar shows the src and dst losses unless ``progress=False``.
        """
        iterations = check_int("iterations", iterations, minimum=0)
        if self.config.target_iter:
            iterations = max(0, min(iterations, self.config.target_iter - self.iteration))
        last: dict[str, float] = {}
        with tqdm(total=iterations, disable=not progress, desc="SAEHD", unit="it") as bar:
            for _ in range(iterations):
                last = self.step()
                bar.update()
                bar.set_postfix(src=f"{last['src_total']:.3f}", dst=f"{last['dst_total']:.3f}", refresh=False)
        return last

    def preview_history_due(self) -> bool:
        """Whether a loop with ``write_preview_history`` writes a preview after the step just taken.

        ``Model_SAEHD.should_save_preview_history``: every 10·max(1, resolution // 64) iterations,
        counted from the first (DFL checks before it increments its iteration, so the series is
        numbered 0, 10, 20 ...: name the file after ``iteration - 1``).
        """
        period = 10 * max(1, self.config.resolution // 64)
        return self.config.write_preview_history and self.iteration > 0 and (self.iteration - 1) % period == 0

    # -- 3. measuring ----------------------------------------------------------------------------

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
        What it measures: the SSIM map of the two *masked* images averaged over the whole image, so
        the zeroed background (the same zeros in both) scores a perfect 1 in every window that holds
        no face, and the windows across the outline compare the face against black. The figure is
        therefore higher than SSIM averaged inside the face alone, and the more so the smaller the
        face; it compares models on the same faces, it is not the face's own SSIM. DeepFaceLab's
        masked training computes its DSSIM loss on the same masked images.
        """
        n = check_int("n", n, minimum=1)
        src, dst = self.held_out(n)
        scores: dict[str, list[torch.Tensor]] = {"src": [], "dst": []}
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

        n = check_int("n", n, minimum=1, maximum=16)
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

    # -- checkpoints -----------------------------------------------------------------------------

    def _parts(self) -> dict[str, Any]:
        """The saved parts, named as DeepFaceLab's files (``encoder``, ``inter_AB`` ..., ``src_dst_opt``,
        ``GAN``, ``GAN_opt``, ``code_discriminator``, ``D_code_opt``)."""
        parts: dict[str, Any] = self.model.parts()
        parts["src_dst_opt"] = self.optimizer
        if self.discriminator is not None:
            parts["GAN"], parts["GAN_opt"] = self.discriminator, self.d_optimizer
        if self.code_discriminator is not None:
            parts["code_discriminator"], parts["D_code_opt"] = self.code_discriminator, self.d_code_optimizer
        return parts

    def _state(self) -> dict[str, Any]:
        """Everything beyond weights that exact resumption needs: counters, RNGs, the samplers' epochs."""
        return {
            "iteration": self.iteration,
            "seed": self.seed,
            "pool_size": self.pool_size,
            "dropout_generator": self.dropout_generator.get_state(),
            **self.sampling_state(),
        }

    def sampling_state(self) -> dict[str, Any]:
        """This process's face stream: the sampling generator and the samplers' epochs (CPU tensors)."""
        return {
            "generator": self.generator.get_state(),
            "samplers": {side: host.state_dict() for side, host in self._hosts.items()},
        }

    def load_sampling_state(self, state: dict[str, Any]) -> None:
        """Continue the face stream that :meth:`sampling_state` returned."""
        self.generator.set_state(state["generator"])
        for side, host in self._hosts.items():
            host.load_state_dict(state["samplers"][side])

    def _load_state(self, state: dict[str, Any]) -> None:
        self.iteration = int(state["iteration"])
        saved = state["dropout_generator"]
        if saved.numel() == self.dropout_generator.get_state().numel():
            self.dropout_generator.set_state(saved)
        else:
            # Saved on another kind of device (a CPU generator's state is a Mersenne Twister's, a
            # CUDA one's a Philox seed and offset): the two streams differ anyway, so lr_dropout goes
            # on with a fresh stream drawn from the run's seed and iteration.
            self.dropout_generator.manual_seed(self.seed * 1_000_003 + self.iteration)
        self.load_sampling_state(state)

    def save(self, folder: str | Path) -> Path:
        """Write a checkpoint folder (:func:`aelab.train.checkpoint.write`); return its path.

        One ``.pt`` file per part named as DeepFaceLab's (LIAE: ``encoder``, ``inter_AB``,
        ``inter_B``, ``decoder``; DF: ``encoder``, ``inter``, ``decoder_src``, ``decoder_dst``; then
        ``src_dst_opt`` and the discriminators'), ``trainer_state.pt`` (iteration, RNG states, the
        samplers' epochs), ``config.json``, ``history.json``, ``summary.txt`` and ``manifest.json``
        with every file's SHA-256. Tensors only: :meth:`load` reads them with ``weights_only=True``.
        A trainer given its own model refuses (ValueError): save its ``model.state_dict()`` instead.
        """
        if self.custom_model:
            raise ValueError(
                "save() writes DeepFaceLab's checkpoint of the DF or LIAE the config describes; this trainer "
                "trains a model it was given: torch.save(trainer.model.state_dict(), path) instead"
            )
        return checkpoint.write(folder, self._parts(), self._state(), self.config, self.history, self.summary())

    @classmethod
    def load(cls, folder: str | Path, *, device: str | torch.device | None = None) -> Trainer:
        """Read a folder written by :meth:`save`, verify it, and return a trainer that resumes exactly.

        Raises ``FileNotFoundError`` for a missing folder or file and ``ValueError`` for a foreign
        folder (no aelab manifest), a checksum mismatch, or parts that do not fit the config's archi;
        each message names the file. Nothing is unpickled: ``torch.load(..., weights_only=True)``.
        """
        folder = Path(folder)
        manifest = checkpoint.read_manifest(folder)
        config = Config.load(folder / "config.json")
        if manifest.get("archi") != config.archi:
            raise ValueError(
                f"{folder / 'config.json'}: archi {config.archi!r} does not match the manifest's "
                f"{manifest.get('archi')!r}"
            )
        state = checkpoint.load_tensors(folder / "trainer_state.pt")
        trainer = cls(config, device=device, seed=int(state["seed"]), pool_size=int(state["pool_size"]))
        parts = trainer._parts()
        if list(parts) != manifest.get("parts"):
            raise ValueError(
                f"{folder / checkpoint.MANIFEST}: this folder holds parts {manifest.get('parts')}, but a "
                f"{config.archi!r} trainer needs {list(parts)}"
            )
        for name, part in parts.items():
            path = folder / f"{name}.pt"
            try:
                part.load_state_dict(checkpoint.load_tensors(path))
            except (RuntimeError, KeyError, ValueError) as exc:
                raise ValueError(f"{path} does not fit this model's {name}: {exc}") from None
        trainer._load_state(state)
        trainer.history = json.loads((folder / "history.json").read_text())
        return trainer

    def summary(self) -> str:
        """The model's per-part table (:func:`aelab.models.summary`), the options, like DFL's summary.txt,
        and the options that step outside DeepFaceLab's ranges."""
        values = self.config.to_dict()
        width = max(len(name) for name in values)
        options = "\n".join(f"{k:>{width}}: {v}" for k, v in values.items())
        outside = self.config.outside_dfl_ranges()
        departures = "\n".join(f"{k:>{width}}: {why}" for k, why in outside.items()) or f"{'':>{width}}  none"
        return (
            f"{models.summary(self.model)}\n\n== Model options ==\n{options}\n{'iteration':>{width}}: {self.iteration}"
            f"\n\n== Outside DeepFaceLab's ranges ==\n{departures}"
        )
