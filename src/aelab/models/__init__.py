"""The kit's models, one file per DeepFaceLab source file:

- :mod:`aelab.models.leras` -- ``core/leras``: the conv and dense layers with DeepFaceLab's
  initialisation, ``depth_to_space``, ``pixel_norm``;
- :mod:`aelab.models.deepfakearchi` -- ``core/leras/archis/DeepFakeArchi.py``: the blocks and the
  three parts ``Encoder``, ``Inter``, ``Decoder`` (options ``u``, ``d``, ``t``);
- :mod:`aelab.models.saehd` -- ``models/Model_SAEHD/Model.py``: ``SwapModel`` (what every swapping
  model offers: DFL's two-sided step, swap and parts), the archis ``DF`` and ``LIAE``,
  :func:`build` from a configuration, :func:`summary` (DeepFaceLab's summary.txt);
- :mod:`aelab.models.autoencoders` -- the first labs' ``ConvAutoencoder`` and ``VAE``, and
  ``SwapAutoencoder``, lab 01's autoencoder wired as DF (not DeepFaceLab's);
- :mod:`aelab.models.discriminator` -- ``core/leras/models/PatchDiscriminator.py``: ``UNetPatchDiscriminator``;
- :mod:`aelab.models.codediscriminator` -- ``core/leras/models/CodeDiscriminator.py``: ``CodeDiscriminator``
  (SAEHD's true_face_power);
- :mod:`aelab.models.h128` -- DeepFaceLab 1.0's ``models/Model_H128``: ``H128`` (for the seed card's
  benchmark of architectures);
- :mod:`aelab.models.specs` -- any of these swapping models from a spec (:func:`from_spec`), and a
  shipped checkpoint's model (:func:`from_checkpoint`).

Every public name is importable from ``aelab.models``. Images are tensors (N, C, H, W) of floats in
[0, 1]; masks (N, 1, H, W) in [0, 1].
"""

from aelab.models.autoencoders import VAE, ConvAutoencoder, SwapAutoencoder, VAEOutput
from aelab.models.codediscriminator import CodeDiscriminator
from aelab.models.deepfakearchi import (
    ARCHI_OPTIONS,
    Decoder,
    Downscale,
    DownscaleBlock,
    Encoder,
    Inter,
    ResidualBlock,
    Upscale,
    parse_options,
)
from aelab.models.discriminator import PatchLogits, UNetPatchDiscriminator
from aelab.models.h128 import H128
from aelab.models.leras import count_parameters, depth_to_space, dfl_init_, pixel_norm
from aelab.models.saehd import (
    ARCHI_TYPES,
    CONFIG_KEYS,
    DF,
    LIAE,
    SAEHD,
    EncoderTwoDecoders,
    SAEHDCodes,
    SAEHDOutput,
    SAEHDSwap,
    SwapModel,
    build,
    check_resolution,
    df_codes,
    liae_codes,
    parse_archi,
    summary,
)
from aelab.models.specs import from_checkpoint, from_spec, spec_of

__all__ = [
    "H128",
    "ARCHI_TYPES",
    "ARCHI_OPTIONS",
    "CONFIG_KEYS",
    "SAEHDCodes",
    "SAEHDOutput",
    "SAEHDSwap",
    "SwapModel",
    "EncoderTwoDecoders",
    "VAEOutput",
    "PatchLogits",
    "depth_to_space",
    "pixel_norm",
    "dfl_init_",
    "count_parameters",
    "Downscale",
    "DownscaleBlock",
    "Upscale",
    "ResidualBlock",
    "Encoder",
    "Inter",
    "Decoder",
    "SAEHD",
    "DF",
    "LIAE",
    "df_codes",
    "liae_codes",
    "parse_archi",
    "parse_options",
    "check_resolution",
    "build",
    "summary",
    "spec_of",
    "from_spec",
    "from_checkpoint",
    "ConvAutoencoder",
    "SwapAutoencoder",
    "VAE",
    "UNetPatchDiscriminator",
    "CodeDiscriminator",
]
