"""Lab 08 -- the benchmark of architectures: the checks of H128's parameter count, the Pareto front and
the student's own model.

The exercises (``solutions/08-architecture-benchmark.ipynb``):

- ``check_h128_parameters(h128_parameters)``: ``h128_parameters(resolution, ae_dims, e_dims)`` is the
  number of weights and biases of DeepFaceLab 1.0's H128 (:class:`aelab.models.H128`), from its
  description alone, on four sizes (DFL's own, its "lighter_ae", the lab's and an odd one).
- ``check_pareto_front(pareto_front)``: ``pareto_front(points)`` returns the names of the points (name ->
  (quality, detectability)) that no other dominates -- at least as good on both, better on one;
  quality higher and detectability lower is better -- in the order given
  (:func:`aelab.stats.pareto_front`), on a hand case, a case with ties, one whose names are not
  in alphabetical order and a random one.
- ``check_variant(make_variant, rows)``: the interface of the student's own model, not its quality:
  ``make_variant()`` returns an :class:`aelab.models.SwapModel` at 32 px that is none of the
  benchmark's five (:data:`aelab.course.lab08.MODELS`), whose forward pass returns
  :class:`aelab.models.SAEHDOutput` and ``swap`` :class:`aelab.models.SAEHDSwap` of the right shapes
  with values in [0, 1], which one step of the benchmark's trainer trains to a finite loss; and
  ``rows`` (name -> :class:`aelab.course.lab08.Row`) holds a row with the variant's parameter count. The
  write-up that places it in the table is graded by hand.

Each judge rebuilds the fixed inputs, recomputes the reference with the library and, when the answer
is off, says which usual mistake it looks like.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from aelab import models, stats
from aelab.course import lab08
from aelab.course.lab03 import LAB_CONFIG
from aelab.data import faces

from . import check, floats

__all__ = ["check_h128_parameters", "check_pareto_front", "check_variant"]

# ----------------------------------------------------------------------------------------------------
# Exercise 8.1: H128's parameters
# ----------------------------------------------------------------------------------------------------

#: (resolution, ae_dims, e_dims): DeepFaceLab 1.0's H128, its lighter_ae, the lab's, an odd one.
_SIZES = ((128, 512, 128), (128, 256, 128), (32, 64, 16), (48, 32, 8))


def _reference_count(resolution: int, ae: int, e: int) -> int:
    """The library's count, on the meta device (DFL's own size would take 400 MB of real weights)."""
    with torch.device("meta"):
        return models.count_parameters(models.H128(resolution=resolution, ae_dims=ae, e_dims=e))


def _count(
    resolution: int, ae: int, e: int, *, biases: bool = True, decoders: int = 2, mask: bool = True, shuffle: int = 4
) -> int:
    """The count with the usual mistakes switched on: no biases, one decoder, no mask branch, an upscale
    whose conv outputs ``shuffle`` times its channels (4: the pixel shuffle's)."""
    b = int(biases)

    def conv(k: int, a: int, c: int) -> int:
        return k * k * a * c + b * c

    side = resolution // 16
    encoder = (
        conv(5, 3, e)
        + conv(5, e, 2 * e)
        + conv(5, 2 * e, 4 * e)
        + conv(5, 4 * e, 8 * e)
        + 8 * e * side**2 * ae
        + b * ae
        + ae * ae * side**2
        + b * ae * side**2
        + conv(3, ae, shuffle * ae)
    )
    branch = conv(3, ae, shuffle * ae) + conv(3, ae, shuffle * (ae // 2)) + conv(3, ae // 2, shuffle * (ae // 4))
    decoder = branch + conv(5, ae // 4, 3) + (branch + conv(5, ae // 4, 1) if mask else 0)
    return encoder + decoders * decoder


_COUNT_MISTAKES = {
    "leaves out the biases (each conv and dense layer has one per output)": {"biases": False},
    "counts one decoder; H128 has decoder_src and decoder_dst": {"decoders": 1},
    "leaves out the mask branch (each decoder draws a mask from the same input)": {"mask": False},
    "gives each upscale's conv as many outputs as the upscale; it makes 4x, which the pixel shuffle folds": {
        "shuffle": 1
    },
}


def _judge_h128_parameters(evidence: Any) -> tuple[bool, str]:
    got = floats(evidence)
    if not isinstance(got, list) or len(got) != len(_SIZES) or any(isinstance(v, list) for v in got):
        return False, f"the check expected one count per size ({len(_SIZES)}) from its probe."
    for value, (res, ae, e) in zip(got, _SIZES):
        expected = _reference_count(res, ae, e)
        if value == expected:
            continue
        label = f"resolution {res}, ae_dims {ae}, e_dims {e}"
        for hint, mistake in _COUNT_MISTAKES.items():
            if value == _count(res, ae, e, **mistake):
                return False, f"at {label} your count {hint}."
        return False, f"at {label} your count is {value:,.0f}, off by {value - expected:+,.0f}."
    return True, "your count matches H128's parts at four sizes, DeepFaceLab 1.0's own included."


@check(_judge_h128_parameters)
def check_h128_parameters(h128_parameters: Callable[[int, int, int], int]) -> list[float]:
    """Your h128_parameters(resolution, ae_dims, e_dims) at four sizes."""
    return [float(h128_parameters(res, ae, e)) for res, ae, e in _SIZES]


# ----------------------------------------------------------------------------------------------------
# Exercise 8.2: the Pareto front
# ----------------------------------------------------------------------------------------------------


def _front_cases() -> list[dict[str, tuple[float, float]]]:
    """A hand case, one with a tie and a duplicate, one whose names are not in alphabetical order (so
    that sorting them shows), and 12 random points (quality, detectability)."""
    generator = torch.Generator().manual_seed(80)
    random = torch.rand(12, 2, generator=generator).mul(100).round().div(100).tolist()
    return [
        {"A": (0.7, 0.9), "B": (0.6, 0.6), "C": (0.5, 0.8), "D": (0.8, 1.0)},
        {"A": (0.7, 0.9), "B": (0.7, 0.8), "C": (0.6, 0.8), "D": (0.6, 0.5), "E": (0.6, 0.5)},
        {"LIAE": (0.9, 0.95), "DF": (0.5, 0.3), "H128": (0.7, 0.6), "AE": (0.4, 0.8), "LIAE-ud": (0.6, 0.7)},
        {f"m{k}": (q, d) for k, (q, d) in enumerate(random)},
    ]


_CASE_NAMES = ("the hand case", "the case with ties", "the case in no alphabetical order", "12 random points")


def _front_mistakes(points: dict[str, tuple[float, float]]) -> dict[str, list[str]]:
    """What the usual mistakes return."""
    front = stats.pareto_front(points)
    higher_both = stats.pareto_front({n: (q, -d) for n, (q, d) in points.items()})
    lower_both = stats.pareto_front({n: (-q, d) for n, (q, d) in points.items()})
    reversed_both = stats.pareto_front({n: (-q, -d) for n, (q, d) in points.items()})
    strict = [
        n for n, (q, d) in points.items() if not any(q2 >= q and d2 <= d for m, (q2, d2) in points.items() if m != n)
    ]
    return {
        "treats a higher detectability as better; a swap that is harder to detect scores lower": higher_both,
        "treats a lower quality as better; quality is higher-is-better": lower_both,
        "reverses the dominance: a point is dominated by one with a quality >= and a detectability <= "
        "its own": reversed_both,
        "returns the dominated points; return those that no other point dominates": [
            n for n in points if n not in front
        ],
        "drops points that tie with another; a point is dominated only by one better on at least one axis": strict,
    }


def _judge_pareto_front(evidence: Any) -> tuple[bool, str]:
    cases = _front_cases()
    if not isinstance(evidence, list) or len(evidence) != len(cases):
        return False, f"the check expected your front of {len(cases)} fixed cases from its probe."
    for got, points, label in zip(evidence, cases, _CASE_NAMES):
        if not isinstance(got, list) or not all(isinstance(name, str) for name in got):
            return False, f"on {label} your pareto_front returned {str(got)[:60]}; return a list of the names."
        expected = stats.pareto_front(points)
        if got == expected:
            continue
        if sorted(got) == sorted(expected):
            how = "sorted by name" if got == sorted(got) else "in another order"
            return False, f"on {label} your front has the right names, {how}; keep the order of the points."
        for hint, variant in _front_mistakes(points).items():
            if got == variant:
                return False, f"on {label} your pareto_front {hint}."
        return False, f"on {label} your front has {len(got)} names where the reference has {len(expected)}."
    return True, "your Pareto front matches the reference, ties and duplicates included."


@check(_judge_pareto_front)
def check_pareto_front(pareto_front: Callable[[dict], list]) -> list[Any]:
    """Your pareto_front(points) on three fixed sets of (quality, detectability) points."""
    return [list(pareto_front(dict(points))) for points in _front_cases()]


# ----------------------------------------------------------------------------------------------------
# Exercise 8.3: your own model
# ----------------------------------------------------------------------------------------------------

_RESOLUTION = 32
#: What the forward pass and the swap must return: type name and shapes, for 2 src and 3 dst faces.
_FORWARD = (
    "SAEHDOutput",
    [[2, 3, 32, 32], [2, 1, 32, 32], [3, 3, 32, 32], [3, 1, 32, 32], [3, 3, 32, 32], [3, 1, 32, 32]],
)
_SWAP = ("SAEHDSwap", [[3, 3, 32, 32], [3, 1, 32, 32], [3, 1, 32, 32]])


def _faces() -> tuple[torch.Tensor, torch.Tensor]:
    return (
        faces.render(2, resolution=_RESOLUTION, domain="A", seed=81).images,
        faces.render(3, resolution=_RESOLUTION, domain="B", seed=82).images,
    )


def _outputs(result: Any) -> dict[str, Any]:
    """A forward pass's result as plain data: its type's name, the shapes and range of its tensors."""
    tensors = list(result) if isinstance(result, tuple) else []
    return {
        "type": type(result).__name__,
        "shapes": [list(t.shape) for t in tensors],
        "low": min((float(t.min()) for t in tensors), default=0.0),
        "high": max((float(t.max()) for t in tensors), default=0.0),
    }


def _judge_variant(evidence: Any) -> tuple[bool, str]:
    if not isinstance(evidence, dict) or not evidence.get("swap_model"):
        kind = evidence.get("kind", "?") if isinstance(evidence, dict) else "?"
        return False, (
            f"make_variant() returned a {kind}; return an aelab.models.SwapModel (e.g. models.H128(...) or a subclass)."
        )
    if evidence.get("resolution") != _RESOLUTION:
        return (
            False,
            f"your variant works at {evidence.get('resolution')} px; build it at 32 px, the benchmark's faces.",
        )
    for key, (kind, shapes), what in (("forward", _FORWARD, "model(src, dst)"), ("swap", _SWAP, "model.swap(dst)")):
        got = evidence[key]
        if got["type"] != kind or got["shapes"] != shapes:
            return False, (
                f"{what} on 2 src and 3 dst faces at 32 px returned a {got['type']} of shapes {got['shapes']}; "
                f"expected a {kind} of shapes {shapes}."
            )
        if not (0.0 <= floats(got["low"]) and floats(got["high"]) <= 1.0):
            return False, f"{what} returned values outside [0, 1]; end each image and mask in a sigmoid."
    same = [name for name, spec in lab08.MODELS.items() if repr(models.from_spec(spec)) == evidence["repr"]]
    if same:
        return False, (
            f"your variant is the benchmark's {same[0]} itself; "
            "change one thing (its dims, its upsampling, its wiring ...)."
        )
    if not all(math.isfinite(v) for v in floats(evidence["losses"])):
        return False, "one step of the benchmark's trainer gave your model a loss that is not finite."
    rows = evidence["rows"]
    if not isinstance(rows, dict) or any(not isinstance(v, int) for v in rows.values()):
        return False, "rows must map each model's name to its lab08.Row (from lab08.score)."
    if evidence["parameters"] not in [count for name, count in rows.items() if name not in lab08.MODELS]:
        return False, (
            f"rows has no row for your variant ({evidence['parameters']:,} parameters); score it with "
            "lab08.score and add it under a name of its own."
        )
    return (
        True,
        f"your variant ({evidence['parameters']:,} parameters) swaps faces like the five, trains, and has its row.",
    )


@check(_judge_variant)
def check_variant(make_variant: Callable[[], Any], rows: dict) -> dict[str, Any]:
    """Your make_variant()'s interface on 2 src and 3 dst faces, one training step, and its row in rows."""
    model = make_variant()
    evidence: dict[str, Any] = {
        "kind": type(model).__name__,
        "swap_model": isinstance(model, models.SwapModel),
        "resolution": getattr(model, "resolution", None),
    }
    if not evidence["swap_model"] or evidence["resolution"] != _RESOLUTION:
        return evidence
    src, dst = _faces()
    model.eval()
    with torch.no_grad():
        evidence.update(forward=_outputs(model(src, dst)), swap=_outputs(model.swap(dst)))
    terms = lab08.trainer(model, LAB_CONFIG, pool_size=LAB_CONFIG["batch_size"]).step()
    evidence.update(
        repr=repr(model),
        parameters=models.count_parameters(model),
        losses=[terms["src_total"], terms["dst_total"]],
        rows={str(name): row.parameters if isinstance(row, lab08.Row) else None for name, row in rows.items()},
    )
    return evidence
