"""Chest X-ray report generation: MIMIC-CXR (official test split) and IU X-ray (Open-i).

Lexical metrics as pycocoevalcap computes them (PTB tokenisation) plus CheXpert-label F1 from
medmllm's rule-based labeler (uncertain counted as positive, the CheXbert `rrg` convention).
"""
from . import CXR_REPORT_METRICS, SUITES, Task, register

register(Task("mimic-cxr", "MIMIC-CXR-JPG official test split, frontal views, findings (else impression); "
              "`medmllm data convert --format mimic-cxr SRC mimic-cxr.jsonl`", "mimic-cxr.jsonl",
              {"REPORT": CXR_REPORT_METRICS}, split="test", category="view"))
register(Task("iu-xray", "IU X-ray / Open-i reports: every record (Open-i has no official split; from R2Gen's "
              "annotation.json give iu-xray=PATH of a test-only conversion)", "iu-xray.jsonl",
              {"REPORT": CXR_REPORT_METRICS}, category="answer_from"))

SUITES.register("cxr-report")(["mimic-cxr", "iu-xray"])
