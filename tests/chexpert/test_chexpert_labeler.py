"""Rule-based CheXpert labeler: hand-written report sentences with expected labels, aggregation, MedSynth agreement."""
import json

import pytest

from medmllm.chexpert import FIVE, OBSERVATIONS, label, label_many, medsynth_labels

NF, ECM, CM, LO, LL = "No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion"
ED, CO, PNA, ATL, PTX = "Edema", "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax"
EFF, PO, FX, SD = "Pleural Effusion", "Pleural Other", "Fracture", "Support Devices"

# (sentence, expected labels); every observation not listed must come out None.
CASES = [
    # negation scope and lists
    ("No pneumothorax or pleural effusion.", {NF: 1, PTX: 0, EFF: 0}),
    ("no pneumothorax, but there is a small left effusion", {PTX: 0, EFF: 1}),
    ("There is no focal consolidation, effusion, or pneumothorax.", {NF: 1, CO: 0, EFF: 0, PTX: 0}),
    ("Without evidence of edema, consolidation or pleural fluid.", {NF: 1, ED: 0, CO: 0, EFF: 0}),
    ("Negative for pneumothorax.", {NF: 1, PTX: 0}),
    ("The lungs are free of consolidation.", {NF: 1, CO: 0}),
    ("Mild cardiomegaly without pulmonary edema.", {CM: 1, ED: 0}),
    ("No pleural effusion; however, a right pneumothorax is present.", {EFF: 0, PTX: 1}),
    ("No effusion is seen and the heart is enlarged.", {EFF: 0, CM: 1}),
    ("Neither pneumothorax nor effusion is identified.", {NF: 1, PTX: 0, EFF: 0}),
    ("A pneumothorax is not seen.", {NF: 1, PTX: 0}),
    # no change / stable / unchanged: the finding is still there
    ("Stable cardiomegaly.", {CM: 1}),
    ("No change in the moderate right effusion.", {EFF: 1}),
    ("Unchanged small bilateral pleural effusions.", {EFF: 1}),
    ("No significant interval change in the left basilar atelectasis.", {ATL: 1}),
    # CheXpert rule: a stable/unchanged heart or mediastinal *structure* is uncertain
    ("The cardiomediastinal silhouette is unchanged.", {ECM: -1}),
    ("Heart size is stable.", {CM: -1}),
    # hedges
    ("Pneumonia cannot be excluded.", {PNA: -1}),
    ("Cannot exclude a small left effusion.", {EFF: -1}),
    ("An early infiltrate can not be excluded.", {LO: -1}),
    ("pneumonia is not excluded", {PNA: -1}),
    ("Atelectasis versus consolidation at the right base.", {ATL: -1, CO: -1}),
    ("Left basilar opacity, which may represent atelectasis or pneumonia.", {LO: 1, ATL: -1, PNA: -1}),
    ("Possible small right pleural effusion.", {EFF: -1}),
    ("Findings are concerning for pneumonia.", {PNA: -1}),
    ("Patchy opacity, likely atelectasis.", {LO: 1, ATL: -1}),
    ("Questionable nodule in the left upper lobe.", {LL: -1}),
    ("Pneumonia is in the differential.", {PNA: -1}),
    ("Mild pulmonary vascular congestion.", {ED: -1}),
    ("No new focal consolidation.", {CO: -1}),  # CheXpert pre-negation uncertainty: "no new XXX"
    # resolution and removal
    ("The left pneumothorax has resolved.", {NF: 1, PTX: 0}),
    ("Interval resolution of the right pleural effusion.", {NF: 1, EFF: 0}),
    ("Resolved right lower lobe pneumonia.", {NF: 1, PNA: 0}),
    ("The endotracheal tube has been removed.", {NF: 1, SD: 0}),
    # heart size
    ("Heart size is normal.", {NF: 1, CM: 0}),
    ("The heart is normal in size and contour.", {NF: 1, CM: 0, ECM: 0}),
    ("Heart size is top normal.", {CM: -1}),
    ("Borderline enlargement of the cardiac silhouette.", {CM: -1}),
    ("The heart is not enlarged.", {NF: 1, CM: 0}),
    ("Enlarged cardiac silhouette.", {CM: 1}),
    ("The cardiomediastinal silhouette is enlarged.", {ECM: 1}),
    ("Widened mediastinum.", {ECM: 1}),
    ("Normal mediastinum.", {NF: 1, ECM: 0}),
    ("Normal heart size and mediastinal contours.", {NF: 1, CM: 0, ECM: 0}),
    ("Congestive heart failure.", {ED: 1, CM: -1}),
    # normal studies: "lungs are clear" names no observation in CheXpert's lists
    ("The lungs are clear.", {NF: 1}),
    ("No acute cardiopulmonary process.", {NF: 1}),
    ("Normal chest radiograph.", {NF: 1}),
    ("", {NF: 1}),
    # devices (status post: only devices in CheXpert's list count; sternotomy is not one)
    ("Endotracheal tube terminates 4 cm above the carina.", {NF: 1, SD: 1}),
    ("Right PICC line with tip in the distal SVC.", {NF: 1, SD: 1}),
    # "defib" is also on CheXpert's no-finding list, so No Finding is not 1 here
    ("Left chest wall pacemaker/defibrillator leads are intact.", {NF: None, SD: 1}),
    ("Status post median sternotomy.", {NF: 1}),
    ("Status post removal of the left chest tube.", {NF: 1, SD: 0}),
    ("Plate-like atelectasis at the left base.", {ATL: 1}),
    ("Findings of prior tuberculosis.", {NF: 1}),
    # fractures and bones
    ("Old healed left rib fractures.", {FX: 1}),
    ("No acute displaced rib fracture.", {NF: 1, FX: 0}),
    ("Possible nondisplaced fracture of the right 6th rib.", {FX: -1}),
    ("Degenerative changes of the thoracic spine.", {NF: None}),  # "degenera": CheXpert's no-finding list
    # lesions, opacities, pleura
    ("A 2 cm mass in the right upper lobe.", {LL: 1}),
    # "calcified nodul" is an unmention of Lung Lesion; "calcifi"/"granuloma" rule No Finding out
    ("Calcified nodule in the left midlung, consistent with prior granulomatous disease.", {NF: None}),
    ("Massive right pleural effusion.", {EFF: 1}),
    ("Small pericardial effusion.", {NF: 1}),
    ("Blunting of the left costophrenic angle, possibly a small effusion or pleural thickening.", {EFF: -1, PO: -1}),
    ("Apical pleural thickening.", {PO: 1}),
    ("Bibasilar airspace disease.", {LO: 1}),
    # several sentences of one report: positive beats uncertain beats negative
    ("No effusion on the left. Small right pleural effusion.", {EFF: 1}),
    ("Possible pneumonia at the right base. No pneumonia on the left.", {PNA: -1}),
]


