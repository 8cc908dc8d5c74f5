"""Value rules of the de-identification: keyed pseudonyms, dummies, date shifting, cleaning, the safe-private list.

Everything derived from an original value is a keyed hash (HMAC-SHA256 with the user's salt), so
the same value gets the same replacement in every file and every run with that salt, and nobody
without the salt can recompute or reverse it:

- ``U``: a new UID ``2.25.<decimal of 128 hash bits>`` (PS3.5 B.2: a UUID-derived UID, at most 44
  characters), so references between files (a series' instances, a source image) still match.
- ``D``: for names and identifiers a keyed token (``ANON`` + 10 hex digits, ``ANON^<8 hex>`` for a
  PN); for other VRs a constant that fits the VR (``19000101``, ``000000``, ``0``, two zero bytes...).
- ``C`` (clean), as the option that asks for it means it (``apply.py`` picks): under Modified Dates,
  DA and DT values move by a whole number of days (intervals, the time of day and the UTC offset
  stay) and TM values stay; under Clean Descriptors and Patient Characteristics, text goes through
  ``text.scrub_text`` with the file's own names and identifiers added to the user's names; under
  Device Identity, an AE title becomes a keyed token. Anything else falls back to the Basic Profile.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
from collections.abc import Iterable
from pathlib import Path

from ..errors import MedMLLMError
from .text import scrub_text

__all__ = ["Keyed", "parse_shift", "shift_value", "dummy_value", "clean_text", "load_safe_private",
           "MAX_LENGTH", "TEXT_VRS"]

AUTO_SHIFT_RANGE = (62, 730)  # days back
TEXT_VRS = frozenset({"LO", "SH", "ST", "LT", "UT", "UC", "PN"})
MAX_LENGTH = {"AE": 16, "CS": 16, "SH": 16, "LO": 64, "ST": 1024, "LT": 10240, "PN": 64 * 3}
_CONSTANTS = {"DA": "19000101", "DT": "19000101000000", "TM": "000000", "DS": "0", "IS": "0", "AS": "000Y",
              "UR": "http://anonymized.invalid"}
_NUMBER_VRS = frozenset({"US", "SS", "UL", "SL", "UV", "SV", "FL", "FD", "AT"})
_BYTES_VRS = frozenset({"OB", "OW", "OD", "OF", "OL", "OV", "UN"})


class Keyed:
    """Keyed hashes of original values: new UIDs and dummy tokens (same salt and value, same output)."""

    def __init__(self, salt: str):
        self._key = hashlib.sha256(f"medmllm-deid\x00{salt}".encode()).digest()

    def digest(self, kind: str, value: str) -> bytes:
        return hmac.new(self._key, f"{kind}\x00{value}".encode("utf-8", "surrogateescape"), hashlib.sha256).digest()

    def uid(self, value: str) -> str:
        return "2.25." + str(int.from_bytes(self.digest("uid", value.strip("\x00 "))[:16], "big"))

    def token(self, value: str, vr: str) -> str:
        h = self.digest("dummy", value.strip()).hex().upper()
        return f"ANON^{h[:8]}" if vr == "PN" else f"ANON{h[:10]}"

    def name(self, kind: str, value: str, length: int = 16) -> str:
        """A neutral file-name part for a value (e.g. a report's input path)."""
        return self.digest(kind, value).hex()[:length]


def _values(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue" else [value]


def _one_or_many(values: list):
    return values[0] if len(values) == 1 else values


# -- dates ---------------------------------------------------------------------------------------
def _auto_shift_days(salt: str) -> int:
    """A whole-day offset between -730 and -62 derived from the salt (same salt, same offset)."""
    lo, hi = AUTO_SHIFT_RANGE
    digest = int(hashlib.sha256(f"{salt}\x00medmllm-date-shift".encode()).hexdigest(), 16)
    return -(lo + digest % (hi - lo + 1))


def parse_shift(date_shift_days: int | str | None, salt: str) -> int | None:
    if date_shift_days is None:
        return None
    if isinstance(date_shift_days, str):
        text = date_shift_days.strip().lower()
        if text == "auto":
            return _auto_shift_days(salt)
        try:
            date_shift_days = int(text)
        except ValueError:
            raise MedMLLMError(f"--date-shift-days: {date_shift_days!r} is not a whole number of days or 'auto'") from None
    if isinstance(date_shift_days, bool) or not isinstance(date_shift_days, int):
        raise MedMLLMError(f"--date-shift-days: {date_shift_days!r} is not a whole number of days or 'auto'")
    if abs(date_shift_days) > 365 * 200:
        raise MedMLLMError(f"--date-shift-days: {date_shift_days} is out of range (at most 73000 days)")
    return date_shift_days


def _shift_date(value: str, days: int) -> str:
    """Shift a DA value (``YYYYMMDD``, or ACR-NEMA ``YYYY.MM.DD``) by whole days."""
    text = value.strip().replace(".", "")
    if len(text) != 8 or not text.isdigit():
        raise ValueError("not a full date")
    date = _dt.date(int(text[:4]), int(text[4:6]), int(text[6:])) + _dt.timedelta(days=days)
    return date.strftime("%Y%m%d").zfill(8)


def _shift_datetime(value: str, days: int) -> str:
    """Shift a DT value by whole days; the time of day and UTC offset are kept."""
    text = value.strip()
    return _shift_date(text[:8], days) + text[8:]


def shift_value(value, vr: str, days: int):
    """The DA/DT value (or values) moved by ``days``; ValueError if one is not a full date."""
    shift = _shift_date if vr == "DA" else _shift_datetime
    try:
        return _one_or_many([shift(str(v), days) for v in _values(value)])
    except OverflowError:
        raise ValueError("date out of range") from None


# -- dummies and cleaning ------------------------------------------------------------------------
def dummy_value(value, vr: str, keyed: Keyed):
    """A non-empty value for ``vr`` that holds nothing of ``value`` but a keyed hash (``D``)."""
    if vr == "UI":
        return _one_or_many([keyed.uid(str(v)) for v in _values(value)])
    if vr in _CONSTANTS:
        return _CONSTANTS[vr]
    if vr in _NUMBER_VRS:
        return 0
    if vr in _BYTES_VRS:
        return b"\x00\x00"
    return keyed.token(str(value), vr)  # PN, LO, SH, CS, AE, LT, ST, UT, UC


def clean_text(value, vr: str, names: Iterable[str]):
    """Each value of a text element through ``scrub_text``, cut to the VR's length."""
    names = list(names)
    limit = MAX_LENGTH.get(vr)
    out = [scrub_text(str(v), names=names)[0][:limit] if v else v for v in _values(value)]
    return _one_or_many(out)


def identifying_words(values: Iterable[tuple[str, object]]) -> list[str]:
    """Names and identifiers to scrub from cleaned text: every PN component and every other value given."""
    out: set[str] = set()
    for vr, value in values:
        for v in _values(value):
            text = str(v or "")
            parts = text.replace("=", "^").split("^") if vr == "PN" else [text]
            out.update(p.strip() for p in parts if len(p.strip()) >= 2)
    return sorted(out)


# -- Retain Safe Private: the list ---------------------------------------------------------------
def load_safe_private(path: str | Path) -> frozenset[tuple[int, str, int]]:
    """Read a safe-private list: one ``gggg,ee,Private Creator`` a line (hex group, hex element offset
    within the block, the creator string exactly); ``#`` comments. Returns (group, creator, offset)."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise MedMLLMError(f"{p}: cannot read the safe-private list ({type(e).__name__})") from None
    out = set()
    for number, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = [s.strip() for s in line.split(",", 2)]
        try:
            group, offset = int(parts[0], 16), int(parts[1], 16)
            creator = parts[2]
        except (ValueError, IndexError):
            raise MedMLLMError(f"{p}:{number}: expected 'gggg,ee,Private Creator' (hex group, hex offset)") from None
        if group % 2 == 0 or not 0x0009 <= group <= 0xFFFD or not 0 <= offset <= 0xFF or not creator:
            raise MedMLLMError(f"{p}:{number}: not a private group (odd, 0009-FFFD), an offset 00-FF and a creator")
        out.add((group, creator, offset))
    return frozenset(out)
