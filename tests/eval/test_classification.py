"""Classification metrics: hand-computed cases always, scikit-learn agreement when it is installed."""
from __future__ import annotations

import random

import pytest

from medmllm.errors import MedMLLMError
from medmllm.eval.metrics import METRICS

accuracy, macro_f1, auroc = METRICS.get("accuracy"), METRICS.get("macro_f1"), METRICS.get("auroc")


def test_hand_computed():
    assert accuracy(["a", "b", "a"], ["a", "a", "a"]) == (pytest.approx(2 / 3), [1.0, 0.0, 1.0])
    # labels a, b, c: F1(a) = 2*1/(2+0+1) = 2/3; F1(b) = 2*1/(2+1+1) = 1/2; F1(c) = 0 (predicted once, wrong)
    value, per_class = macro_f1(["a", "b", "b", "c"], ["a", "a", "b", "b"])
    assert per_class == pytest.approx([2 / 3, 1 / 2, 0.0]) and value == pytest.approx(7 / 18)
    # binary AUROC: positives 0.8, 0.4; negatives 0.4, 0.1 -> pairs won 1 + 1 + 0.5 (tie) + 1 = 3.5 of 4
    assert auroc([0.8, 0.4, 0.4, 0.1], [1, 1, 0, 0])[0] == pytest.approx(3.5 / 4)
    # three classes, one-vs-rest: class 0 perfectly ranked, class 1 perfectly, class 2 perfectly -> 1
    scores = [[0.8, 0.1, 0.1], [0.1, 0.7, 0.2], [0.2, 0.2, 0.6], [0.6, 0.3, 0.1]]
    assert auroc(scores, [0, 1, 2, 0]) == (pytest.approx(1.0), pytest.approx([1.0, 1.0, 1.0]))
    # labels name the columns; with two columns the second one is the positive class
    rows = [[0.2, 0.8], [0.9, 0.1], [0.3, 0.7], [0.6, 0.4]]
    assert auroc(rows, ["no", "yes", "yes", "yes"], labels=["yes", "no"])[0] == pytest.approx(1.0)
    assert auroc(rows, ["no", "yes", "yes", "yes"], labels=["no", "yes"])[0] == pytest.approx(0.0)
    assert auroc(rows, ["no", "yes", "no", "yes"], labels=["yes", "no"])[0] == pytest.approx(1.0)
    with pytest.raises(MedMLLMError, match="only one class"):
        auroc([0.2, 0.3], [1, 1])
    with pytest.raises(MedMLLMError, match="not one of the labels"):
        auroc([[0.5, 0.3, 0.2]], [3])
    with pytest.raises(MedMLLMError, match="2 predictions but 1 references"):
        accuracy([1, 2], [1])


def test_against_scikit_learn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = random.Random(0)
    for trial in range(30):
        k = rng.choice([2, 3, 5])
        n = rng.randint(k * 3, 80)
        refs = [rng.randrange(k) for _ in range(n)]
        for c in range(k):  # every class present
            refs[c] = c
        preds = [r if rng.random() < 0.6 else rng.randrange(k) for r in refs]
        raw = [[round(rng.random(), 1) + (1.0 if c == r and rng.random() < 0.5 else 0.0) for c in range(k)]
               for r in refs]  # rounded: plenty of ties
        probs = [[v / sum(row) for v in row] for row in raw]
        assert accuracy(preds, refs)[0] == pytest.approx(metrics.accuracy_score(refs, preds), abs=1e-12)
        assert macro_f1(preds, refs)[0] == pytest.approx(metrics.f1_score(refs, preds, average="macro"), abs=1e-12)
        if k == 2:
            want = metrics.roc_auc_score(refs, [p[1] for p in probs])
            assert auroc([p[1] for p in probs], refs)[0] == pytest.approx(want, abs=1e-12)
        else:
            want = metrics.roc_auc_score(refs, probs, multi_class="ovr", average="macro")
        assert auroc(probs, refs)[0] == pytest.approx(want, abs=1e-12), trial
    # string labels, a label only ever predicted
    refs, preds = ["cat", "dog", "dog", "cat"], ["cat", "dog", "bird", "dog"]
    assert macro_f1(preds, refs)[0] == pytest.approx(metrics.f1_score(refs, preds, average="macro"))
