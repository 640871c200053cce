"""Lab 06's recipe: the feature network whose features the realism metrics compare.

Shared by ``python -m aelab.assets.make_lab06`` (which writes ``lab06/features.pt``) and
``solutions/06-realism-metrics.ipynb``. The file holds tensors, numbers and strings only -- read it
with :func:`aelab.assets.load` and :meth:`aelab.featurenet.FeatureNet.from_state_dict`: the
:meth:`~aelab.featurenet.FeatureNet.state_dict` of ``FeatureNet.for_faces(resolution=32, steps=STEPS,
seed=0)`` (weights as float16, the loss of every step as float64). One torch thread, fixed seeds: the
bytes repeat with the same torch version and aelab code on the same CPU (other CPUs round differently).
"""

from __future__ import annotations

from aelab.featurenet import FeatureNet

__all__ = ["STEPS", "make_features"]

#: Training steps of 64 freshly rendered faces each.
STEPS = 3000


def make_features() -> dict:
    """Train the feature network; return what its file holds."""
    state = FeatureNet.for_faces(resolution=32, steps=STEPS, seed=0).state_dict()
    state["net"] = {k: v.half() if v.is_floating_point() else v for k, v in state["net"].items()}
    return state
