"""medmllm/deid/text/scrub.py and linear.py: clinical text left intact, linear time on adversarial
megabytes (scrub_text, scrub_jsonl and the deid-text command), the per-call length limit."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from medmllm.deid.text import MAX_TEXT_CHARS, scrub_jsonl, scrub_text
from medmllm.errors import MedMLLMError

# Tricky clinical sentences: measurements, levels, scores, devices, eponyms. All must come out unchanged.
CLINICAL = [
    "There is a 5 mm nodule in the right upper lobe.",
    "CTR 0.52. Enlarged cardiac silhouette with a CTR of 0.6 on the PA view.",
    "T2 hyperintense lesion in the left frontal lobe; T1 hypointense.",
    "Disc bulge at L4-L5 with mild narrowing at C7-T1; compression deformity of T12.",
    "V1 and V2 segments of the vertebral artery are patent; C7 transverse process fracture.",
    "Grade 3/4 diastolic dysfunction; strength 4/5 in the left leg.",
    "Ejection fraction 55%; LVEF 60-65%.",
    "PICC line tip at the cavoatrial junction; NG tube below the diaphragm.",
    "Post-CABG sternotomy wires; AICD leads in the right ventricle.",
    "Kerley B lines and cephalization, consistent with CHF.",
    "ACR TI-RADS 4 nodule measuring 1.2 x 0.8 x 0.9 cm.",
    "Hounsfield units of 20 HU; SUV max 4.5 on PET.",
    "Follow-up CT in 3-6 months per Fleischner Society guidelines.",
    "No acute osseous abnormality; Schmorl's nodes at T11 and T12.",
    "Right IJ catheter tip at the SVC-RA junction.",
    "Stable 2.3 cm hepatic hypodensity, likely a cyst, unchanged from the prior examination.",
    "BI-RADS 2; Bosniak IIF cyst; Gleason 3+4.",
    "Dose 12 mGy, DLP 450 mGy*cm, kVp 120, 2 views.",
    "Mild degenerative changes of the thoracic spine with anterior osteophytes.",
    "Lines and tubes are unchanged. Heart size is normal. Mass effect on the ventricle.",
]


@pytest.mark.parametrize("text", CLINICAL)
def test_clinical_text_is_left_intact(text):
    assert scrub_text(text) == (text, [])


MB = 1_000_000
ADVERSARIAL = {
    "digits": "7" * MB, "letters": "a" * MB, "at": "@" * MB, "dots": "." * MB, "slashes": "/" * MB, "spaces": " " * MB,
    "dr": "Dr. " * (MB // 4), "a-colon": "a:" * (MB // 2), "names": "Smith " * (MB // 6), "email-like": "a@b." * (MB // 4),
    "hex-colon": "ab12:" * (MB // 5), "caps": "ABC " * (MB // 4), "id-like": "x1-" * (MB // 3),
    "labels": "Name:\n" * (MB // 6), "digit-dots": "1." * (MB // 2),
}
# generous: the worst case takes ~3 s of CPU here (benchmarks/deid.md). CPU time of this process, not
# wall time, so that other jobs on a shared machine do not fail the test; quadratic behaviour would
# take minutes either way.
BOUND_S = 5.0


@pytest.fixture(scope="module")
def warm():
    scrub_text("Discussed with Dr. Okafor, who lives in Lagos.")  # the detector loads once, outside the timings


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_adversarial_megabyte_in_linear_time(name, warm):
    text = ADVERSARIAL[name]
    t0 = time.process_time()
    clean, findings = scrub_text(text)
    elapsed = time.process_time() - t0
    assert elapsed < BOUND_S, f"{name}: {elapsed:.1f} s for {len(text):,} characters"
    assert all(text[f.start:f.end] == f.value for f in findings[:100])


def test_scrub_jsonl_adversarial_record(tmp_path, warm):
    src = tmp_path / "big.jsonl"
    src.write_text(json.dumps({"text": "a@b." * (MB // 4)}) + "\n" + json.dumps({"text": "Dr. " * (MB // 4)}) + "\n")
    t0 = time.process_time()
    stats = scrub_jsonl(src, tmp_path / "out.jsonl")
    assert time.process_time() - t0 < 2 * BOUND_S  # two megabyte records
    assert stats["records"] == 2


def _cli(*args):
    """Run the command; return its result and the CPU time its process used (children's rusage)."""
    env = {k: v for k, v in os.environ.items() if k != "MEDMLLM_DEBUG"}
    before = os.times()
    res = subprocess.run([sys.executable, "-m", "medmllm.cli", *args], capture_output=True, text=True, env=env,
                         timeout=300)
    after = os.times()
    return res, (after.children_user + after.children_system) - (before.children_user + before.children_system)


def test_cli_adversarial_record_and_length_limit(tmp_path: Path):
    small, big = tmp_path / "small.jsonl", tmp_path / "big.jsonl"
    small.write_text(json.dumps({"text": "Dr. Smith"}) + "\n")
    big.write_text(json.dumps({"text": "a:" * (MB // 2)}) + "\n")
    res, base = _cli("deid-text", str(small), str(tmp_path / "s.jsonl"))
    assert res.returncode == 0, res.stderr
    res, took = _cli("deid-text", str(big), str(tmp_path / "b.jsonl"))
    assert res.returncode == 0, res.stderr
    assert took - base < BOUND_S, f"{took:.1f} s against {base:.1f} s for a one-line file"  # start-up excluded
    res, _ = _cli("deid-text", str(big), str(tmp_path / "c.jsonl"), "--max-chars", "1000")
    assert res.returncode == 2 and res.stderr.strip().splitlines() == [
        f"error: {big}:1: field 'text': text of 1,000,000 characters is over the limit of 1,000 "
        "(raise max_chars / --max-chars to scrub it)"]
    assert not (tmp_path / "c.jsonl").exists()


def test_length_limit_is_one_line_naming_the_record(tmp_path):
    assert MAX_TEXT_CHARS == 10_000_000
    with pytest.raises(MedMLLMError, match=r"^report 7: text of 11 characters is over the limit of 10 "):
        scrub_text("x" * 11, max_chars=10, where="report 7")
    src = tmp_path / "m.jsonl"
    src.write_text(json.dumps({"conversations": [{"from": "gpt", "value": "y" * 50}]}) + "\n")
    with pytest.raises(MedMLLMError, match=rf"^{src}:1: field 'conversations\[0\]\.value': text of 50 characters is over the limit of 20"):
        scrub_jsonl(src, tmp_path / "o.jsonl", max_chars=20)


def test_every_pattern_is_re2():
    """No module of the text de-identifier uses Python's backtracking ``re``: only linear.py compiles patterns."""
    root = Path(__file__).resolve().parents[3] / "medmllm" / "deid" / "text"
    for path in root.glob("*.py"):
        src = path.read_text()
        assert "import re\n" not in src and "from re import" not in src and "import regex" not in src, path.name
