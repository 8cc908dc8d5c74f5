"""Tokenisers for the report-generation metrics.

`ptb`      pure-Python re-implementation of what pycocoevalcap's `PTBTokenizer` produces:
           Stanford CoreNLP 3.4.1 `PTBTokenizer -preserveLines -lowerCase`, then the tokens in
           pycocoevalcap's PUNCTUATIONS list dropped.  Like the reference, all captions of one
           call are tokenised as one newline-joined stream, because a few rules look at the next
           line (an abbreviation such as "etc." gets an extra "." when the next caption starts
           with a capital letter).  Known divergences are listed in `PTB_DIVERGENCES`.
`r2gen`    R2Gen's `clean_report_mimic_cxr` (cuhksz-nlp/R2Gen, modules/tokenizers.py), same output.
`r2gen_iu` R2Gen's `clean_report_iu_xray`, same output.
`none`     the text as given.

Every tokeniser returns *strings* (tokens joined by one space, as the reference pipelines hand
them to the scorers); the scorers split them exactly as pycocoevalcap does (BLEU/CIDEr on any
whitespace, ROUGE-L on " ").
"""
from __future__ import annotations

import re

from ._r2gen import clean_report_iu_xray, clean_report_mimic_cxr  # noqa: F401  (tokenize="r2gen", "r2gen_iu")

# pycocoevalcap/tokenizer/ptbtokenizer.py.  Note "-LRB-" etc. never match: the tokenizer runs with
# -lowerCase, so brackets survive as "-lrb-", "-rrb-", "-lsb-", "-rsb-", "-lcb-", "-rcb-" tokens.
PUNCTUATIONS = frozenset(["''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-",
                          ".", "?", "!", ",", ":", "-", "--", "...", ";"])

PTB_DIVERGENCES = """\
Known differences from the Java PTBTokenizer (CoreNLP 3.4.1) that the tests do not cover:
- the Java lexer is a JFlex DFA; this is a hand port of its rules for ordinary English/medical
  text. Rare constructs are approximated: SGML tags spanning a newline, phone numbers in exotic
  layouts, URLs with unusual punctuation, CP1252 control characters (U+0080-U+009F), and
  Unicode letters outside what Python's str.isalpha() calls letters.
- a character no rule matches is deleted, as the Java lexer deletes "untokenizable" characters;
  which characters those are follows Python's Unicode tables, not Java 17's + JFlex's.
- U+0085 (NEL) is treated as a line break; the Java lexer may read it as an ellipsis.
"""

# ---------------------------------------------------------------------------------------------
# PTB (CoreNLP 3.4.1) port.  Rule order and longest-match semantics follow JFlex: at each position
# every rule is tried, the longest match (trailing context included) wins, ties go to the earlier
# rule.  A rule is (regex with a group "t" for the token text, action).
# ---------------------------------------------------------------------------------------------

def _numeric_non_digits() -> str:
    # Python's \w also matches numeric characters that are not letters (No/Nl: "½", "²", "Ⅳ");
    # Java's [:letter:] does not: exclude them from the letter class.
    chars = [chr(c) for c in range(0x80, 0x10000) if chr(c).isalnum() and not chr(c).isalpha()
             and not chr(c).isdecimal()]
    return "".join(re.escape(c) for c in chars)


_NONLETTER_NUM = _numeric_non_digits()
_L = rf"[^\W\d_{_NONLETTER_NUM}]"      # a letter (Java Character.isLetter)
_LD = rf"[^\W_{_NONLETTER_NUM}]"        # letter or decimal digit
_D = r"\d"
_APOS = r"(?:['\u0092\u2019]|&apos;)"
_APOSETC = r"(?:['\u0092\u2019\u0091\u2018\u201B]|&apos;)"
_SPACE = r"[ \t\u00A0\u2000-\u200A\u3000]"
_NL = r"(?:\r\n|\r|\n|\u2028|\u2029|\u000B|\u000C|\u0085)"
_SPACENL = rf"(?:{_SPACE}|{_NL})"
_SGML = r"<\/?[A-Za-z!?][^>\r\n]*>"
_WORD = rf"(?:{_L}(?:{_LD}|\u00AD)*(?:[.!?]{_L}(?:{_LD}|\u00AD)*)*)"
_NUM = rf"(?:{_D}*(?:[.:,\u00AD\u066B\u066C]{_D}+)+|{_D}+)"
_NUMBER = rf"(?:[\-+]?{_NUM})"
_HYPHEN = r"[\-_\u058A\u2010\u2011]"
_THING = (rf"(?:(?:[dDoOlL]{_APOSETC}{_LD})?{_LD}+"
          rf"(?:{_HYPHEN}(?:[dDoOlL]{_APOSETC}{_LD})?{_LD}+)*)")
