"""MedSynth preference pairs (one hallucination each), their validation, dataset and collation;
and the hallucination-rate metric."""
import json
import re

import pytest

from tiny import run_cli, tiny_model_dict
from medmllm.build import build_model
from medmllm.config import ModelConfig, from_dict
from medmllm.chat import normalize_record
from medmllm.data.manifest import ManifestDataset
from medmllm.data.records import check_record
from medmllm.data.preferences import PreferenceDataset, collate_preferences
from medmllm.synth import synthesize
from medmllm.synth.preferences import preference_records, write_preferences
from medmllm.chexpert import label, medsynth_labels
from medmllm.eval.hallucination import FINDINGS, hallucination_rate, report_hallucinations, stated_sides


@pytest.fixture(scope="module")
def medsynth(tmp_path_factory):
    out = tmp_path_factory.mktemp("medsynth")
    synthesize(out, ["xray", "ct"], n=40, seed=3)
    write_preferences(out)
    return out


def _pairs(folder, modality="xray"):
    return [json.loads(line) for split in ("train", "val", "test")
            for line in (folder / f"{modality}_pref_{split}.jsonl").read_text().splitlines()]


def _sentences(text):
    return re.split(r"(?<=\.)\s+|\n", text)


def test_pairs_are_deterministic_and_seeded(medsynth, tmp_path):
    src = medsynth / "xray_report_train.jsonl"
    assert preference_records(src, seed=3) == preference_records(src, seed=3)
    assert preference_records(src, seed=3) != preference_records(src, seed=4)
    before = (medsynth / "xray_pref_train.jsonl").read_bytes()
    written = write_preferences(medsynth)  # seed from medsynth.json
    assert (medsynth / "xray_pref_train.jsonl").read_bytes() == before
    assert set(written) == {f"{m}_pref_{s}" for m in ("xray", "ct") for s in ("train", "val", "test")}
    assert not list(medsynth.glob(".*tmp*"))


def test_rejected_differs_by_exactly_the_documented_hallucination(medsynth):
    pairs = _pairs(medsynth)
    kinds = {(p["meta"]["hallucination"]["kind"], p["meta"]["hallucination"]["finding"]) for p in pairs}
    assert {k for k, _ in kinds} == {"absent_finding", "wrong_side"} and len(kinds) >= 5, kinds
    for p in pairs:
        h, truth, chosen, rejected = p["meta"]["hallucination"], medsynth_labels(p["meta"]["findings"]), \
            p["chosen"], p["rejected"]
        assert p["prompt"][0]["value"].startswith("<image>\n") and p["image"].startswith("xray/")
        assert chosen != rejected
        c, r = _sentences(chosen), _sentences(rejected)
        obs = FINDINGS[h["finding"]]
        if h["kind"] == "wrong_side":  # the same sentences; those that differ only swap left and right
            assert len(c) == len(r)
            changed = [(a, b) for a, b in zip(c, r) if a != b]
            assert changed and all(h["finding"] in a.lower() for a, _ in changed)
            for a, b in changed:
                assert re.sub(r"(?i)left|right", "X", a) == re.sub(r"(?i)left|right", "X", b)
            assert p["meta"]["findings"][f"{h['finding']}_side"] == h["true_side"] != h["side"]
            assert label(rejected) == label(chosen)
        else:  # one findings sentence replaced, the impression gains the finding; nothing else changes
            body_c, imp_c = chosen.split("\nIMPRESSION: ")
            body_r, imp_r = rejected.split("\nIMPRESSION: ")
            diff = [(a, b) for a, b in zip(_sentences(body_c), _sentences(body_r)) if a != b]
            assert len(_sentences(body_c)) == len(_sentences(body_r)) and len(diff) == 1
            assert label(diff[0][0])[obs] == 0 and label(diff[0][1])[obs] == 1
            assert label(imp_r)[obs] == 1 and label(imp_c)[obs] is None
            # the hallucinated finding is absent in the case, as the labeler reads both reports
            assert truth[obs] == 0 and label(chosen)[obs] == 0 and label(rejected)[obs] == 1
            other = {o for o in FINDINGS.values() if o != obs}
            assert {o: label(rejected)[o] for o in other} == {o: label(chosen)[o] for o in other}


def test_ct_pairs(medsynth):
    pairs = _pairs(medsynth, "ct")
    assert {p["meta"]["hallucination"]["kind"] for p in pairs} == {"absent_finding", "wrong_side"}
    for p in pairs:
        h, f = p["meta"]["hallucination"], p["meta"]["findings"]
        assert p["prompt"][0]["value"].startswith("<volume>\n") and p["chosen"] != p["rejected"]
        if h["kind"] == "absent_finding":
            assert f["normal"] and h["location"] in p["rejected"] and h["location"] not in p["chosen"]
        else:
            assert not f["normal"] and all(loc in p["rejected"] for loc in h["location"])


def test_check_record_validates_preference_records(medsynth):
    pair = _pairs(medsynth)[0]
    assert check_record(normalize_record(pair), medsynth, {"image"}) is None
    bad = {"same": {**pair, "rejected": pair["chosen"]}, "empty": {**pair, "rejected": " "},
           "no prompt placeholder": {**pair, "prompt": [{"from": "human", "value": "Describe it."}]},
           "missing file": {**pair, "image": "xray/nope.png"}, "no encoder": pair,
           "no chosen": {k: v for k, v in pair.items() if k != "chosen"}}
    msgs = {k: check_record(normalize_record(rec), medsynth, {"volume"} if k == "no encoder" else {"image"}) for k, rec in bad.items()}
    assert "same answer" in msgs["same"] and "empty answer" in msgs["empty"]
    assert "0 <image> placeholder(s) but 1 image input(s)" in msgs["no prompt placeholder"]
    assert "not found" in msgs["missing file"] and "no image encoder" in msgs["no encoder"]
    assert "no 'chosen'" in msgs["no chosen"]


