"""The public medical VQA benchmarks, from manifests written by `medmllm data convert`.

Closed questions are scored with LLaVA-Med's closed accuracy (run_eval_batch.py: substring of
the normalised answer) and strict exact match; open ones with LLaVA-Med's recall, token F1 and
exact match, so a number can be compared with the papers that use each convention.
"""
from . import SUITES, VQA_METRICS, Task, register

register(Task("vqa-rad", "VQA-RAD (OSF release), the 451 test questions (phrase_type test_*); "
              "`medmllm data convert --format vqa-rad SRC vqa-rad.jsonl`", "vqa-rad.jsonl", VQA_METRICS, split="test"))
register(Task("slake", "SLAKE 1.0 English test split (test.json); `medmllm data convert --format slake SRC slake.jsonl`",
              "slake.jsonl", VQA_METRICS, split="test", category="content_type"))
register(Task("pathvqa", "PathVQA test split; `medmllm data convert --format pathvqa SRC pathvqa.jsonl`",
              "pathvqa.jsonl", VQA_METRICS, split="test"))
register(Task("pmc-vqa", "PMC-VQA test_clean split (2k, four choices, letter answers); "
              "`medmllm data convert --format pmc-vqa SRC pmc-vqa.jsonl`", "pmc-vqa.jsonl",
              {"CHOICE": ["choice_accuracy"]}, split="test_clean"))

SUITES.register("vqa")(["vqa-rad", "slake", "pathvqa", "pmc-vqa"])
