"""Lab 03's recipe: DF and LIAE trained on SynthFaces A (src) and B (dst), and the factor reader that
scores their swaps -- the warm-start files the lab and later labs load.

Shared by ``python -m aelab.assets.make_lab03`` (which writes ``lab03/df.pt``, ``liae.pt`` and
``reader.pt``), ``solutions/03-df-vs-liae.ipynb`` and lab 08's benchmark (:mod:`aelab.course.lab08`,
whose DF and LIAE from seed 0 are these files: the same :data:`LAB_CONFIG` and :data:`ITERATIONS`).
Everything runs on one torch thread with fixed seeds. Each file holds tensors, numbers and strings
only (:func:`aelab.assets.load`):

- ``df.pt``, ``liae.pt`` (:func:`make_model`): ``config`` (the :class:`aelab.train.Config` as a dict),
  ``iteration``, ``history`` (``src_total`` and ``dst_total`` of every step) and ``state_dict`` (the
  weights, as float16 to keep the files small): ``Trainer(LAB_CONFIG with archi, seed=0,
  pool_size=512)`` trained for :data:`ITERATIONS` steps.
- ``reader.pt`` (:func:`make_reader`): :meth:`aelab.metrics.FactorReader.state_dict` of
  ``FactorReader.for_faces(resolution=32, steps=READER_STEPS, seed=0)`` (the network's weights as
  float16).
"""

from __future__ import annotations

from aelab.metrics import FactorReader
from aelab.train import Config, Trainer
from aelab.validate import check_choice

__all__ = ["LAB_CONFIG", "ITERATIONS", "READER_STEPS", "FILES", "make_model", "make_reader", "make"]

#: The lab's recipe: the seed model card's loss switches (masked training, learned mask, eyes and mouth
#: priority) and DeepFaceLab's flips (dst only; Config's defaults) at 32 px with narrow layers, without
#: pretraining or random warp, AdaBelief at lr 5e-4 -- small and fast enough that both archis learn to
#: swap on a laptop CPU. Without random warp DeepFaceLab trains LIAE's encoder, inter_B and decoder
#: only: inter_AB keeps its initial weights (seed 0), and so it does here.
LAB_CONFIG = {
    "resolution": 32,
    "ae_dims": 32,
    "e_dims": 16,
    "d_dims": 8,
    "d_mask_dims": 8,
    "batch_size": 8,
    "pretrain": False,
    "random_warp": False,
    "optimizer": "adabelief",
    "lr": 5e-4,
    "target_iter": 0,
}
ITERATIONS = 3000
READER_STEPS = 4000


def make_model(archi: str) -> dict:
    """Train ``archi`` ("df" or "liae") with :data:`LAB_CONFIG`; return what its file holds."""
    config = Config(archi=archi, **LAB_CONFIG)
    trainer = Trainer(config, device="cpu", seed=0, pool_size=512)
    trainer.fit(ITERATIONS)
    return {
        "config": config.to_dict(),
        "iteration": trainer.iteration,
        "history": {key: trainer.history[key] for key in ("src_total", "dst_total")},
        "state_dict": {k: v.half() for k, v in trainer.model.state_dict().items()},
    }


def make_reader() -> dict:
    """Train the factor reader on rendered "mixed" faces; return what its file holds."""
    state = FactorReader.for_faces(resolution=32, steps=READER_STEPS, seed=0).state_dict()
    state["net"] = {k: v.half() if v.is_floating_point() else v for k, v in state["net"].items()}
    return state


#: The files (``lab03/<name>.pt``), in the order the command makes them.
FILES = ("df", "liae", "reader")


def make(name: str) -> dict:
    """What the file ``name`` of :data:`FILES` holds."""
    return make_reader() if check_choice("name", name, FILES) == "reader" else make_model(name)
