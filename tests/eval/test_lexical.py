"""Lexical report metrics checked live against the reference libraries.

pycocoevalcap 1.2 (Bleu, Rouge, Cider, Meteor, PTBTokenizer), rouge-score 0.1.2 and sacrebleu 2.6.0
are called on the same sets; the Java parts are skipped when `java` is absent.  Real Open-i chest
X-ray reports (CC BY-NC-ND, never stored in the repository) are read from a cache folder when it
exists: $MEDMLLM_NLMCXR_DIR, or ~/.cache/medmllm/nlmcxr -- the `ecgen-radiology` folder of
torchxrayvision 1.5.7's data/NLMCXR_reports.tgz.
"""
from __future__ import annotations

import glob
import math
import os
import random
import re
import json
import gzip
import shutil
import xml.etree.ElementTree as ET

from pathlib import Path

import pytest

from medmllm.errors import MedMLLMError
from medmllm.eval.metrics import METRICS
from medmllm.eval.metrics import _meteor, _tokenize
from medmllm.eval.metrics.lexical import lcs_length
from medmllm.eval.metrics.libraries import sacrebleu_signature

from fetch_openi import reports_dir  # tests/ is on sys.path (conftest.py)

coco = pytest.importorskip("pycocoevalcap")
from pycocoevalcap.bleu.bleu import Bleu  # noqa: E402
from pycocoevalcap.cider.cider import Cider  # noqa: E402
from pycocoevalcap.rouge.rouge import Rouge  # noqa: E402

JAVA = shutil.which("java") is not None
needs_java = pytest.mark.skipif(not JAVA, reason="java not installed")
TOL = 1e-6

# ------------------------------------------------------------------------------------ data sets
HAND = [
    "The heart is normal in size. Lungs are clear.",
    "Nodule measures 1.5cm in diameter, and 3.5 mm.",
    "Compared to 12/03/2010 and 2010-03-12, no change.",
    "X-ray shows well-defined, T12-L1 degenerative changes.",
    "At the 3 o'clock position; the patient's lungs can't be evaluated.",
    "There is approx. 50% reduction (e.g. atelectasis), i.e. volume loss.",
    '"Normal" chest... no effusion -- stable.',
    "Dr. Smith vs. Mr. Jones at 10:30 a.m. on Jan. 5.",
    "Left/right lung, 4/5 ratio, 1/2 inch, 5x3 cm, 2 x 3 cm.",
    "COPD/emphysema. No pneumothorax.  Tubes: ET tube 5 cm above carina.",
    "Heart size normal.Lungs clear.Bony structures intact",
    "'quoted' `back` don't won't I'm they're we've he'd",
    "Calcified granuloma RUL & LLL; findings @ 3 #4 $5 * + = < > ~ ^ |",
    "U.S. A.M. etc. No. 5 St. Fig. 2 vol. approx inc. Inc.",
    "aortic ectasia/tortuosity, XXXX XXXX. ",
    "{braces} [brackets] <b>bold</b> http://x.org/a?b=c foo@bar.com",
    "résumé naïve µg café – em—dash … ½ ¼ “smart” ‘single’ ±",
    "1,000 1.000 -5 +5 .5 5. 3-4 3–4 1st 2nd T4-T5 C-spine L5/S1",
    "gonna wanna cannot dunno. The a.m. U.S. Then the e.g. He i.e. The",
    "Findings: A. The heart. B. Lungs. colour. tumour. haemorrhage.",
    "2 1/2 cm and 1-1/2 cm, (555) 123-4567 . . . and .... and ..",
    "a/b/c/d 1/2/3/4 and/or e.g., i.e.; etc., approx., cf. et al. viz. ca. 5 fig. 3 nos. 7 pp. 8",
    "T4. L5-S1. C6/C7. 1.5x2.0 cm. 2.5-cm. 3.1.2 10.5%. -2.5 +3.5 ~5 >5 <5 >=5 5+ 5'6\"",
    "Right-sided, left-sided; non-specific. Post-operative... Re-demonstrated?! No! Yes?",
    "1. Normal. 2. Stable. 3) Clear. (1) none. #1 *3 **4 30-40% 0.5mm 12cm. 3cm.",
    "I.V. I.e. E.g. Pt. pt. Hx. hx: r/o s/p w/ w/o its' patients' Jones's mass. CT. Mass. Ct. ct.",
    "[&lt;The heart is normal.&gt;] Line one\nline two with a newline",
    "",
    "   ",
    "Pleural effusion (right > left), unchanged.",
    "No acute cardiopulmonary abnormality. CHEST 2V FRONTAL/LATERAL Date: XXXX, XXXX PM",
]
SENTS = [
    "The heart is normal in size.", "The mediastinum is unremarkable.", "The lungs are clear.",
    "No pneumothorax or pleural effusion.", "Heart size is within normal limits.",
    "There is no focal airspace consolidation.", "Mild cardiomegaly.", "Stable 1.5 cm nodule in the RUL.",
    "Degenerative changes of the thoracic spine (T6-T8).", "No acute cardiopulmonary disease.",
    "Left lower lobe atelectasis/scarring.", "The patient's ET tube is 5 cm above the carina.",
    "Calcified granuloma, e.g. old infection.", "Pulmonary vascularity is normal.",
    "Small bilateral effusions, right > left.", "Sternotomy wires are intact.",
    "Hyperexpanded lungs, c/w COPD.", "No change since 03/12/2014.", "Unchanged x-ray appearance.",
]


