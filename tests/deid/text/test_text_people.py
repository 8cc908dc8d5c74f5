"""medmllm/deid/text/people.py and namelist.py: names without a list (cues, census names, word shape,
NER), in any case and of several cultures; the name list adds recall."""
from __future__ import annotations

import pytest

from medmllm.deid.text import scrub_text

CASES = [
    ("Discussed with Dr. Okafor and nurse priya raman at 3pm.", "Discussed with Dr. [NAME] and nurse [NAME] at [DATE]."),
    ("seen by maria gonzalez; wife Aisha at bedside.", "seen by [NAME]; wife [NAME] at bedside."),
    ("Okonkwo was notified. Results faxed to wei zhang.", "[NAME] was notified. Results faxed to [NAME]."),
    ("Signed: Chukwuemeka Adebayo, MD", "Signed: [NAME], MD"),
    ("Electronically signed by j. nguyen md on 1/2/2020.", "Electronically signed by [NAME] md on [DATE]."),
    ("Patient: GARCIA^MARIA^L", "Patient: [NAME]"),
    ("Mr. O'Brien-Smith, Ms. Tanaka and Prof. Schmidt agreed.", "Mr. [NAME], Ms. [NAME] and Prof. [NAME] agreed."),
    ("The daughter, Svetlana, was present.", "The daughter, [NAME], was present."),
    ("Comparison is made to the study read by Bhattacharya.", "Comparison is made to the study read by [NAME]."),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_names_without_a_list(text, expected):
    assert scrub_text(text)[0] == expected


@pytest.mark.parametrize("text", [
    "Kerley B lines; Hampton hump; Westermark sign; hernia (Bochdalek); Swan-Ganz catheter tip in the right atrium.",
    "Mass in the right upper lobe. Heart is normal. Lines and tubes are unchanged. Chin obscures the apices.",
    "Dr. The lungs are clear.",
    "Patient: Left lower lobe opacity.",
    "The patient was called back for additional views; discussed with the patient.",
])
def test_clinical_words_are_not_names(text):
    assert scrub_text(text) == (text, [])


def test_name_list_adds_recall_without_eating_words():
    text = "Seen with hope; Hope Mark and mark Bone reviewed. HOPE MARK agreed."
    clean, _ = scrub_text(text, names=["Hope Mark"])
    assert clean == "Seen with hope; [NAME] and mark Bone reviewed. [NAME] agreed."
    assert scrub_text("Compared with Lindqvist's film.", names=["Lindqvist, Astrid"])[0] == "Compared with [NAME]'s film."


def test_without_ner_the_rules_still_run():
    assert scrub_text("Discussed with Dr. Okafor on 3/14.", ner=False)[0] == "Discussed with Dr. [NAME] on [DATE]."
