"""Addresses (street, P.O. box, city + state + ZIP, a city after a residence cue) and institutions.

Street addresses are a house number, up to four name words and a street suffix ("4417 old mill
rd., apt 3"), with an optional ", City, ST 12345" tail; the words may not be units or clinical
words, so "5 cm per Dr. Smith" is no address. Institutions are a head phrase ("hospital",
"medical center", "clinic", ...) with the name words before it and an "of ..." tail after it;
generic mentions ("the outside hospital", "a community hospital") are left alone. Everything is
matched by RE2 (``linear.py``); the word scans around a match look at most 120 characters.
"""

from __future__ import annotations

from .linear import compile_re, finditer, spans
from .vocab import STOP, clinical, eponym

__all__ = ["place_spans", "INSTITUTION_HEAD"]

Span = tuple[int, int, str, int]

_STATES = ("AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|"
           "ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR")
_STATE_NAMES = ("alabama|alaska|arizona|arkansas|california|colorado|connecticut|delaware|florida|georgia|hawaii|"
                "idaho|illinois|indiana|iowa|kansas|kentucky|louisiana|maine|maryland|massachusetts|michigan|"
                "minnesota|mississippi|missouri|montana|nebraska|nevada|new\\s+hampshire|new\\s+jersey|new\\s+mexico|"
                "new\\s+york|north\\s+carolina|north\\s+dakota|ohio|oklahoma|oregon|pennsylvania|rhode\\s+island|"
                "south\\s+carolina|south\\s+dakota|tennessee|texas|utah|vermont|virginia|washington|"
                "west\\s+virginia|wisconsin|wyoming|ontario|quebec")
_AMBIGUOUS_STATES = frozenset({"MD", "PA", "CT", "DE", "OR", "IN", "ME", "OK", "HI", "CO", "MS", "LA", "AL", "ID",
                               "MA", "MT", "NE", "DC", "SC"})
_SUFFIX = (r"street|st|avenue|ave|av|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|pl|terrace|ter|"
           r"circle|cir|highway|hwy|parkway|pkwy|square|sq|trail|trl|alley|row|crescent|close|plaza|route|rte|"
           r"pike|turnpike|expressway|freeway|loop|run|path|walk|gardens|heights|hill|park")
_ZIP = r"\d{5}(?:-\d{4})?"
_TAIL = (rf"(?:,?\s+(?:apt|apartment|suite|ste|unit|room|rm|fl|floor|bldg|building|#)\.?\s*#?\s*[\w-]+)?"
         rf"(?:,\s*[a-z][\w'.-]*(?:\s+[a-z][\w'.-]*){{0,2}})?(?:,?\s+(?:{_STATES}|{_STATE_NAMES})\.?)?(?:,?\s+{_ZIP})?")
_STREET_RE = compile_re(
    rf"(?:^|[^\w./-])(?P<v>\d{{1,6}}(?:-?[a-z])?(?:-\d{{1,4}})?\s+(?P<w>(?:[a-z0-9][\w'.-]*\s+){{0,3}}?[a-z][\w'.-]*)\s+"
    rf"(?:{_SUFFIX})\.?(?P<t>{_TAIL}))(?:$|[^\w])", ignore_case=True)
_POBOX_RE = compile_re(rf"(?:^|[^\w])(?P<v>p\.?\s?o\.?\s+box\s+\d+{_TAIL})", ignore_case=True)
_CITY_STATE_RE = compile_re(
    rf"(?:^|[^\w])(?P<v>[A-Z][a-z'.-]+(?:[ -][A-Z][a-z'.-]+){{0,2}},\s*(?P<st>{_STATES})\.?(?:\s+{_ZIP})?)(?:$|[^\w])")
_CITY_ZIP_RE = compile_re(
    rf"(?:^|[^\w])(?P<v>[a-z][a-z'.-]+(?:[ -][a-z][a-z'.-]+){{0,2}},?\s+(?:{_STATES}|{_STATE_NAMES})\.?,?\s+{_ZIP})"
    r"(?:$|[^\w])", ignore_case=True)
