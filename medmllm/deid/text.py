"""Rule-based PHI scrubber for free-text reports (names, dates, IDs, phone numbers, e-mail addresses).

``scrub_text(text, names=[...])`` returns the text with each finding replaced by a placeholder
(``[NAME]``, ``[DATE]``, ``[ID]`` (also IP addresses, URLs, ZIP codes), ``[PHONE]``, ``[EMAIL]``, ``[AGE>89]``)
and the list of findings.

This is a best-effort filter for report sentences, not a guarantee: it finds names only when they
are on the user's list, follow a title ("Dr. Smith"), a label ("Patient: Jane Roe", "Signed by ...")
or precede a credential ("John Smith, MD"). Measurements ("3.5 cm", "12 mm"), counts ("2 views"),
vertebra levels ("T12", "L4-L5") and anatomy words are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..chat import text_slots
from ..errors import MedMLLMError
from ..files import atomic_write

__all__ = ["Finding", "scrub_text", "scrub_jsonl", "load_names", "PLACEHOLDERS"]

PLACEHOLDERS = {"NAME": "[NAME]", "DATE": "[DATE]", "ID": "[ID]", "PHONE": "[PHONE]", "EMAIL": "[EMAIL]", "AGE": "[AGE>89]"}


@dataclass(frozen=True)
class Finding:
    """One scrubbed span of the *original* text: ``text[start:end]`` was replaced by ``[kind]``.

    ``value`` is the original string; it is for in-memory review only and is never written to
    an audit log by this package.
    """

    kind: str
    start: int
    end: int
    value: str

    def __repr__(self) -> str:  # keep the PHI out of casual prints / logs
        return f"Finding(kind={self.kind!r}, start={self.start}, end={self.end})"


# --- dates and times ---------------------------------------------------------------------------
_MONTHS = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
           r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)")
_DAY = r"(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?"
_YEAR = r"(?:19|20)\d{2}"
_DATE_PATTERNS = [
    # 2023-01-02, 2023/01/02, 2023.01.02 (optionally with a time: 2023-01-02T10:30)
    rf"(?<![\d.]){_YEAR}[-/.](?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])(?:[T ]\d{{1,2}}:\d{{2}}(?::\d{{2}})?)?(?![\d])",
    # 01/02/2023, 1-2-23, 01/02/23 (US or European order)
    r"(?<![\d./-])(?:0?[1-9]|[12]\d|3[01])[/-](?:0?[1-9]|[12]\d|3[01])[/-](?:\d{4}|\d{2})(?![\d/-])",
    # 01.02.2023 (dot-separated: four-digit year only, so "1.2.3" versions survive)
    rf"(?<![\d.])(?:0?[1-9]|[12]\d|3[01])\.(?:0?[1-9]|1[0-2])\.{_YEAR}(?![\d.]\d)",
    # January 2, 2023 / Jan. 2nd 2023 / Jan 2
    rf"\b{_MONTHS}\.?\s+{_DAY}(?:,?\s+{_YEAR})?\b",
    # 2 Jan 2023 / 2nd of January, 2023 / 2 January
    rf"\b{_DAY}(?:\s+of)?\s+{_MONTHS}\.?(?:,?\s+{_YEAR})?\b",
    # January 2023 / Jan. 2023
    rf"\b{_MONTHS}\.?,?\s+{_YEAR}\b",
    # 01/2023
    rf"(?<![\d/])(?:0?[1-9]|1[0-2])/{_YEAR}(?![\d/])",
    # DICOM-style 20230102
    rf"(?<!\d){_YEAR}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?!\d)",
    # times of day: 10:30, 9:05 am, 14:05:22
    r"(?<![\d:.])(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?(?:\s?(?:[AaPp]\.[Mm]\.|[AaPp][Mm]\b))?(?![\d:])",
    r"\b(?:0?[1-9]|1[0-2])\s?(?:[AaPp]\.[Mm]\.|[AaPp][Mm]\b)",
]
_DATE_RE = re.compile("|".join(f"(?:{p})" for p in _DATE_PATTERNS), re.IGNORECASE)
# month names are only matched case-insensitively when they look like a month ("may" the verb needs
# a day or year next to it, which the patterns above require anyway)

# --- e-mail, phone, IDs ------------------------------------------------------------------------
_EMAIL_RE = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_PHONE_RE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)\s?|\d{2,4}[\s.-])\d{3,4}[\s.-]\d{3,4}(?:\s?(?:x|ext\.?)\s?\d{1,5})?(?![\w-])"
    r"|(?i:(?<=phone)|(?<=tel)|(?<=fax)|(?<=pager)|(?<=cell)|(?<=mobile))[\s.:#]*\+?\d[\d\s().-]{5,}\d")
_SSN_RE = re.compile(r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])")
_ID_LABEL = (r"MRN|MR\s?#|MR\s+(?:No\.?|Number)|Medical\s+Record\s+(?:No\.?|Number|#)|Patient\s+ID|Pt\.?\s+ID|"
             r"Accession(?:\s+(?:No\.?|Number|#))?|Acc\.?\s?(?:No\.?|#)|Study\s+ID|Exam\s+(?:No\.?|#|ID)|"
             r"Account(?:\s+(?:No\.?|Number|#))?|Acct\.?\s?#?|Encounter(?:\s+(?:No\.?|ID|#))?|"
             r"Visit\s+(?:No\.?|ID|#)|SSN|Social\s+Security\s+(?:No\.?|Number)|Health\s+Card(?:\s+No\.?)?|"
             r"Insurance\s+(?:No\.?|ID|#)|Order\s+(?:No\.?|#)|ID\s?(?:No\.?|#)|ID")
_LABELED_ID_RE = re.compile(
    rf"\b(?:{_ID_LABEL})\s*(?:[:#=]|is|no\.?)?\s*(?P<v>(?=[A-Z0-9-]*\d)[A-Z0-9][A-Z0-9-]{{2,}}[A-Z0-9])\b",
    re.IGNORECASE)
# a run of 7+ digits that is not part of a decimal number ("0.1234567" stays)
_LONG_DIGITS_RE = re.compile(r"(?<![\d.])(?<!\d\.)\d{7,}(?![\d])(?!\.\d)")
# HIPAA Safe Harbor: ages over 89 ("93 years old", "92-year-old", "aged 95"), IP addresses, URLs,
# and a US state + ZIP code ("Boston, MA 02115")
_AGE_RE = re.compile(r"(?i)(?:\baged?\s+(?P<a>9\d|1[0-4]\d)\b|\b(?P<b>9\d|1[0-4]\d)\s*-?\s*(?:years?|yrs?|y/?o)\b)")
_IP_RE = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_URL_RE = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
_ZIP_RE = re.compile(r"\b[A-Z]{2}\s+(?P<v>\d{5}(?:-\d{4})?)\b")

# letter prefix + 6 or more digits ("MRN0012345", "ACC12345678"); not "T12" or "L4"
_PREFIXED_ID_RE = re.compile(r"\b[A-Z]{1,6}-?\d{6,}\b")

# --- names -------------------------------------------------------------------------------------
_NAME_WORD = (r"(?:[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)*|[A-Z]'[A-Z][a-z]+(?:-[A-Z][a-z]+)*|Mc[A-Z][a-z]+"
              r"|[A-Z]{2,}(?:[-'][A-Z]+)*)")
_INITIAL = r"[A-Z]\.?"
_PERSON = rf"(?:{_NAME_WORD}|{_INITIAL})(?:(?:\s+|,\s*|\^)(?:{_NAME_WORD}|{_INITIAL}(?![a-z]))){{0,3}}"
_TITLE_RE = re.compile(
    rf"\b(?:Drs?|Mrs?|Ms|Miss|Mx|Prof|Professor|Doctor|Nurse|Sister)\.?\s+(?P<v>{_PERSON}(?:\s+and\s+{_PERSON})?)")
_LABEL_RE = re.compile(
    rf"(?:\b(?:Patient(?:'s)?\s+Name|Patient|Pt|Name|Patient\s+name|Referring\s+(?:Physician|Doctor|Provider)|"
    rf"Ordering\s+(?:Physician|Provider)|Attending(?:\s+Physician)?|Radiologist|Physician|Technologist|Tech|"
    rf"Resident|Fellow|Provider|Reader|Interpreting\s+Physician|Requested\s+by|Cc|CC)\s*:\s*"
    rf"|\b(?:[Ss]igned|[Dd]ictated|[Rr]eported|[Rr]ead|[Tt]ranscribed|[Rr]eviewed|[Aa]pproved|[Vv]erified|"
    rf"[Dd]iscussed\s+with|[Cc]ommunicated\s+to|[Cc]alled\s+to|[Rr]eferred)\s+(?:by\s+)?(?:Dr\.?\s+)?)"
    rf"(?P<v>{_PERSON})")
_CREDENTIAL_RE = re.compile(
    rf"(?P<v>(?:{_NAME_WORD}|{_INITIAL})(?:\s+(?:{_NAME_WORD}|{_INITIAL})){{1,3}}),?\s+"
    rf"(?:M\.?D\.?|D\.?O\.?|R\.?N\.?|Ph\.?D\.?|MBBS|FRCR|FRCPC|RT\(R\)|RT|NP|PA-C)(?![A-Za-z])")

#: Capitalised words that are not names (sentence starts, section headers, anatomy, report words).
_NOT_NAMES = frozenset(w.lower() for w in """
a an and the this that these those there here he she they it we i you his her their its our no not none
is was are were be been has have had will would should can could may might must of on in at to for from by with
patient pt name findings finding impression impressions history indication indications technique comparison
comparisons exam examination study report reports results result conclusion conclusions recommendation
recommendations clinical note notes addendum procedure view views chest abdomen pelvis head neck spine
left right bilateral lower upper middle lobe lobes lung lungs heart normal abnormal unchanged stable new
no evidence mild moderate severe small large ct mri mr xr cxr us pet x-ray xray radiograph radiographs
frontal lateral pa ap portable contrast without signed dictated reported read reviewed approved
electronically final preliminary attending radiologist resident fellow physician referring ordering
technologist tech provider discussed communicated called referred see follow up follow-up emergency
department er ed icu clinic hospital service medicine surgery radiology cardiology is was
md do rn phd mbbs frcr np pa yes unknown none n/a na male female man woman year years old
at am pm on via per re cc dr mr mrs ms miss prof mx nurse sister doctor professor
mrn dob id acc accession ssn age sex phone tel fax email e-mail date time room bed ward unit
""".split())


def _is_name(value: str) -> bool:
    """Reject captures made only of non-name words ("Dr. The ...", "Patient: Left ...")."""
    words = [w for w in re.split(r"[\s,^.]+", value) if w]
    return bool(words) and not all(w.lower() in _NOT_NAMES for w in words) and words[0].lower() not in _NOT_NAMES


def _trim_name(value: str) -> str:
    """Drop trailing non-name words that the greedy person pattern swallowed ("Smith On")."""
    words = list(re.finditer(r"[^\s,^]+", value))
    while len(words) > 1 and words[-1].group(0).rstrip(".").lower() in _NOT_NAMES:
        words.pop()
    return value[: words[-1].end()] if words else value


def load_names(path: str | Path) -> list[str]:
    """Read a names file: one name per line (``First Last``, ``Last, First`` or ``LAST^FIRST``); ``#`` comments."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise MedMLLMError(f"{p}: cannot read names file ({type(e).__name__}: {e})") from None
    return [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]


