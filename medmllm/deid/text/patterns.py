"""Structured identifiers by RE2 patterns: dates, ages over 89, contacts, network addresses, IDs.

Each pattern consumes at most one context character before its value (RE2 has no look-behind) and
captures the value as group ``v``; the character after it is checked in Python (``_after``). The
value classes are bounded or single character classes, so no pattern relies on backtracking.
Ambiguous shapes are decided by context: "3/14" is a date unless a score word precedes it
("grade 3/4", "strength 4/5") or "of" follows; "1957" is a year unless a unit follows ("2000 mg").
"""

from __future__ import annotations

from collections.abc import Callable

from .linear import compile_re, spans

__all__ = ["structured_spans"]

Span = tuple[int, int, str, int]  # start, end, kind, priority (lower wins ties)

MONTH = (r"(?:january|february|march|april|june|july|august|september|october|november|december|"
         r"(?:jan|feb|mar|apr|may|jun|jul|aug|sept?|oct|nov|dec)\.?)")
_FULL_MONTH = r"(?:January|February|March|April|June|July|August|September|October|November|December)"
DAY = r"(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?"
YEAR = r"(?:1[89]\d\d|20\d\d)"
_B = r"(?:^|[^\w])"          # a word boundary, consumed
_BN = r"(?:^|[^\w./:-])"     # and not inside a number, a path or a time

_UNITS = frozenset("""mg mcg g kg ml cc l cm mm m km um hu units unit iu meq mmol mol mosm mmhg bpm hz khz mhz kv kvp
mas msv mgy gy rad cgy ms s sec min hr hrs h x kcal cal mm3 ml/min steps calories""".split())
_SCORE_WORDS = frozenset("""grade grades score scores stage gleason ratio strength power motor reflexes reflex murmur
bp pressure apgar gcs nyha tirads birads bi-rads pirads li-rads lirads fraction fractions view views lead leads
""".split())

_DATE_RES = [compile_re(p, ignore_case=True) for p in (
    rf"{_BN}(?P<v>{YEAR}[-/.](?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])(?:[t ]\d{{1,2}}:\d{{2}}(?::\d{{2}})?)?)",
    rf"{_BN}(?P<v>(?:0?[1-9]|[12]\d|3[01])[/-](?:0?[1-9]|[12]\d|3[01])[/-](?:{YEAR}|\d\d))",
    rf"{_BN}(?P<v>(?:0?[1-9]|[12]\d|3[01])\.(?:0?[1-9]|1[0-2])\.(?:{YEAR}|\d\d))",
    rf"{_B}(?P<v>{MONTH}[ -]{DAY}(?:(?:,\s*|\s+|-)(?:{YEAR}|'\d\d))?)",
    rf"{_B}(?P<v>(?:the\s+)?{DAY}(?:\s+of\s+|[ -]){MONTH}(?:(?:,\s*|\s+|-)(?:{YEAR}|'\d\d))?)",
    rf"{_B}(?P<v>{DAY}{MONTH}{YEAR})",
    rf"{_B}(?P<v>{MONTH},?\s+(?:of\s+)?(?:{YEAR}|'\d\d))",
    rf"{_BN}(?P<v>(?:0?[1-9]|1[0-2])/{YEAR})",
    rf"{_BN}(?P<v>{YEAR}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))",
    r"(?:^|[^\w:.])(?P<v>(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?(?:\s?(?:[ap]\.m\.|[ap]m))?)",
    rf"{_B}(?P<v>(?:0?[1-9]|1[0-2])\s?(?:[ap]\.m\.|[ap]m))",
    r"(?:^|[^\w:.])(?P<v>(?:[01]\d|2[0-3])[0-5]\d\s*(?:hours|hrs|h))",
    r"(?:^|[^\w.])(?P<v>(?:spring|summer|fall|autumn|winter|christmas|thanksgiving|easter)\s+(?:of\s+)?"
    rf"(?:{YEAR}|'\d\d))",
)]
_BARE_MONTH_RE = compile_re(rf"{_B}(?P<v>{_FULL_MONTH})")  # capitalised, not "May"
_YEAR_RE = compile_re(rf"(?:^|[^\w.,/:-])(?P<v>(?:'|’)?{YEAR}s?)")
_MONTH_DAY_RE = compile_re(r"(?:^|[^\w./:-])(?P<v>(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01]))")

_AGE_RES = [compile_re(p, ignore_case=True) for p in (
    r"(?:^|[^\w])(?:aged?|age\s*(?:of|:|=|is)?)\s*(?P<v>9\d|1[0-4]\d)",
    r"(?:^|[^\w.])(?P<v>9\d|1[0-4]\d)(?:\s*-?\s*(?:years?|yrs?|y\.?o\.?|y/o|yo|year-old|years-old)|[mf])(?:$|[^\w])",
    r"(?:^|[^\w])(?P<v>nonagenarian|centenarian|(?:in\s+(?:his|her|their)\s+)(?:nineties|90s|100s))",
)]

