"""A test bed for generator fingerprints: one small autoencoder whose last upsampling comes in four kinds.

Chandrasegaran et al. 2021 ("A closer look at Fourier spectrum discrepancies for CNN-generated
images detection") show that the spectral marks a detector finds are set by the generator's *last*
upsampling layer: transposed convolution (and pixel shuffle, which is a transposed convolution
rearranged) repeat a 2x2 pattern and raise the highest frequencies; nearest or bilinear upsampling
followed by a convolution leave no such peak. :class:`UpsamplingAutoencoder` keeps everything else
the same -- encoder, bottleneck, the first two upsamplings (DeepFaceLab's ``Upscale``: 3x3 conv to
4·out channels, leaky ReLU 0.1, pixel shuffle; ``core/leras/archis/DeepFakeArchi.py``) and a 1x1
output convolution with a sigmoid, as DeepFaceLab's decoder ends -- and swaps the last upsampling:

- ``pixel_shuffle``: DeepFaceLab's ``Upscale`` (torch's ``PixelShuffle``; DeepFaceLab's
  ``depth_to_space`` orders the conv's channels differently, which is a relabelling of its filters);
- ``transposed``: a 4x4 transposed convolution of stride 2 (DCGAN's upsampling), leaky ReLU 0.1;
- ``nearest`` / ``bilinear``: resize x2, then a 3x3 convolution, leaky ReLU 0.1.

Here the first two pixel shuffles leave Nyquist peaks in all four kinds, and nearest and bilinear lose
the most high-frequency power (lab 07 measures a deficit about twice pixel shuffle's over the outer
rings of the azimuthal average): that deficit is a fingerprint too, and a spectral detector trained on
pixel shuffle catches them. What evades such a detector is a spectrum matched to the reals' at high
frequencies (Chandrasegaran et al.; Durall et al.'s spectral regulariser), not the interpolation alone.

:func:`train_autoencoder` trains one on rendered faces (domain "mixed") with the mean squared error
(:func:`aelab.fitting.fit_steps`).
Images are tensors (N, 3, R, R) of floats in [0, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aelab.data import faces
from aelab.fitting import fit_steps
from aelab.validate import check_choice, check_float, check_images, check_int, check_seed

__all__ = ["UPSAMPLINGS", "Upsample", "UpsamplingAutoencoder", "train_autoencoder"]

#: The kinds of last upsampling, in the order the lab shows them.
UPSAMPLINGS = ("pixel_shuffle", "transposed", "nearest", "bilinear")


class Upsample(nn.Module):
    """x2 upsampling of (N, in_ch, H, W) features to (N, out_ch, 2H, 2W), of one of :data:`UPSAMPLINGS`."""

    def __init__(self, in_ch: int, out_ch: int, kind: str = "pixel_shuffle") -> None:
        super().__init__()
        self.kind = check_choice("kind", kind, UPSAMPLINGS)
        if kind == "pixel_shuffle":
            self.conv: nn.Module = nn.Conv2d(in_ch, 4 * out_ch, 3, padding=1)
        elif kind == "transposed":
            self.conv = nn.ConvTranspose2d(in_ch, out_ch, 4, stride=2, padding=1)
        else:
            self.conv = nn.Conv2d(in_ch, out_ch, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        if self.kind in ("nearest", "bilinear"):
            x = F.interpolate(
                x, scale_factor=2, mode=self.kind, **({"align_corners": False} if self.kind == "bilinear" else {})
            )
        x = F.leaky_relu(self.conv(x), 0.1)
        return F.pixel_shuffle(x, 2) if self.kind == "pixel_shuffle" else x

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}"


class UpsamplingAutoencoder(nn.Module):
    """A small convolutional autoencoder for (N, 3, R, R) images in [0, 1] whose last upsampling is ``upsampling``.

    Encoder: three 5x5 convolutions of stride 2 (``dims``, 2·``dims``, 4·``dims`` channels, leaky ReLU
    0.1) to R/8, a dense layer to ``ae_dims`` and back; decoder: two pixel-shuffle upsamplings, the
    last upsampling of the given kind, a 1x1 convolution to 3 channels and a sigmoid.
    """

    def __init__(
        self, upsampling: str = "pixel_shuffle", *, resolution: int = 32, ae_dims: int = 64, dims: int = 16
    ) -> None:
        super().__init__()
        self.upsampling = check_choice("upsampling", upsampling, UPSAMPLINGS)
        self.resolution = check_int("resolution", resolution, minimum=8)
        if resolution % 8:
            raise ValueError(f"resolution must be a multiple of 8 (the encoder halves it 3 times), got {resolution}")
        self.ae_dims = check_int("ae_dims", ae_dims, minimum=1)
        self.dims = check_int("dims", dims, minimum=1)
        d, low = dims, resolution // 8
        self.encoder = nn.Sequential(
            nn.Conv2d(3, d, 5, stride=2, padding=2),
            nn.LeakyReLU(0.1),
            nn.Conv2d(d, 2 * d, 5, stride=2, padding=2),
            nn.LeakyReLU(0.1),
            nn.Conv2d(2 * d, 4 * d, 5, stride=2, padding=2),
            nn.LeakyReLU(0.1),
            nn.Flatten(),
            nn.Linear(4 * d * low * low, ae_dims),
        )
        self.inter = nn.Sequential(nn.Linear(ae_dims, 4 * d * low * low), nn.Unflatten(1, (4 * d, low, low)))
        self.decoder = nn.Sequential(
            Upsample(4 * d, 4 * d),
            Upsample(4 * d, 2 * d),
            Upsample(2 * d, d, upsampling),
            nn.Conv2d(d, 3, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: Tensor) -> Tensor:
        """Reconstructions (N, 3, R, R) in [0, 1] of images (N, 3, R, R) in [0, 1]."""
        check_images("x", x, channels=3, resolution=self.resolution)
        return self.decoder(self.inter(self.encoder(x)))

    def config(self) -> dict[str, object]:
        """The constructor's arguments, to rebuild the model: ``UpsamplingAutoencoder(**model.config())``."""
        return {
            "upsampling": self.upsampling,
            "resolution": self.resolution,
            "ae_dims": self.ae_dims,
            "dims": self.dims,
        }


def train_autoencoder(
    upsampling: str,
    *,
    steps: int,
    seed: int = 0,
    resolution: int = 32,
    pool_size: int = 1024,
    batch_size: int = 32,
    lr: float = 2e-3,
    progress: bool = True,
) -> tuple[UpsamplingAutoencoder, list[float]]:
    """Train an :class:`UpsamplingAutoencoder` on ``pool_size`` rendered "mixed" faces for ``steps`` Adam steps.

    Initial weights, the face pool (render seed ``seed``) and the batches all come from ``seed``; the
    model is the same for every ``upsampling`` up to its last upsampling layer's weights. Returns the
    model (eval mode) and the loss (mean squared error) of each step.
    """
    steps = check_int("steps", steps, minimum=1)
    seed = check_seed("seed", seed)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    lr = check_float("lr", lr, minimum=0.0, min_inclusive=False)
    pool = faces.render(
        check_int("pool_size", pool_size, minimum=1), resolution=resolution, domain="mixed", seed=seed
    ).images
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = UpsamplingAutoencoder(upsampling, resolution=resolution)
    generator = torch.Generator().manual_seed(seed)

    def step_loss(_: int) -> Tensor:
        batch = pool[torch.randint(len(pool), (batch_size,), generator=generator)]
        return F.mse_loss(model(batch), batch)

    losses = fit_steps(model, step_loss, steps=steps, lr=lr, progress=progress, desc=f"autoencoder ({upsampling})")
    return model, losses
