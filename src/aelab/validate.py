"""One validation engine for the whole library (in the spirit of scikit-learn's ``check_*`` helpers).

Every public function of :mod:`aelab` checks its arguments at the boundary through these helpers, so
that one rule holds everywhere:

- **TypeError** when the *kind* is wrong (a float where an int is expected, a list where a tensor is
  expected, a bool where a number is expected -- ``True`` is an int to Python but never to the kit);
- **ValueError** when the kind is right and the *value* is not (out of range, unknown choice, wrong
  shape or dtype of a tensor).

Each message names the parameter, shows what was given, says what was expected and, where there is
one, the fix. Each helper returns the value normalised (``int``, ``float``, ``str``), so a caller
writes ``n = check_int("n", n, minimum=1)``.

This module imports nothing from the rest of the kit: it sits at the bottom of the import graph (the
kit's own types are checked where they are defined, e.g. :func:`aelab.data.faces.check_face_batch`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import TypeVar

import torch
from torch import Generator, Tensor

T = TypeVar("T")

__all__ = [
    "check_int",
    "check_positive_int",
    "check_float",
    "check_range",
    "check_bool",
    "check_choice",
    "check_seed",
    "check_instance",
    "check_strings",
    "check_tensor",
    "check_columns",
    "check_binary_labels",
    "check_images",
    "check_mask",
    "check_same_shape",
    "check_image_pair",
    "check_generator",
]


def _given(value: object) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def check_int(
    name: str,
    value: object,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    multiple_of: int | None = None,
    expected: str | None = None,
) -> int:
    """``value`` as an ``int`` in [minimum, maximum] (either bound optional), a multiple of
    ``multiple_of`` if given.

    NumPy integers are accepted; bools and floats (even ``3.0``) are a TypeError. Both errors say
    what was expected: "an int >= 1" from the bounds, or ``expected`` (e.g. "a positive int"); a value
    that is no multiple gets "a multiple of 16 (16, 32, 48, ...)".
    """
    want = expected or " ".join(filter(None, ("an int", _range_text(minimum, maximum))))
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be {want}, got {_given(value)}")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be {want}, got {value}")
    if multiple_of is not None and value % multiple_of:
        examples = ", ".join(str(multiple_of * k) for k in (1, 2, 3))
        raise ValueError(f"{name} must be a multiple of {multiple_of} ({examples}, ...), got {value}")
    return value


def check_positive_int(name: str, value: object) -> int:
    """``value`` as an ``int`` >= 1 (a size, a count, a model dimension); errors say "a positive int"."""
    return check_int(name, value, minimum=1, expected="a positive int")


def check_float(
    name: str,
    value: object,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    min_inclusive: bool = True,
    max_inclusive: bool = True,
) -> float:
    """``value`` as a finite ``float`` within the bounds (ints are accepted; bools are a TypeError)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {_given(value)}")
    value = float(value)
    below = minimum is not None and (value < minimum if min_inclusive else value <= minimum)
    above = maximum is not None and (value > maximum if max_inclusive else value >= maximum)
    if not math.isfinite(value) or below or above:
        interval = _interval_text(minimum, maximum, min_inclusive, max_inclusive)
        if minimum is not None and maximum is not None:
            raise ValueError(f"{name} must be a finite number {interval}, got {value!r}")
        if minimum is not None or maximum is not None:
            if minimum is not None:
                bound = f"{'>=' if min_inclusive else '>'} {minimum}"
            else:
                bound = f"{'<=' if max_inclusive else '<'} {maximum}"
            raise ValueError(f"{name} must be a number {bound} (finite: {interval}), got {value!r}")
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return value


def check_range(name: str, value: object) -> tuple[float, float]:
    """``value`` as a pair ``(low, high)`` of finite numbers with low <= high (e.g. a random range)."""
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        raise TypeError(f"{name} must be a pair (low, high) of numbers, got {value!r}")
    low, high = check_float(f"{name}[0]", value[0]), check_float(f"{name}[1]", value[1])
    if low > high:
        raise ValueError(f"{name} must be a pair (low, high) with low <= high, got {value!r}; swap them")
    return low, high


