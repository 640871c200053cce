"""DeepFaceLab's SAEHD archis, DF and LIAE: how ``models/Model_SAEHD/Model.py`` wires the parts of
:mod:`aelab.models.deepfakearchi`, the option and resolution rules, how a configuration becomes a
model, and the per-part parameter table of its ``summary.txt``.

Conventions: images are tensors of shape (N, C, H, W), float32 in [0, 1]; masks are (N, 1, H, W) in
[0, 1]. Every decoder ends in a sigmoid, so what a model returns is in [0, 1] too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from aelab.models.deepfakearchi import ARCHI_OPTIONS, Decoder, Encoder, Inter, parse_options
from aelab.models.leras import count_parameters
from aelab.validate import check_images, check_positive_int, check_seed

__all__ = [
    "ARCHI_TYPES",
    "CONFIG_KEYS",
    "SAEHDCodes",
    "SAEHDOutput",
    "SAEHDSwap",
    "SwapModel",
    "EncoderTwoDecoders",
    "SAEHD",
    "DF",
    "LIAE",
    "df_codes",
    "liae_codes",
    "parse_archi",
    "check_resolution",
    "build",
    "summary",
]

#: The two SAEHD archi types, as DeepFaceLab spells them.
ARCHI_TYPES: tuple[str, ...] = ("df", "liae")


class SAEHDCodes(NamedTuple):
    """The decoder inputs of one step, named as in Model_SAEHD (``gpu_src_code`` ...).

    ``src_code`` is None when only dst was given (inference: swapping dst faces).
    """

    src_code: Tensor | None
    dst_code: Tensor
    src_dst_code: Tensor


class SAEHDOutput(NamedTuple):
    """What one SAEHD step predicts, named as in Model_SAEHD. Images (N, 3, R, R), masks (N, 1, R, R), in [0, 1].

    ``pred_src_src`` / ``pred_dst_dst`` are the reconstructions, ``pred_src_dst`` the swap (dst's face
    drawn as src); the ``...m`` fields are the learned masks.
    """

    pred_src_src: Tensor
    pred_src_srcm: Tensor
    pred_dst_dst: Tensor
    pred_dst_dstm: Tensor
    pred_src_dst: Tensor
    pred_src_dstm: Tensor


class SAEHDSwap(NamedTuple):
    """A swap of dst faces: the image, its own mask, and dst's mask (the merge mask, DFL's "learned-dst")."""

    pred_src_dst: Tensor
    pred_src_dstm: Tensor
    pred_dst_dstm: Tensor


def _twice(code: Tensor) -> Tensor:
    return torch.cat([code, code], dim=1)


def df_codes(encoder: nn.Module, inter: nn.Module, src: Tensor | None, dst: Tensor) -> SAEHDCodes:
    """DF wiring (Model_SAEHD, ``'df' in archi_type``): one encoder and one inter for both sides.

    src code = inter(E(src)); dst code = inter(E(dst)); the swap decodes dst's code with decoder_src,
    so src_dst code = dst code.
    """
    src_code, dst_code = _shared(lambda x: inter(encoder(x)), src, dst)
    return SAEHDCodes(src_code=src_code, dst_code=dst_code, src_dst_code=dst_code)


def _shared(layers: Callable[[Tensor], Tensor], src: Tensor | None, dst: Tensor) -> tuple[Tensor | None, Tensor]:
    """``layers`` applied to src and dst, in one batch (src None: dst only).

    DeepFaceLab calls the shared encoder and inters once per side; no layer mixes samples (there is no
    batch norm), so one call on both batches gives the same results with larger, faster GEMMs.
    """
    if src is None:
        return None, layers(dst)
    src_out, dst_out = layers(torch.cat([src, dst])).split([len(src), len(dst)])
    return src_out, dst_out


def liae_codes(
    encoder: nn.Module, inter_AB: nn.Module, inter_B: nn.Module, src: Tensor | None, dst: Tensor
) -> SAEHDCodes:
    """LIAE wiring (Model_SAEHD, ``'liae' in archi_type``), concatenating on channels.

    src code = [AB(E(src)), AB(E(src))]; dst code = [B(E(dst)), AB(E(dst))];
    src_dst code = [AB(E(dst)), AB(E(dst))]: dst's face as if it had only the shared (AB) part, which
    is how a src face is always coded -- the one decoder then draws it as src.
    """
    src_e, dst_e = _shared(encoder, src, dst)
    src_ab, dst_ab = _shared(inter_AB, src_e, dst_e)
    src_code = None if src_ab is None else _twice(src_ab)
    return SAEHDCodes(
        src_code=src_code, dst_code=torch.cat([inter_B(dst_e), dst_ab], dim=1), src_dst_code=_twice(dst_ab)
    )


def check_resolution(resolution: object, opts: str = "") -> int:
    """Check that an SAEHD model with these options can take ``resolution``; return it as an int.

    The encoder halves the image four times (five with ``-t``) and the inter reshapes to res // 16
    (res // 32 with ``-d``), so the resolution must be a multiple of 16, or of 32 with ``-d`` or
    ``-t``. (DeepFaceLab also clips it to 64..640 in its UI; the kit allows small models.)
    """
    resolution = check_positive_int("resolution", resolution)
    opts = parse_options(opts)
    multiple = 32 if ("d" in opts or "t" in opts) else 16
    if resolution % multiple:
        why = "with options " + "/".join(f"-{o}" for o in opts if o in "dt") if multiple == 32 else "by default"
        lower = max(multiple, resolution // multiple * multiple)
        raise ValueError(
            f"resolution {resolution} does not suit this archi: {why} it must be a multiple of {multiple}; "
            f"use e.g. {lower} or {lower + multiple}"
        )
    return resolution


class SwapModel(nn.Module):
    """What every face-swap model of the kit offers the trainer, the metrics and the merge: DeepFaceLab's
    two-sided step on src and dst faces (``Model_SAEHD``'s ``codes`` -> decoders), its reconstructions
    and swap (:class:`SAEHDOutput`, :class:`SAEHDSwap`) and its parts by name.

    Subclasses (:class:`SAEHD`'s DF and LIAE, :class:`aelab.models.H128`,
    :class:`aelab.models.SwapAutoencoder`) set ``resolution``, build their parts (attribute names as in
    DeepFaceLab), say how they wire them (:meth:`_wire`) and which decoder draws each side
    (:meth:`decoders`); each decoder maps a code to ``(image, mask)``.
    """

    archi_type: str = ""
    resolution: int

    def _wire(self, src: Tensor | None, dst: Tensor) -> SAEHDCodes:
        raise NotImplementedError

    def decoders(self) -> tuple[nn.Module, nn.Module]:
        """(the decoder that draws src faces, the one that draws dst faces)."""
        raise NotImplementedError

    def decode_sides(self, codes: SAEHDCodes) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
        """((image, mask) of src from ``src_code``, (image, mask) of dst from ``dst_code``): the two
        reconstructions a training step needs. When one decoder draws both (LIAE) it runs once, on
        both batches: same results as two calls (no layer mixes samples), larger and faster GEMMs."""
        if codes.src_code is None:
            raise ValueError("decode_sides needs src codes: make them with codes(src, dst), src not None")
        decoder_src, decoder_dst = self.decoders()
        if decoder_src is not decoder_dst:
            return decoder_src(codes.src_code), decoder_dst(codes.dst_code)
        sizes = [len(codes.src_code), len(codes.dst_code)]
        images, masks = decoder_src(torch.cat([codes.src_code, codes.dst_code]))
        (src_image, dst_image), (src_mask, dst_mask) = images.split(sizes), masks.split(sizes)
        return (src_image, src_mask), (dst_image, dst_mask)

    def codes(self, src: Tensor | None, dst: Tensor) -> SAEHDCodes:
        """The decoder inputs for src and dst images (N, 3, R, R) in [0, 1]; ``src`` may be None."""
        if src is not None:
            check_images("src", src, channels=3, resolution=self.resolution)
        check_images("dst", dst, channels=3, resolution=self.resolution)
        return self._wire(src, dst)

    def forward(self, src: Tensor, dst: Tensor) -> SAEHDOutput:
        """One step on src and dst images (N, 3, R, R) in [0, 1] (the two N may differ)."""
        codes = self.codes(src, dst)
        (pred_src_src, pred_src_srcm), (pred_dst_dst, pred_dst_dstm) = self.decode_sides(codes)
        pred_src_dst, pred_src_dstm = self.decoders()[0](codes.src_dst_code)
        return SAEHDOutput(pred_src_src, pred_src_srcm, pred_dst_dst, pred_dst_dstm, pred_src_dst, pred_src_dstm)

    def swap(self, dst: Tensor) -> SAEHDSwap:
        """Draw dst faces (N, 3, R, R) in [0, 1] as src, with the masks DeepFaceLab's merger uses."""
        codes = self.codes(None, dst)
        decoder_src, decoder_dst = self.decoders()
        pred_src_dst, pred_src_dstm = decoder_src(codes.src_dst_code)
        return SAEHDSwap(pred_src_dst, pred_src_dstm, decoder_dst(codes.dst_code)[1])

    def parts(self) -> dict[str, nn.Module]:
        """The parts DeepFaceLab saves as separate files, by name, in its order."""
        return dict(self.named_children())


class EncoderTwoDecoders(SwapModel):
    """DF's wiring without an inter: ``encoder`` (the bottleneck is its own), ``decoder_src`` and
    ``decoder_dst``; swap = decoder_src(encoder(dst)). DeepFaceLab 1.0's H128 and the kit's
    :class:`aelab.models.SwapAutoencoder` are wired so. Subclasses build the three parts."""

    encoder: nn.Module
    decoder_src: nn.Module
    decoder_dst: nn.Module

    def _wire(self, src: Tensor | None, dst: Tensor) -> SAEHDCodes:
        return df_codes(self.encoder, nn.Identity(), src, dst)

    def decoders(self) -> tuple[nn.Module, nn.Module]:
        return self.decoder_src, self.decoder_dst


class SAEHD(SwapModel):
    """What DF and LIAE share: the dims, the options and the encoder.

    Subclasses build their parts after the encoder (:meth:`_build_parts`, attribute names as in
    DeepFaceLab), and say how they wire them (:meth:`_wire`) and which decoder draws each side
    (:meth:`decoders`). Keyword arguments default to the seed model card (LIAE.f.128.80.48.16).
    """

    def __init__(
        self,
        *,
        resolution: int = 128,
        ae_dims: int = 128,
        e_dims: int = 80,
        d_dims: int = 48,
        d_mask_dims: int = 16,
        options: str = "",
    ) -> None:
        super().__init__()
        self.options = parse_options(options)
        self.resolution = check_resolution(resolution, self.options)
        self.ae_dims = check_positive_int("ae_dims", ae_dims)
        self.e_dims = check_positive_int("e_dims", e_dims)
        self.d_dims = check_positive_int("d_dims", d_dims)
        self.d_mask_dims = check_positive_int("d_mask_dims", d_mask_dims)
        self.encoder = Encoder(3, self.e_dims, self.options)
        self._build_parts()

    @property
    def archi(self) -> str:
        """DeepFaceLab's archi string, e.g. "liae-ud"."""
        return self.archi_type + (f"-{self.options}" if self.options else "")

    @property
    def encoder_out_features(self) -> int:
        return self.encoder.out_ch * self.encoder.get_out_res(self.resolution) ** 2

    def _decoder(self, in_ch: int) -> Decoder:
        return Decoder(in_ch, self.d_dims, self.d_mask_dims, self.options)

    def _inter(self, ae_out_ch: int) -> Inter:
        return Inter(self.encoder_out_features, self.ae_dims, ae_out_ch, self.resolution, self.options)

    def _build_parts(self) -> None:
        raise NotImplementedError

    def encode(self, x: Tensor) -> Tensor:
        """The encoder's flat code of images (N, 3, R, R) in [0, 1]."""
        check_images("x", x, channels=3, resolution=self.resolution)
        return self.encoder(x)

    def extra_repr(self) -> str:
        return (
            f"archi={self.archi!r}, resolution={self.resolution}, ae_dims={self.ae_dims}, "
            f"e_dims={self.e_dims}, d_dims={self.d_dims}, d_mask_dims={self.d_mask_dims}"
        )


class DF(SAEHD):
    """SAEHD "df": one ``encoder``, one ``inter`` (ae_out = ae_dims), ``decoder_src`` and ``decoder_dst``.

    swap = decoder_src(inter(encoder(dst))). Parts and wiring as in ``models/Model_SAEHD/Model.py``.
    """

    archi_type = "df"

    def _build_parts(self) -> None:
        self.inter = self._inter(self.ae_dims)
        self.decoder_src = self._decoder(self.inter.out_ch)
        self.decoder_dst = self._decoder(self.inter.out_ch)

    def _wire(self, src: Tensor | None, dst: Tensor) -> SAEHDCodes:
        return df_codes(self.encoder, self.inter, src, dst)

    def decoders(self) -> tuple[Decoder, Decoder]:
        return self.decoder_src, self.decoder_dst


class LIAE(SAEHD):
    """SAEHD "liae": one ``encoder``, ``inter_AB`` and ``inter_B`` (ae_out = 2·ae_dims), one ``decoder``.

    The decoder sees [inter_B, inter_AB] codes for dst and [inter_AB, inter_AB] for src (see
    :func:`liae_codes`); the swap is decoder([AB(E(dst)), AB(E(dst))]). As in ``Model_SAEHD/Model.py``.
    """

    archi_type = "liae"

    def _build_parts(self) -> None:
        self.inter_AB = self._inter(2 * self.ae_dims)
        self.inter_B = self._inter(2 * self.ae_dims)
        self.decoder = self._decoder(2 * self.inter_AB.out_ch)

    def _wire(self, src: Tensor | None, dst: Tensor) -> SAEHDCodes:
        return liae_codes(self.encoder, self.inter_AB, self.inter_B, src, dst)

    def decoders(self) -> tuple[Decoder, Decoder]:
        return self.decoder, self.decoder


_ARCHIS: dict[str, type[SAEHD]] = {"df": DF, "liae": LIAE}


# ----------------------------------------------------------------------------------------------------
# From a configuration to a model
# ----------------------------------------------------------------------------------------------------


def parse_archi(archi: str) -> tuple[str, str]:
    """Split a DeepFaceLab archi string: ``parse_archi("liae-ud") -> ("liae", "ud")``.

    The type is "df" or "liae"; the options after '-' are letters among u, d, t (see
    :data:`ARCHI_OPTIONS`), each at most once, returned in the canonical order u, d, t.
    """
    if not isinstance(archi, str):
        raise TypeError(f"archi must be a str such as 'liae-ud', got {archi!r} ({type(archi).__name__})")
    archi_type, dash, opts = archi.strip().lower().partition("-")
    if archi_type not in ARCHI_TYPES:
        raise ValueError(
            f"unknown archi type {archi_type!r} in archi {archi!r}; known types: "
            f"{', '.join(map(repr, ARCHI_TYPES))} (with options, e.g. 'liae-ud')"
        )
    if dash and not opts:
        raise ValueError(
            f"archi {archi!r} has a '-' but no options; drop the '-' or add letters from {', '.join(ARCHI_OPTIONS)}"
        )
    return archi_type, parse_options(opts)


#: What a configuration must give to build a model (:func:`build`).
CONFIG_KEYS = ("archi", "resolution", "ae_dims", "e_dims", "d_dims", "d_mask_dims")


def build(config: Any, *, seed: int | None = None) -> DF | LIAE:
    """Build the SAEHD model a configuration describes.

    ``config`` is an ``aelab.train.Config`` or any object with the attributes, or a mapping with the
    keys, ``archi`` (e.g. "liae-ud"), ``resolution``, ``ae_dims``, ``e_dims``, ``d_dims``,
    ``d_mask_dims``. With ``seed`` the initial weights are drawn from a generator seeded with it
    (torch's global generator is left as it was); without, from the global generator.
    """
    values = {}
    for key in CONFIG_KEYS:
        found = config.get(key) if isinstance(config, Mapping) else getattr(config, key, None)
        if found is None:
            raise ValueError(f"config has no {key!r}; an SAEHD config needs {', '.join(CONFIG_KEYS)}")
        values[key] = found
    archi_type, opts = parse_archi(values.pop("archi"))
    if seed is None:
        return _ARCHIS[archi_type](options=opts, **values)
    seed = check_seed("seed", seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _ARCHIS[archi_type](options=opts, **values)


# ----------------------------------------------------------------------------------------------------
# The model summary (DeepFaceLab's summary.txt)
# ----------------------------------------------------------------------------------------------------


def _shape_text(out: Tensor | Sequence[Tensor]) -> str:
    if isinstance(out, Tensor):
        return "(N, " + ", ".join(str(s) for s in out.shape[1:]) + ")"
    return " + ".join(_shape_text(o) for o in out)


def summary(model: SAEHD) -> str:
    """A text table like DeepFaceLab's summary.txt: the model's options, then each part's parameter
    count and output shape, then the total.

    The shapes come from a forward pass on PyTorch's "meta" device, which computes shapes only: it
    is instant even for large models and leaves the model untouched.
    """
    if not isinstance(model, SAEHD):
        raise TypeError(f"summary expects a DF or LIAE model (see aelab.models.build), got {type(model).__name__}")
    shapes: dict[str, str] = {}
    hooks = [
        part.register_forward_hook(lambda _m, _i, out, name=name: shapes.__setitem__(name, _shape_text(out)))
        for name, part in model.parts().items()
    ]
    try:
        meta = {name: torch.empty_like(p, device="meta") for name, p in model.named_parameters()}
        image = torch.empty(1, 3, model.resolution, model.resolution, device="meta")
        torch.func.functional_call(model, meta, (image, image))
    finally:
        for hook in hooks:
            hook.remove()
    options = {
        "archi": model.archi,
        "resolution": model.resolution,
        "ae_dims": model.ae_dims,
        "e_dims": model.e_dims,
        "d_dims": model.d_dims,
        "d_mask_dims": model.d_mask_dims,
    }
    counts = {name: count_parameters(part) for name, part in model.parts().items()}
    rule = "=" * 64
    lines = [rule, "Model summary".center(64), rule]
    lines += [f"{key:>20}: {value}" for key, value in options.items()]
    lines += ["-" * 64, f"{'part':<12}{'parameters':>14}   output shape (image + mask for decoders)", "-" * 64]
    lines += [f"{name:<12}{count:>14,}   {shapes[name]}" for name, count in counts.items()]
    lines += ["-" * 64, f"{'total':<12}{sum(counts.values()):>14,}", rule]
    return "\n".join(lines)
