"""Value checks for the `__post_init__` of config dataclasses (run config, preprocessing settings).

Each raises `FieldError(name, why)` naming the field; `config.from_dict` turns that into
"config key 'train.grpo.group_size': 1 must be at least 2 (...)". Numbers must be finite (NaN and
infinities fail every check).
"""
from __future__ import annotations

import math
from typing import Any, Iterable

from .errors import FieldError


def finite(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise FieldError(name, f"{value} must be a finite number")


def at_least(name: str, value: float, low: float, note: str = "") -> None:
    """`value` >= `low`; `note` (e.g. " (why)") is appended to the message."""
    finite(name, value)
    if not value >= low:
        raise FieldError(name, f"{value} must be at least {low}{note}")


def positive(name: str, value: float) -> None:
    finite(name, value)
    if not value > 0:
        raise FieldError(name, f"{value} must be positive")


def non_negative(name: str, value: float) -> None:
    finite(name, value)
    if not value >= 0:
        raise FieldError(name, f"{value} must be >= 0")


def below(name: str, value: float, low: float, high: float) -> None:
    """`low` <= `value` < `high`."""
    finite(name, value)
    if not low <= value < high:
        raise FieldError(name, f"{value} must be in [{low}, {high})")


def one_of(name: str, value: Any, choices: Iterable[str]) -> None:
    choices = tuple(choices)
    if value not in choices:
        raise FieldError(name, f"{value!r} is not one of {', '.join(choices)}")


def length(name: str, values: list, n: int, what: str) -> None:
    """Exactly `n` values (`what` says which, e.g. "[low, high]")."""
    if len(values) != n:
        raise FieldError(name, f"{values} must have {n} values {what}")
