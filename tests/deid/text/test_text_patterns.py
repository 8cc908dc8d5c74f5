"""medmllm/deid/text/patterns.py: dates of every shape, ages over 89, contacts, network addresses, IDs."""
from __future__ import annotations

import pytest

from medmllm.deid.text import scrub_text

CASES = [
    ("Seen on 2019-03-14, 03/14/2019, 14.03.2019 and 3/14/19.", "Seen on [DATE], [DATE], [DATE] and [DATE]."),
    ("Follow-up on March 14, 2019, 14 March 2019, Mar 14 and 14-Mar-2019.",
     "Follow-up on [DATE], [DATE], [DATE] and [DATE]."),
    ("Symptoms since 3/14; prior films from March 2019 and 1957.",
     "Symptoms since [DATE]; prior films from [DATE] and [DATE]."),
    ("Seen on the 14th of March and again in Spring 2020 (20190314).", "Seen on [DATE] and again in [DATE] ([DATE])."),
    ("Called at 1930 hours, 10:30 and 3pm.", "Called at [DATE], [DATE] and [DATE]."),
    ("Patient is a 93-year-old man; age 91; aged 102; 95 yo F; 96F.",
     "Patient is a [AGE>89]-year-old man; age [AGE>89]; aged [AGE>89]; [AGE>89] yo F; [AGE>89]F."),
    ("A 45-year-old woman, age 89.", "A 45-year-old woman, age 89."),
    ("Call (617) 555-0134, 617.555.0134, +1 617 555 0134 or +44 20 7946 0958; fax: 617-555-0199 ext. 23.",
     "Call [PHONE], [PHONE], [PHONE] or [PHONE]; fax: [PHONE]."),
    ("E-mail jane.doe@mercyhealth.org or visit https://portal.example.org/a?b=1 and www.example.com.",
     "E-mail [EMAIL] or visit [URL] and [URL]."),
    ("Uploaded from 10.2.33.4 and 2001:db8:85a3::8a2e:370:7334 (fe80::1).", "Uploaded from [IP] and [IP] ([IP])."),
    ("MRN: 00482913; account no. 7731-2291-04; member ID XJH449210331; Medicare number 1EG4-TE5-MK73.",
     "MRN: [ID]; account no. [ID]; member ID [ID]; Medicare number [ID]."),
    ("DEA AB1234563, licence #MD-88213, NPI 1234567893, certificate no. 88213377.",
     "DEA [ID], licence #[ID], NPI [ID], certificate no. [ID]."),
    ("Pacemaker serial number PJN8812331, S/N 7741-AB-2291, model 5076-52.",
     "Pacemaker serial number [ID], S/N [ID], model [ID]."),
    ("License plate 7ABC123, VIN 1HGCM82633A004352, SSN 123-45-6789.", "License plate [ID], VIN [ID], SSN [ID]."),
    ("Photo on file: IMG_2034.jpg; fingerprint ID FP-99812.", "Photo on file: [ID]; fingerprint ID [ID]."),
    ("Medicare number TZSC-CUU-SGWH, VIN XSSXYSASTFDJBCJNZ.", "Medicare number [ID], VIN [ID]."),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_structured_identifiers(text, expected):
    assert scrub_text(text)[0] == expected


@pytest.mark.parametrize("text", [
    "Grade 3/4 strength in the left arm; strength 4/5; 2/3 of the lung.",
    "Blood pressure 120/80, 2000 mg daily, 1500mg, 12x14x20 mm, 0.1234567.",
    "T2N0M0 tumour at T12-L1; L4-L5 and C5-6 disc disease; BI-RADS 4; TI-RADS 3.",
    "Version 1.2.3 of the protocol; 3.5 x 2.1 cm; ratio 1:2.",
])
def test_numbers_that_are_not_identifiers(text):
    assert scrub_text(text) == (text, [])