_ZIP_LABEL_RE = compile_re(rf"(?:zip|zip\s*code|postal\s*code|postcode)\s*[:#]?\s*(?P<v>{_ZIP}|[a-z]\d[a-z]\s?\d[a-z]\d)",
                           ignore_case=True)
_CITY_CUE_RE = compile_re(
    r"(?:^|[^\w])(?:lives|living|live|resides|residing|resident|moved|relocated|travell?ed|travell?ing|visiting|"
    r"born|native|hometown|address|addr|city|town|village|county|commutes|emigrated|immigrated|vacation|trip|"
    r"transferred|flown|returned|returning|arrived|originally|formerly|hails|grew\s+up|raised|visited)"
    r"(?:\s+(?:in|to|from|of|at|is|near))?\s*:?\s*(?:the\s+)?"
    r"(?:(?:city|town|county)\s+of\s+)?(?P<v>)", ignore_case=True)
_PLACE_WORD_RE = compile_re(r"(?P<v>[A-Za-z][A-Za-z'.-]*)")
INSTITUTION_HEAD = (r"hospitals?(?:\s+(?:cent(?:er|re)|system|network|campus))?|medical\s+cent(?:er|re)|med\s+ctr|health\s+(?:center|centre|system|services|network|"
                    r"sciences\s+center|partners)|healthcare|health\s+care|clinic|infirmary|institute|sanatorium|"
                    r"hospice|nursing\s+home|rehabilitation\s+(?:center|hospital)|rehab\s+center|cancer\s+center|"
                    r"imaging\s+center|surgery\s+center|surgical\s+center|urgent\s+care|medical\s+group|"
                    r"radiology\s+associates|family\s+practice|pediatrics|medical\s+associates|polyclinic")
_INST_RE = compile_re(
    rf"(?:^|[^\w])(?P<h>{INSTITUTION_HEAD})(?P<t>\s+of\s+(?:the\s+)?[a-z][\w'.-]*(?:\s+(?:of\s+)?[a-z][\w'.-]*){{0,3}})?"
    r"(?:$|[^\w])", ignore_case=True)
_SAINT_RE = compile_re(r"(?:^|[^\w])(?P<v>(?:St\.?|Saint|Mount|Mt\.?)\s+[A-Z][a-z]+(?:'s)?(?:[ -][A-Z][a-z]+){0,2})")
# words that name no place or institution by themselves ("the outside hospital", "a children's hospital")
GENERIC = frozenset("""outside local referring community general county regional university university's teaching
state federal private public psychiatric children children's women's veterans va mental memorial our your their his
her this that another other same nearest nearby main city district rural urban city's rehab rehabilitation acute
chronic care long-term nursing skilled specialty tertiary academic affiliated home hospital hospitals clinic
clinics center centre health medical dental eye cancer heart imaging surgery surgical pediatric radiology
emergency urgent primary family practice group associates institute abroad here there area country school work
office facility facilities shelter prison jail church store home-town downtown""".split())


def _keep_word(word: str, digits: bool = False) -> bool:
    w = word.lower().strip(",.;:")
    if digits and any(c.isdigit() for c in w):
        return True
    return bool(w) and w not in STOP and w not in GENERIC and not clinical(w) and not eponym(w)


def _trim(text: str, start: int, end: int, digits: bool = False) -> tuple[int, int] | None:
    """Cut leading and trailing words that are stop, generic or clinical words; None if none is left."""
    words, pos = [], start
    for piece in text[start:end].split():
        i = text.index(piece, pos)
        words.append((i, i + len(piece), piece))
        pos = i + len(piece)
    while words and not _keep_word(words[0][2], digits):
        words.pop(0)
    while words and not _keep_word(words[-1][2], digits):
        words.pop()
    if not words:
        return None
    last = words[-1][2]
    cut = 1 if last[-1] in ",;:" or (last[-1] == "." and len(last) > 4) else 0  # "Pennsylvania." but "St."
    return words[0][0], words[-1][1] - cut


