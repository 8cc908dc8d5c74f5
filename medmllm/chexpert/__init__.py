"""A rule-based labeler for the 14 CheXpert observations (after stanfordmlgroup/chexpert-labeler).

``label(text)`` returns ``{observation: 1 | 0 | -1 | None}`` for the 14 observations in
``OBSERVATIONS`` order (1 positive, 0 negative, -1 uncertain, None not mentioned); ``label_many``
labels a list.  Upstream matches NegBio patterns on Bllip dependency parses; here negation and
uncertainty are cue rules scoped to the clause (see ``rules.py``), so results differ from the
original on complex sentences.  ``medsynth_labels`` maps MedSynth ground truth to the same names.
"""
from __future__ import annotations

from .labeler import Mention, label, label_many, mentions, sentences
from .medsynth import medsynth_labels
from .phrases import FIVE, OBSERVATIONS

__all__ = ["FIVE", "OBSERVATIONS", "Mention", "label", "label_many", "medsynth_labels", "mentions", "sentences"]