_ACRO = r"(?:[A-Za-z](?:\.[A-Za-z])+|(?i:canada|sino|korean|eu|japan|non)-U\.S|U\.S\.-(?:U\.K|U\.S\.S\.R))"
_ACRO1 = r"(?:[A-Za-z](?:\.[A-Za-z])*|(?i:canada|sino|korean|eu|japan|non)-U\.S|U\.S\.-(?:U\.K|U\.S\.S\.R))"
_HTHING = rf"(?:[A-Za-z0-9][A-Za-z0-9.,\u00AD]*(?:-(?:[A-Za-z0-9\u00AD]+|{_ACRO}\.))+)"
_REDAUX = rf"(?:{_APOS}(?:(?i:re|ve|ll)|[msdMSD]))"
_INSENTP = r"[,;:]"
_ABMONTH = r"jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
_ABDAYS = r"mon|tue|tues|wed|thu|thurs|fri"
# JFlex %caseless leaves character classes alone: "[M]ass" matches "Mass." but not "mass."
_ABSTATE = (r"ala|ariz|calif|colo|conn|ct|dak|del|fla|ga|ind|kans?|ky|la|md|mich|minn|"
            r"mo|mont|neb|nev|okla|pa|penn|tenn|tex|va|vt|wisc?|wyo")
_ABSTATE_CS = r"A(?i:rk)|I(?i:ll)|M(?i:ass)|M(?i:iss)|O(?i:re)|W(?i:ash)"
_ABCOMP = r"inc|cos?|corp|pp?tys?|ltd|plc|bancorp|dept|bhd|assn|univ|intl|sys"
_ABNUM = r"tel|est|ext|sq"
_ABPTIT = r"jr|sr|bros|(?:ed|ph)\.d|blvd|rd|esq"
_ABBREV1 = rf"(?:(?:(?i:{_ABMONTH}|{_ABDAYS}|{_ABSTATE}|{_ABCOMP}|{_ABNUM}|{_ABPTIT}|etc|al|seq)|{_ABSTATE_CS})\.)"
_ABTITLE = (r"mr|mrs|ms|drs?|profs?|sens?|reps?|attys?|lt|col|gen|messrs|govs?|adm|rev|maj|sgt|"
            r"cpl|pvt|mt|capt|ste?|ave|pres|lieut|hon|brig|co?mdr|pfc|spc|supts?|det")
_ABCOMP2 = r"invt|elec|natl|m[ft]g"
_ABBREV4 = rf"(?:{_ACRO}|(?i:a\.k\.a|{_ABTITLE}|vs|alex|wm|jos|cie|cf|treas|{_ABCOMP2})|M(?i:iss)|[A-Za-z])"
_ABBREV2 = rf"(?:{_ABBREV4}\.)"
_ABBREV3 = r"(?:(?i:ca|figs?|prop|nos?|art|bldg|pp|op)\.)"
_SENTEND = rf"(?:{_SPACENL}(?:{_SPACENL}|[A-Z]|{_SGML}))"
_ACRO_FOLLOW = ("About|According|Additionally|After|An|A|As|At|But|Earlier|He|Her|Here|However|If|In|"
                "It|Last|Many|More|Mr\\.|Ms\\.|Now|Once|One|Other|Our|She|Since|So|Some|Such|That|The|"
                "Then|There|These|They|This|We|When|While|What|Yet|You")
