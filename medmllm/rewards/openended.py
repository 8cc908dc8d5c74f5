"""`open_match`: token F1 between the answer and the reference after normalisation and synonyms.

Normalisation (both sides): lowercase; punctuation to spaces; simple plural stripping
("nodules" → "nodule", "abnormalities" → "abnormality", "masses" → "mass"; words of 3 letters or
fewer and those ending in -ss/-us/-is are kept); articles dropped; then `SYNONYMS` phrases are
rewritten to their canonical form (longest phrase first, one left-to-right pass); then "and" is
dropped (a list separator like the comma).

Hard zeros (documented choice: 0, not a cap):
- laterality: when the reference names a side (left / right / bilateral), the answer must name
  exactly the same sides — a different side, no side, or both ("left or right") scores 0;
- negation: when exactly one side carries a negation (no, not, without, absent, negative, none),
  e.g. "no pneumothorax" against "pneumothorax", the score is 0.

`SYNONYMS` is data: canonical form → variants, chosen for MedSynth's vocabulary (x-ray findings,
lung zones, CT organs and lesions, ECG rhythms). Organ adjectives are canonical ("renal",
"hepatic", "pulmonary") and lesion/mass/nodule/tumour are one family ("lesion").
"""
from __future__ import annotations

from collections import Counter

from ..answers import answer_part, words
from . import register

SYNONYMS: dict[str, tuple[str, ...]] = {
    "cardiomegaly": ("enlarged heart", "heart enlargement", "cardiac enlargement", "enlargement of the heart",
                     "enlarged cardiac silhouette", "enlarged cardiac shadow", "heart is enlarged",
                     "cardiac silhouette is enlarged", "large heart", "big heart"),
    "pleural effusion": ("pleural fluid", "fluid in the pleural space", "pleural fluid collection",
                         "fluid in the pleural cavity", "hydrothorax", "effusion"),
    "pericardial effusion": (),  # listed so that "effusion" inside it is not rewritten
    "pneumothorax": ("collapsed lung", "lung collapse", "ptx", "air in the pleural space", "pneumothoraces"),
    "lesion": ("nodule", "mass", "tumor", "tumour", "focal lesion", "neoplasm"),
    "pulmonary": ("lung",),
    "renal": ("kidney",),
    "hepatic": ("liver",),
    "hepatic lobe": ("lobe of the liver", "liver lobe"),
    "middle zone": ("mid zone", "midzone", "middle lung zone", "mid lung zone"),
    "upper zone": ("upper lung zone",),
    "lower zone": ("lower lung zone",),
    "bilateral": ("bilaterally", "both sides", "on both sides", "left and right", "right and left"),
    "atrial fibrillation": ("af", "afib", "a fib", "atrial fib", "auricular fibrillation"),
    "normal sinus rhythm": ("nsr", "normal sinus", "regular sinus rhythm"),
    "sinus bradycardia": ("sinus brady", "sinus bradycardic rhythm"),
    "sinus tachycardia": ("sinus tach", "sinus tachy", "sinus tachycardic rhythm"),
    "bradycardia": ("brady",),
    "tachycardia": ("tachy",),
    "normal": ("unremarkable", "no abnormality", "no abnormalities", "no abnormal finding", "no acute finding",
               "no acute abnormality", "no significant abnormality", "no acute cardiopulmonary process",
               "no acute cardiopulmonary abnormality", "within normal limits", "no finding", "nothing abnormal",
               "normal study", "normal examination"),
    "bpm": ("beats per minute", "beat per minute", "beats per min", "beats min", "beats/min", "b p m"),
    "mm": ("millimeter", "millimetre", "millimeters", "millimetres"),
    "cm": ("centimeter", "centimetre", "centimeters", "centimetres"),
}

SIDES = frozenset({"left", "right", "bilateral"})
NEGATIONS = frozenset({"no", "not", "without", "absent", "negative", "none", "neither", "nor"})
_ARTICLES = frozenset({"a", "an", "the"})
_KEEP = frozenset({"pancreas", "bilateral", "mass", "thorax"})


def _singular(w: str) -> str:
    if len(w) <= 3 or w in _KEEP or w.endswith(("ss", "us", "is")):
        return w
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith("sses"):
        return w[:-2]
    return w[:-1] if w.endswith("s") else w


def _base(text: str) -> list[str]:
    return [_singular(w) for w in words(text) if w not in _ARTICLES]


def _build_table() -> tuple[dict[tuple[str, ...], tuple[str, ...]], int]:
    table: dict[tuple[str, ...], tuple[str, ...]] = {}
    for canonical, variants in SYNONYMS.items():
        target = tuple(_base(canonical))
        for phrase in (canonical, *variants):
            key = tuple(_base(phrase))
            if key and table.setdefault(key, target) != target:
                raise ValueError(f"synonym {phrase!r} maps to two canonical forms")
    return table, max(len(k) for k in table)


_TABLE, _LONGEST = _build_table()


def normalise(text: str) -> list[str]:
    """The tokens `open_match` compares (see the module docstring)."""
    tokens, out, i = _base(text), [], 0
    while i < len(tokens):
        for n in range(min(_LONGEST, len(tokens) - i), 0, -1):
            hit = _TABLE.get(tuple(tokens[i:i + n]))
            if hit is not None:
                out.extend(hit)
                i += n
                break
        else:
            out.append(tokens[i])
            i += 1
    return [t for t in out if t != "and"]


def token_f1(a: list[str], b: list[str]) -> float:
    """SQuAD-style token F1 of two token lists (0.0 when either is empty)."""
    common = sum((Counter(a) & Counter(b)).values())
    if not a or not b or not common:
        return 0.0
    p, r = common / len(a), common / len(b)
    return 2 * p * r / (p + r)


@register("open_match")
def open_match(completion: str, reference: str) -> float:
    """Token F1 of the normalised answers; 0 on a wrong/missing side or a one-sided negation."""
    ans, ref = normalise(answer_part(completion)), normalise(answer_part(reference))
    if not ans or not ref:
        return 0.0
    ref_sides = SIDES.intersection(ref)
    if ref_sides and SIDES.intersection(ans) != ref_sides:
        return 0.0
    if bool(NEGATIONS.intersection(ans)) != bool(NEGATIONS.intersection(ref)):
        return 0.0
    return token_f1(ans, ref)
