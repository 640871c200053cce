"""aelab: an open course kit for the analysis of generative autoencoders.

The kit teaches the architecture family behind face-swap tools (DeepFaceLab's SAEHD models "DF" and
"LIAE") on data that shows no real person: procedural synthetic faces and handwritten digits.

Modules, one idea each, in layers: a module imports only from its own layer or the ones below
(docs/DEVELOPING.md draws the table; tests/test_imports.py enforces it).

0. foundation -- :mod:`aelab.validate` (the one validation engine), :mod:`aelab.stats` (intervals,
   Holm's correction, the Pareto front), :mod:`aelab.runtime` (the device), :mod:`aelab.threads`
   (torch's threads), :mod:`aelab.report` (figures printed against their bands: what nbval compares),
   :mod:`aelab.plotting` (image grids, loss curves, rate-distortion curves, trade-offs)
1. data -- :mod:`aelab.data`: synthetic faces, IDX digits, torch ``Dataset`` wrappers
2. models -- :mod:`aelab.models`: DeepFaceLab's encoder / inter / decoder blocks, ``DF``, ``LIAE``,
   DFL 1.0's ``H128``, AE, VAE, patch and code discriminators; any of them from a spec or a checkpoint
3. ops -- :mod:`aelab.losses`, :mod:`aelab.augment`, :mod:`aelab.color`, :mod:`aelab.optim`: what
   training applies
4. training -- :mod:`aelab.train` (the configuration and the trainer), :mod:`aelab.fitting` (the
   first labs' loop), :mod:`aelab.distributed` and :mod:`aelab.runfolder` (``aelab train``)
5. analysis -- :mod:`aelab.metrics`, :mod:`aelab.latent`, :mod:`aelab.realism`,
   :mod:`aelab.appearance`, :mod:`aelab.merge`, :mod:`aelab.scorecard`, :mod:`aelab.forensics`,
   :mod:`aelab.provenance`
6. course -- :mod:`aelab.course` (each lab's recipe), :mod:`aelab.assets` (the shipped files and
   their manifest), :mod:`aelab.checks`, :mod:`aelab.notebooks`, :mod:`aelab.grade`,
   :mod:`aelab.kernel`, :mod:`aelab.portable`, :mod:`aelab.speed` (the speed figures)
7. interface -- :mod:`aelab.commands`, :mod:`aelab.cli`: the ``aelab`` command and its verbs

Conventions: images are tensors of shape (N, C, H, W) holding floats in [0, 1].
"""

__version__ = "0.1.0"
