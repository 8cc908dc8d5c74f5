"""DICOM PS3.15 Annex E, Table E.1-1, read from data and resolved to one action per attribute.

``ps3.15_table_E.1-1.json`` (beside this file, 621 rows, from the innolitics ``dicom-standard``
project's machine-readable PS3.15) is the one source of truth: no attribute is listed by hand in
medmllm. ``Profile(Options(...))`` turns each row into one action, with the standard's codes:
``X`` remove, ``Z`` zero-length, ``D`` dummy, ``U`` new UID (the same for the same old UID), ``K`` keep
(a sequence's items still go through the table), ``C`` clean, and ``U*`` (keep a sequence whose
instance UIDs the table remaps). How a row becomes one action:

1. An enabled option's code overrides the Basic Profile's (PS3.15 E.1.1: "A requirement for an
   Option, when implemented, overrides any requirement for the underlying Profile"). Where two
   enabled options disagree (a calibration date: Retain Device Identity ``K``, Modified Dates ``C``),
   the more protective ``C`` wins.
2. A row marked as not used in standard composite IODs (``stdCompIOD`` N) is removed (``X``),
   whatever its Basic Profile code: E.1.1 note 13 says such attributes "may be removed without
   compromising the conformance of the instance".
3. Combined codes: we carry no IOD module tables, so we take the alternative that is valid in every
   IOD that uses the attribute, i.e. the strongest type the code allows for: ``X/Z`` → ``Z``;
   ``X/D``, ``Z/D``, ``X/Z/D`` → ``D``; ``X/Z/U*`` → ``U*``. This costs only the attribute's presence:
   ``Z`` keeps nothing, a ``D`` value is a constant or a keyed hash, and a ``U*`` sequence keeps
   nothing but references whose UIDs are remapped.
4. Dates, times and person names that the table does not list are handled by their VR as the
   listed ones are (E.1.1 note 4): DA, DT, TM like ``Series Date`` (``X/D`` → ``D``; ``C``, shifted,
   with the Modified Dates option); PN like ``Operators' Name`` (``X/Z/D`` → ``D``).

``supplement.json`` adds the identifying attributes that the shipped table (the 2024b edition) does
not list, in the same format, each with its reason: the alternative-calendar birth and death dates,
the Issuer of Patient ID Qualifiers Sequence, ..., and the rows of the 2026c edition that pydicom's
dictionary knows (newer tags it does not know are removed as unknown). It never overrides the table.

The table's three repeating-group rows (curves ``50xx``, overlay data and comments ``60xx``) and its
private-attribute row are applied by ``apply.py`` to whole groups and to private blocks.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from functools import lru_cache
from importlib import resources

__all__ = ["Options", "Profile", "TABLE_FILE", "SUPPLEMENT_FILE", "BASIC_CODE", "load_table", "GRAPHIC_GROUPS"]

TABLE_FILE = "ps3.15_table_E.1-1.json"
SUPPLEMENT_FILE = "supplement.json"
CODES = frozenset("XZDUKC")
COMBINED = {"X/Z": "Z", "X/D": "D", "Z/D": "D", "X/Z/D": "D", "X/Z/U*": "U*"}
DATE_VRS = frozenset({"DA", "DT", "TM"})
#: CID 7050 (De-identification Method), scheme DCM.
BASIC_CODE = ("113100", "Basic Application Confidentiality Profile")
#: Table rows standing in for a whole family of attributes (not one tag).
_UNLISTED_DATE_ROW = "(0008,0021)"  # Series Date: X/D, Modified Dates C
_UNLISTED_NAME_ROW = "(0008,1070)"  # Operators' Name: X/Z/D
_TAG_RE = re.compile(r"^\(([0-9A-F]{4}),([0-9A-F]{4})\)$")


@dataclass(frozen=True)
class Options:
    """The Basic Profile's options that ``medmllm deid`` offers, each with its table column and CID 7050 code.

    Field metadata: ``column`` (the table's JSON key), ``code`` and ``meaning`` (CID 7050).
    """

    retain_modified_dates: bool = False  # Retain Longitudinal Temporal Information with Modified Dates
    retain_patient_characteristics: bool = False
    retain_safe_private: bool = False
    retain_device_identity: bool = False
    retain_institution_identity: bool = False
    clean_descriptors: bool = False

    def enabled(self) -> list[tuple[str, str, str]]:
        """(column, code, meaning) of every enabled option, in the table's order."""
        return [OPTION_COLUMNS[f.name] for f in fields(self) if getattr(self, f.name)]

    def codes(self) -> list[tuple[str, str]]:
        """CID 7050 (code value, code meaning) pairs: the Basic Profile's, then each enabled option's."""
        return [BASIC_CODE] + [(code, meaning) for _, code, meaning in self.enabled()]


OPTION_COLUMNS: dict[str, tuple[str, str, str]] = {
    "retain_modified_dates": ("rtnLongModifDatesOpt", "113107",
                              "Retain Longitudinal Temporal Information Modified Dates Option"),
    "retain_patient_characteristics": ("rtnPatCharsOpt", "113108", "Retain Patient Characteristics Option"),
    "retain_safe_private": ("rtnSafePrivOpt", "113111", "Retain Safe Private Option"),
    "retain_device_identity": ("rtnDevIdOpt", "113109", "Retain Device Identity Option"),
    "retain_institution_identity": ("rtnInstIdOpt", "113112", "Retain Institution Identity Option"),
    "clean_descriptors": ("cleanDescOpt", "113105", "Clean Descriptors Option"),
}


@lru_cache(maxsize=2)
def load_table(name: str = TABLE_FILE) -> tuple[dict, ...]:
    """The table's rows as shipped (package data; ``SUPPLEMENT_FILE`` for the supplement), checked:
    every action code known."""
    text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    rows = tuple(json.loads(text))
    columns = {"basicProfile"} | {column for column, _, _ in OPTION_COLUMNS.values()}
    for row in rows:
        for column in columns & row.keys():
            code = row[column]
            if code not in CODES and code not in COMBINED:
                raise ValueError(f"{name}: {row['tag']} has unknown action {code!r} in {column}")
    return rows


def parse_tag(text: str) -> int | None:
    """``"(0010,0010)"`` → 0x00100010; None for a pattern row (``(60XX,3000)``, private attributes)."""
    m = _TAG_RE.match(text.strip().upper())
    return int(m.group(1) + m.group(2), 16) if m else None


def _graphic_groups() -> frozenset[int]:
    """The repeating groups the table names (``50xx`` curves, ``60xx`` overlays), as group & 0xFF00."""
    out = set()
    for row in load_table():
        m = re.match(r"^\(([0-9A-F]{2})XX,", row["tag"].upper())
        if m:
            out.add(int(m.group(1), 16) << 8)
    return frozenset(out)


GRAPHIC_GROUPS = _graphic_groups()


class Profile:
    """One action per tag under the chosen options (see the module docstring for the rules)."""

    def __init__(self, options: Options = Options()):
        self.options = options
        self._enabled = [column for column, _, _ in options.enabled()]
        self.actions: dict[int, tuple[str, str, str]] = {}  # tag -> (action, basic fallback, option column)
        self.identifiers: set[int] = set()  # replaced or emptied, and not descriptors: what cleaned text must lose
        by_tag = {}
        for row in load_table() + load_table(SUPPLEMENT_FILE):
            tag = parse_tag(row["tag"])
            if tag is not None and tag not in self.actions:  # the table first: the supplement never overrides it
                by_tag[row["tag"]] = row
                self.actions[tag] = self._resolve(row)
                if self.actions[tag][1] in ("Z", "D") and "cleanDescOpt" not in row:
                    self.identifiers.add(tag)
        self._unlisted_date = self._resolve(by_tag[_UNLISTED_DATE_ROW])
        self._unlisted_name = self._resolve(by_tag[_UNLISTED_NAME_ROW])

    def _resolve(self, row: dict) -> tuple[str, str, str]:
        basic = "X" if row.get("stdCompIOD") == "N" else COMBINED.get(row["basicProfile"], row["basicProfile"])
        chosen = [(row[c], c) for c in self._enabled if c in row]
        for code in ("C", "K"):  # the more protective first
            for value, column in chosen:
                if value == code:
                    return code, basic, column
        return basic, basic, ""

    def action(self, tag: int, vr: str) -> tuple[str, str, str] | None:
        """(action, Basic Profile fallback, option column) for a public tag; None if the table has no
        word on it (the caller keeps it if the DICOM dictionary knows it)."""
        found = self.actions.get(tag)
        if found is None and vr in DATE_VRS:
            return self._unlisted_date
        if found is None and vr == "PN":
            return self._unlisted_name
        return found

    def option_name(self, column: str) -> str:
        """The CID 7050 meaning of an option column (for the audit)."""
        return next((meaning for col, _, meaning in OPTION_COLUMNS.values() if col == column), "")