_APOWORD = (rf"(?:{_APOS}n{_APOS}?|[lLdDjJ]{_APOS}|(?i:dunkin|somethin|ol){_APOS}|{_APOS}(?i:em)|"
            rf"[A-HJ-XZn]{_APOSETC}{_L}{{2}}{_L}*|{_APOS}[2-9]0(?i:s)|{_APOS}(?i:till?)|"
            rf"{_L}+[aeiouyAEIOUY]{_APOSETC}[aeiouA-Z]{_L}*|{_APOS}(?i:cause)|(?i:cont'd\.?|nor'easter|"
            rf"c'mon|e'er|s'mores|ev'ry|li'l|nat'l))")
_FULLURL = r"https?:\/\/[^ \t\n\f\r\"<>|()]+[^ \t\n\f\r\"<>|.!?(){},-]"
_LIKELYURL = (r"(?:(?:www\.(?:[^ \t\n\f\r\"<>|.!?(){},]+\.)+[a-zA-Z]{2,4})|"
              r"(?:(?:[^ \t\n\f\r\"`'<>|.!?(){}\x2C-\x5F$]+\.)+(?:com|net|org|edu)))"  # JFlex ",-_" is a range
              r"(?:\/[^ \t\n\f\r\"<>|()]+[^ \t\n\f\r\"<>|.!?(){},-])?")
_EMAIL = r"[a-zA-Z0-9][^ \t\n\f\r\"<>|()\u00A0]*@(?:[^ \t\n\f\r\"<>|().\u00A0]+\.)+[a-zA-Z]{2,4}"
_DATE = rf"(?:{_D}{{1,2}}[\-\/]{_D}{{1,2}}[\-\/]{_D}{{2,4}})"
_FRAC = rf"(?:(?:{_D}{{1,4}}[- \u00A0])?{_D}{{1,4}}(?:\\?\/|\u2044){_D}{{1,4}})"
_THING3 = r"(?:[A-Za-z0-9]+(?:-[A-Za-z]+){0,2}(?:\\?\/[A-Za-z0-9]+(?:-[A-Za-z]+){0,2}){1,2})"
_PHONE = r"(?:(?:\([0-9]{3}\)[ \u00A0]?|[0-9]{3}[\- \u00A0.])[0-9]{3}[\- \u00A0.][0-9]{4})"
_MISC = ("[\u00A6\u00A7\u00A8\u00A9\u00AC\u00AE\u00AF\u00B0-\u00B3\u00B4-\u00BA\u00D7\u00F7\u0387\u2020-\u2023"
         "\u2032-\u2038\u2044\u207A-\u207F\u208A-\u208E\u2100-\u214F\u2190-\u21FF\u2200-\u22FF"
         "\u2300-\u23FF\u2600-\u26FF\u3012\u30FB\uFF01-\uFF0F\uFF1A-\uFF20\uFF3B-\uFF40\uFF5B-\uFF65]")

_FRAC2 = {"\u00BC": "1/4", "\u00BD": "1/2", "\u00BE": "3/4", "\u2153": "1/3"}


def _latex_quotes(s: str, left: bool) -> str:
    if left:
        s = s.replace("&apos;", "`").replace("'", "`").replace("&quot;", "``").replace('"', "``")
    else:
        s = s.replace("&apos;", "'").replace("&quot;", "''").replace('"', "''")
    s = re.sub("[\u0091\u2018\u201B\u2039]", "`", s)
    s = re.sub("[\u0092\u2019\u203A]", "'", s)
    s = re.sub("[\u0093\u201C\u00AB]", "``", s)
    return re.sub("[\u0094\u201D\u00BB]", "''", s)


def _soft(s: str) -> str:
    return s.replace("\u00AD", "")


def _nbsp(s: str) -> str:
    return s.replace(" ", "\u00A0")


