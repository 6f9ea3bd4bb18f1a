"""Checks of a loss's arguments, each a ValueError (UserError) or TypeError naming the
argument as its caller knows it: a class's parameter (`alpha`) or a flag (`ms_alpha`)."""
import math
import numbers
from typing import Any, Callable, Sequence

from dvml_tf.errors import UserError


def finite(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}={value!r}: must be a number")
    if not math.isfinite(value):
        raise UserError(f"{name}={value}: must be a finite number")
    return float(value)


def positive(name: str, value: Any) -> float:
    """A scale: zero trains nothing, a negative one the inverted objective."""
    if finite(name, value) <= 0:
        raise UserError(f"{name}={value} must be positive (a scale)")
    return float(value)


def non_negative(name: str, value: Any) -> float:
    if finite(name, value) < 0:
        raise UserError(f"{name}={value} must be 0 or positive")
    return float(value)


def whole(minimum: int) -> Callable[[str, Any], int]:
    """A check of a whole number >= `minimum` (NumPy integers too, never a bool)."""

    def check(name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{name}={value!r}: must be a whole number")
        if value < minimum:
            raise UserError(f"{name}={value} must be at least {minimum}")
        return int(value)

    return check


def one_of(choices: Sequence[str]) -> Callable[[str, Any], str]:
    def check(name: str, value: Any) -> str:
        if value not in choices:
            raise UserError(f"{name}={value!r} is unknown; choose one of {', '.join(choices)}")
        return value

    return check