def _perturb(rng: random.Random, text: str) -> str:
    words = text.split(" ")
    for _ in range(rng.randint(0, 4)):
        op = rng.random()
        if op < 0.25 and len(words) > 1:
            words.pop(rng.randrange(len(words)))
        elif op < 0.5:
            words.insert(rng.randrange(len(words) + 1), rng.choice(["no", "mild", "stable", "XXXX", "(", ",",
                                                                      "e.g.", "1.5cm", "Mr.", "etc.", "'s"]))
        elif op < 0.7 and len(words) > 1:
            i = rng.randrange(len(words) - 1)
            words[i], words[i + 1] = words[i + 1], words[i]
        elif op < 0.85:
            i = rng.randrange(len(words))
            words[i] = words[i].upper() if rng.random() < 0.5 else words[i].lower()
        else:
            words.append(rng.choice([".", "!", "?", "...", ";", " ", "\n"]))
    return " ".join(words)


def generated_pairs(n: int = 240, seed: int = 0) -> tuple[list[str], list[list[str]]]:
    rng = random.Random(seed)
    preds, refs = [], []
    for i in range(n):
        ref = " ".join(rng.sample(SENTS, rng.randint(1, 5)))
        if i % 7 == 0:
            ref = rng.choice(HAND)
        pred = _perturb(rng, ref) if i % 5 else " ".join(rng.sample(SENTS, rng.randint(1, 4)))
        rs = [ref] + [_perturb(rng, ref) for _ in range(i % 3)]  # 1-3 references
        preds.append(pred)
        refs.append(rs)
    preds[3] = ""              # empty prediction
    refs[4] = [""]             # empty reference
    preds[5] = "Ünïcödé lungs — cœur normal 肺 clear.\nSecond line."
    return preds, refs


def real_pairs(limit: int = 600) -> tuple[list[str], list[list[str]]]:
    d = reports_dir()  # tests/fetch_openi.py, which `make test` runs first, puts them there
    if d is None:
        pytest.skip("Open-i reports not cached (set MEDMLLM_NLMCXR_DIR)")
    reports = []
    for f in sorted(glob.glob(os.path.join(d, "*.xml")), key=lambda p: int(re.sub(r"\D", "", os.path.basename(p)) or 0)):
        secs = {a.get("Label"): (a.text or "") for a in ET.parse(f).getroot().iter("AbstractText")}
        if secs.get("FINDINGS"):
            reports.append((secs["FINDINGS"], secs.get("IMPRESSION", "")))
    assert len(reports) > 2000
    rng = random.Random(1)
    idx = rng.sample(range(len(reports)), limit)
    preds = [reports[i][0] for i in idx]
    # reference: a *different* report's findings (realistic model-vs-truth overlap), 1-2 refs
    refs = [[reports[(i + 1) % len(reports)][0]] + ([reports[i][1]] if k % 4 == 0 else []) for k, i in enumerate(idx)]
    return preds, refs


# ------------------------------------------------------------------------------------ references
PUNCT = set(_tokenize.PUNCTUATIONS)


def coco_ptb(texts: list[str]) -> list[str]:
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer
    out = PTBTokenizer().tokenize({i: [{"caption": t}] for i, t in enumerate(texts)})
    return [out[i][0] for i in range(len(texts))]


