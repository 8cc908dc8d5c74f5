r"""R2Gen's report cleaning (cuhksz-nlp/R2Gen modules/tokenizers.py), same behaviour: checked against
the original's recorded outputs in tests/eval/test_lexical.py. Its character class is a non-raw
string whose "\[" "\]" escapes Python keeps, i.e. the pattern below; note `:-\[` is a range,
so "-" itself survives."""
from __future__ import annotations

import re

_R2GEN_CHARS = re.compile(r"[.,?;*!%^&_+():-\[\]{}]")


def _r2gen_sent(t: str) -> str:
    return _R2GEN_CHARS.sub("", t.replace('"', "").replace("/", "").replace("\\", "").replace("'", "").strip().lower())


def _join(t: str) -> str:
    """Both cleaners' tail: drop list numbering "1. " ... "5. ", lowercase, split on ". ", clean each
    sentence, join with " . " and end with " ."."""
    t = (t.replace("1. ", "").replace(". 2. ", ". ").replace(". 3. ", ". ").replace(". 4. ", ". ")
         .replace(". 5. ", ". ").replace(" 2. ", ". ").replace(" 3. ", ". ").replace(" 4. ", ". ")
         .replace(" 5. ", ". ").strip().lower().split(". "))
    return " . ".join(_r2gen_sent(s) for s in t) + " ."


def clean_report_mimic_cxr(report: str) -> str:
    t = report.replace("\n", " ")
    for _ in range(7):
        t = t.replace("__", "_")
    for _ in range(6):
        t = t.replace("  ", " ")
    for _ in range(8):
        t = t.replace("..", ".")
    return _join(t)


def clean_report_iu_xray(report: str) -> str:
    t = report
    for _ in range(3):
        t = t.replace("..", ".")
    return _join(t)
