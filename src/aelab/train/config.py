"""SAEHD's options as one plain, validated record: :class:`Config`, its JSON file and its presets.

The options are DeepFaceLab's, named and defaulted as ``models/Model_SAEHD/Model.py``
(``on_initialize_options``) and ``models/ModelBase.py`` (the ``ask_*`` options) name and default them
at the pinned commit 46fc239 (2023-04-27), except where the seed model card sets a value (its
table is the default). Every field is checked on construction with :mod:`aelab.validate`: a
``TypeError`` for the wrong kind, a ``ValueError`` for a value outside what the option allows.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aelab import color, models
from aelab.validate import check_bool, check_choice, check_float, check_int

__all__ = [
    "Config",
    "PRESETS",
    "FACE_TYPES",
    "CT_MODES",
    "OPTIMIZERS",
    "LR_DROPOUT_ON",
    "LR_COS_WITH_DROPOUT",
    "DFL_RANGES",
]

#: DeepFaceLab's face types: half, mid-full, full, whole face, head.
FACE_TYPES = ("h", "mf", "f", "wf", "head")
#: Colour transfer of src samples toward dst (``ct_mode``); None is DeepFaceLab's "none".
#: ``hist_match`` is not a training ct_mode in DeepFaceLab (it is its merger's colour mode): the
#: kit offers it as the seed card's future-work extension.
CT_MODES = (None, *color.CT_MODES)
#: SAEHD's optimisers, AdaBelief (DFL's option ``adabelief``, default on) or RMSprop (``adabelief``
#: off), and Adam (the kit's CPU recipe, not a DFL option); see :mod:`aelab.optim`.
OPTIMIZERS = ("adabelief", "rmsprop", "adam")
#: The keep probability of SAEHD's lr_dropout when it is on (``Model_SAEHD``: 0.3) ...
LR_DROPOUT_ON = 0.3
#: ... and its cosine lr period then (``lr_cos = 500``).
LR_COS_WITH_DROPOUT = 500

#: The ranges DeepFaceLab's prompts clip each option to (``Model_SAEHD.on_initialize_options``;
#: dims are also rounded up to even there, and resolution down to a multiple of 16, or 32 with -d).
#: The kit checks the kinds and the limits the maths needs, and allows the smaller models its CPU
#: presets and labs use: :meth:`Config.outside_dfl_ranges` lists where a config steps outside.
DFL_RANGES: dict[str, tuple[float, float]] = {
    "resolution": (64, 640),
    "ae_dims": (32, 1024),
    "e_dims": (16, 256),
    "d_dims": (16, 256),
    "d_mask_dims": (16, 256),
    "random_hsv_power": (0.0, 0.3),
    "gan_power": (0.0, 5.0),
    "gan_patch_size": (3, 640),
    "gan_dims": (4, 512),
    "true_face_power": (0.0, 1.0),
    "face_style_power": (0.0, 100.0),
    "bg_style_power": (0.0, 100.0),
    "autobackup_hour": (0, 24),
}
_EVEN = ("e_dims", "d_dims", "d_mask_dims")


@dataclass
class Config:
    """The options of a SAEHD model: the seed model card's table, and DeepFaceLab's defaults beyond it.

    The card's values are the defaults (LIAE.f.128.80.48.16, masked training, learned mask, eyes
    priority, random warp, batch 8, pretrain, target 1,000,000); every other option has DeepFaceLab's
    default. The card's ``random_flip`` is the single flip option of DeepFaceLab before 2021; the
    pinned version no longer reads it (``ModelBase`` keeps it, SAEHD passes ``random_src_flip`` and
    ``random_dst_flip`` to its samplers), so the kit has those two, at DFL's defaults.

    Model (``aelab.models``): ``archi`` ("df"/"liae" with options, e.g. "liae-ud"), ``resolution``
    (a multiple of 16, or 32 with -d/-t), ``face_type`` (:data:`FACE_TYPES`; recorded, the synthetic
    faces are full faces), ``ae_dims``, ``e_dims``, ``d_dims``, ``d_mask_dims``.

    Loss: ``masked_training``, ``learn_mask`` (the kit's switch; DFL always learns the mask),
    ``eyes_mouth_prio`` (DFL's name since 2021; the card's ``eyes_prio``), ``face_style_power`` and
    ``bg_style_power`` (0..100, DFL divides by 100), ``true_face_power`` (0..1, DF only: the code
    discriminator), ``gan_power`` (0..5; 0: no GAN), ``gan_patch_size`` (None: resolution // 8, DFL's
    default) and ``gan_dims`` (the discriminator's base width, 16).

    Samples: ``random_warp``, ``random_hsv_power`` (0..0.3, src input only), ``random_src_flip``
    (off), ``random_dst_flip`` (on), ``uniform_yaw`` (draw samples evenly over yaw bins),
    ``blur_out_mask`` (blur the targets' background near the face), ``ct_mode`` (:data:`CT_MODES`).

    Schedule and optimiser: ``batch_size``, ``pretrain``, ``target_iter`` (0: none), ``clipgrad``
    (global-norm clip at 1.0), ``optimizer`` (:data:`OPTIMIZERS`; DFL's ``adabelief`` switch),
    ``lr`` (DFL: 5e-5, fixed), ``lr_dropout`` (DFL's switch: True = keep probability 0.3 with lr_cos
    500; or a keep probability in (0, 1], 1.0 = off), ``lr_cos`` (the kit's: the period, in optimiser
    steps, of DFL's cosine lr factor; 0 keeps SAEHD's own choice, 500 with lr_dropout, else none).

    Where the run lives: ``models_opt_on_gpu`` (keep the optimiser's state on the GPU when training on
    one; False keeps it in CPU memory), ``autobackup_hour`` (0..24; a training loop that saves copies
    the model every that many hours, ``aelab train``) and ``write_preview_history`` (that loop writes
    a preview series, :meth:`aelab.train.Trainer.preview_history_due`).
    """

    archi: str = "liae"
    resolution: int = 128
    face_type: str = "f"
    ae_dims: int = 128
    e_dims: int = 80
    d_dims: int = 48
    d_mask_dims: int = 16
    masked_training: bool = True
    learn_mask: bool = True
    eyes_mouth_prio: bool = True
    uniform_yaw: bool = False
    blur_out_mask: bool = False
    gan_power: float = 0.0
    gan_patch_size: int | None = None
    gan_dims: int = 16
    true_face_power: float = 0.0
    face_style_power: float = 0.0
    bg_style_power: float = 0.0
    random_warp: bool = True
    random_hsv_power: float = 0.0
    random_src_flip: bool = False
    random_dst_flip: bool = True
    batch_size: int = 8
    pretrain: bool = True
    clipgrad: bool = False
    target_iter: int = 1_000_000
    ct_mode: str | None = None
    optimizer: str = "adabelief"
    lr: float = 5e-5
    lr_dropout: bool | float = False
    lr_cos: int = 0
    models_opt_on_gpu: bool = True
    autobackup_hour: int = 0
    write_preview_history: bool = False

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field's kind and value; raise naming the field and what it allows."""
        archi_type, opts = models.parse_archi(self.archi)
        check_int("resolution", self.resolution, minimum=1)
        models.check_resolution(self.resolution, opts)
        check_choice("face_type", self.face_type, FACE_TYPES)
        for name in ("ae_dims", "e_dims", "d_dims", "d_mask_dims", "batch_size", "gan_dims"):
            check_int(name, getattr(self, name), minimum=1)
        for name in (
            "masked_training",
            "learn_mask",
            "eyes_mouth_prio",
            "uniform_yaw",
            "blur_out_mask",
            "random_warp",
            "random_src_flip",
            "random_dst_flip",
            "pretrain",
            "clipgrad",
            "models_opt_on_gpu",
            "write_preview_history",
        ):
            check_bool(name, getattr(self, name))
        for name in ("gan_power", "true_face_power", "face_style_power", "bg_style_power", "random_hsv_power"):
            low, high = DFL_RANGES[name]
            check_float(name, getattr(self, name), minimum=low, maximum=high)
        if self.true_face_power and archi_type != "df":
            raise ValueError(
                f"true_face_power is a DF option (the code discriminator reads DF's one inter code; "
                f"DeepFaceLab sets it to 0 for {archi_type!r}): use archi 'df' or true_face_power=0.0"
            )
        if self.gan_patch_size is not None:
            check_int("gan_patch_size", self.gan_patch_size, minimum=1)
        check_int("target_iter", self.target_iter, minimum=0)
        check_int("lr_cos", self.lr_cos, minimum=0)
        check_int("autobackup_hour", self.autobackup_hour, minimum=0, maximum=24)
        if self.ct_mode is not None:
            check_choice("ct_mode (None for no transfer)", self.ct_mode, CT_MODES[1:])
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_float("lr", self.lr, minimum=0.0, min_inclusive=False)
        if not isinstance(self.lr_dropout, bool):
            check_float(
                "lr_dropout (DFL's switch True/False, or a keep probability)",
                self.lr_dropout,
                minimum=0.0,
                maximum=1.0,
                min_inclusive=False,
            )

    @property
    def lr_dropout_keep(self) -> float:
        """The keep probability of each update: 0.3 for ``lr_dropout=True``, 1.0 when off."""
        if isinstance(self.lr_dropout, bool):
            return LR_DROPOUT_ON if self.lr_dropout else 1.0
        return float(self.lr_dropout)

    @property
    def gan_patch_size_in_effect(self) -> int:
        """``gan_patch_size``, or DeepFaceLab's default ``resolution // 8`` when it is None."""
        return self.resolution // 8 if self.gan_patch_size is None else self.gan_patch_size

    def outside_dfl_ranges(self) -> dict[str, str]:
        """The options whose value DeepFaceLab's prompts would not accept as they are, and why.

        DFL clips each to :data:`DFL_RANGES` and rounds e/d/d_mask dims up to even numbers; the kit
        trains such values as given (its CPU presets and labs are smaller than DFL allows).
        """
        found = {}
        for name, (low, high) in DFL_RANGES.items():
            value = self.gan_patch_size_in_effect if name == "gan_patch_size" else getattr(self, name)
            if not low <= value <= high:
                found[name] = f"{value} is outside DeepFaceLab's {low}..{high}"
        for name in _EVEN:
            if getattr(self, name) % 2:
                found[name] = found.get(name, f"{getattr(self, name)} is odd") + " (DFL rounds it up to even)"
        return found

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (what :meth:`save` writes)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Config:
        """A config from a mapping of field names; fields it leaves out keep their defaults.

        Unknown keys raise ``ValueError`` naming the key and listing the valid ones.
        """
        if not isinstance(values, dict):
            raise TypeError(f"a config must be a mapping of field names to values, got {type(values).__name__}")
        valid = [f.name for f in dataclasses.fields(cls)]
        for key in values:
            if key not in valid:
                raise ValueError(f"unknown config key {key!r}; valid keys: {', '.join(valid)}")
        return cls(**values)

    def save(self, path: str | Path) -> None:
        """Write the config as JSON to ``path``."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Config:
        """Read a config written by :meth:`save` (or any JSON object of field names) and validate it."""
        path = Path(path)
        try:
            values = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not valid JSON: {exc}") from None
        try:
            return cls.from_dict(values)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{path}: {exc}") from None

    @classmethod
    def preset(cls, name: str) -> Config:
        """A named configuration from :data:`PRESETS` ("seed", "cpu", "dfl-defaults")."""
        check_choice("preset name", name, tuple(PRESETS))
        return cls(**PRESETS[name])


#: Named configurations; the measured figures behind them are printed by ``aelab bench`` and
#: recorded in docs/benchmarks.md, their one place.
#:
#: - "seed": the model card exactly (:class:`Config`'s defaults).
#: - "cpu": the labs' recipe for a 2-core CPU, chosen by experiment. "liae-ud" at 64 px with
#:   ae_dims 64, e_dims 16, d_dims 12, d_mask_dims 4: the -d option decodes at 32 px and
#:   depth-to-spaces to 64, a much cheaper step than plain "liae"'s; ae_dims 64, not 32, since
#:   DeepFaceLab's recipe leaves inter_AB untrained without random warp: src then reaches the
#:   decoder through a fixed random projection, which keeps more with a wider code (0.90 in fewer
#:   steps for a little more per step; 96 is no better per second); d_dims 12 and d_mask_dims 4
#:   are below DeepFaceLab's minimum of 16 (see :meth:`Config.outside_dfl_ranges`): at 16 a step
#:   costs more for no gain within the benchmark's budget, and the mask (one smooth blob) needs few
#:   channels (the screening's figures: docs/benchmarks.md). Batch 8, Adam at lr 1e-3 (bias
#:   correction keeps the first steps at lr; DFL's AdaBelief without it needs a far smaller lr),
#:   DeepFaceLab's cosine lr factor annealed to 0 at ``target_iter`` = 2000 (``lr_cos`` = 2 x 2000).
#:   The card's loss switches (masked training, learned mask, eyes-and-mouth priority); no random
#:   warp and no flips (both make the first minutes' task harder: the held-out faces are unflipped).
#:   Without random warp DFL trains LIAE's encoder, inter_B and decoder only; inter_AB keeps its
#:   initial weights.
#: - "dfl-defaults": DeepFaceLab's own defaults for every training option (AdaBelief, lr 5e-5,
#:   batch 8, random warp on, src flips off, dst flips on, eyes-and-mouth priority off, no lr_cos, no
#:   target) at the cpu preset's size and data: the benchmark's baseline.
PRESETS: dict[str, dict[str, Any]] = {
    "seed": {},
    "cpu": dict(
        archi="liae-ud",
        resolution=64,
        ae_dims=64,
        e_dims=16,
        d_dims=12,
        d_mask_dims=4,
        batch_size=8,
        pretrain=False,
        random_warp=False,
        random_src_flip=False,
        random_dst_flip=False,
        eyes_mouth_prio=True,
        optimizer="adam",
        lr=1e-3,
        target_iter=2000,
        lr_cos=4000,
    ),
}
PRESETS["dfl-defaults"] = dict(
    PRESETS["cpu"],
    optimizer="adabelief",
    lr=5e-5,
    random_warp=True,
    random_src_flip=False,
    random_dst_flip=True,
    eyes_mouth_prio=False,
    target_iter=0,
    lr_cos=0,
)