def _name_list_pattern(names: Iterable[str]) -> re.Pattern[str] | None:
    """One regex for every listed name: the full name (any separators, either order) and its parts."""
    full: set[str] = set()
    parts: set[str] = set()
    for name in names:
        tokens = [t for t in re.split(r"[\s,^]+", str(name).strip()) if t]
        if not tokens:
            continue
        sep = r"[\s,^]+"
        full.add(sep.join(re.escape(t) for t in tokens))
        if len(tokens) > 1:
            full.add(sep.join(re.escape(t) for t in reversed(tokens)))
        parts.update(t for t in tokens if len(t.rstrip(".")) >= 2)
    if not full:
        return None
    # full names case-insensitively; single parts only when capitalised in the text (so "Mark" or "Bone"
    # on the list do not eat the words "mark" and "bone")
    full_alt = "|".join(sorted(full, key=len, reverse=True))
    part_alt = "|".join(re.escape(p[0].upper() + p[1:]) + "|" + re.escape(p.upper())
                        for p in sorted(parts, key=len, reverse=True))
    return re.compile(rf"(?<![\w])(?:(?i:{full_alt})|{part_alt})(?![\w])")


def _spans(text: str, names: Iterable[str] | None) -> list[tuple[int, int, int, str]]:
    """All candidate (start, end, priority, kind) spans; lower priority number wins ties."""
    out: list[tuple[int, int, int, str]] = []

    def add(regex: re.Pattern[str], kind: str, prio: int, group: str | int = 0, check=None) -> None:
        pos = 0
        while (m := regex.search(text, pos)) is not None:
            pos = max(m.end(), pos + 1)
            start, end = m.span(group)
            if start < 0 or start == end:
                continue
            if check is not None:
                value = check(m.group(group))
                if not value:
                    pos = max(start + 1, m.start() + 1)  # a rejected capture may hide a real one after it
                    continue
                end = start + len(value)
                pos = max(end, m.start() + 1)  # rescan after a trimmed capture ("Jones and Mrs. O'Brien")
            out.append((start, end, prio, kind))

    add(_EMAIL_RE, "EMAIL", 0)
    add(_URL_RE, "ID", 0)
    add(_IP_RE, "ID", 1)
    add(_ZIP_RE, "ID", 1, "v")
    add(_AGE_RE, "AGE", 1, "a")
    add(_AGE_RE, "AGE", 1, "b")
    add(_LABELED_ID_RE, "ID", 1, "v")
    add(_SSN_RE, "ID", 1)
    add(_DATE_RE, "DATE", 2)
    add(_PHONE_RE, "PHONE", 3)
    add(_PREFIXED_ID_RE, "ID", 4)
    add(_LONG_DIGITS_RE, "ID", 4)
    pattern = _name_list_pattern(names or [])
    if pattern is not None:
        add(pattern, "NAME", 5)

    def person(value: str) -> str | None:
        value = _trim_name(value)
        return value if _is_name(value) else None

    add(_TITLE_RE, "NAME", 6, "v", person)
    add(_LABEL_RE, "NAME", 6, "v", person)
    add(_CREDENTIAL_RE, "NAME", 7, "v", person)
    return out