# actions: str -> list[str] of tokens (usually one); "PUSH1" style handled via the returned length
_RULES: list[tuple[str, str]] = [
    # (name, pattern); group "t" is the token, anything after it is trailing context
    ("assim3", r"(?P<t>(?i:can))(?i:not)"),
    ("assim2", r"(?P<t>(?i:gon(?=na)|got(?=ta)|lem(?=me)|gim(?=me)|wan(?=na)))(?i:na|ta|me)"),  # gonna gotta lemme gimme wanna
    ("assim2", r"(?P<t>'(?i:t))(?i:is)"),
    ("sgml", rf"(?P<t>{_SGML})"),
    ("spmdash", r"(?P<t>&(?i:MD|mdash|ndash);|[\u0096\u0097\u2013\u2014\u2015])"),
    ("spamp", r"(?P<t>(?i:&amp;))"),
    ("sppunc", r"(?P<t>&(?:HT|TL|UR|LR|QC|QL|QR|odq|cdq|#[0-9]+);)"),
    ("word", rf"(?P<t>{_WORD}){_REDAUX}"),
    ("word", rf"(?P<t>[A-Za-z\u00AD]*[A-MO-Za-mo-z]\u00AD*)n{_APOSETC}t"),
    ("word", rf"(?P<t>{_WORD})"),
    ("plain", rf"(?P<t>{_APOWORD})"),
    ("plain", rf"(?P<t>y{_APOS}){_L}"),
    ("plain", rf"(?P<t>{_FULLURL})"),
    ("plain", rf"(?P<t>{_LIKELYURL})"),
    ("plain", rf"(?P<t>{_EMAIL})"),
    ("right", rf"(?P<t>{_REDAUX})[^A-Za-z]"),
    ("right", rf"(?P<t>n{_APOSETC}t)"),
    ("plain", rf"(?P<t>{_DATE})"),
    ("word", rf"(?P<t>{_NUMBER})"),
    ("plain", r"(?P<t>[\u207A\u207B\u208A\u208B]?(?:[\u2070\u00B9\u00B2\u00B3\u2074-\u2079]+|[\u2080-\u2089]+))"),
    ("nbsp", rf"(?P<t>{_FRAC})"),
    ("frac2", r"(?P<t>[\u00BC\u00BD\u00BE\u2153-\u215E])"),
    ("amp", r"(?P<t>-(?:RRB|LRB|RCB|LCB|RSB|LSB)-|C\.D\.s|(?i:pro-|anti-)|S(?:&|&amp;)P-500|S(?:&|&amp;)Ls|"
            rf"(?i:cap){_APOS}n|(?i:c){_APOS}(?i:est))"),
    ("plain", rf"(?P<t>{_THING3})"),
    ("plain", r"(?P<t>[A-Z]*\$|#)"),
    ("plain", r"(?P<t>[\u00A2\u00A3\u00A4\u00A5\u0080\u20A0\u20AC\u060B\u0E3F\u20A4\uFFE0\uFFE1\uFFE5\uFFE6])"),
    ("acro_end", rf"(?P<t>{_ACRO1}\.){_SPACE}+(?:{_ACRO_FOLLOW}){_SPACENL}"),
    ("abbrev_end", rf"(?P<t>{_ABBREV1}){_SENTEND}"),
    ("plain", rf"(?P<t>{_ABBREV1})"),
    ("plain", rf"(?P<t>{_ABBREV2})"),
    ("plain", rf"(?P<t>{_ABBREV3}){_SPACE}?{_D}"),
    ("plain", rf"(?P<t>{_ABBREV4}){_SPACE}"),
    ("plain", rf"(?P<t>{_ACRO}){_SPACENL}"),
    ("plain", rf"(?P<t>{_APOS}[0-9][0-9]){_SPACENL}"),
    ("word", rf"(?P<t>{_WORD}\.){_INSENTP}"),
    ("phone", rf"(?P<t>{_PHONE})"),
    ("left", r"(?P<t>\"|&quot;)[A-Za-z0-9$]"),
    ("right", r"(?P<t>\"|&quot;)"),
    ("plain", r"(?P<t>[+%&\u2030\u2031~^|])"),
    ("lrb", r"(?P<t>[(<\[]|&lt;)"),
    ("rrb", r"(?P<t>[)>\]]|&gt;)"),
    ("lcb", r"(?P<t>\{)"),
    ("rcb", r"(?P<t>\})"),
    ("hyphens", r"(?P<t>-+)"),
    ("ldots", r"(?P<t>\.{3,5}|(?:\.[ \u00A0]){2,4}\.|[\u0085\u2026])"),
    ("plain", r"(?P<t>@+|#+|_+)"),
    ("plain", r"(?P<t>\*+|(?:\\\*){1,3})"),
    ("plain", rf"(?P<t>{_INSENTP})"),
    ("plain", r"(?P<t>[?!]+)"),
    ("plain", r"(?P<t>[.\u00A1\u00BF\u037E\u0589\u061F\u06D4\u0700-\u0702\u07FA])"),
    ("plain", r"(?P<t>[=/])"),
    ("word", rf"(?P<t>{_HTHING}\.){_INSENTP}"),
    ("word", rf"(?P<t>{_HTHING})"),
    ("plain", rf"(?P<t>{_THING}\.){_INSENTP}"),
    ("plain", rf"(?P<t>{_THING})"),
    ("amp", rf"(?P<t>[A-Z]+(?:(?:[+&]|&amp;)[A-Z]+)+\.){_INSENTP}"),
    ("amp", r"(?P<t>[A-Z]+(?:(?:[+&]|&amp;)[A-Z]+)+)"),
    ("left", r"(?P<t>')[A-Za-z][^ \t\n\r\u00A0]"),
    ("right", rf"(?P<t>{_REDAUX})"),
    ("right", rf"(?P<t>{_APOS}|''|[`\u2018\u2019\u201A\u201B\u201C\u201D\u0091\u0092\u0093\u0094\u201E\u201F"
              r"\u2039\u203A\u00AB\u00BB]{1,2})"),
    ("plain", rf"(?P<t>{_MISC})"),
]
_COMPILED = [(name, re.compile(pat)) for name, pat in _RULES]
_SKIP = re.compile(r"[ \t\u00A0\u2000-\u200A\u3000\u200B\u200E\u200F\uFEFF\x00]+|&nbsp;")
def _action(name: str, tok: str, full: str) -> list[str]:
    if name == "word":
        return [_soft(tok)]
    if name == "left":
        return [_latex_quotes(tok, True)]
    if name == "right":
        return [_latex_quotes(tok, False)]
    if name == "nbsp":
        return [_nbsp(tok)]
    if name == "frac2":
        return [_FRAC2.get(tok, tok)]
    if name == "amp":
        return [re.sub("(?i:&amp;)", "&", tok)]
    if name == "spamp":
        return ["&"]
    if name == "spmdash":
        return ["--"]
    if name == "lrb":
        return ["-LRB-" if tok == "(" else "-LSB-" if tok == "[" else "<"]
    if name == "rrb":
        return ["-RRB-" if tok == ")" else "-RSB-" if tok == "]" else ">"]
    if name == "lcb":
        return ["-LCB-"]
    if name == "rcb":
        return ["-RCB-"]
    if name == "hyphens":
        return ["--" if 3 <= len(tok) <= 4 else tok]
    if name == "ldots":
        return ["..."]
    if name == "phone":
        return [_nbsp(tok).replace("(", "-LRB-").replace(")", "-RRB-")]
    return [tok]


