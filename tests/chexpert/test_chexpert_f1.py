"""CheXpert-label F1 metrics: hand-checked small cases, both uncertain policies, sklearn agreement."""
import math
import random

import pytest

from medmllm.errors import MedMLLMError
from medmllm.chexpert import FIVE, OBSERVATIONS, label_many
from medmllm.eval.metrics import CONVENTIONS, METRICS

NAMES = ("chexpert_f1_14_micro", "chexpert_f1_14_macro", "chexpert_f1_5_micro", "chexpert_f1_5_macro")
PREDS = ["Cardiomegaly. Small left pleural effusion.", "No pneumothorax.", "Possible right lower lobe pneumonia."]
REFS = ["Mild cardiomegaly. Possible effusion.", "Normal chest.", "Right lower lobe atelectasis."]


def test_registered_with_conventions():
    for name in NAMES:
        assert name in METRICS.names()
        conv = CONVENTIONS[name]
        assert "uncertain" in conv and ("14" in conv if "14" in name else "5" in conv)


def test_uncertain_positive_hand_checked():
    # pred sets: {CM, EFF}, {NF}, {PNA}   ref sets (-1 -> 1): {CM, EFF}, {NF}, {ATL}
    s, per = METRICS.get("chexpert_f1_14_micro")(PREDS, REFS)
    assert per == pytest.approx([1.0, 1.0, 0.0])
    assert s == pytest.approx(2 * 3 / (2 * 3 + 1 + 1))  # tp 3 (CM, EFF, NF), fp 1 (PNA), fn 1 (ATL)
    s, _ = METRICS.get("chexpert_f1_14_macro")(PREDS, REFS)
    assert s == pytest.approx(3 / 14)  # F1 1 for CM, EFF, NF; 0 for PNA, ATL and absent labels
    s, per = METRICS.get("chexpert_f1_5_micro")(PREDS, REFS)
    assert s == pytest.approx(2 * 2 / (2 * 2 + 0 + 1)) and per == pytest.approx([1.0, 1.0, 0.0])
    s, _ = METRICS.get("chexpert_f1_5_macro")(PREDS, REFS)
    assert s == pytest.approx(2 / 5)


def test_uncertain_negative_r2gen():
    # ref sets (-1 -> 0): {CM}, {NF}, {ATL}; pred sets: {CM, EFF}, {NF}, {} (possible pneumonia -> 0)
    s, per = METRICS.get("chexpert_f1_14_micro")(PREDS, REFS, uncertain="negative")
    assert per == pytest.approx([2 / 3, 1.0, 0.0])
    assert s == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    s5, per5 = METRICS.get("chexpert_f1_5_micro")(PREDS, REFS, uncertain="negative")
    assert per5 == pytest.approx([2 / 3, 1.0, 0.0]) and s5 == pytest.approx(2 / (2 + 1 + 1))


def test_edge_cases():
    f = METRICS.get("chexpert_f1_5_micro")
    s, per = f(["No pneumothorax."], ["Normal chest."])  # nothing of the 5 on either side
    assert s == 0.0 and per == [1.0]
    s, per = f([], [])
    assert math.isnan(s) and per == []
    with pytest.raises(MedMLLMError):
        f(["a"], ["b"], uncertain="maybe")
    with pytest.raises(MedMLLMError):
        f(["a", "b"], ["a"])


def test_matches_sklearn():
    sk = pytest.importorskip("sklearn.metrics")
    rng = random.Random(0)
    phrases = ["mild cardiomegaly", "no cardiomegaly", "possible left effusion", "no pleural effusion",
               "small right effusion", "pulmonary edema", "no edema", "atelectasis versus consolidation",
               "right lower lobe consolidation", "pacemaker in place", "no pneumothorax", "old rib fracture",
               "the lungs are clear", "1 cm nodule", "patchy opacity", "cannot exclude pneumonia"]
    preds = [". ".join(rng.sample(phrases, rng.randint(0, 4))) for _ in range(60)]
    refs = [". ".join(rng.sample(phrases, rng.randint(0, 4))) for _ in range(60)]
    for uncertain, pos in (("positive", (1, -1)), ("negative", (1,))):
        for names, n in ((OBSERVATIONS, 14), (FIVE, 5)):
            y_pred = [[int(d[k] in pos) for k in names] for d in label_many(preds)]
            y_true = [[int(d[k] in pos) for k in names] for d in label_many(refs)]
            for avg in ("micro", "macro"):
                s, per = METRICS.get(f"chexpert_f1_{n}_{avg}")(preds, refs, uncertain=uncertain)
                assert s == pytest.approx(sk.f1_score(y_true, y_pred, average=avg, zero_division=0))
                assert per == pytest.approx([sk.f1_score([t], [p], average="samples", zero_division=1)
                                             for t, p in zip(y_true, y_pred)])
