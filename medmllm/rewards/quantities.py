"""`numeric`: the first number of the answer against the reference's number.

The number: the first numeral in the answer part ("0.43", "-2", "1,200", ".5"); only when there
is none, the first number word ("three", "none" = 0). A unit may follow it: mm/cm/m (lengths),
ms/s (times), bpm, %.

Tolerance (`medmllm.answers.tolerance`): ``tol = max(rel_tol * |ref|, abs_tol if |ref| <= 1 else 0)``
(defaults `REL_TOL` 5 % and `ABS_TOL` 0.02, so 0.43 ± 0.0215, 25 mm ± 1.25 mm, 120 bpm ± 6 bpm).
Score 1.0 when ``|ans - ref| <= tol``, falling linearly to 0.0 at ``4 * tol``. Counts are exact
(1.0 or 0.0): with ``count=None`` the reference is a count when its number is an integer written
without a decimal point or a unit ("3"); ``count=True``/``False`` forces either.

Units: when both sides state units of one dimension they are converted (2.5 cm = 25 mm,
0.6 s = 600 ms); units of different dimensions (mm vs bpm) score 0.0; a % against a unitless
number is divided by 100 (43% = 0.43); a unit on one side only is ignored.
A missing number on either side scores 0.0.
"""
from __future__ import annotations

import math
import re

from ..answers import ABS_TOL, REL_TOL, answer_part, tolerance
from . import register

_NUMBER = re.compile(
    r"(?<![\w.])(-)?(\d{1,3}(?:,\d{3})+(?![\d,])|\d+(?:\.\d+)?|\.\d+)"
    r"(?:\s*(%|percent\b|mm\b|millimet(?:er|re)s?\b|cm\b|centimet(?:er|re)s?\b|m\b|met(?:er|re)s?\b|"
    r"ms\b|milliseconds?\b|msec\b|s\b|secs?\b|seconds?\b|bpm\b|beats?\s*(?:per|/)\s*min(?:ute)?\b|/min\b))?",
    re.I)
_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}
_WORDS["none"] = 0
_WORD = re.compile(r"\b(" + "|".join(_WORDS) + r")\b", re.I)

# unit -> (dimension, factor to the base unit)
_UNITS = {"mm": ("length", 1.0), "cm": ("length", 10.0), "m": ("length", 1000.0),
          "ms": ("time", 1.0), "s": ("time", 1000.0), "bpm": ("rate", 1.0), "%": ("percent", 1.0)}


def _unit(raw: str | None) -> str | None:
    if not raw:
        return None
    u = re.sub(r"\s+", " ", raw.lower())
    if u in ("%", "percent"):
        return "%"
    if u.startswith(("beat", "/min", "bpm")):
        return "bpm"
    if u.startswith(("millis", "msec")) or u == "ms":
        return "ms"
    if u.startswith("millim") or u == "mm":
        return "mm"
    if u.startswith("centim") or u == "cm":
        return "cm"
    if u == "m" or u.startswith("met"):
        return "m"
    return "s"


def _numeral(m: re.Match) -> tuple[float, str | None, bool]:
    digits = m.group(2).replace(",", "")
    return float(digits) * (-1 if m.group(1) else 1), _unit(m.group(3)), "." not in digits


def _word(w: re.Match) -> tuple[float, str | None, bool]:
    return float(_WORDS[w.group(1).lower()]), None, True


def first_number(text: str) -> tuple[float, str | None, bool] | None:
    """(value, unit or None, written as an integer) of the first number in ``text``, else None."""
    m = _NUMBER.search(text)
    if m:
        return _numeral(m)
    w = _WORD.search(text)
    return _word(w) if w else None


def all_numbers(text: str) -> list[tuple[float, str | None, bool]]:
    """Every number of ``text`` in order, as `first_number` reads one: numerals and number words."""
    found = [(m.start(), _numeral(m)) for m in _NUMBER.finditer(text)]
    found += [(w.start(), _word(w)) for w in _WORD.finditer(text)]
    return [n for _, n in sorted(found, key=lambda item: item[0])]


def in_base_units(value: float, unit: str | None) -> tuple[str | None, float]:
    """(dimension, value in the dimension's base unit: mm, ms, bpm, %); (None, value) without a unit."""
    if unit is None:
        return None, value
    dim, factor = _UNITS[unit]
    return dim, value * factor


def agreement(ans: tuple[float, str | None, bool], ref: tuple[float, str | None, bool], *, rel_tol: float = REL_TOL,
              abs_tol: float = ABS_TOL, count: bool | None = None) -> float:
    """How well one number agrees with a reference number: `numeric`'s score for the pair."""
    (r, r_unit, r_int), (a, a_unit, _) = ref, ans
    if r_unit and a_unit:
        (r_dim, r), (a_dim, a) = in_base_units(r, r_unit), in_base_units(a, a_unit)
        if r_dim != a_dim:
            return 0.0
    elif (r_unit == "%") != (a_unit == "%") and (r_unit is None or a_unit is None):
        r, a = (r / 100, a) if r_unit == "%" else (r, a / 100)
    is_count = (r_int and r_unit is None) if count is None else count
    if is_count:
        return float(a == r)
    tol = tolerance(r, rel_tol, abs_tol)
    err = abs(a - r)
    if err <= tol:
        return 1.0
    if tol <= 0 or not math.isfinite(err):
        return 0.0
    return max(0.0, 1.0 - (err - tol) / (3 * tol))


@register("numeric")
def numeric(completion: str, reference: str, *, rel_tol: float = REL_TOL, abs_tol: float = ABS_TOL,
            count: bool | None = None) -> float:
    """1.0 within tolerance of the reference's number, linear to 0 at 4x; counts exact (see module doc)."""
    ref, ans = first_number(answer_part(reference)), first_number(answer_part(completion))
    if ref is None or ans is None:
        return 0.0
    return agreement(ans, ref, rel_tol=rel_tol, abs_tol=abs_tol, count=count)
