"""Detecting generated images: frequency features, degradations, blending traces, detectors, evaluation.

One module per idea (each names the paper and repository it follows):

- :mod:`~aelab.forensics.spectra` -- power spectrum, azimuthal average, DCT features, Nyquist peak;
- :mod:`~aelab.forensics.degrade` -- blur, resize, noise and JPEG (Pillow), and Wang et al.'s augmentation;
- :mod:`~aelab.forensics.blending` -- Face X-ray's boundary map and Self-Blended Images;
- :mod:`~aelab.forensics.generators` -- an autoencoder whose last upsampling comes in four kinds;
- :mod:`~aelab.forensics.detectors` -- linear spectral, CNN, blend-boundary and reconstruction detectors;
- :mod:`~aelab.forensics.evaluation` -- AUC, AP, accuracies, the shuffled-label control, transfer tables;
- :mod:`~aelab.forensics.figures` -- spectra and ROC curves.

Images are tensors (N, C, H, W) of floats in [0, 1]; masks (N, 1, H, W) in [0, 1]; labels 1 for
generated, 0 for real.
"""

from aelab.forensics.blending import BLEND_RATIOS, SelfBlend, boundary_map, self_blend
from aelab.forensics.degrade import compress, degrade, jpeg_bytes, png_roundtrip, random_degrade
from aelab.forensics.detectors import (
    FEATURES,
    BlendDetector,
    CNNDetector,
    Detector,
    ReconstructionDetector,
    SpectralDetector,
)
from aelab.forensics.evaluation import (
    Evaluation,
    auc,
    average_precision,
    evaluate,
    labelled,
    roc_curve,
    shuffle_labels,
    shuffled_control,
    train_held_out_control,
    transfer_table,
)
from aelab.forensics.spectra import (
    azimuthal_average,
    dct_features,
    fft_power,
    luminance,
    nyquist_peak,
    power_spectrum,
    radial_frequency,
)

__all__ = [
    "BLEND_RATIOS",
    "SelfBlend",
    "boundary_map",
    "self_blend",
    "compress",
    "degrade",
    "jpeg_bytes",
    "png_roundtrip",
    "random_degrade",
    "FEATURES",
    "BlendDetector",
    "CNNDetector",
    "Detector",
    "ReconstructionDetector",
    "SpectralDetector",
    "Evaluation",
    "auc",
    "average_precision",
    "evaluate",
    "labelled",
    "roc_curve",
    "shuffle_labels",
    "shuffled_control",
    "train_held_out_control",
    "transfer_table",
    "azimuthal_average",
    "dct_features",
    "fft_power",
    "luminance",
    "nyquist_peak",
    "power_spectrum",
    "radial_frequency",
]
