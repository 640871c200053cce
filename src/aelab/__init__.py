"""aelab: an open course kit for the analysis of generative autoencoders.

The kit teaches the architecture family behind face-swap tools (DeepFaceLab's SAEHD models "DF" and
"LIAE") on data that shows no real person: procedural synthetic faces and handwritten digits.

Modules, one idea each, in the direction of their imports (docs/DEVELOPING.md draws the map):

- :mod:`aelab.validate` -- the one validation engine (TypeError for the kind, ValueError for the value)
- :mod:`aelab.report` -- figures printed with a verdict against a band (what nbval compares)
- :mod:`aelab.runtime` -- the device choice
- :mod:`aelab.threads` -- torch's threads: how many (affinity, CPU quota) and how they wait, set at start
- :mod:`aelab.assets` -- trained checkpoints shipped as package data, SHA-256 verified
- :mod:`aelab.data` -- synthetic faces, IDX digits, torch ``Dataset`` wrappers
- :mod:`aelab.models` -- DeepFaceLab's encoder / inter / decoder blocks, ``DF``, ``LIAE``, DFL 1.0's
  ``H128``, AE, VAE, patch and code discriminators
- :mod:`aelab.losses` -- SSIM/DSSIM, masked and region-weighted losses, KL
- :mod:`aelab.augment` -- random warp, affine, flip, HSV shift (SAEHD's sample processing)
- :mod:`aelab.color` -- colour transfer (rct, lct, mkl, idt, sot; hist_match as an extension)
- :mod:`aelab.optim` -- DeepFaceLab's optimisers: AdaBelief, RMSprop (and Adam), with clipnorm and lr_dropout
- :mod:`aelab.train` -- the configuration (the seed model card's table, presets) and the trainer
- :mod:`aelab.distributed`, :mod:`aelab.runfolder` -- ``aelab train``'s run folder and torchrun/DDP
- :mod:`aelab.fitting` -- a small training loop for the first labs' autoencoders
- :mod:`aelab.latent` -- PCA, paths through code space, factor directions, batch encoding
- :mod:`aelab.metrics` -- PSNR, linear probes, the factor reader, swap scores
- :mod:`aelab.plotting` -- image grids, loss curves, rate-distortion curves
- :mod:`aelab.recipe` -- SAEHD's recipe measured one option at a time (lab 04)
- :mod:`aelab.realism` -- Fréchet distance, KID, precision/recall/density/coverage, MS-SSIM in a
  kit-trained feature space (lab 06)
- :mod:`aelab.merge` -- DeepFaceLab's merge step (``merger/MergeMasked.py``)
- :mod:`aelab.forensics` -- spectra, DCT features, degradations, detectors, blend boundaries and their
  evaluation (lab 07)
- :mod:`aelab.benchmark` -- the seed card's benchmark of architectures: models on one budget, one
  table, one figure (lab 08)
- :mod:`aelab.portable` -- running the solutions under other CPUs' arithmetic
- :mod:`aelab.bench` -- the speed figures' sections

Course tooling, never imported by the library:

- :mod:`aelab.checks` -- the checks a student calls after each exercise
- :mod:`aelab.notebooks` -- solutions/ -> labs/ generation and lint
- :mod:`aelab.kernel` -- the labs' Jupyter kernel (the threading policy applied first)
- :mod:`aelab.grade` -- the isolated grader
- :mod:`aelab.commands`, :mod:`aelab.cli` -- the ``aelab`` command and its verbs

Conventions: images are tensors of shape (N, C, H, W) holding floats in [0, 1].
"""

__version__ = "0.1.0"
