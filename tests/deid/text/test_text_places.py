"""medmllm/deid/text/places.py: street addresses, cities, states and ZIP codes, institutions."""
from __future__ import annotations

import pytest

from medmllm.deid.text import scrub_text

CASES = [
    ("The patient lives at 4417 Old Mill Road, Apt 3, Springfield, IL 62704.", "The patient lives at [ADDRESS]."),
    ("home address: 12 elm st., boston, ma 02115.", "home address: [ADDRESS]."),
    ("Mailing address P.O. Box 2291, Fairview, TX 75069.", "Mailing address [ADDRESS]."),
    ("She recently travelled to Lagos and lives in springfield.",
     "She recently travelled to [ADDRESS] and lives in [ADDRESS]."),
    ("Transferred from St. Mary's Hospital; prior films at Springfield General Hospital.",
     "Transferred from [HOSPITAL]; prior films at [HOSPITAL]."),
    ("Outside films from mercy regional medical center; seen at the Hospital of the University of Pennsylvania.",
     "Outside films from [HOSPITAL]; seen at the [HOSPITAL]."),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_places(text, expected):
    assert scrub_text(text)[0] == expected


@pytest.mark.parametrize("text", [
    "Images from the outside hospital and a community clinic were reviewed.",
    "Seen in the emergency department; admitted to the hospital; follow-up in pulmonary clinic.",
    "5 cm per the prior study; 2 views of the chest; 3 mm nodule along the right major fissure.",
    "Patient returned to the floor and was moved to the ICU.",
])
def test_generic_places_are_kept(text):
    assert scrub_text(text) == (text, [])
