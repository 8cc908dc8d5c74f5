"""Apply the profile to one pydicom Dataset, every sequence item at any depth included.

Each element is decided in this order, at the top level and inside every item:

1. Private elements (odd groups) are removed, unless the Retain Safe Private list names their
   (group, creator, offset); a private creator stays only while an element it reserves stays, so a
   creator string can carry nothing but a listed creator.
2. Whole repeating groups that the table names (``50xx`` curves, ``60xx`` overlays) are removed:
   the table's rows name Overlay Data and Comments, but the group also holds labels and
   descriptions, and an overlay without its data is no overlay.
3. Elements with no place in a stored instance are removed: group lengths ``(gggg,0000)``, the
   command group 0000, file-meta elements 0002 inside the data set, DICOMDIR records (0004).
4. A tag in the table gets its action (``profile.Profile``); a tag the DICOM dictionary does not
   know ("unknown public") is removed; any other tag is kept.  A kept or cleaned sequence, and a
   ``U*`` one, has its items walked; the items of a ``D`` sequence are walked too, and every value
   the table does not list inside them becomes a dummy.

The walk returns one event per decision, ``(path, keyword, action, detail)``, for the audit; no
event holds a value.  The File Meta Information and the preamble are not touched here: the
writer (``dicom.py``) replaces them.
"""
from __future__ import annotations

from collections.abc import Iterable

from .profile import GRAPHIC_GROUPS, Options, Profile
from .rules import TEXT_VRS, Keyed, clean_text, dummy_value, identifying_words, shift_value

__all__ = ["Deidentifier", "Event", "tag_str", "mark"]

Event = tuple[str, str, str, str]  # path, keyword, action, detail
_EMPTY = {"US": None, "SS": None, "UL": None, "SL": None, "UV": None, "SV": None, "FL": None, "FD": None,
          "AT": None, "OB": b"", "OW": b"", "OD": b"", "OF": b"", "OL": b"", "OV": b"", "UN": b""}
_NOT_STORED_GROUPS = {0x0000: "command group", 0x0002: "file meta element inside the data set",
                      0x0004: "directory record element"}


