"""Scoring functions, registered by name; every module in this folder registers its own.

A metric takes (predictions, references, **options) and returns (corpus score, per-sample
scores). `CONVENTIONS[name]` says in one line which reference implementation and settings the
default options reproduce; results always carry it beside the number.
"""
from __future__ import annotations

import re
from typing import Callable

from ...registry import Registry, import_modules

METRICS: Registry[Callable] = Registry("metric")
CONVENTIONS: dict[str, str] = {}
_PUNCT = re.compile(r"[^\w\s]")
_ANSWER = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.S)


def words(text: str) -> list[str]:
    return _PUNCT.sub(" ", text.lower()).split()


def extract_answer(text: str) -> str:
    """The text inside <answer>...</answer> (an unclosed tag too), else the whole text."""
    m = _ANSWER.search(text)
    return m.group(1).strip() if m else text.strip()


import_modules(__name__, __path__)  # registration is by folder: every module registers its metrics