# Fast path.  Text is cut into chunks at blanks (space, tab) and line breaks.  At a chunk start
# every rule starts afresh (no token ends with a blank, and a line start is a clean boundary: no
# rule crosses a line break).  For the chunk shapes below the longest match is known without
# trying the rules, given at most two checks on what follows the chunk:
#   word           ASCII letters, + optionally , ; : . or ".."   [word]  (+ the punctuation)
#                  not one of the assimilations (cannot, gonna, ...), which split; with a "."
#                  not an abbreviation the rules know (ABBREV1-3: etc., Dr., single letters, ...)
#   hyphenated     letters-letters[-...] (HTHING), letters/letters (THING3), digits+letters
#                  such as 8mm or 7th (THING); + optionally , ; : .   one token
#   number         digits, optionally .digits; + optionally , ; .
#   punctuation    , ; : . - --
# No URL, e-mail, SGML, apostrophe, ampersand or bracket rule can apply to these characters.
# Checks on what follows: a chunk ending in "." must not be followed by " ." (". . ." is an
# ellipsis), and a bare number must be followed by blanks and a letter, or by the line end (a
# digit could make a fraction "2 1/2" or a phone number "555 123 4567").
_FLAG_DOT, _FLAG_NUM = 1, 2
_CHUNK_CLASS = re.compile(
    r"(?P<w>[A-Za-z]+)(?P<wp>\.\.|[,;:.]?)"
    r"|(?P<h>[A-Za-z]+(?:-[A-Za-z]+)+|[A-Za-z]+/[A-Za-z]+|\d+[A-Za-z]+)(?P<hp>[,;:.]?)"
    r"|(?P<n>\d+(?:\.\d+)?)(?P<np>[,;.]?)"
    r"|(?P<p>[,;:.]|--?)?")