def scrub_text(text: str, names: Iterable[str] | None = None) -> tuple[str, list[Finding]]:
    """Replace PHI in ``text`` with placeholders; return ``(clean_text, findings)``.

    Args:
        text: the report text.
        names: extra names to remove wherever they appear (full names case-insensitively, each part
            of a multi-word name when capitalised), e.g. from :func:`load_names`.

    Findings are sorted by position and refer to offsets in the original ``text``.
    """
    if not isinstance(text, str):
        raise TypeError(f"scrub_text expects a str, got {type(text).__name__}")
    names = list(names or [])
    # earliest start first; on the same start the longest span, then the stronger rule
    candidates = sorted(_spans(text, names), key=lambda s: (s[0], -(s[1] - s[0]), s[2]))
    chosen: list[tuple[int, int, str]] = []
    for start, end, _prio, kind in candidates:
        if chosen and start < chosen[-1][1]:
            continue
        chosen.append((start, end, kind))
    pieces: list[str] = []
    findings: list[Finding] = []
    pos = 0
    for start, end, kind in chosen:
        pieces.append(text[pos:start])
        pieces.append(PLACEHOLDERS[kind])
        findings.append(Finding(kind, start, end, text[start:end]))
        pos = end
    pieces.append(text[pos:])
    return "".join(pieces), findings


