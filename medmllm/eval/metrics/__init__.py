"""Scoring functions, registered by name; every module in this folder registers its own.

A metric takes (predictions, references, **options) and returns (corpus score, per-sample
scores). `CONVENTIONS[name]` says in one line which reference implementation and settings the
default options reproduce; results always carry it beside the number.
"""
from __future__ import annotations

from typing import Callable

from ...registry import Registry, import_modules

METRICS: Registry[Callable] = Registry("metric")
CONVENTIONS: dict[str, str] = {}

import_modules(__name__, __path__)  # registration is by folder: every module registers its metrics
