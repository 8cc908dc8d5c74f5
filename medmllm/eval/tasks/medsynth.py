"""MedSynth, the built-in synthetic data set (`medmllm synth`): test splits of each modality.

Yes/no questions are balanced, so a model that ignores its input scores 50% on them. Reasoning
answers sit inside `<answer>` tags; the metrics score the extracted answer.
"""
from . import CXR_REPORT_METRICS, REPORT_METRICS, VQA_METRICS, SUITES, Task, register

for modality, placeholder in (("xray", "chest X-ray"), ("ct", "CT volume"), ("ecg", "12-lead ECG")):
    register(Task(f"medsynth-{modality}-vqa", f"MedSynth {placeholder} questions, test split ({modality}_vqa_test.jsonl)",
                  f"{modality}_vqa_test.jsonl", VQA_METRICS, split="test"))
    register(Task(f"medsynth-{modality}-reason", f"MedSynth {placeholder} multi-step questions with worked "
                  f"rationales, test split ({modality}_reason_test.jsonl)", f"{modality}_reason_test.jsonl",
                  VQA_METRICS, split="test"))
    register(Task(f"medsynth-{modality}-report", f"MedSynth {placeholder} reports, test split "
                  f"({modality}_report_test.jsonl)", f"{modality}_report_test.jsonl",
                  {"REPORT": CXR_REPORT_METRICS if modality == "xray" else REPORT_METRICS}, split="test",
                  category="task"))

SUITES.register("medsynth-xray")(["medsynth-xray-vqa", "medsynth-xray-report", "medsynth-xray-reason"])
SUITES.register("medsynth")([f"medsynth-{m}-{t}" for m in ("xray", "ct", "ecg") for t in ("vqa", "report", "reason")])
