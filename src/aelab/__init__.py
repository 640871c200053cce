"""aelab: an open course kit for the analysis of generative autoencoders.

The kit teaches the architecture family behind face-swap tools (DeepFaceLab's SAEHD models "DF" and
"LIAE") on data that shows no real person: procedural synthetic faces and handwritten digits.

Modules, one idea each:

- :mod:`aelab.data` -- synthetic faces, IDX digits, torch ``Dataset`` wrappers
- :mod:`aelab.models` -- DeepFaceLab's encoder / inter / decoder blocks, ``DF``, ``LIAE``, AE, VAE
- :mod:`aelab.losses` -- SSIM/DSSIM, masked and region-weighted losses, KL
- :mod:`aelab.augment` -- random warp, affine, flip, HSV shift (SAEHD's sample processing)
- :mod:`aelab.color` -- colour transfer (rct, lct, mkl, idt, sot; hist_match as an extension)
- :mod:`aelab.train` -- the configuration (the seed model card's table) and the trainer
- :mod:`aelab.checks` -- the checks a student calls after each exercise
- :mod:`aelab.notebooks` -- solutions/ -> labs/ generation
- :mod:`aelab.grade` -- the isolated grader

Conventions: images are tensors of shape (N, C, H, W) holding floats in [0, 1].
"""

__version__ = "0.1.0"