# words that are stop or generic words alone but parts of place names ("New Orleans", "Salt Lake City")
_PLACE_PARTS = frozenset("""new old fort lake city san santa st saint el los las la le de del da do dos rio ho chi minh
port mount mt north south east west upper lower grand great little salt cedar palm""".split())


def _place_after(text: str, pos: int) -> tuple[int, int] | None:
    """Up to three place words right after a residence cue ("lives in san antonio"), stopping at the first
    stop, generic or clinical word; None if the first word is one."""
    window = text[pos:pos + 60]
    words = [m.span("v") for m in finditer(_PLACE_WORD_RE, window)] if window else []
    start = end = None
    for k, (a, b) in enumerate(words[:4]):
        w = window[a:b]
        if window[end or 0:a].strip() or not (_keep_word(w) or (w.lower().rstrip(".") in _PLACE_PARTS
                                                                  and k + 1 < len(words))):
            break
        start = a if start is None else start
        end = b - (1 if window[b - 1] == "." and b - a > 3 else 0)
    return None if start is None else (pos + start, pos + end)


def _street_ok(words: list[str]) -> bool:
    """The words between the house number and the suffix: no lower-case clinical word, not all stop words."""
    if any(clinical(w) and not w[:1].isupper() and not w[:1].isdigit() for w in words):
        return False
    return not all(w.lower().strip(".,") in STOP for w in words)


def _institution(text: str, hstart: int, end: int, tail: bool) -> tuple[int, int] | None:
    """Extend an institution head backwards over its name words (at most five, 120 characters)."""
    words = text[max(0, hstart - 120):hstart].split()
    start, taken = hstart, []
    for word in reversed(words[-5:]):
        bare = word.strip(",.;:()").lower()
        key = bare[:-2] if bare.endswith("'s") else bare
        if not bare or word[-1:] in ",;:(" or (word.endswith(".") and len(bare) > 2 and bare not in {"st", "mt", "ft"}):
            break
        if (key in STOP and key not in {"of", "st"}) or (clinical(key) and key not in GENERIC) or eponym(key):
            break
        taken.append(key)
        start = text.rindex(word, 0, start)
    while taken and taken[-1] == "of":  # "... of Hospital" never starts a name
        taken.pop()
    if not tail and all(w in GENERIC or w == "of" for w in taken):
        return None
    return start, end


def place_spans(text: str) -> list[Span]:
    """Candidate ADDRESS and HOSPITAL spans."""
    out: list[Span] = []
    for m in finditer(_STREET_RE, text):
        if _street_ok(m.group("w").split()):
            tail = _trim(text, m.start("t"), m.end("t"), digits=True) if m.end("t") > m.start("t") else None
            out.append((m.start("v"), tail[1] if tail else m.start("t"), "ADDRESS", 2))
    out += [(a, b, "ADDRESS", 2) for a, b in spans(_POBOX_RE, text, "v")]
    for a, b in spans(_CITY_ZIP_RE, text, "v"):
        cut = _trim(text, a, b, digits=True)
        if cut is not None:
            out.append((cut[0], cut[1], "ADDRESS", 2))
    out += [(a, b, "ADDRESS", 2) for a, b in spans(_ZIP_LABEL_RE, text, "v")]
    for m in finditer(_CITY_STATE_RE, text):
        a, b = m.span("v")
        if m.group("st") not in _AMBIGUOUS_STATES or any(c.isdigit() for c in text[a:b]):
            out.append((a, b, "ADDRESS", 2))
    for m in finditer(_CITY_CUE_RE, text):
        found = _place_after(text, m.end("v"))
        if found is not None:
            out.append((*found, "ADDRESS", 6))
    for m in finditer(_INST_RE, text):
        hstart, end = m.start("h"), m.end("h")
        tail = _trim(text, m.start("t"), m.end("t")) if m.start("t") >= 0 else None
        end = tail[1] if tail else end
        found = _institution(text, hstart, end, tail is not None)
        if found is not None:
            out.append((found[0], found[1], "HOSPITAL", 2))
    out += [(a, b, "HOSPITAL", 5) for a, b in spans(_SAINT_RE, text, "v")]
    return out