R2GEN = json.loads(gzip.open(Path(__file__).with_name("r2gen_reference_outputs.json.gz"), "rt").read())
"""What R2Gen's own `clean_report_mimic_cxr` / `clean_report_iu_xray` (cuhksz-nlp/R2Gen
modules/tokenizers.py) return for 486 texts: outputs recorded once from the original, no code."""


def reference_tokens(preds, refs, how):
    flat = [r for rs in refs for r in rs]
    if how == "ptb":
        hyp, fr = coco_ptb(preds), coco_ptb(flat)
    elif how in ("r2gen", "r2gen_iu"):
        clean = _tokenize.clean_report_iu_xray if how == "r2gen_iu" else _tokenize.clean_report_mimic_cxr
        hyp, fr = [clean(p) for p in preds], [clean(r) for r in flat]
    else:
        hyp, fr = list(preds), flat
    out, k = [], 0
    for rs in refs:
        out.append(fr[k:k + len(rs)])
        k += len(rs)
    return hyp, out


def coco_scores(hyp, refs):
    gts = {i: r for i, r in enumerate(refs)}
    res = {i: [h] for i, h in enumerate(hyp)}
    b, bper = Bleu(4).compute_score(gts, res, verbose=0)
    r, rper = Rouge().compute_score(gts, res)
    c, cper = Cider().compute_score(gts, res)
    return {**{f"bleu{k + 1}": (b[k], bper[k]) for k in range(4)}, "rougeL": (r, rper), "ciderD": (c, cper)}


def assert_close(name, ours, ref, tol=TOL):
    assert len(ours[1]) == len(ref[1]), name
    assert abs(ours[0] - float(ref[0])) <= tol, (name, ours[0], float(ref[0]))
    worst = max((abs(a - float(b)), i) for i, (a, b) in enumerate(zip(ours[1], ref[1])))
    assert worst[0] <= tol, (name, "sample", worst[1], ours[1][worst[1]], ref[1][worst[1]])


def check_coco(preds, refs, how):
    hyp, rt = reference_tokens(preds, refs, how)
    ref = coco_scores(hyp, rt)
    for name, val in ref.items():
        assert_close(f"{name}/{how}", METRICS.get(name)(preds, refs, tokenize=how), val)


# ------------------------------------------------------------------------------------ tests
@needs_java
def test_ptb_tokenizer_equals_java_on_hand_and_generated_text():
    preds, refs = generated_pairs()
    texts = HAND + preds + [r for rs in refs for r in rs]
    assert _tokenize.ptb_tokenize(texts) == coco_ptb(texts)


@needs_java
def test_ptb_tokenizer_equals_java_on_real_reports():
    preds, refs = real_pairs(limit=1500)
    texts = preds + [r for rs in refs for r in rs]
    ours, java = _tokenize.ptb_tokenize(texts), coco_ptb(texts)
    bad = [(t, a, b) for t, a, b in zip(texts, ours, java) if a != b]
    assert not bad, bad[:3]


def test_ptb_tokenizer_can_fail():
    # the port must really tokenise (guards against a test that compares a function with itself)
    assert _tokenize.ptb_tokenize(["The patient's x-ray (PA) can't show 1.5cm, etc. No change."]) == [
        "the patient 's x-ray -lrb- pa -rrb- ca n't show 1.5 cm etc. no change"]


@needs_java
@pytest.mark.parametrize("how", ["ptb", "r2gen", "r2gen_iu", "none"])
def test_coco_metrics_generated(how):
    preds, refs = generated_pairs()
    check_coco(preds, refs, how)


@needs_java
@pytest.mark.parametrize("how", ["ptb", "r2gen", "none"])
def test_coco_metrics_real_reports(how):
    preds, refs = real_pairs(limit=250)
    check_coco(preds, refs, how)


@pytest.mark.parametrize("how", ["r2gen", "r2gen_iu", "none"])
def test_coco_metrics_without_java(how):
    preds, refs = generated_pairs(n=120, seed=3)
    check_coco(preds, refs, how)


def test_repeated_ngrams_and_shared_texts_without_java():
    # clipping at the largest count in any one reference, repeats on both sides, a text that is
    # both a prediction and a reference, texts shorter than the n-gram order, no reference n-gram
    preds = ["no no no effusion effusion", "the heart the heart the heart", "a", "x y", "clear lungs",
             "a b a b a b a", "clear lungs"]
    refs = [["no effusion no", "no no effusion effusion effusion"], ["the heart is normal", "heart the heart"],
            ["a a", "a"], ["y x", "x"], ["clear lungs", "x y"], ["a b a b", "b a b a b a b", "a"], [""]]
    check_coco(preds, refs, "none")