def check_bool(name: str, value: object) -> bool:
    """``value`` if it is a real ``bool`` (``0``/``1`` and strings are a TypeError)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {_given(value)}")
    return value


def check_choice(name: str, value: object, allowed: Sequence[T], *, expected: str = "expected one of") -> T:
    """``value`` if it is one of ``allowed``; the message lists them all after ``expected`` (e.g.
    "known domains:")."""
    choices = ", ".join(map(repr, allowed))
    if allowed and not isinstance(value, type(allowed[0])):
        raise TypeError(f"{name} must be one of {choices}, got {_given(value)}")
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; {expected} {choices}")
    return value  # type: ignore[return-value]


def check_seed(name: str, value: object) -> int:
    """A seed: an int in [0, 2**63 - 1] (torch's generators take 64-bit seeds)."""
    value = check_int(name, value, minimum=0)
    if value >= 2**63:
        raise ValueError(f"{name} must be below 2**63 (a 64-bit seed), got {value}")
    return value


def check_instance(name: str, value: object, kind: type[T], *, made_by: str | None = None) -> T:
    """``value`` if it is a ``kind``; the TypeError says where one comes from (``made_by``, e.g.
    "aelab.data.faces.render")."""
    if not isinstance(value, kind):
        source = f" (from {made_by})" if made_by else ""
        raise TypeError(f"{name} must be a {kind.__name__}{source}, got {type(value).__name__}")
    return value


def check_strings(name: str, value: object, *, count: int, per: str) -> list[str]:
    """``value`` as a list of ``count`` strings, one per ``per`` (e.g. titles, one per "image")."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise TypeError(f"{name} must be a sequence of strings (one per {per}), got {type(value).__name__}")
    if len(value) != count:
        raise ValueError(f"{name} must hold one string per {per}: expected {count}, got {len(value)}")
    return [str(item) for item in value]


def check_tensor(name: str, value: object, *, ndim: int | None = None, floating: bool = False) -> Tensor:
    """``value`` if it is a ``torch.Tensor`` (of ``ndim`` dimensions, of a float dtype if asked)."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}; use torch.as_tensor(x)")
    if ndim is not None and value.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(value.shape)}")
    if floating and not value.is_floating_point():
        raise ValueError(f"{name} must hold floats, got dtype {value.dtype}; convert with x.float()")
    return value


def check_columns(name: str, value: Mapping[str, object], required: Sequence[str], *, fix: str) -> int:
    """The common length N of the columns ``required`` of ``value`` (name -> 1-D tensor of N values,
    e.g. factors); a missing name is a ValueError that ends with ``fix``."""
    missing = [column for column in required if column not in value]
    if missing:
        raise ValueError(f"{name} lack {missing}; {fix}")
    lengths = {tuple(torch.as_tensor(value[column]).shape) for column in required}
    if len(lengths) != 1 or len(next(iter(lengths))) != 1:
        raise ValueError(f"{name} must all be 1-D tensors of one length N, got shapes {sorted(lengths)}")
    return next(iter(lengths))[0]


def check_binary_labels(name: str, value: object, *, count: int, meaning: str = "0 (real) or 1 (generated)") -> Tensor:
    """``value`` (a tensor, array or list) as a float tensor (count,) of 0s and 1s, one label per image."""
    labels = (value if isinstance(value, Tensor) else torch.as_tensor(value)).float().flatten()
    if len(labels) != count:
        raise ValueError(f"{name} must hold one label per image ({count}), got {len(labels)}")
    if not ((labels == 0) | (labels == 1)).all():
        raise ValueError(f"{name} must be {meaning}")
    return labels


