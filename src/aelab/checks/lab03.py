"""Lab 03 -- DF and LIAE: the checks of the student's parameter count, wirings and swap scoring.

The exercises (``solutions/03-df-vs-liae.ipynb``):

- ``check_count_parameters(count_parameters)``: ``count_parameters(module)`` is the number of weights
  and biases of a module, each parameter counted once, frozen ones included, buffers excluded, as
  DeepFaceLab's model summary counts them -- :func:`aelab.models.count_parameters`. The check runs it
  on every part of the seed model card's LIAE (42,773,412 in all) and of a DF with the same dims
  (32,686,504), and on three small modules that catch the usual mistakes (a layer used twice, a
  BatchNorm's buffers, a frozen layer).
- ``check_liae_wiring(liae_codes)``: ``liae_codes(encoder, inter_AB, inter_B, src, dst)`` returns the
  three decoder inputs (src code, dst code, swap code) of LIAE -- :func:`aelab.models.liae_codes` --
  on a small seeded LIAE, encoding each batch once (the encoder is the costly part: DeepFaceLab
  runs it once per batch).
- ``check_df_swap(df_swap)``: ``df_swap(model, dst)`` is DF's swap image, ``decoder_src`` drawing dst's
  code -- ``model.swap(dst).pred_src_dst`` -- on a small seeded DF.
- ``check_identity_leak(identity_leak)``: ``identity_leak(swap, truth, dst)`` maps each factor of
  ``swap`` to ``mean(swap - truth) / mean(dst - truth)`` -- :func:`aelab.metrics.identity_leak`.

Images are tensors (N, 3, H, W) of float32 in [0, 1]. Each judge rebuilds the fixed inputs (the
small models are rebuilt from their seeds), recomputes the reference with the library and, when the
answer is off, says which usual mistake it looks like.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from aelab import metrics, models

from . import check, floats, tensor

__all__ = ["check_count_parameters", "check_liae_wiring", "check_df_swap", "check_identity_leak"]

#: The seed model card's dims (LIAE.f.128.80.48.16); DF is built with the same.
SEED_DIMS: dict[str, Any] = {"resolution": 128, "ae_dims": 128, "e_dims": 80, "d_dims": 48, "d_mask_dims": 16}
#: The small models of the wiring checks: 16 px, so that every code is a few dozen numbers.
_SMALL_DIMS: dict[str, Any] = {"resolution": 16, "ae_dims": 4, "e_dims": 4, "d_dims": 4, "d_mask_dims": 2}
_SMALL_SEED = 3
#: How far a student's float32 result may be from the reference.
_TOLERANCE = 1e-5
_CODE_NAMES = ("src_code", "dst_code", "src_dst_code")


# ------------------------------------------------------------------------------------------------
# Fixed inputs and helpers shared by the exercises
# ------------------------------------------------------------------------------------------------


def _seed_model(archi: str, device: str) -> models.DF | models.LIAE:
    """The seed card's LIAE, or DF with its dims, with uninitialised weights (counting needs no values).

    Built on the "meta" device (shapes only, instant); on "cpu" its memory is then allocated, not filled.
    """
    with torch.device("meta"):
        model = models.build({"archi": archi, **SEED_DIMS})
    return model if device == "meta" else model.to_empty(device=device)


def _trap_modules() -> dict[str, nn.Module]:
    """Small modules on which the usual counting mistakes show: name -> module."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        shared = nn.Linear(6, 6)
        frozen = nn.Sequential(nn.Linear(5, 4), nn.Linear(4, 3))
        frozen[0].requires_grad_(False)
        return {
            "shared": nn.Sequential(shared, nn.ReLU(), shared),  # one layer used twice: 42 parameters
            "batchnorm": nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)),  # 112 + 8, and 9 buffer values
            "frozen": frozen,  # 24 frozen + 15 trainable
        }


def _small(archi: str) -> models.DF | models.LIAE:
    return models.build({"archi": archi, **_SMALL_DIMS}, seed=_SMALL_SEED)


def _small_images() -> tuple[torch.Tensor, torch.Tensor]:
    """src and dst batches (2, 3, 16, 16) in [0, 1]."""
    generator = torch.Generator().manual_seed(7)
    return tuple(torch.rand(2, 3, 16, 16, generator=generator) for _ in range(2))  # type: ignore[return-value]