_EMAIL_RE = compile_re(r"(?P<v>[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
_URL_RE = compile_re(
    r"(?:^|[^\w@.-])(?P<v>(?:(?:https?|ftp|sftp|dicom|pacs)://|www\.)[^\s<>\"']+"
    r"|[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\.(?:com|org|net|edu|gov|mil|io|us|uk|ca|de|fr|nl|au|in|cn|jp|info|"
    r"health|med|hospital|local|internal)(?::\d+)?(?:/[^\s<>\"']*)?)", ignore_case=True)
_IPV4_RE = compile_re(r"(?:^|[^\w.])(?P<v>(?:\d{1,3}\.){3}\d{1,3}(?:/\d{1,2})?(?::\d{1,5})?)")
_HEX4 = r"[0-9a-f]{1,4}"
_IPV6_RE = compile_re(
    rf"(?:^|[^\w:])(?P<v>(?:{_HEX4}:){{7}}{_HEX4}|(?:{_HEX4}:){{1,7}}:(?:{_HEX4}(?::{_HEX4}){{0,6}})?|"
    rf"::{_HEX4}(?::{_HEX4}){{0,6}})(?:/\d{{1,3}})?", ignore_case=True)

_PHONE_RES = [compile_re(p, ignore_case=True) for p in (
    r"(?:^|[^\w+])(?P<v>(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}(?:\s?(?:x|ext\.?|extension)\s?\d{1,6})?)",
    r"(?:^|[^\w])(?P<v>\+\d{1,3}(?:[\s.-]?\(?\d{1,5}\)?){2,5})",
    r"(?:^|[^\w./-])(?P<v>\d{3}-\d{4})",
    r"(?:phone|telephone|tel|fax|facsimile|pager|pgr|beeper|cell|mobile|contact|callback|call\s*back|ph|ext|"
    r"extension)\.?\s*(?:no\.?|number|#|num)?\s*[:#=]?\s*(?:is\s+|at\s+)?(?P<v>\+?\(?\d[\d\s().-]{2,18}\d)",
)]
_SSN_RE = compile_re(r"(?:^|[^\w-])(?P<v>\d{3}-\d{2}-\d{4})")

_ID_LABEL = (r"mrn|mr\s?#|mr\s+(?:no|number)|medical\s+record(?:\s+(?:no|number|#))?|record\s+(?:no|number|#)|"
             r"(?:patient|pt|subject|member|subscriber|beneficiary|employee|badge|device|implant|specimen|"
             r"biometric|fingerprint|study|exam|visit|encounter|order|insurance|policy|claim|group|plan|"
             r"account|acct|certificate|cert|licen[cs]e|lic|registration|reg|permit|passport|vehicle|plate|tag|"
             r"serial|model|lot|catalog|ref|case|chart|unit|health\s+(?:card|plan)|medicaid|medicare)"
             r"(?:\s+(?:no|num|number|id|#|code|plate))*|"
             r"ssn|social\s+security(?:\s+(?:no|number))?|accession(?:\s+(?:no|number|#))?|acc|fin|csn|har|"
             r"dea|npi|upin|vin|udi|s/n|sn|p/n|imei|mac|id|#")
_LABELED_ID_RE = compile_re(
    rf"(?:^|[^\w])(?:{_ID_LABEL})\.?\s*(?:[:#=]|is|no\.?)?\s*#?\s*"
    r"(?P<v>(?:[a-z0-9][a-z0-9/_.-]{0,30})?\d(?:[a-z0-9/_.-]{0,30}[a-z0-9])?)",
    ignore_case=True)
# a labelled value in capitals without a digit ("Medicare number TZSC-CUU-SGWH", "VIN XSSXYSASTFDJBCJNZ")
_LABELED_CAPS_RE = compile_re(
    rf"(?:^|[^\w])(?i:{_ID_LABEL})\.?\s*(?:[:#=]|is|no\.?)?\s*#?\s*(?P<v>[A-Z0-9]{{2,}}(?:-[A-Z0-9]{{2,}})*)(?:$|[^\w])")
# a token with a digit, and the dash-, slash- or dot-joined parts around it ("SN-48213-XK")
_TOKEN_RE = compile_re(r"(?:^|[^A-Za-z0-9_./-])(?P<v>(?:[A-Za-z0-9]+[-_/.])*[A-Za-z]*[0-9][A-Za-z0-9]*(?:[-_/.][A-Za-z0-9]+)*)")
_FILE_RE = compile_re(r"(?P<v>[\w.-]+\.(?:jpe?g|png|tiff?|heic|bmp|gif|dcm|mp4|mov|wav))(?:$|[^\w])", ignore_case=True)
_TNM_RE = compile_re(r"(?:[cpy]?T[0-4x][a-d]?N[0-3x][a-c]?M[01x][a-c]?)")
_LEVEL_RE = compile_re(r"(?:[CTLS]\d{1,2}(?:-[CTLS]?\d{1,2})*)", ignore_case=True)  # spine levels: T12-L1


def _after(bad: str) -> Callable[[str, int, int], bool]:
    """Reject a span followed by a character in ``bad`` followed by a digit, or by a word character."""
    def check(text: str, start: int, end: int) -> bool:
        nxt = text[end:end + 1]
        if nxt.isalnum() or nxt == "_":
            return False
        return not (nxt and nxt in bad and text[end + 1:end + 2].isdigit())
    return check


_NUM_END = _after("./:-,")
_CAPS_WORDS = frozenset("PENDING UNKNOWN NONE NORMAL NEGATIVE POSITIVE REFUSED DECLINED VERIFIED".split())


def _prev_word(text: str, start: int) -> str:
    j = start
    while j > 0 and text[j - 1] in " \t(":
        j -= 1
    k = j
    while k > 0 and (text[k - 1].isalpha() or text[k - 1] == "-") and j - k < 20:
        k -= 1
    return text[k:j].lower()


def _next_word(text: str, end: int) -> str:
    j = end
    while j < len(text) and text[j] in " \t" and j - end < 3:
        j += 1
    k = j
    while k < len(text) and (text[k].isalpha() or text[k] == "/") and k - j < 12:
        k += 1
    return text[j:k].lower()


def _year_ok(text: str, start: int, end: int) -> bool:
    return _NUM_END(text, start, end) and _next_word(text, end) not in _UNITS and _prev_word(text, start) != "x"


def _month_day_ok(text: str, start: int, end: int) -> bool:
    if not _after("./:-")(text, start, end):
        return False
    return _prev_word(text, start) not in _SCORE_WORDS and _next_word(text, end) not in {"of", "th", "strength"}


def _phone_ok(text: str, start: int, end: int) -> bool:
    return _after("")(text, start, end) and sum(c.isdigit() for c in text[start:end]) >= 7


def _id_like(value: str) -> bool:
    """A token that looks like a record, device, vehicle or licence number rather than a clinical code."""
    digits = sum(c.isdigit() for c in value)
    letters = sum(c.isalpha() for c in value)
    if digits >= 5 and letters == 0:
        return "." not in value and "/" not in value  # not 0.123456, not a date or ratio
    if letters == 0 or digits < 3 or len(value) < 6 or _TNM_RE.fullmatch(value) or _LEVEL_RE.fullmatch(value):
        return False
    alpha = "".join(c for c in value if c.isalpha()).lower()
    if (alpha in _UNITS and letters <= 3 and value[-1].isalpha()) or alpha == "x" * len(alpha):
        return False  # 1500mg, 10x12x14
    return digits >= 4 or letters >= 2


def structured_spans(text: str) -> list[Span]:
    """Candidate spans of every structured identifier in ``text``."""
    out: list[Span] = []

    def add(regex, kind: str, prio: int, check=None) -> None:
        out.extend((a, b, kind, prio) for a, b in spans(regex, text, "v", check))

    add(_EMAIL_RE, "EMAIL", 0)
    out.extend((a, len(text[a:b].rstrip(".,;:!?)]'\"")) + a, "URL", 0) for a, b in spans(_URL_RE, text, "v")
               if not text[b:b + 1].isalpha())  # "atelectasis.Catheter" is no domain
    add(_IPV4_RE, "IP", 1, _after("."))
    add(_IPV6_RE, "IP", 1, lambda t, a, b: sum(c.isdigit() for c in t[a:b]) >= 1 and b - a >= 6)
    add(_SSN_RE, "ID", 1, _after("-"))
    add(_AGE_RES[0], "AGE", 1, _after("."))
    add(_AGE_RES[1], "AGE", 1)
    add(_AGE_RES[2], "AGE", 1)
    add(_LABELED_ID_RE, "ID", 1, lambda t, a, b: any(c.isdigit() for c in t[a:b]))
    add(_LABELED_CAPS_RE, "ID", 1, lambda t, a, b: b - a >= 6 and t[a:b].upper() not in _CAPS_WORDS)
    add(_FILE_RE, "ID", 1)
    for regex in _DATE_RES:
        add(regex, "DATE", 2, _NUM_END)
    add(_BARE_MONTH_RE, "DATE", 3, _after(""))
    add(_YEAR_RE, "DATE", 3, _year_ok)
    add(_MONTH_DAY_RE, "DATE", 3, _month_day_ok)
    for regex in _PHONE_RES:
        add(regex, "PHONE", 3, _phone_ok)
    add(_TOKEN_RE, "ID", 4, lambda t, a, b: _id_like(t[a:b]))
    return out