def test_r2gen_cleaning_is_exact():
    assert len(R2GEN["mimic_cxr"]) > 400
    for t, want in R2GEN["mimic_cxr"].items():
        assert _tokenize.clean_report_mimic_cxr(t) == want, t
    for t, want in R2GEN["iu_xray"].items():
        assert _tokenize.clean_report_iu_xray(t) == want, t
    assert _tokenize.clean_report_mimic_cxr("") == " ."
    assert _tokenize.clean_report_mimic_cxr("Lungs: clear-ish.") == "lungs clear-ish ."


def test_rouge_score_package():
    from rouge_score import rouge_scorer
    preds, refs = generated_pairs(n=200, seed=7)
    for stem, name in ((False, "rougeL_rouge_score"), (True, "rougeL_rouge_score_stem")):
        sc = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=stem)
        per = [sc.score_multi(r, p)["rougeL"].fmeasure for p, r in zip(preds, refs)]
        assert_close(name, METRICS.get(name)(preds, refs), (sum(per) / len(per), per))


def test_sacrebleu_package():
    import sacrebleu
    preds, refs = generated_pairs(n=200, seed=9)
    single = [r[0] for r in refs]
    ours = METRICS.get("bleu4_sacrebleu")(preds, single)
    ref = (sacrebleu.corpus_bleu(preds, [single]).score / 100,
           [sacrebleu.sentence_bleu(p, [r]).score / 100 for p, r in zip(preds, single)])
    assert_close("sacrebleu", ours, ref)
    two = [[r[0], r[-1]] for r in refs]
    ours2 = METRICS.get("bleu4_sacrebleu")(preds, two)
    assert abs(ours2[0] - sacrebleu.corpus_bleu(preds, [[r[0] for r in two], [r[1] for r in two]]).score / 100) < TOL
    assert sacrebleu_signature() == "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0"


@needs_java
def test_meteor_equals_pycocoevalcap():
    # one jar start each side (the jar takes ~10 s to load its paraphrase table); the set holds
    # raw newlines inside hypotheses, which the ptb tokenisation turns into spaces on both sides
    from pycocoevalcap.meteor.meteor import Meteor
    preds, refs = generated_pairs(n=80, seed=11)
    assert any("\n" in p for p in preds)
    hyp, rt = reference_tokens(preds, refs, "ptb")
    m = Meteor()
    ref = m.compute_score({i: r for i, r in enumerate(rt)}, {i: [h] for i, h in enumerate(hyp)})
    del m
    assert_close("meteor", METRICS.get("meteor")(preds, refs), ref, tol=1e-4)
    # the jar is kept and reused: a second call (another corpus) gives pycocoevalcap's figures too
    first = _meteor._PROC
    assert first is not None and first.poll() is None
    assert_close("meteor", METRICS.get("meteor")(preds[:20], refs[:20]),
                 Meteor().compute_score({i: r for i, r in enumerate(rt[:20])}, {i: [h] for i, h in enumerate(hyp[:20])}),
                 tol=1e-4)
    assert _meteor._PROC is first
    first.kill()  # a jar that died is replaced on the next call
    first.wait()
    assert_close("meteor", METRICS.get("meteor")(preds, refs), ref, tol=1e-4)
    assert _meteor._PROC is not first


def test_meteor_protocol_line_has_no_newline():
    # with tokenize="none" a raw newline would end the jar's input line early: it becomes a space
    assert _meteor._clean("the heart\nis\r\nnormal") == "the heart is  normal"


def test_meteor_unavailable_message(monkeypatch):
    monkeypatch.setattr(_meteor.shutil, "which", lambda name: None)
    with pytest.raises(MedMLLMError, match="meteor: unavailable"):
        METRICS.get("meteor")(["a"], ["a"])


@pytest.mark.parametrize("name", ["bleu1", "bleu2", "bleu3", "bleu4", "rougeL", "ciderD", "rougeL_rouge_score",
                                  "rougeL_rouge_score_stem", "bleu4_sacrebleu"])
