"""Report-text de-identification: the 18 HIPAA Safe Harbor categories that occur in free text.

``scrub_text(text, names=[...])`` returns the text with each finding replaced by a placeholder
(``[NAME]``, ``[DATE]``, ``[AGE>89]``, ``[ADDRESS]``, ``[HOSPITAL]``, ``[PHONE]``, ``[EMAIL]``,
``[URL]``, ``[IP]``, ``[ID]``) and the findings; ``scrub_jsonl`` does it for a manifest.

Design (measured in ``benchmarks/deid.md``):

- structured identifiers (dates of every shape, ages over 89, phone and fax numbers, e-mail, URLs,
  IPv4/IPv6, record, account, plan, licence, device, serial and vehicle numbers, photo file names)
  are RE2 patterns with context checks (``patterns.py``);
- addresses and institutions are RE2 patterns around street suffixes, states, ZIP codes, residence
  cues and institution heads (``places.py``);
- names need no list: cues, the US Census name lists, word shape, and spaCy's small English NER
  on the sentences that hold a candidate word (``people.py``, ``ner.py``); a name list adds recall;
- clinical words (a hand-written vocabulary with inflections and prefixes) are never names or
  places, so "5 mm nodule in the right upper lobe", "T2 hyperintense", "L4-L5", "grade 3/4" stay.

Every pattern runs in RE2 (``linear.py``): no backtracking, so time is linear in the text; one call
refuses texts over ``MAX_TEXT_CHARS`` (10 M characters; ``max_chars`` overrides).
"""

from __future__ import annotations

from .manifest import scrub_jsonl
from .namelist import load_names
from .scrub import MAX_TEXT_CHARS, PLACEHOLDERS, Finding, scrub_text

__all__ = ["Finding", "scrub_text", "scrub_jsonl", "load_names", "PLACEHOLDERS", "MAX_TEXT_CHARS"]