_ASSIMILATIONS = frozenset(["cannot", "gonna", "gotta", "lemme", "gimme", "wanna"])
_ABBREVIATION = re.compile(rf"{_ABBREV1}|{_ABBREV2}|{_ABBREV3}")
_NONBLANK = re.compile(r"[^ \t\n\r\u2028\u2029\u000B\u000C\u0085]*")
_BLANKS_THEN = re.compile(r"[ \t]*(.|\Z)", re.S)
# chunk -> (tokens, flag) or None (needs the rules); chunk -> ptb_tokenize output piece or False
_CHUNK_TOKENS: dict[str, tuple[tuple[str, ...], int] | None] = {}
_CHUNKS: dict[str, str | bool] = {}


def _classify(chunk: str) -> tuple[tuple[str, ...], int] | None:
    m = _CHUNK_CLASS.fullmatch(chunk)
    info = None
    if m is not None:
        w, h, n = m.group("w"), m.group("h"), m.group("n")
        if w:
            wl, punct = w.lower(), m.group("wp")
            if wl not in _ASSIMILATIONS and not (punct[:1] == "." and _ABBREVIATION.fullmatch(w + ".")):
                info = ((wl, *punct), _FLAG_DOT if punct[-1:] == "." else 0)
        elif h:
            punct = m.group("hp")
            info = ((h.lower(), *([punct] if punct else [])), _FLAG_DOT if punct == "." else 0)
        elif n:
            punct = m.group("np")
            info = ((n, *([punct] if punct else [])), _FLAG_DOT if punct == "." else 0 if punct else _FLAG_NUM)
        else:
            punct = m.group("p")
            info = (((punct,) if punct else ()), _FLAG_DOT if punct == "." else 0)
    if len(_CHUNKS) > 200_000:  # bound the caches on endless streams of new text
        _CHUNKS.clear()
        _CHUNK_TOKENS.clear()
    _CHUNK_TOKENS[chunk] = info
    _CHUNKS[chunk] = False if info is None else " ".join(t for t in info[0] if t not in PUNCTUATIONS)
    return info


_BREAK_CHARS = "\n\r\u2028\u2029\u000B\u000C\u0085"
_CHUNK_START = " \t" + _BREAK_CHARS
_OTHER_BREAKS = re.compile("[\r\u2028\u2029\u000B\u000C\u0085]")