def check_images(
    name: str,
    value: object,
    *,
    channels: int | Sequence[int] | None = None,
    resolution: int | None = None,
    square: bool = False,
    in_unit_range: bool = False,
) -> Tensor:
    """``value`` if it is a batch of images: a float tensor of shape (N, C, H, W), values in [0, 1].

    ``channels`` pins C (an int or the allowed ints), ``resolution`` pins H = W, ``square`` asks for
    H = W, and ``in_unit_range`` also checks the values (a full pass over the data: ask for it only
    where a value outside [0, 1] would give a silently wrong answer).
    """
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of images (N, C, H, W) in [0, 1], got {type(value).__name__}")
    if value.ndim != 4:
        hint = "; add a batch axis with x[None]" if value.ndim == 3 else ""
        raise ValueError(f"{name} must have shape (N, C, H, W), got {tuple(value.shape)}{hint}")
    if not value.is_floating_point():
        raise ValueError(f"{name} must hold floats in [0, 1], got dtype {value.dtype}; use x.float() / 255")
    if isinstance(channels, int) and resolution is not None:  # the whole image shape is pinned
        if tuple(value.shape[1:]) != (channels, resolution, resolution):
            raise ValueError(
                f"{name} must have shape (N, {channels}, {resolution}, {resolution}) ({resolution}x{resolution} "
                f"images in [0, 1]), got {tuple(value.shape)}; resize the images or build for this resolution"
            )
    if channels is not None:
        allowed = (channels,) if isinstance(channels, int) else tuple(channels)
        if value.shape[1] not in allowed:
            want = " or ".join(map(str, allowed))
            count = "one channel" if allowed == (1,) else f"C = {want} channels"
            raise ValueError(f"{name} must be (N, {want}, H, W) with {count}, got {tuple(value.shape)}")
    if resolution is not None and tuple(value.shape[2:]) != (resolution, resolution):
        raise ValueError(
            f"{name} must be {resolution}x{resolution} images, got {tuple(value.shape)}; "
            "resize the images or build for this resolution"
        )
    if square and value.shape[-1] != value.shape[-2]:
        raise ValueError(
            f"{name} must be square images (N, C, R, R), got shape {tuple(value.shape)}; crop or resize them"
        )
    if in_unit_range and value.numel() and (value.min() < 0 or value.max() > 1):
        raise ValueError(
            f"{name} must hold values in [0, 1], got [{value.min().item():.3g}, {value.max().item():.3g}]; "
            "clamp with x.clamp(0, 1) or rescale"
        )
    return value


def check_mask(name: str, value: object, *, like: Tensor | None = None) -> Tensor:
    """``value`` if it is a batch of masks (N, 1, H, W) in [0, 1], one per image of ``like``."""
    mask = check_images(name, value, channels=1)
    if like is not None and (mask.shape[0] != like.shape[0] or mask.shape[2:] != like.shape[2:]):
        raise ValueError(
            f"{name} of shape {tuple(mask.shape)} does not match the images' batch and size "
            f"{tuple(like.shape)}; give one (N, 1, H, W) mask per image"
        )
    return mask


def check_same_shape(names: tuple[str, str], a: Tensor, b: Tensor) -> None:
    """Raise ValueError unless tensors ``a`` and ``b`` have the same shape."""
    if a.shape != b.shape:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )


def check_image_pair(names: tuple[str, str], a: object, b: object) -> None:
    """Raise unless ``a`` and ``b`` are batches of images (N, C, H, W) of the same shape (a target and
    its prediction, two sets to compare)."""
    check_images(names[0], a)
    check_images(names[1], b)
    check_same_shape(names, a, b)  # type: ignore[arg-type]


def check_generator(name: str, value: object) -> Generator:
    """``value`` if it is a ``torch.Generator`` (the kit's functions take one to be deterministic)."""
    if not isinstance(value, Generator):
        raise TypeError(
            f"{name} must be a torch.Generator, got {type(value).__name__}; use torch.Generator().manual_seed(seed)"
        )
    return value


def _range_text(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f"in [{minimum}, {maximum}]"
    if minimum is not None:
        return f">= {minimum}"
    if maximum is not None:
        return f"<= {maximum}"
    return ""


def _interval_text(minimum: float | None, maximum: float | None, min_inc: bool, max_inc: bool) -> str:
    if minimum is None and maximum is None:
        return ""
    lo = "(-inf" if minimum is None else ("[" if min_inc else "(") + f"{minimum}"
    hi = "inf)" if maximum is None else f"{maximum}" + ("]" if max_inc else ")")
    return f"in {lo}, {hi}"