@pytest.mark.parametrize("how", ["ptb", "r2gen", "none"])
def test_edge_cases_do_not_crash(name, how):
    fn = METRICS.get(name)
    for preds, refs in ((["", ""], ["", ""]), (["only one"], ["only one"]), ([""], [[]]),
                        (["ünï — 肺\nline"], [["ünï 肺 line", ""]]), ([], [])):
        s, per = fn(preds, refs, tokenize=how)
        assert len(per) == len(preds)
        assert all(math.isfinite(x) for x in per)
    with pytest.raises(MedMLLMError):
        fn(["a", "b"], ["a"], tokenize=how)
    with pytest.raises(MedMLLMError):
        fn(["a"], ["a"], tokenize="bogus")


def test_defaults_used_by_evaluate_still_work():
    s, per = METRICS.get("bleu4")(["the heart is normal"], ["the heart is normal in size today"])
    assert s == pytest.approx(math.exp(1 - 7 / 4), rel=1e-6)
    s, _ = METRICS.get("rougeL")(["a b c d"], ["a c d e f"])
    assert s == pytest.approx((1 + 1.44) * 0.75 * 0.6 / (0.6 + 1.44 * 0.75))


def test_lcs_matches_dynamic_programming():
    rng = random.Random(0)
    for _ in range(300):
        a = [rng.choice("abcde") for _ in range(rng.randint(0, 30))]
        b = [rng.choice("abcdef") for _ in range(rng.randint(0, 30))]
        t = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
        for i in range(1, len(a) + 1):
            for j in range(1, len(b) + 1):
                t[i][j] = t[i - 1][j - 1] + 1 if a[i - 1] == b[j - 1] else max(t[i - 1][j], t[i][j - 1])
        assert lcs_length(a, b) == t[-1][-1]


def test_report_scores_equals_the_single_metrics():
    from medmllm.eval.metrics import lexical
    from medmllm.eval.metrics.lexical import report_scores
    preds, refs = generated_pairs(n=200, seed=13)
    names = ["bleu1", "bleu2", "bleu3", "bleu4", "rougeL", "ciderD"]
    for how in ("ptb", "r2gen", "none"):
        lexical._corpus.cache_clear()
        together = report_scores(preds, refs, tokenize=how)
        assert sorted(together) == sorted(names)
        for name in names:
            lexical._corpus.cache_clear()  # the single metric computes on its own, not from a cache
            single = METRICS.get(name)(preds, refs, tokenize=how)
            assert together[name][0] == single[0], (how, name)
            assert together[name][1] == single[1], (how, name)
    assert set(report_scores(preds, refs, metrics=("rougeL",))) == {"rougeL"}
    assert report_scores([], [], metrics=("bleu", "ciderD")) == {
        **{f"bleu{k}": (pytest.approx(float("nan"), nan_ok=True), []) for k in range(1, 5)},
        "ciderD": (pytest.approx(float("nan"), nan_ok=True), [])}
    with pytest.raises(MedMLLMError):
        report_scores(preds, refs, metrics=("meteor",))
    with pytest.raises(MedMLLMError):
        report_scores(["a"], ["a", "b"])


def test_ptb_fast_path_equals_the_full_rules(monkeypatch):
    # the chunk/line fast path must give exactly what the full rule set gives
    preds, refs = generated_pairs(n=300, seed=17)
    rng = random.Random(2)
    pieces = ["gonta", "wanme", "cannot,", "ppty.", "etc.", "no. 5", "5 1/2", "555 123 4567", "e.g.", ". . .",
              "word .", ". .", "x-ray", "x-ray.", "5,000", "5.", "5,", "1.5cm", "8mm", "7th.", "T5.", "U.S.", "Dr.",
              "Mass.", "mass.", "al.", "A.", "a", ";", ":", ",", ".", "-", "--", "foo;bar.com", "a@b.com", "<b>",
              "&amp;", "\t", "  ", "1:30", ".5", "'s", "n't", "XXXX-A-XXXX", "and/or,", "a/b/c", "effusion..",
              "Etc..", "fig. 3", "5 -", "3 mm", "gonna", "The", "normal.", "1."]
    texts = HAND + preds + [r for rs in refs for r in rs] + [
        " ".join(rng.choice(pieces) for _ in range(rng.randint(1, 8))) for _ in range(2000)]
    fast = _tokenize.ptb_tokenize(texts)
    monkeypatch.setattr(_tokenize, "_fast_line", lambda line: None)
    monkeypatch.setattr(_tokenize, "_CHUNK_TOKENS", type("NoCache", (dict,), {"get": lambda self, k, d=None: None})())
    assert _tokenize.ptb_tokenize(texts) == fast