def _readings() -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Reader outputs (name -> (6,)) of swaps, true swaps and dst faces for three identity factors.

    The true swaps read near src's value, dst near dst's, the swaps part-way, each with per-image
    noise, so that a per-image ratio, a forgotten subtraction or a reversed ratio all give other numbers.
    """
    generator = torch.Generator().manual_seed(11)
    src = {"face_width": 0.57, "skin_tone": 0.12, "jaw_taper": 0.10}
    dst = {"face_width": 0.49, "skin_tone": 0.72, "jaw_taper": 0.26}
    share = {"face_width": 0.2, "skin_tone": 0.6, "jaw_taper": -0.1}
    reads: tuple[dict[str, torch.Tensor], ...] = ({}, {}, {})
    for name in src:
        gap = dst[name] - src[name]
        noise = 0.25 * abs(gap) * torch.randn(3, 6, generator=generator, dtype=torch.float64)
        reads[1][name] = (src[name] + noise[0]).float()
        reads[2][name] = (dst[name] + noise[1]).float()
        reads[0][name] = (src[name] + share[name] * gap + noise[2]).float()
    return reads  # type: ignore[return-value]


# ------------------------------------------------------------------------------------------------
# Exercise 3.1: count_parameters
# ------------------------------------------------------------------------------------------------


def _count_mistakes(module: nn.Module) -> dict[str, int]:
    """What the usual mistakes count on ``module``: name -> count."""
    unique = list(module.parameters())
    return {
        "shared_twice": sum(p.numel() for _, p in module.named_parameters(remove_duplicate=False)),
        "state_dict": sum(t.numel() for t in module.state_dict().values()),
        "trainable": sum(p.numel() for p in unique if p.requires_grad),
        "weights": sum(p.numel() for name, p in module.named_parameters() if not name.endswith("bias")),
        "tensors": len(unique),
    }


_MISTAKES = {
    "shared_twice": "counts a layer that is used twice (shared weights) twice; count each Parameter once, "
    "as module.parameters() yields it",
    "state_dict": "counts the buffers too (a BatchNorm's running mean and variance are not parameters); "
    "count module.parameters() only",
    "trainable": "skips frozen parameters (requires_grad=False); DeepFaceLab's summary counts every weight",
    "weights": "counts the weights but not the biases",
    "tensors": "counts parameter tensors, not the numbers in them (use .numel())",
}


def _judge_count_parameters(evidence: Any) -> tuple[bool, str]:
    if not isinstance(evidence, dict):
        return False, f"the check expected a dict of counts from its probe, got {type(evidence).__name__}."
    for key in ("shared", "batchnorm", "frozen"):
        got = evidence.get(key)
        module = _trap_modules()[key]
        expected = models.count_parameters(module)
        if got != expected:
            for mistake, count in _count_mistakes(module).items():
                if got == count and count != expected:
                    return False, f"on a small {key} test module your count is {got}: it {_MISTAKES[mistake]}."
            return False, f"on a small {key} test module your count is {got}; expected {expected}."
    for archi, label in (("liae", "LIAE"), ("df", "DF")):
        model = _seed_model(archi, "meta")
        parts = evidence.get(archi)
        if not isinstance(parts, dict):
            return False, f"the check expected counts of the seed {label}'s parts, got {type(parts).__name__}."
        for name, part in model.parts().items():
            expected = models.count_parameters(part)
            if parts.get(name) != expected:
                return False, (
                    f"your count of the seed {label}'s {name} is {parts.get(name)}; expected "
                    f"{expected:,} (DeepFaceLab's summary)"
                )
        total = models.count_parameters(model)
        if evidence.get(f"{archi}_total") != total:
            return (
                False,
                f"your count of the whole seed {label} is {evidence.get(f'{archi}_total')}; expected {total:,}.",
            )
    return True, (
        "your count_parameters matches DeepFaceLab's summary: seed LIAE 42,773,412, DF with the "
        "same dims 32,686,504, part by part."
    )


@check(_judge_count_parameters)
def check_count_parameters(count_parameters: Callable[[nn.Module], Any]) -> Any:
    """Your ``count_parameters(module)`` on each part of the seed LIAE and DF, and on three small modules."""
    evidence: dict[str, Any] = {key: count_parameters(module) for key, module in _trap_modules().items()}
    for archi in ("liae", "df"):
        model = _seed_model(archi, "cpu")
        evidence[archi] = {name: count_parameters(part) for name, part in model.parts().items()}
        evidence[f"{archi}_total"] = count_parameters(model)
    return evidence


# ------------------------------------------------------------------------------------------------
# Exercise 3.2: LIAE wiring
# ------------------------------------------------------------------------------------------------


def _three_codes(out: Any) -> list[Any]:
    """The (src, dst, swap) codes of what a wiring function returned: an SAEHDCodes or a 3-sequence."""
    if all(hasattr(out, name) for name in _CODE_NAMES):
        return [getattr(out, name) for name in _CODE_NAMES]
    if isinstance(out, (tuple, list)) and len(out) == 3:
        return list(out)
    raise TypeError(
        f"liae_codes must return SAEHDCodes(src_code, dst_code, src_dst_code) or a tuple of three "
        f"codes, got {type(out).__name__}"
    )


def _liae_parts() -> dict[str, torch.Tensor]:
    """inter_AB and inter_B of the encoded src and dst of the small LIAE, by the name the feedback uses."""
    model = _small("liae")
    src, dst = _small_images()
    with torch.no_grad():
        e_src, e_dst = model.encoder(src), model.encoder(dst)
        return {
            "inter_AB(E(src))": model.inter_AB(e_src),
            "inter_B(E(src))": model.inter_B(e_src),
            "inter_AB(E(dst))": model.inter_AB(e_dst),
            "inter_B(E(dst))": model.inter_B(e_dst),
        }


_LIAE_EXPECTED = {
    "src_code": ("inter_AB(E(src))", "inter_AB(E(src))"),
    "dst_code": ("inter_B(E(dst))", "inter_AB(E(dst))"),
    "src_dst_code": ("inter_AB(E(dst))", "inter_AB(E(dst))"),
}
_CODE_LABELS = {"src_code": "src code", "dst_code": "dst code", "src_dst_code": "swap code (src_dst)"}


class _Counted:
    """A module that counts how often it is called (everything else is the module's)."""

    def __init__(self, module: nn.Module) -> None:
        self.module, self.calls = module, 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.module(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.module, name)


def _name_of(half: torch.Tensor, parts: Mapping[str, torch.Tensor]) -> str:
    for name, part in parts.items():
        if part.shape == half.shape and torch.allclose(half, part.double(), atol=_TOLERANCE, rtol=0):
            return name
    return "something else"


def _judge_liae_wiring(evidence: Any) -> tuple[bool, str]:
    if not isinstance(evidence, dict) or any(key not in evidence for key in _CODE_NAMES):
        return False, f"the check expected the three codes {', '.join(_CODE_NAMES)} from its probe."
    parts = {name: value.double() for name, value in _liae_parts().items()}
    single = tuple(next(iter(parts.values())).shape)
    expected_shape = (single[0], 2 * single[1], *single[2:])
    for key in _CODE_NAMES:
        label = _CODE_LABELS[key]
        got = tensor(evidence[key])
        if tuple(got.shape) != expected_shape:
            hint = ""
            if tuple(got.shape) == (2 * single[0], *single[1:]):
                hint = ": you concatenated on the batch axis; the two codes go side by side on the channels (dim=1)"
            elif tuple(got.shape) == single:
                hint = ": that is one inter's code; the decoder takes two, concatenated on the channels (dim=1)"
            return False, f"your {label} has shape {tuple(got.shape)}; expected {expected_shape}{hint}."
        first, second = got.chunk(2, dim=1)
        halves = (_name_of(first, parts), _name_of(second, parts))
        if halves != _LIAE_EXPECTED[key]:
            if halves == _LIAE_EXPECTED[key][::-1]:
                return False, f"your {label} has the right two codes in the wrong order (channel order matters)."
            return False, (
                f"your {label} is [{halves[0]}, {halves[1]}], which is not LIAE's wiring; read the wiring above again."
            )
    calls = evidence.get("encoder_calls")
    if isinstance(calls, int) and not isinstance(calls, bool) and calls > 2:
        return False, (
            f"your liae_codes gives LIAE's three codes but calls the encoder {calls} times for one src "
            "and one dst batch; encode each batch once and reuse its features (the encoder is the "
            "costliest part of the model)."
        )
    return True, "your LIAE wiring gives the same src, dst and swap codes as DeepFaceLab's on a small LIAE."


@check(_judge_liae_wiring)
def check_liae_wiring(liae_codes: Callable[..., Any]) -> Any:
    """Your ``liae_codes(encoder, inter_AB, inter_B, src, dst)`` on a small seeded LIAE (16 px)."""
    model = _small("liae")
    src, dst = _small_images()
    encoder = _Counted(model.encoder)
    with torch.no_grad():
        codes = _three_codes(liae_codes(encoder, model.inter_AB, model.inter_B, src, dst))
    return {**dict(zip(_CODE_NAMES, codes)), "encoder_calls": encoder.calls}


# ------------------------------------------------------------------------------------------------
# Exercise 3.3: DF's swap
# ------------------------------------------------------------------------------------------------


def _judge_df_swap(evidence: Any) -> tuple[bool, str]:
    if isinstance(evidence, dict) and evidence.get("kind") == "sequence":
        return False, (
            f"your df_swap returned a sequence of {evidence['length']} items; return the swapped "
            "image alone (a decoder returns (image, mask))"
        )
    got = tensor(evidence["image"])
    model = _small("df")
    _, dst = _small_images()
    with torch.no_grad():
        code = model.inter(model.encoder(dst))
        expected = model.decoder_src(code)[0].double()
        recon = model.decoder_dst(code)[0].double()
    if got.shape != expected.shape:
        return False, f"your swap has shape {tuple(got.shape)}; expected images of shape {tuple(expected.shape)}."
    if torch.allclose(got, expected, atol=_TOLERANCE, rtol=0):
        return True, "your df_swap draws dst's faces with decoder_src, as DeepFaceLab's DF does."
    if torch.allclose(got, recon, atol=_TOLERANCE, rtol=0):
        return False, "your swap is dst's reconstruction (decoder_dst); which decoder draws the src face?"
    error = float((got - expected).abs().max())
    return (
        False,
        f"your swap differs from DF's by up to {error:.3f} on a small DF; check which code goes to which decoder.",
    )


@check(_judge_df_swap)
def check_df_swap(df_swap: Callable[[models.DF, torch.Tensor], Any]) -> Any:
    """Your ``df_swap(model, dst)`` on a small seeded DF (16 px) and two dst images."""
    model = _small("df")
    _, dst = _small_images()
    with torch.no_grad():
        out = df_swap(model, dst)
    if isinstance(out, (tuple, list)):
        return {"kind": "sequence", "length": len(out)}
    return {"kind": "image", "image": out}


# ------------------------------------------------------------------------------------------------
# Exercise 3.4: identity leak
# ------------------------------------------------------------------------------------------------


def _judge_identity_leak(evidence: Any) -> tuple[bool, str]:
    swap, truth, dst = _readings()
    expected = metrics.identity_leak(swap, truth, dst)
    if not isinstance(evidence, dict) or sorted(evidence) != sorted(expected):
        keys = sorted(evidence) if isinstance(evidence, dict) else type(evidence).__name__
        return False, (
            "your identity_leak should map each factor of swap to a number: "
            f"expected keys {sorted(expected)}, got {keys}."
        )
    got = {name: floats(value) for name, value in evidence.items()}
    for name, value in got.items():
        if isinstance(value, list):
            return False, f"your leak for {name} is a list of {len(value)} values; expected one number per factor."
    wrong = [name for name in expected if abs(got[name] - expected[name]) > 1e-4]
    if not wrong:
        return True, "your identity_leak matches the reference on fixed readings (0 = src's identity, 1 = dst's)."
    name = wrong[0]
    per_image = float(((swap[name] - truth[name]) / (dst[name] - truth[name])).mean())
    mistakes = {
        "the mean of per-image ratios; take the ratio of the two means (a per-image ratio explodes where dst "
        "and truth read alike)": per_image,
        "reversed: it is 1 for src's identity and 0 for dst's": 1.0 - expected[name],
        "mean(swap) / mean(dst) without subtracting the true swap's readings": float(
            swap[name].mean() / dst[name].mean()
        ),
    }
    for what, value in mistakes.items():
        if abs(got[name] - value) <= 1e-4:
            return False, f"your leak for {name} is {got[name]:.3f}, which is {what}."
    return False, (
        f"your leak for {name} is {got[name]:.3f} on fixed readings where the swaps sit "
        f"{expected[name]:.2f} of the way from the true swaps to dst."
    )


@check(_judge_identity_leak)
def check_identity_leak(identity_leak: Callable[..., Any]) -> Any:
    """Your ``identity_leak(swap, truth, dst)`` on fixed readings of three identity factors."""
    out = identity_leak(*_readings())
    if not isinstance(out, Mapping):
        raise TypeError(f"identity_leak must return a dict (factor name -> leak), got {type(out).__name__}")
    return {str(name): value for name, value in out.items()}