@pytest.fixture(scope="module")
def tiny(medsynth):
    pairs = _pairs(medsynth)
    texts = [p["prompt"][0]["value"] for p in pairs] + [p[s] for p in pairs for s in ("chosen", "rejected")]
    return build_model(from_dict(ModelConfig, tiny_model_dict(("image",))), texts)


def test_dataset_and_collate(medsynth, tiny):
    _, processor = tiny
    ds = PreferenceDataset([medsynth / "xray_pref_train.jsonl"], processor, max_length=512)
    item = ds[0]
    rec = ds.record(0)
    for side in ("chosen", "rejected"):
        labels = item[f"{side}_labels"]
        answer = labels[labels != -100]
        assert processor.decode(answer) == rec[side]  # loss on the answer (and its end token) only
        n_prompt = int((labels == -100).sum())
        assert n_prompt > 16 and (labels[:n_prompt] == -100).all()
    n = int((item["chosen_labels"] == -100).sum())
    assert (item["chosen_input_ids"][:n] == item["rejected_input_ids"][:n]).all()  # one prompt
    batch = collate_preferences([ds[i] for i in range(3)], processor.tokenizer.pad_token_id)
    assert batch["input_ids"].shape[0] == 6 and batch["image"].shape[0] == 6
    assert (batch["image"][:3] == batch["image"][3:]).all()
    row, want = batch["labels"][0], item["chosen_labels"]
    assert (row[row != -100] == want[want != -100]).all()
    # an SFT dataset over a preference manifest trains on the chosen answers
    sft = ManifestDataset([medsynth / "xray_pref_train.jsonl"], processor, max_length=512)
    lab = sft[0]["labels"]
    assert processor.decode(lab[lab != -100]) == rec["chosen"]


def test_cli_synth_preferences_and_validate(tmp_path, capsys):
    code, out, err = run_cli(capsys, "synth", "--out", tmp_path, "--modalities", "xray,ecg", "--n", "6",
                             "--preferences")
    assert code == 0, err
    assert (tmp_path / "xray_pref_train.jsonl").is_file() and not list(tmp_path.glob("ecg_pref_*"))
    code, out, err = run_cli(capsys, "data", "validate", tmp_path / "xray_pref_train.jsonl", "--json")
    assert code == 0, err + out
    stats = json.loads(out)
    assert stats["bad"] == 0 and stats["ok"] == stats["records"] > 0


# -- the hallucination metric ----------------------------------------------------------------
NORMAL = {"cardiomegaly": False, "effusion": False, "effusion_side": None, "pneumothorax": False,
          "pneumothorax_side": None, "nodules": [], "n_nodules": 0}
LEFT_EFFUSION = {**NORMAL, "effusion": True, "effusion_side": "left"}


def test_hallucination_rate_by_hand():
    reports = ["No pneumothorax. Heart size is normal. There is a small left pleural effusion.",  # 1 of 4 absent
               "Left pleural effusion. No pneumothorax. No cardiomegaly. No nodules.",  # correct
               "There is a right pleural effusion. Right pneumothorax. The heart is enlarged.",  # wrong side + 2
               "Possible pneumothorax."]  # uncertain: not counted
    findings = [NORMAL, LEFT_EFFUSION, LEFT_EFFUSION, NORMAL]
    r = hallucination_rate(reports, findings)
    per = r["per_report"]
    assert per[0]["hallucinated"] == ["effusion"] and per[0]["absent"] == 4 and per[0]["rate"] == 0.25
    assert per[1]["hallucinated"] == [] and per[1]["wrong_side"] == [] and per[1]["side_checked"] == ["effusion"]
    assert sorted(per[2]["hallucinated"]) == ["cardiomegaly", "pneumothorax"] and per[2]["wrong_side"] == ["effusion"]
    assert per[3]["hallucinated"] == []
    assert r["hallucinated"] == 3 and r["absent"] == 4 + 3 + 3 + 4
    assert r["hallucination_rate"] == pytest.approx(3 / 14)
    assert r["reports_with_hallucination"] == 0.5
    assert r["per_finding"]["effusion"] == {"hallucinated": 1, "absent": 2, "rate": 0.5}
    assert r["wrong_side"] == 1 and r["side_checked"] == 2 and r["wrong_side_rate"] == 0.5


def test_side_reading_is_conservative():
    assert stated_sides("Bilateral pleural effusions.", "effusion") == {"left", "right"}
    assert stated_sides("There is a pleural effusion.", "effusion") is None
    # a sentence stating two findings with sides is ambiguous and not read
    assert stated_sides("Left pleural effusion and a nodule in the right upper zone.", "effusion") is None
    assert report_hallucinations("Pleural effusion.", LEFT_EFFUSION)["side_checked"] == []
    with pytest.raises(ValueError):
        hallucination_rate(["a"], [])


def test_medsynth_pairs_score_as_designed(medsynth):
    pairs = _pairs(medsynth)
    findings = [p["meta"]["findings"] for p in pairs]
    chosen = hallucination_rate([p["chosen"] for p in pairs], findings)
    rejected = hallucination_rate([p["rejected"] for p in pairs], findings)
    assert chosen["hallucinated"] == 0 and chosen["wrong_side"] == 0
    n_absent = sum(p["meta"]["hallucination"]["kind"] == "absent_finding" for p in pairs)
    assert rejected["hallucinated"] == n_absent
    assert rejected["wrong_side"] == len(pairs) - n_absent