@pytest.mark.parametrize("text,expected", CASES, ids=[c[0][:50] or "empty" for c in CASES])
def test_sentence_labels(text, expected):
    got = label(text)
    assert list(got) == list(OBSERVATIONS)
    want = {k: expected.get(k) for k in OBSERVATIONS}
    if NF not in expected:
        want[NF] = got[NF] if any(v in (1, -1) for k, v in got.items() if k not in (NF, SD)) else 1
    assert got == want, {k: (got[k], want[k]) for k in OBSERVATIONS if got[k] != want[k]}


def test_enough_cases():
    assert len(CASES) >= 40


def test_no_finding_rules():
    assert label("Pacemaker in place. Lungs are clear.")[NF] == 1  # support devices do not count
    assert label("Possible small effusion.")[NF] is None  # uncertain counts
    assert label("Calcified granuloma.")[NF] is None  # CheXpert's no-finding phrase list
    assert label("No emphysema.")[NF] == 1
    assert label("Cardiomegaly.")[NF] is None and label("No cardiomegaly.")[NF] == 1


def test_upstream_sample_reports():
    """The four sample reports of stanfordmlgroup/chexpert-labeler and its published labels."""
    assert label("Heart size normal and lungs are clear. No edema or pneumonia. No effusion") == {
        **dict.fromkeys(OBSERVATIONS), NF: 1, CM: 0, ED: 0, PNA: 0, EFF: 0}
    assert label("1. Left pleural effusion with adjacent atelectasis. Right effusion is also present.\n\n"
                 "2. Cardiomegaly without overt edema.") == {**dict.fromkeys(OBSERVATIONS), CM: 1, ED: 0, ATL: 1,
                                                                EFF: 1}
    assert label("Minimal patchy airspace disease within the lingula, may reflect atelectasis or consolidation.") == {
        **dict.fromkeys(OBSERVATIONS), LO: 1, CO: -1, ATL: -1}
    assert label("1. Stable mild cardiomegaly. 2. Hyperexpanded but clear lungs.") == {
        **dict.fromkeys(OBSERVATIONS), CM: 1}


def test_label_many_and_types():
    out = label_many(["Cardiomegaly.", "No pneumothorax."])
    assert [o[CM] for o in out] == [1, None] and [o[PTX] for o in out] == [None, 0]
    assert set(FIVE) < set(OBSERVATIONS) and len(OBSERVATIONS) == 14
    with pytest.raises(TypeError):
        label(None)


def test_medsynth_labels_mapping():
    normal = {"normal": True, "cardiomegaly": False, "effusion": False, "effusion_side": None,
              "pneumothorax": False, "pneumothorax_side": None, "nodules": [], "n_nodules": 0}
    m = medsynth_labels(normal)
    assert m[NF] == 1 and m[CM] == 0 and m[EFF] == 0 and m[PTX] == 0 and m[LL] == 0 and m[ECM] == 0
    assert m[FX] is None and m[SD] is None and list(m) == list(OBSERVATIONS)
    sick = {**normal, "normal": False, "effusion": True, "effusion_side": "left", "nodules": [{"size_mm": 12}],
            "n_nodules": 1}
    m = medsynth_labels(sick)
    assert m[NF] is None and m[EFF] == 1 and m[LL] == 1 and m[CM] == 0


def test_medsynth_agreement(tmp_path):
    from medmllm.synth import synthesize

    paths = synthesize(tmp_path, ["xray"], n=320, seed=7)
    records = [json.loads(line) for name, p in paths.items() if name.startswith("xray_report_")
               for line in p.read_text().splitlines()]
    assert len(records) >= 300
    agree = total = 0
    for rec in records:
        report = rec["conversations"][-1]["value"]
        want, got = medsynth_labels(rec["meta"]["findings"]), label(report)
        agree += sum(want[k] == got[k] for k in OBSERVATIONS)
        total += len(OBSERVATIONS)
        # the four simulated findings must always be read correctly (the remaining disagreements are
        # CheXpert's Lung Opacity on effusion phrasings such as "dense opacity ... consistent with effusion")
        for k in (NF, ECM, CM, LL, PTX, EFF, FX, SD):
            assert got[k] == want[k], (k, got[k], want[k], report)
    rate = agree / total
    print(f"MedSynth agreement: {rate:.4f} of {total} labels over {len(records)} reports")
    assert rate >= 0.98