def tag_str(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _is_empty(value) -> bool:
    return value is None or (not isinstance(value, (int, float)) and len(value) == 0)


def _known(tag: int) -> bool:
    from pydicom.datadict import get_entry

    try:
        get_entry(tag)
    except KeyError:
        return False
    return True


class Deidentifier:
    """The settings of one run; ``apply(ds)`` de-identifies ``ds`` in place and returns its events."""

    def __init__(self, options: Options, keyed: Keyed, shift_days: int | None,
                 safe_private: frozenset[tuple[int, str, int]] = frozenset(), names: Iterable[str] = ()):
        if options.retain_modified_dates != (shift_days is not None):
            raise ValueError("retain_modified_dates goes with a date shift, and only with one")
        self.profile, self.keyed, self.shift_days = Profile(options), keyed, shift_days
        self.safe_private, self.names = safe_private, list(names)
        self.uids: set[str] = set()  # original UIDs remapped (memory only; counted in the summary)

    def apply(self, ds) -> list[Event]:
        walk = _Walk(self, self.names + identifying_words(self._identifiers(ds)))
        walk.dataset(ds, "", dummy=False)
        return walk.events

    def _identifiers(self, ds) -> list[tuple[str, object]]:
        """Every person name, and every LO/SH value the table replaces or empties that is not a
        descriptor (Patient ID, Accession Number, Institution Name...): what cleaned text must lose.
        Private elements are not read (they may not even parse; they go anyway)."""
        out = []
        for tag in list(ds.keys()):
            if tag.is_private:
                continue
            elem = ds[tag]
            if elem.VR == "SQ":
                for item in elem.value or []:
                    out += self._identifiers(item)
            elif elem.VR == "PN" or (elem.VR in ("LO", "SH") and int(tag) in self.profile.identifiers):
                out.append((elem.VR, elem.value))
        return out


class _Walk:
    def __init__(self, run: Deidentifier, names: list[str]):
        self.run, self.names = run, names
        self.events: list[Event] = []

    def event(self, path: str, elem, action: str, detail: str = "") -> None:
        keyword = "(private)" if elem is None or elem.tag.is_private else (elem.keyword or "(unknown)")
        self.events.append((path, keyword, action, detail))

    def dataset(self, ds, prefix: str, dummy: bool) -> None:
        creators: dict[int, int] = {}  # private creator tag -> elements it keeps
        for tag in list(ds.keys()):
            path = prefix + tag_str(int(tag))
            if tag.is_private:  # decided on the tag and its creator: the value is never read unless kept
                self.private(ds, int(tag), path, creators, dummy)
                continue
            elem = ds[tag]
            reason = self.structural(int(tag))
            if reason:
                del ds[tag]
                self.event(path, elem, "removed", reason)
                continue
            found = self.run.profile.action(int(tag), elem.VR)
            if found is None:
                if not _known(int(tag)):
                    del ds[tag]
                    self.event(path, elem, "removed", "unknown public tag")
                    continue
                found = ("D", "D", "") if dummy and elem.VR != "SQ" else ("K", "K", "")
            self.act(ds, elem, found, path, dummy, listed=int(tag) in self.run.profile.actions)
        for tag, kept in creators.items():
            if not kept and tag in ds:
                del ds[tag]
                self.event(prefix + tag_str(tag), None, "removed", "private creator")

    @staticmethod
    def structural(tag: int) -> str:
        group = tag >> 16
        if group & 0xFF00 in GRAPHIC_GROUPS:
            return "curve or overlay group"
        if group in _NOT_STORED_GROUPS:
            return _NOT_STORED_GROUPS[group]
        if tag & 0xFFFF == 0:
            return "group length"
        return ""

    def private(self, ds, tag: int, path: str, creators: dict[int, int], dummy: bool) -> None:
        group, element = tag >> 16, tag & 0xFFFF
        if 0x10 <= element <= 0xFF:
            creators.setdefault(tag, 0)
            return
        creator_tag = (group << 16) | (element >> 8)
        name = ""
        if element > 0xFF and self.run.safe_private and creator_tag in ds:
            value = ds[creator_tag].value
            name = value.decode("latin-1") if isinstance(value, bytes) else str(value or "")
        name = name.strip(" \x00")
        if name and (group, name, element & 0xFF) in self.run.safe_private:
            creators[creator_tag] = creators.get(creator_tag, 0) + 1
            elem = ds[tag]
            self.event(path, elem, "kept", "Retain Safe Private Option")
            if elem.VR == "SQ":
                for i, item in enumerate(elem.value or []):
                    self.dataset(item, f"{path}[{i}].", dummy)
            return
        del ds[tag]
        self.event(path, None, "removed", "private tag")

    def act(self, ds, elem, found: tuple[str, str, str], path: str, dummy: bool, listed: bool) -> None:
        action, fallback, column = found
        if action == "X":
            del ds[elem.tag]
            self.event(path, elem, "removed")
        elif elem.VR == "SQ":
            self.sequence(elem, action, path, dummy, column)
        elif action == "K":
            if column:
                self.event(path, elem, "kept", self.run.profile.option_name(column))
        elif _is_empty(elem.value):
            return
        elif action == "Z" or (action == "U*" and elem.VR != "UI"):
            elem.value = _EMPTY.get(elem.VR, "")
            self.event(path, elem, "emptied")
        elif action in ("U", "U*") or elem.VR == "UI":
            self.remap(elem, path)
        elif action == "D":
            elem.value = dummy_value(elem.value, elem.VR, self.run.keyed)
            why = "" if listed else " inside a dummied sequence" if dummy else " (a date or name the table does not list)"
            self.event(path, elem, "replaced", "dummy" + why)
        elif not self.clean(elem, path, column):  # C that this VR cannot take: the Basic Profile's action
            self.act(ds, elem, (fallback, fallback, ""), path, dummy, listed)

    def sequence(self, elem, action: str, path: str, dummy: bool, column: str) -> None:
        if action == "Z":
            if elem.value:
                elem.value = []
                self.event(path, elem, "emptied")
            return
        if action == "D":
            self.event(path, elem, "replaced", "dummy values inside")
        elif action == "U*":
            self.event(path, elem, "kept", "references kept, their UIDs remapped")
        elif column:
            self.event(path, elem, "kept" if action == "K" else "cleaned", self.run.profile.option_name(column))
        for i, item in enumerate(elem.value or []):
            self.dataset(item, f"{path}[{i}].", dummy or action == "D")

    def remap(self, elem, path: str) -> None:
        values = list(elem.value) if elem.VM > 1 else [elem.value]
        self.run.uids.update(str(v) for v in values if v)
        elem.value = dummy_value(elem.value, "UI", self.run.keyed)
        self.event(path, elem, "replaced", "uid remapped")

    def clean(self, elem, path: str, column: str) -> bool:
        """Clean in place (C), as the option that asked for it means it; False when this VR cannot be
        cleaned that way (then the Basic Profile's action applies)."""
        vr, days, option = elem.VR, self.run.shift_days, self.run.profile.option_name(column)
        if column == "rtnLongModifDatesOpt" and days is not None and vr in ("DA", "DT"):
            try:
                elem.value = shift_value(elem.value, vr, days)
            except ValueError:
                return False
            self.event(path, elem, "shifted", f"{days:+d} days")
        elif column == "rtnLongModifDatesOpt" and days is not None and vr == "TM":
            self.event(path, elem, "kept", "time of day (whole-day date shift)")
        elif column in ("cleanDescOpt", "rtnPatCharsOpt") and vr in TEXT_VRS:
            elem.value = clean_text(elem.value, vr, self.names)
            self.event(path, elem, "cleaned", option)
        elif column == "rtnDevIdOpt" and vr == "AE":
            elem.value = dummy_value(elem.value, vr, self.run.keyed)
            self.event(path, elem, "replaced", f"keyed AE title ({option})")
        else:
            return False
        return True


def mark(ds, options: Options, shift_days: int | None, pixels_may_identify: bool) -> list[Event]:
    """Add the de-identification markers of PS3.15 E.1.1 (6) and PS3.3 C.12.1: Patient Identity
    Removed YES (left out while the pixels may still show identity), De-identification Method and
    its Code Sequence (CID 7050: the profile and each option used), Longitudinal Temporal
    Information Modified."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    codes = options.codes()
    if pixels_may_identify:
        if "PatientIdentityRemoved" in ds:
            del ds.PatientIdentityRemoved
    else:
        ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = [meaning for _, meaning in codes]
    items = []
    for value, meaning in codes:
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
        items.append(item)
    ds.DeidentificationMethodCodeSequence = Sequence(items)
    ds.LongitudinalTemporalInformationModified = "MODIFIED" if shift_days is not None else "REMOVED"
    added = ["DeidentificationMethod", "DeidentificationMethodCodeSequence", "LongitudinalTemporalInformationModified"]
    if not pixels_may_identify:
        added.insert(0, "PatientIdentityRemoved")
    return [(tag_str(int(ds.data_element(k).tag)), k, "added", "de-identification marker") for k in added]
