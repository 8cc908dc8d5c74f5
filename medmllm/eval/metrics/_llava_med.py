"""The VQA-v2 answer normaliser as used by LLaVA-Med and MultiMedEval, quirks included.

Re-implements `normalize_word` of microsoft/LLaVA-Med @ b9a98a7
`llava/eval/eval_metrics/glossary.py` (MultiMedEval's `clean_str` is the same function with a
`lower()` first) and the token counting of `eval_metrics/{utils,evaluate_metrics}.py`
(`split_sentence`, `calculate_f1score`). tests/eval/test_vqa_metrics.py checks them against the
originals' outputs (stored, no code) on thousands of adversarial strings.

Behaviour worth knowing (all faithful to the original):
- punctuation in `PUNCT` is deleted when that character has a space beside it anywhere in the
  string, or when the string has a digit,digit comma; otherwise it becomes a space (`x-ray` -> `x ray`);
- a `.` not followed by a digit is removed, but only the first 32 of them (`re.UNICODE` == 32 is
  passed as `count`);
- number words `none`, `zero`..`ten` become digits (so `none` -> `0`), articles a/an/the are
  dropped, then the VQA contraction table maps e.g. `dont` -> `don't`.
"""
from __future__ import annotations

import re
from collections import Counter

# The VQA-v2 tables (the keys with capitals, e.g. "Im", can never match: words are lowercased first).
CONTRACTIONS = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've", "couldnt": "couldn't",
    "couldn'tve": "couldn't've", "couldnt've": "couldn't've", "didnt": "didn't", "doesnt": "doesn't",
    "dont": "don't", "hadnt": "hadn't", "hadnt've": "hadn't've", "hadn'tve": "hadn't've", "hasnt": "hasn't",
    "havent": "haven't", "hed": "he'd", "hed've": "he'd've", "he'dve": "he'd've", "hes": "he's",
    "howd": "how'd", "howll": "how'll", "hows": "how's", "Id've": "I'd've", "I'dve": "I'd've", "Im": "I'm",
    "Ive": "I've", "isnt": "isn't", "itd": "it'd", "itd've": "it'd've", "it'dve": "it'd've", "itll": "it'll",
    "let's": "let's", "maam": "ma'am", "mightnt": "mightn't", "mightnt've": "mightn't've",
    "mightn'tve": "mightn't've", "mightve": "might've", "mustnt": "mustn't", "mustve": "must've",
    "neednt": "needn't", "notve": "not've", "oclock": "o'clock", "oughtnt": "oughtn't", "ow's'at": "'ow's'at",
    "'ows'at": "'ow's'at", "'ow'sat": "'ow's'at", "shant": "shan't", "shed've": "she'd've",
    "she'dve": "she'd've", "she's": "she's", "shouldve": "should've", "shouldnt": "shouldn't",
    "shouldnt've": "shouldn't've", "shouldn'tve": "shouldn't've", "somebody'd": "somebodyd",
    "somebodyd've": "somebody'd've", "somebody'dve": "somebody'd've", "somebodyll": "somebody'll",
    "somebodys": "somebody's", "someoned": "someone'd", "someoned've": "someone'd've",
    "someone'dve": "someone'd've", "someonell": "someone'll", "someones": "someone's",
    "somethingd": "something'd", "somethingd've": "something'd've", "something'dve": "something'd've",
    "somethingll": "something'll", "thats": "that's", "thered": "there'd", "thered've": "there'd've",
    "there'dve": "there'd've", "therere": "there're", "theres": "there's", "theyd": "they'd",
    "theyd've": "they'd've", "they'dve": "they'd've", "theyll": "they'll", "theyre": "they're",
    "theyve": "they've", "twas": "'twas", "wasnt": "wasn't", "wed've": "we'd've", "we'dve": "we'd've",
    "weve": "we've", "werent": "weren't", "whatll": "what'll", "whatre": "what're", "whats": "what's",
    "whatve": "what've", "whens": "when's", "whered": "where'd", "wheres": "where's", "whereve": "where've",
    "whod": "who'd", "whod've": "who'd've", "who'dve": "who'd've", "wholl": "who'll", "whos": "who's",
    "whove": "who've", "whyll": "why'll", "whyre": "why're", "whys": "why's", "wont": "won't",
    "wouldve": "would've", "wouldnt": "wouldn't", "wouldnt've": "wouldn't've", "wouldn'tve": "wouldn't've",
    "yall": "y'all", "yall'll": "y'all'll", "y'allll": "y'all'll", "yall'd've": "y'all'd've",
    "y'alld've": "y'all'd've", "y'all'dve": "y'all'd've", "youd": "you'd", "youd've": "you'd've",
    "you'dve": "you'd've", "youll": "you'll", "youre": "you're", "youve": "you've",
}
NUMBER_WORDS = {"none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
                "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10"}
ARTICLES = frozenset({"a", "an", "the"})
PUNCT = (";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?", "!")
_DIGIT_COMMA_DIGIT = re.compile(r"(\d)(,)(\d)")
_PERIOD = re.compile(r"\.(?!\d)")  # the original `(?!<=\d)` is a look-*ahead* for "<=digit": never true before "."
_PERIODS_REMOVED = int(re.UNICODE)  # the original passes re.UNICODE (32) as `count`


def normalize_word(text: str) -> str:
    """LLaVA-Med's `normalize_word` (the VQA-v2 answer processor), bug for bug."""
    drop_all = _DIGIT_COMMA_DIGIT.search(text) is not None
    table = {ord(p): ("" if drop_all or p + " " in text or " " + p in text else " ") for p in PUNCT}
    text = _PERIOD.sub("", text.translate(table), _PERIODS_REMOVED)
    kept = [w for w in (NUMBER_WORDS.get(w, w) for w in text.lower().split()) if w not in ARTICLES]
    return " ".join(CONTRACTIONS.get(w, w) for w in kept).replace(",", "")


def clean_str(text: str) -> str:
    """MultiMedEval's `clean_str`: `normalize_word` of the lowercased text."""
    return normalize_word(text.lower())


def word_counts(text: str) -> Counter:
    """`split_sentence(text, 1)`: lowercased whitespace tokens with their counts."""
    return Counter(text.lower().strip().split())


def f1score(candidate: str, reference: str) -> tuple[float, float, float]:
    """`calculate_f1score`: (f1, precision, recall); both strings are normalised (again) inside,
    tp counts each shared word with the *candidate's* multiplicity, fn the reference-only words."""
    cand, ref = word_counts(normalize_word(candidate)), word_counts(normalize_word(reference))
    if not cand or not ref:
        return 0, 0, 0
    tp = sum(n for w, n in cand.items() if w in ref)
    fp = sum(n for w, n in cand.items() if w not in ref)
    fn = sum(n for w, n in ref.items() if w not in cand)
    if tp == 0:
        return 0, 0, 0
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    return 2 * precision * recall / (precision + recall), precision, recall