def _scrub_record(record: dict, fields: list[str] | None, names: list[str], kinds: dict[str, int],
                  where: str) -> int:
    """Scrub the chosen string fields of one manifest record in place; return how many were scrubbed."""
    targets: list[tuple[Any, Any, str]] = []  # (container, key, label)
    if fields:
        for field in fields:
            if field in record:
                targets.append((record, field, field))
    else:
        if "text" in record:
            targets.append((record, "text", "text"))
        conv = record.get("conversations")
        if conv is not None:
            if not isinstance(conv, list):
                raise MedMLLMError(f"{where}: 'conversations' is not a list")
            for i, turn in enumerate(conv):
                if not isinstance(turn, dict):
                    raise MedMLLMError(f"{where}: conversations[{i}] is not an object")
        targets += list(text_slots(record))  # every turn, either form, and a DPO record's prompt and answers
    for container, key, label in targets:
        value = container[key]
        if value is None:
            continue
        if not isinstance(value, str):
            raise MedMLLMError(f"{where}: field {label!r} is not a string ({type(value).__name__})")
        clean, findings = scrub_text(value, names=names)
        container[key] = clean
        for f in findings:
            kinds[f.kind] = kinds.get(f.kind, 0) + 1
    return len(targets)


def scrub_jsonl(in_path: str | Path, out_path: str | Path, *, fields: Iterable[str] | None = None,
                names: Iterable[str] | None = None) -> dict[str, Any]:
    """Scrub a JSONL manifest into ``out_path`` (written atomically); return counts.

    By default every turn text (``value`` or ``content`` in ``conversations`` and ``prompt``, a
    preference record's ``chosen`` and ``rejected``) and a top-level ``text`` are scrubbed; ``fields``
    names top-level string fields instead. Bad lines raise ``MedMLLMError("<file>:<line>: ...")``.
    """
    import json

    src, dst = Path(in_path), Path(out_path)
    if not src.is_file():
        raise MedMLLMError(f"{src}: file not found")
    if dst.exists() and dst.resolve() == src.resolve():
        raise MedMLLMError(f"{dst}: the output is the input file; choose another path (input is never modified)")
    fields = [f for f in (fields or []) if f] or None
    names = list(names or [])
    kinds: dict[str, int] = {}
    records = scrubbed = 0
    out_lines: list[str] = []
    try:
        fh = open(src, encoding="utf-8")
    except OSError as e:
        raise MedMLLMError(f"{src}: cannot read ({e.strerror or e})") from None
    with fh:
        lineno = 0
        try:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                where = f"{src}:{lineno}"
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as e:
                    raise MedMLLMError(f"{where}: invalid JSON ({e.msg} at column {e.colno})") from None
                if not isinstance(record, dict):
                    raise MedMLLMError(f"{where}: a record must be a JSON object, not {type(record).__name__}")
                scrubbed += _scrub_record(record, fields, names, kinds, where)
                records += 1
                out_lines.append(json.dumps(record, ensure_ascii=False) + "\n")
        except UnicodeDecodeError as e:
            raise MedMLLMError(f"{src}:{lineno + 1}: not UTF-8 text ({e.reason})") from None
    atomic_write(dst, "".join(out_lines))
    return {"records": records, "fields_scrubbed": scrubbed, "findings": dict(sorted(kinds.items())),
            "out": dst}
