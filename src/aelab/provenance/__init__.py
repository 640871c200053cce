"""Provenance: a generator that signs what it makes, and what a forger can do about it.

One module per idea:

- :mod:`~aelab.provenance.detection`: reading k key bits and the binomial test that calls an image
  signed at a computed false positive rate;
- :mod:`~aelab.provenance.distortions`: the laundering chain (JPEG, crop, resize, blur, noise);
- :mod:`~aelab.provenance.hidden`: a HiDDeN encoder/extractor pair and its differentiable noise layer;
- :mod:`~aelab.provenance.signing`: Stable Signature's loss, which fine-tunes a decoder to carry a key;
- :mod:`~aelab.provenance.attacks`: removal attacks (PGD against the extractor, averaging);
- :mod:`~aelab.provenance.posthoc`: the post-hoc DWT-DCT watermark of ``invisible-watermark``;
- :mod:`~aelab.provenance.manifest`: signed metadata, a C2PA manifest with ``c2pa-python``.

``posthoc`` and ``manifest`` import their packages (the ``provenance`` extra) only when called.
"""

from aelab.provenance import attacks, detection, distortions, hidden, manifest, posthoc, signing

__all__ = ["attacks", "detection", "distortions", "hidden", "manifest", "posthoc", "signing"]
