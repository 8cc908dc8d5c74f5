"""The Basic Profile's element rules (run before dicognito's pseudonyms) and whole-day date shifting."""
from __future__ import annotations

import datetime as _dt
import hashlib

from ..errors import MedMLLMError
from . import profile

AUTO_SHIFT_RANGE = (62, 730)  # days back, as dicognito's own default offset
_DATE_VRS = {"DA", "DT", "TM"}


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


def make_profile_handler(shift_days: int | None, keep_characteristics: bool):
    """The element handler that runs before dicognito's: removals, emptying, dates."""
    from dicognito.element_anonymizer import ElementAnonymizer
    from pydicom.multival import MultiValue
    from pydicom.sequence import Sequence

    def empty(elem) -> None:
        elem.value = Sequence([]) if elem.VR == "SQ" else ""

    class ProfileHandler(ElementAnonymizer):
        def __call__(self, dataset, elem) -> bool:  # True: handled here, dicognito skips it
            tag = elem.tag
            group = tag.group & 0xFF00
            if group == 0x5000 or (group == 0x6000 and tag.element in (0x4000, 0x0022)):
                del dataset[tag]  # curves, overlay comments and descriptions (X)
                return True
            kw = elem.keyword
            if kw in profile.DUMMY:
                return False
            if kw in profile.PATIENT_CHARACTERISTICS:
                if keep_characteristics:
                    return True
                if kw == "PatientSex":
                    empty(elem)
                else:
                    del dataset[tag]
                return True
            if kw in profile.REMOVE:
                del dataset[tag]
                return True
            if kw in profile.EMPTY and elem.VR not in _DATE_VRS:
                empty(elem)
                return True
            if elem.VR in _DATE_VRS:
                self._date(dataset, elem)
                return True
            return False

        def _date(self, dataset, elem) -> None:
            kw = elem.keyword
            if not elem.value:
                return
            if shift_days is None or kw in profile.NEVER_SHIFT:
                empty(elem) if kw in profile.EMPTY_DATES else dataset.__delitem__(elem.tag)
                return
            if elem.VR == "TM":
                return  # whole-day shift: the time of day stays
            shift = _shift_date if elem.VR == "DA" else _shift_datetime
            values = list(elem.value) if isinstance(elem.value, (MultiValue, list, tuple)) else [elem.value]
            try:
                new = [shift(str(v), shift_days) for v in values]
            except (ValueError, OverflowError):
                empty(elem) if kw in profile.EMPTY_DATES else dataset.__delitem__(elem.tag)
                return
            elem.value = new if len(new) > 1 else new[0]

        def describe_actions(self):
            yield "Remove the Basic Profile's X attributes; empty its Z attributes; shift or remove dates"

    return ProfileHandler()
