"""Detectors of generated images, all with one interface: ``fit(images, labels)`` then ``score(images)``.

``score`` returns (N,) probabilities that each image is generated (label 1) rather than real
(label 0); 0.5 is the threshold :func:`aelab.forensics.evaluation.evaluate` applies.

- :class:`SpectralDetector` -- a linear model (logistic regression on standardised features) on
  frequency features: the azimuthal average of the log power spectrum (Durall et al. 2020), the log
  DCT coefficients (Frank et al. 2020), the Nyquist-peak statistic alone, or -- as baselines -- the
  raw pixels or the mean colour of the image.
- :class:`CNNDetector` -- a small convolutional network (Wang et al. 2020 used a ResNet-50; the
  kit's is three convolutions, pooled to the mean and spread of each feature), optionally trained with blur + JPEG
  augmentation (:func:`aelab.forensics.degrade.random_degrade`).
- :class:`BlendDetector` -- the same network trained on real faces against their self-blends
  (:func:`aelab.forensics.blending.self_blend`, Shiohara & Yamasaki 2022): it never sees a
  generator's image, only blending seams. An ensemble of three such networks by default: one small
  network's transfer to unseen merges swings with its seed (AUC 0.5-1.0 on DF's rct-merged swaps
  across seeds), the mean of three holds (0.93-0.98).
- :class:`ReconstructionDetector` -- AEROBLADE (Ricker et al. 2024): the distance between an image
  and its reconstruction by a given autoencoder, the minimum over several; an autoencoder's own
  outputs lie where it reconstructs well. Nothing is trained but a threshold (a 1-D logistic fit).

Images are tensors (N, 3, H, W) of floats in [0, 1]; labels (N,) hold 0 (real) and 1 (generated).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aelab import losses
from aelab.fitting import fit_steps
from aelab.forensics.blending import self_blend
from aelab.forensics.degrade import random_degrade
from aelab.forensics.evaluation import Evaluation, evaluate, labelled, shuffle_labels
from aelab.forensics.spectra import azimuthal_average, dct_features, nyquist_peak, power_spectrum
from aelab.validate import (
    check_binary_labels,
    check_choice,
    check_float,
    check_images,
    check_int,
    check_mask,
    check_seed,
)

# scikit-learn is imported where a linear detector is fit: at the top it cost every import of
# aelab.forensics (and of aelab.appearance, which reads its spectra) more than a second.
if TYPE_CHECKING:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

__all__ = ["FEATURES", "Detector", "SpectralDetector", "CNNDetector", "BlendDetector", "ReconstructionDetector"]


class Detector:
    """The interface: ``fit(images, labels) -> self``, ``score(images) -> (N,) probabilities``."""

    def fit(self, images: Tensor, labels: Tensor) -> Detector:
        raise NotImplementedError

    def score(self, images: Tensor) -> Tensor:
        raise NotImplementedError

    def evaluate(self, real: Tensor, fake: Tensor) -> Evaluation:
        """The :class:`Evaluation` of this (fitted) detector on held-out ``real`` and ``fake`` images."""
        images, labels = labelled(real, fake)
        return evaluate(self.score(images), labels)


def _azimuthal(images: Tensor) -> Tensor:
    return azimuthal_average(power_spectrum(images))


#: The features of :class:`SpectralDetector`: name -> (N, C, H, W) images -> (N, F) features.
FEATURES: dict[str, Callable[[Tensor], Tensor]] = {
    "azimuthal": _azimuthal,
    "dct": lambda x: dct_features(x).flatten(1),
    "nyquist": lambda x: nyquist_peak(x)[:, None],
    "pixels": lambda x: x.flatten(1),
    "mean": lambda x: x.mean(dim=(2, 3)),
}


class SpectralDetector(Detector):
    """Logistic regression on standardised ``features`` (one of :data:`FEATURES`) of (N, C, H, W) images.

    ``C`` is the inverse L2 penalty (scikit-learn's). Standardisation per feature is Frank et al.'s
    per-coefficient normalisation of the DCT; for the azimuthal average it replaces Durall et al.'s
    per-image min-max scaling.
    """

    def __init__(self, features: str = "azimuthal", *, C: float = 1.0) -> None:
        self.features = check_choice("features", features, tuple(FEATURES))
        self.C = check_float("C", C, minimum=0.0, min_inclusive=False)
        self.model_: Pipeline | None = None

    def transform(self, images: Tensor) -> np.ndarray:
        """The (N, F) feature matrix of images (N, C, H, W) in [0, 1]."""
        images = check_images("images", images, channels=(1, 3))
        return FEATURES[self.features](images).double().cpu().numpy()

    def fit(self, images: Tensor, labels: Tensor) -> SpectralDetector:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        labels = check_binary_labels("labels", labels, count=len(images))
        self.model_ = make_pipeline(StandardScaler(), LogisticRegression(C=self.C, max_iter=5000))
        self.model_.fit(self.transform(images), labels.numpy().astype(int))
        return self

    def score(self, images: Tensor) -> Tensor:
        if self.model_ is None:
            raise RuntimeError("fit the detector before scoring images")
        return torch.from_numpy(self.model_.predict_proba(self.transform(images))[:, 1]).float()


class _SmallCNN(nn.Module):
    """conv 3x3 (w) - conv 3x3 stride 2 (2w) - conv 3x3 stride 2 (4w), leaky ReLU 0.2; the mean and the
    standard deviation of each feature map over the image (texture statistics); a linear layer."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 4 * width, 3, stride=2, padding=1),
            nn.LeakyReLU(0.2),
        )
        self.head = nn.Linear(8 * width, 1)

    def forward(self, x: Tensor) -> Tensor:
        features = self.features(x).flatten(2)
        return self.head(torch.cat([features.mean(dim=2), features.std(dim=2)], dim=1)).squeeze(1)


