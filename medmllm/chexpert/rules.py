"""Negation and uncertainty cues with their scope: a clause-level stand-in for NegBio's patterns.

The CheXpert labeler matches ``patterns/pre_negation_uncertainty.txt``, ``negation.txt`` and
``post_negation_uncertainty.txt`` on a dependency parse, in that order, and the first stage that
matches a mention decides it.  Here every pattern is a regular expression over the cleaned
sentence (a *cue*) with a direction and a scope:

* ``fwd``: the cue governs mentions after it ("no", "without", "possible", "may represent");
* ``bwd``: mentions before it ("... has resolved", "... cannot be excluded", "... is normal");
* ``both``; ``adj``: only the nearest mention on either side, a few words away ("or", "versus").

A scope ends at a clause boundary (see ``labeler.py``); ``window`` caps the words between cue and
mention; ``stop`` names extra words that end a forward scope (so "normal heart size, with a small
effusion" leaves the effusion alone); ``only`` restricts a cue to some observations.  Cues are
matched in the order listed; a cue overlapping an earlier (blocking) cue of another kind is dropped,
which is how "cannot exclude" beats "not"/"exclude", "no new" beats "no" and "no change in" is not
a negation.  A mention takes the label of the first stage with a cue in scope: pre-negation
uncertainty, negation, post-negation uncertainty; STABLE cues ("stable", "unchanged", "no change
in") only make a heart/mediastinum *structure* mention uncertain (upstream's "stable cardiomediastinal
silhouette" rule) and otherwise leave a finding positive ("stable cardiomegaly").
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .phrases import OBSERVATIONS

PRE_UNCERTAIN, NEGATION, POST_UNCERTAIN, STABLE = "pre_uncertain", "negation", "post_uncertain", "stable"
STAGES = (PRE_UNCERTAIN, NEGATION, POST_UNCERTAIN)  # STABLE is a post-uncertainty rule for structural mentions

# words that end the forward scope of a negation (besides the clause boundaries)
NEG_STOP = ("with", "consistent", "compatible", "representing", "reflecting", "suggesting", "suggestive", "likely",
            "probably", "possibly", "may", "might", "could", "concerning", "due", "secondary", "status", "post",
            "presumably", "which", "that")
# words that end the forward scope of a hedge ("possible pneumonia with a small effusion")
UNC_STOP = ("with", "without", "no")
ADJ_STOP = NEG_STOP + (",", "and", "or", "in", "at", "of", "to", "on", "is", "are")
_VERB = r"(?:is|are|was|were|has been|have been|appears?|remains?|looks?|seems?)"
_ADV = r"(?:(?:now|again|otherwise|essentially|grossly|overall|still|stable and|also|entirely|completely|" \
       r"largely|nearly|almost|relatively|within) )*"

_HEART = ("Cardiomegaly", "Enlarged Cardiomediastinum")
_NOUN = r"(?:size|caliber|calibre|contours?|appearance|configuration|shape|position|silhouette|morphology)"
_NOUNS = rf"{_NOUN}(?:,? (?:and|or) {_NOUN})*\b"


@dataclass(frozen=True)
class Cue:
    pattern: str
    kind: str
    direction: str  # fwd, bwd, both, adj
    window: int = 60
    stop: tuple[str, ...] = ()
    blocks: bool = True  # False: later cues overlapping this one are kept ("stable and within normal limits")
    only: tuple[str, ...] = ()  # restrict the cue to mentions of these observations
    lists: bool = True  # False: crosses a comma only towards a structural mention ("normal heart, mediastinum")


CUES: tuple[Cue, ...] = (
    # --- neutral: a "no"/"not" that is not a negation; "stable" is uncertain only for structures
    Cue(r"\bno (?:(?:significant|appreciable|substantial|interval|definite|major|acute|gross|radiographic|"
        r"visible|new|further|other) )*changes?\b", STABLE, "both"),
    Cue(r"\b(?:has |have |is |are )?not (?:significantly |substantially |appreciably )?changed\b", STABLE, "both"),
    Cue(rf"\b{_VERB} (?:{_ADV})?(?:stable|unchanged|similar)\b", STABLE, "bwd", blocks=False),
    Cue(r"\b(?:stable|unchanged)\b(?=\s*(?:[.,;:]|$|and\b))", STABLE, "bwd", window=1, blocks=False),
    Cue(r"\b(?:stable|unchanged|similar)(?: (?:in )?appearance(?: of)?)?(?: the)?\b", STABLE, "fwd", window=4,
        blocks=False, stop=("of", "with", "without", "in")),
    # --- pre-negation uncertainty (upstream pre_negation_uncertainty.txt + our hedges that must beat a negation)
    Cue(r"\b(?:cannot|can ?not|can't|could not|couldn't|not|difficult to|unable to|may not|should not)"
        r" (?:be )?(?:entirely |completely |totally |definitely |definitively |reliably |confidently |fully )?"
        r"(?:excluded?|ruled? out)\b", PRE_UNCERTAIN, "both"),
    Cue(r"\bno evidence to (?:rule out|exclude)\b", PRE_UNCERTAIN, "fwd"),
    Cue(r"\bno (?:definite )?new\b", PRE_UNCERTAIN, "fwd", stop=NEG_STOP),
    Cue(r"\b(?:top|upper|high)[- ]normal\b", PRE_UNCERTAIN, "both", window=6, stop=("with", "without", ","),
        only=_HEART),
    Cue(r"\bborderline\b", PRE_UNCERTAIN, "both", window=6, stop=("with", "without", ","), only=_HEART),
    Cue(r"\bnot (?:well |clearly |definitely |adequately |optimally )(?:seen|visualized|evaluated|assessed|"
        r"identified|excluded)\b", POST_UNCERTAIN, "bwd"),
    Cue(r"\b(?:poorly|incompletely|suboptimally) (?:seen|visualized|evaluated|assessed)\b", POST_UNCERTAIN, "bwd"),
    Cue(r"\bnot appreciated\b", POST_UNCERTAIN, "bwd"),
    # --- negation (upstream negation.txt)
    Cue(rf"\b{_VERB} (?:{_ADV})?(?:not|no longer) (?:\w+ )?(?:seen|visualized|visible|identified|present|evident|"
        r"demonstrated|noted|appreciable|detected|apparent)\b", NEGATION, "bwd"),
    Cue(r"\bno longer (?:seen|visualized|visible|identified|present|evident|demonstrated|noted)\b", NEGATION, "bwd"),
    Cue(r"\b(?:has|have|had) (?:\w+ )?(?:resolved|cleared|been removed|been withdrawn|been discontinued|"
        r"disappeared)\b", NEGATION, "bwd"),
    Cue(r"\b(?:resolved|removed|cleared|withdrawn|discontinued)\b", NEGATION, "bwd", window=3),
    Cue(r"\b(?:interval )?(?:resolution|removal|clearing|disappearance|drainage|history|absence) of\b", NEGATION,
        "fwd", stop=NEG_STOP),
    Cue(r"\b(?:resolved|removed|cleared)\b", NEGATION, "fwd", window=3, stop=NEG_STOP),
    Cue(rf"\b{_VERB} (?:{_ADV})?not (?:\w+ )?(?:enlarged|widened|dilated|increased|prominent|large|present)\b",
        NEGATION, "bwd"),
    Cue(rf"\b(?:normal|unremarkable) in {_NOUNS}", NEGATION, "bwd"),
    Cue(rf"\b(?:of|with|has|have|had|shows?) (?:a |an )?(?:normal|unremarkable) {_NOUNS}", NEGATION, "bwd"),
    Cue(rf"\b(?:{_VERB} )?(?:{_ADV})?within (?:the )?(?:normal )?(?:limits|range)(?: (?:for|in) {_NOUNS})?", NEGATION,
        "bwd"),
    Cue(r"\b(?:at |within |upper )*(?:the )?(?:upper )?(?:limits?|range) of normal\b", NEGATION, "bwd"),
    Cue(rf"\b{_VERB} (?:{_ADV})?(?:normal|unremarkable|negative|absent|clear|maintained|preserved)\b", NEGATION,
        "bwd"),
    Cue(r"\b(?:is |are )?(?:excluded|ruled out)\b", NEGATION, "bwd", window=4),
    Cue(r"\b(?:negative|free|clear) (?:for|of)\b", NEGATION, "fwd", stop=NEG_STOP),
    Cue(r"\b(?:rather than|rule out|to exclude|exclude|excluding|neither|nor)\b", NEGATION, "fwd", stop=NEG_STOP),
    Cue(r"\bwithout\b", NEGATION, "fwd", stop=NEG_STOP),
    Cue(r"\bno longer\b", NEGATION, "fwd", stop=NEG_STOP),
    Cue(r"\bno\b", NEGATION, "fwd", stop=NEG_STOP),
    Cue(r"\bnot\b", NEGATION, "fwd", window=4, stop=NEG_STOP),
    Cue(r"\b(?:normal|unremarkable|absent)\b", NEGATION, "fwd", window=8, stop=NEG_STOP + ("but",), lists=False),
    # "heart size normal", "heart size and mediastinal contour normal."
    Cue(r"\b(?:normal|unremarkable)\b(?=\s*(?:[.,;:]|$|and\b))", NEGATION, "bwd", window=6),
    Cue(r"\b(?:normal|unremarkable)\b", NEGATION, "bwd", window=2),
    # --- post-negation uncertainty (upstream post_negation_uncertainty.txt)
    Cue(r"\b(?:may|might|could|would|can) (?:also |still |possibly )?(?:be )?(?:present|seen|noted|visualized|"
        r"a consideration|considered)\b", POST_UNCERTAIN, "bwd"),
    Cue(rf"\b{_VERB} (?:{_ADV})?(?:possible|suspected|questioned|likely|favou?red|suggested|considered|"
        r"questionable|probable|not certain|uncertain|equivocal|a (?:possibility|consideration))\b",
        POST_UNCERTAIN, "bwd"),
    Cue(r"\b(?:is|are) (?:obscured|obscuring)\b", POST_UNCERTAIN, "bwd"),
    Cue(r"\b(?:is|are|remains?) (?:also |still )?(?:in|within|included in|part of) the differential\b", POST_UNCERTAIN,
        "bwd"),
    Cue(r"\bobscur(?:e|es|ed|ing)\b", POST_UNCERTAIN, "fwd", window=3),
    Cue(r"\b(?:may|might|could|would|can)\b", POST_UNCERTAIN, "fwd", stop=UNC_STOP),
    Cue(r"\b(?:vs|versus)\b", POST_UNCERTAIN, "adj", window=3),
    Cue(r"\b(?:possible|possibly|probable|probably|presumed|presumably|presumptive|perhaps|maybe|questionable|"
        r"question of|questioned|suspect|suspected|suspicious|suspicion|suspicious for|concern|concerning|worrisome|"
        r"likely|unlikely|suggest|suggests|suggested|suggesting|suggestive|suggestion|favor|favors|favour|favoring|"
        r"consider|considered|differential|equivocal|uncertain|correlate|correlation)\b",
        POST_UNCERTAIN, "fwd", stop=UNC_STOP),
    # "pacemaker/defibrillator" (cleaned to "pacemaker or defibrillator") is a device either way
    Cue(r"\bor\b", POST_UNCERTAIN, "adj", window=2, only=tuple(o for o in OBSERVATIONS if o != "Support Devices")),
)
COMPILED: tuple[tuple[Cue, re.Pattern[str]], ...] = tuple((c, re.compile(c.pattern)) for c in CUES)
