"""The rule-based report-text scrubber and the deid-text command."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from medmllm.deid import scrub_text
from medmllm.deid.text import scrub_jsonl
from medmllm.errors import MedMLLMError

# (report sentence, expected clean text)
SCRUBBED = [
    ("Patient: Jane Roe. MRN: 1234567. DOB 01/02/1960.", "Patient: [NAME]. MRN: [ID]. DOB [DATE]."),
    ("Exam date: 2023-01-02. Comparison: January 2, 2023 and 2 Jan 2023.",
     "Exam date: [DATE]. Comparison: [DATE] and [DATE]."),
    ("Dictated by Dr. Smith on 3/4/2021 at 10:30 AM.", "Dictated by Dr. [NAME] on [DATE] at [DATE]."),
    ("Call 555-123-4567 or (555) 987-6543, e-mail jdoe@hospital.org.", "Call [PHONE] or [PHONE], e-mail [EMAIL]."),
    ("Electronically signed by John Smith, MD.", "Electronically signed by [NAME], MD."),
    ("Mr. John Doe, accession #: ACC12345678, prior MRN0012345.", "Mr. [NAME], accession #: [ID], prior [ID]."),
    ("Findings discussed with Dr. Jones and Mrs. O'Brien by phone.",
     "Findings discussed with Dr. [NAME] and Mrs. [NAME] by phone."),
    ("Comparison with prior study from March 2019; record 98765432.", "Comparison with prior study from [DATE]; record [ID]."),
    ("Referring Physician: SMITH^JOHN", "Referring Physician: [NAME]"),
]
# sentences that must come back unchanged
KEPT = [
    "There is a 3.5 cm nodule in the left lower lobe.",
    "12 mm calcified granuloma; 2 views of the chest were obtained.",
    "Compression fracture of T12 and L1. Degenerative change at L4-L5 and C5-6.",
    "Findings were discussed with Dr. at the bedside.",
    "The heart is normal in size. May represent atelectasis. Follow-up in 3 months.",
    "BI-RADS 4. Blood pressure 120/80. Cardiothoracic ratio of 0.43; value 0.1234567.",
    "Dr. The lungs are clear.",
    "1.5 x 2.0 x 3.1 cm mass, 20 mg daily, grade 2 of 4.",
]


@pytest.mark.parametrize(("text", "expected"), SCRUBBED)
def test_scrubs_phi(text, expected):
    clean, findings = scrub_text(text)
    assert clean == expected
    assert findings and all(text[f.start:f.end] == f.value for f in findings)
    assert all(f.value not in repr(findings) for f in findings)  # repr keeps PHI out of logs


@pytest.mark.parametrize("text", KEPT)
def test_keeps_clinical_content(text):
    assert scrub_text(text) == (text, [])


def test_names_from_list():
    names = ["Okafor Wei", "Garcia, Maria"]
    clean, findings = scrub_text("OKAFOR WEI was compared with Maria Garcia; Okafor tolerated it. okay.", names=names)
    assert clean == "[NAME] was compared with [NAME]; [NAME] tolerated it. okay."
    assert [f.kind for f in findings] == ["NAME"] * 3
    assert scrub_text("mark the bone", names=["Mark Bone"])[0] == "mark the bone"  # parts only when capitalised


def _cli(*args):
    env = {k: v for k, v in os.environ.items() if k != "MEDMLLM_DEBUG"}
    return subprocess.run([sys.executable, "-m", "medmllm.cli", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_scrub_jsonl_and_errors(tmp_path):
    src = tmp_path / "m.jsonl"
    records = [{"id": "a", "conversations": [{"from": "human", "value": "<image>\nReport?"},
                                              {"from": "gpt", "value": "Seen by Dr. Smith on 2023-01-02."}],
                "note": "Dr. Smith"},
               {"id": "b", "text": "Patient: Jane Roe, MRN 1234567.", "note": "call 555-123-4567"}]
    src.write_text("\n".join(json.dumps(r) for r in records) + "\n\n")
    stats = scrub_jsonl(src, tmp_path / "o.jsonl")
    out = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert out[0]["conversations"][1]["value"] == "Seen by Dr. [NAME] on [DATE]."
    assert out[0]["note"] == "Dr. Smith"  # not a default field
    assert out[1]["text"] == "Patient: [NAME], MRN [ID]."
    assert stats["records"] == 2 and stats["findings"] == {"DATE": 1, "ID": 1, "NAME": 2}
    scrub_jsonl(src, tmp_path / "n.jsonl", fields=["note"])
    assert [json.loads(x)["note"] for x in (tmp_path / "n.jsonl").read_text().splitlines()] == \
        ["Dr. [NAME]", "call [PHONE]"]

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(records[0]) + "\n{not json\n")
    with pytest.raises(MedMLLMError, match=rf"^{bad}:2: invalid JSON"):
        scrub_jsonl(bad, tmp_path / "x.jsonl")
    bad.write_text(json.dumps({"text": 5}) + "\n")
    with pytest.raises(MedMLLMError, match=rf"^{bad}:1: field 'text' is not a string"):
        scrub_jsonl(bad, tmp_path / "x.jsonl")
    assert not (tmp_path / "x.jsonl").exists()  # nothing half-written

    names = tmp_path / "names.txt"
    names.write_text("# staff\nTerry Tech\n")
    ok = _cli("deid-text", str(src), str(tmp_path / "c.jsonl"), "--field", "note", "--names", str(names))
    assert ok.returncode == 0 and "wrote 2 record(s)" in ok.stdout, ok.stderr
    broken = tmp_path / "broken.jsonl"
    broken.write_text("{}\n[1, 2]\n")
    res = _cli("deid-text", str(broken), str(tmp_path / "d.jsonl"))
    assert res.returncode != 0 and res.stderr.strip().splitlines() == [f"error: {broken}:2: a record must be a "
                                                                       "JSON object, not list"]
    assert "Traceback" not in res.stderr


def test_scrub_jsonl_reaches_role_content_turns_and_preference_records(tmp_path):
    """Every turn text is scrubbed whatever its form: {role, content} turns, a DPO record's prompt
    (a list of turns or a string) and its chosen / rejected answers (a string or a message); the
    record keeps its form. (These went through untouched before.)"""
    src = tmp_path / "m.jsonl"
    records = [{"id": "a", "conversations": [{"role": "user", "content": "<image>\nSeen by Dr. Smith?"},
                                              {"role": "assistant", "content": "Call 555-123-4567."}]},
               {"id": "b", "prompt": [{"from": "human", "value": "<image>\nPatient: Jane Roe, MRN 1234567."}],
                "chosen": "Reviewed by Dr. Smith on 2023-01-02.", "rejected": {"from": "gpt", "value": "Dr. Smith, 2023-01-02."}},
               {"id": "c", "prompt": "<image>\nMRN 7654321.", "chosen": [{"role": "assistant", "content": "Dr. Smith."}],
                "rejected": "No."}]
    src.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    scrub_jsonl(src, tmp_path / "o.jsonl")
    text = (tmp_path / "o.jsonl").read_text()
    for secret in ("Smith", "555-123-4567", "Jane Roe", "1234567", "7654321", "2023-01-02"):
        assert secret not in text, secret
    a, b, c = (json.loads(line) for line in text.splitlines())
    assert a["conversations"][1] == {"role": "assistant", "content": "Call [PHONE]."}
    assert b["rejected"] == {"from": "gpt", "value": "Dr. [NAME], [DATE]."} and c["prompt"] == "<image>\nMRN [ID]."


@pytest.mark.parametrize("text,expected", [
    ("Dr. O'Brien-Smith reviewed.", "Dr. [NAME] reviewed."),
    ("Aged 93 years old.", "Aged [AGE>89] years old."),
    ("92 year old man with cough", "[AGE>89] year old man with cough"),
    ("a 45-year-old woman", "a 45-year-old woman"),
    # the city and state go too now, and IPs and URLs have their own placeholders
    ("Sent from 192.168.1.10 to Boston, MA 02115", "Sent from [IP] to [ADDRESS]"),
    ("Images at https://pacs.example.org/study?id=3", "Images at [URL]"),
    ("Rotated 90 degrees; 3.5 cm lesion at T12.", "Rotated 90 degrees; 3.5 cm lesion at T12."),
])
def test_safe_harbor_extras(text, expected):
    assert scrub_text(text)[0] == expected