class CNNDetector(Detector):
    """A small CNN trained with binary cross-entropy (Adam, ``steps`` batches of ``batch_size``).

    ``augment``: each training batch goes through Wang et al.'s blur + JPEG augmentation
    (:func:`~aelab.forensics.degrade.random_degrade`, blur and JPEG each with probability 0.5).
    ``members``: an ensemble of that many networks, member k trained from seed ``seed·members + k``
    (its weights, batches and augmentation); :meth:`score` is the mean of their probabilities.
    """

    def __init__(
        self,
        *,
        steps: int = 300,
        batch_size: int = 32,
        lr: float = 5e-3,
        width: int = 8,
        augment: bool = False,
        members: int = 1,
        seed: int = 0,
        progress: bool = False,
    ) -> None:
        self.steps = check_int("steps", steps, minimum=1)
        self.batch_size = check_int("batch_size", batch_size, minimum=2)
        self.lr = check_float("lr", lr, minimum=0.0, min_inclusive=False)
        self.width = check_int("width", width, minimum=1)
        self.augment = bool(augment)
        self.members = check_int("members", members, minimum=1)
        self.seed = check_seed("seed", seed)
        self.progress = bool(progress)
        self.nets_: list[_SmallCNN] = []
        #: The training loss of every step, member after member.
        self.losses_: list[float] = []

    def _train(self, draw: Callable[[int, torch.Generator], tuple[Tensor, Tensor]]) -> None:
        """Train fresh networks on batches ``draw(step, generator) -> (images, labels)``."""
        self.nets_, self.losses_ = [], []
        for member in range(self.members):
            self.nets_.append(self._train_net(draw, self.seed * self.members + member))

    def _train_net(self, draw: Callable[[int, torch.Generator], tuple[Tensor, Tensor]], seed: int) -> _SmallCNN:
        """One network, its weights, batches and augmentation drawn from ``seed``, trained by
        :func:`aelab.fitting.fit_steps` (eval mode after); its losses join :attr:`losses_`."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = _SmallCNN(self.width)
        generator = torch.Generator().manual_seed(seed)

        def step_loss(step: int) -> Tensor:
            images, labels = draw(step, generator)
            images = self._prepare(net, images, labels, seed * 1_000_003 + step)
            return F.binary_cross_entropy_with_logits(net(images), labels)

        self.losses_ += fit_steps(
            net, step_loss, steps=self.steps, lr=self.lr, progress=self.progress, desc=type(self).__name__
        )
        return net

    def _prepare(self, net: nn.Module, images: Tensor, labels: Tensor, seed: int) -> Tensor:
        """What a training batch becomes before the step: Wang et al.'s augmentation when ``augment``
        (drawn from ``seed``); subclasses may use the network being trained (adversarial training)."""
        return random_degrade(images, seed=seed) if self.augment else images

    def fit(self, images: Tensor, labels: Tensor) -> CNNDetector:
        images = check_images("images", images, channels=3)
        labels = check_binary_labels("labels", labels, count=len(images))

        def draw(_: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
            pick = torch.randint(len(images), (self.batch_size,), generator=generator)
            return images[pick], labels[pick]

        self._train(draw)
        return self

    @torch.no_grad()
    def score(self, images: Tensor) -> Tensor:
        if not self.nets_:
            raise RuntimeError("fit the detector before scoring images")
        images = check_images("images", images, channels=3)
        return torch.stack(
            [torch.cat([torch.sigmoid(net(chunk)) for chunk in images.split(512)]) for net in self.nets_]
        ).mean(dim=0)

    def _params(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "width": self.width,
            "augment": self.augment,
            "members": self.members,
            "seed": self.seed,
        }

    def state_dict(self) -> dict[str, Any]:
        """What a fitted detector is: its settings, its losses and its networks' weights (float16)."""
        if not self.nets_:
            raise RuntimeError("fit the detector before saving it")
        return {
            "params": self._params(),
            "losses": list(self.losses_),
            "nets": [{k: v.half() for k, v in net.state_dict().items()} for net in self.nets_],
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> CNNDetector:
        """A fitted detector from :meth:`state_dict`'s output (e.g. ``torch.load(..., weights_only=True)``)."""
        detector = cls(**state["params"])
        for weights in state["nets"]:
            net = _SmallCNN(detector.width)
            net.load_state_dict({k: v.float() for k, v in weights.items()})
            detector.nets_.append(net.eval())
        detector.losses_ = list(state["losses"])
        return detector


class BlendDetector(CNNDetector):
    """:class:`CNNDetector` trained on real faces against their self-blends, made afresh at each step.

    ``fit(images, masks)``: the real faces (N, 3, H, W) and their face masks (N, 1, H, W). Each batch
    holds ``batch_size // 2`` faces twice, as SBI's batches do: each real (:attr:`SelfBlend.real
    <aelab.forensics.blending.SelfBlend.real>`, the image around the pasted face) beside its own
    :func:`~aelab.forensics.blending.self_blend`, so that what tells them apart is the blend and
    nothing else in the face. No generated image is needed, nor any label. Three members by default
    (see :class:`CNNDetector`).

    ``shuffled``: the control -- each batch's labels replaced by
    :func:`~aelab.forensics.evaluation.shuffle_labels` (half the reals and half the blends called
    "blended", at random), so that the labels say nothing about the images. Such a detector must
    score near chance on anything; one that does not has found a difference between the test sets
    that no training put there.
    """

    def __init__(
        self,
        *,
        steps: int = 600,
        batch_size: int = 32,
        lr: float = 5e-3,
        width: int = 8,
        members: int = 3,
        shuffled: bool = False,
        seed: int = 0,
        progress: bool = False,
    ) -> None:
        super().__init__(
            steps=steps, batch_size=batch_size, lr=lr, width=width, members=members, seed=seed, progress=progress
        )
        self.shuffled = bool(shuffled)

    def _params(self) -> dict[str, Any]:
        params = super()._params()
        del params["augment"]
        return {**params, "shuffled": self.shuffled}

    def fit(self, images: Tensor, masks: Tensor) -> BlendDetector:  # type: ignore[override]
        images = check_images("images", images, channels=3)
        masks = check_mask("masks", masks, like=images)
        half = self.batch_size // 2
        labels = torch.cat([torch.zeros(half), torch.ones(half)])

        def draw(_: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
            pick = torch.randint(len(images), (half,), generator=generator)
            seed = int(torch.randint(2**62, (1,), generator=generator))
            blended = self_blend(images[pick], masks[pick], seed=seed)
            return torch.cat([blended.real, blended.images]), shuffle_labels(labels, seed) if self.shuffled else labels

        self._train(draw)
        return self


#: Distances of :class:`ReconstructionDetector`: name -> (x, reconstruction) -> (N,).
DISTANCES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "mse": lambda x, y: losses.mse(x, y, reduction="none"),
    "dssim": lambda x, y: (1.0 - losses.ssim(x, y, kernel_size=5, reduction="none")) / 2.0,
}


class ReconstructionDetector(Detector):
    """AEROBLADE's detector: ``d(x) = min_k distance(x, autoencoder_k(x))``; small d means generated.

    Args:
        autoencoders: callables mapping images (N, 3, H, W) in [0, 1] to their reconstructions, e.g.
            ``lambda x: model(x, x).pred_src_src`` for an SAEHD model's src side.
        distance: ``"mse"`` (per image) or ``"dssim"`` (1 - SSIM with a 5-pixel window, halved;
            AEROBLADE uses LPIPS, which needs weights the kit cannot download).

    :meth:`distances` needs no training; :meth:`fit` only places a threshold (a logistic fit on
    -log d) so that :meth:`score` gives probabilities.
    """

    def __init__(
        self, autoencoders: Sequence[Callable[[Tensor], Tensor]], *, distance: str = "mse", batch_size: int = 256
    ) -> None:
        if callable(autoencoders):
            autoencoders = [autoencoders]
        if not autoencoders or not all(callable(a) for a in autoencoders):
            raise TypeError("autoencoders must be a non-empty sequence of callables images -> reconstructions")
        self.autoencoders = list(autoencoders)
        self.distance = check_choice("distance", distance, tuple(DISTANCES))
        self.batch_size = check_int("batch_size", batch_size, minimum=1)
        self.model_: LogisticRegression | None = None

    @torch.no_grad()
    def distances(self, images: Tensor) -> Tensor:
        """(N,) the smallest distance between each image and its reconstructions."""
        images = check_images("images", images, channels=3)
        out = []
        for chunk in images.split(self.batch_size):
            per_model = [DISTANCES[self.distance](chunk, ae(chunk).to(chunk)) for ae in self.autoencoders]
            out.append(torch.stack(per_model).amin(dim=0))
        return torch.cat(out)

    def _feature(self, images: Tensor) -> np.ndarray:
        return (-torch.log(self.distances(images).double() + 1e-12)).numpy()[:, None]

    def fit(self, images: Tensor, labels: Tensor) -> ReconstructionDetector:
        from sklearn.linear_model import LogisticRegression

        labels = check_binary_labels("labels", labels, count=len(images))
        self.model_ = LogisticRegression(max_iter=5000).fit(self._feature(images), labels.numpy().astype(int))
        return self

    def score(self, images: Tensor) -> Tensor:
        if self.model_ is None:
            raise RuntimeError("fit the detector before scoring images (or use distances(images) alone)")
        return torch.from_numpy(self.model_.predict_proba(self._feature(images))[:, 1]).float()