def _scan_line(text: str, i: int) -> tuple[list[str], int]:
    """Tokens from `i` up to the next line break (lowercased, punctuation kept) and the index of
    that break (len(text) at the end).  Rules see the rest of `text` as trailing context."""
    toks: list[str] = []
    n = len(text)
    while i < n:
        ch = text[i]
        if ch in _BREAK_CHARS:
            return toks, i
        m = _SKIP.match(text, i)
        if m:
            i = m.end()
            continue
        if i == 0 or text[i - 1] in _CHUNK_START:
            e = _NONBLANK.match(text, i).end()
            chunk = text[i:e]
            info = _CHUNK_TOKENS.get(chunk, False)
            if info is False:
                info = _classify(chunk)
            if info is not None:
                flag = info[1]
                if flag == _FLAG_DOT:
                    ok = not text.startswith(" .", e)
                elif flag == _FLAG_NUM:
                    c = _BLANKS_THEN.match(text, e).group(1)  # next non-blank, "" at the end
                    ok = not c or c in _BREAK_CHARS or (c.isascii() and c.isalpha())
                else:
                    ok = True
                if ok:
                    toks += info[0]
                    i = e
                    continue
        best, best_len = None, 0
        for name, rx in _COMPILED:
            m = rx.match(text, i)
            if m and m.end() - i > best_len:
                best, best_len = (name, m), m.end() - i
        if best is None:  # untokenizable character: the Java lexer deletes it (with a warning)
            i += 1
            continue
        name, m = best
        tok = m.group("t")
        if name in ("acro_end", "abbrev_end"):
            if name == "acro_end" and len(tok) == 2:  # "I." + function word -> "I" "."
                toks += [tok[0].lower(), "."]
            else:
                toks += [tok.lower(), "."]
        else:
            toks.extend(t.lower() for t in _action(name, tok, m.group()))
        i += len(tok)
    return toks, n


def ptb_lines(text: str) -> list[list[str]]:
    """Tokens per line of `text` (lowercased, punctuation NOT yet removed)."""
    lines: list[list[str]] = []
    i, n = 0, len(text)
    while True:
        toks, i = _scan_line(text, i)
        lines.append(toks)
        if i >= n:
            return lines
        if text[i] == "\r" and i + 1 < n and text[i + 1] == "\n":
            i += 1
        i += 1
        if i >= n:
            lines.append([])
            return lines


# Line fast path of ptb_tokenize: a line whose space-separated chunks all have a known
# tokenisation, and which holds neither a bare number followed by blanks and a non-letter nor
# ". .", tokenises chunk by chunk, independently of the other lines.
_NUMBER_DANGER = re.compile(r"\d +[^ A-Za-z]")


def _fast_line(line: str) -> str | None:
    """ptb_tokenize's output for one line, or None when the line needs the full rules."""
    chunks = line.split(" ")
    pieces = list(map(_CHUNKS.get, chunks))  # None: not seen yet; False: needs the rules
    if None in pieces:
        for k, p in enumerate(pieces):
            if p is None:
                _classify(chunks[k])
                pieces[k] = _CHUNKS[chunks[k]]
    if False in pieces or ". ." in line or _NUMBER_DANGER.search(line):
        return None
    return " ".join(filter(None, pieces))


def ptb_tokenize(texts: list[str]) -> list[str]:
    """pycocoevalcap PTBTokenizer.tokenize for a list of captions, in order: one stream."""
    lines = [t.replace("\n", " ") for t in texts]
    joined = "\n".join(lines)
    if _OTHER_BREAKS.search(joined):  # other line breaks split captions: map the stream's lines
        out = []
        stream = ptb_lines(joined)
        for k in range(len(texts)):
            toks = stream[k] if k < len(stream) else []
            out.append(" ".join(w for w in toks if w not in PUNCTUATIONS))
        return out
    out, done, pos = [], {}, 0
    for line in lines:
        s = done.get(line)
        if s is None:
            s = _fast_line(line)
            if s is None:  # the full rules, with the stream as context (the next line matters)
                toks, _ = _scan_line(joined, pos)
                s = " ".join(w for w in toks if w not in PUNCTUATIONS)
            else:
                done[line] = s
        out.append(s)
        pos += len(line) + 1
    return out


TOKENIZERS = ("ptb", "r2gen", "r2gen_iu", "none")


def tokenize(texts: list[str], how: str) -> list[str]:
    if how == "ptb":
        return ptb_tokenize(texts)
    if how == "r2gen":
        return [clean_report_mimic_cxr(t) for t in texts]
    if how == "r2gen_iu":
        return [clean_report_iu_xray(t) for t in texts]
    if how == "none":
        return list(texts)
    from ...errors import MedMLLMError
    raise MedMLLMError(f"tokenize={how!r}: choose from {', '.join(TOKENIZERS)}")
