"""Parameter checks shared by :mod:`aelab.data`: each error names the parameter, what was given and
what is allowed."""

from __future__ import annotations

import numbers
from collections.abc import Sequence


def check_int(name: str, value: object, minimum: int) -> int:
    """``value`` as an int >= ``minimum``; TypeError for a non-integer (bools included)."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_choice(name: str, value: object, allowed: Sequence[str]) -> str:
    """``value`` if it is one of ``allowed``; the error lists them."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; known {name}s: {', '.join(map(repr, allowed))}")
    return value
