"""Text-only clinical QA: MedQA (USMLE, multiple choice) and PubMedQA (yes / no / maybe).

Both read the benchmarks' own files, no conversion needed:
* MedQA (jind11/MedQA, `data_clean/questions/US/test.jsonl` or `US/4_options/phrases_no_exclude_test.jsonl`):
  one JSON object per line with `question`, `options` {letter: text}, `answer_idx` (the letter).
* PubMedQA (pubmedqa/pubmedqa, `data/ori_pqal.json`: {PMID: {QUESTION, CONTEXTS, final_decision, ...}}):
  the 500 test PMIDs of `test_ground_truth.json` when that file sits beside it, else all 1,000.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from ...data.formats import choice_prompt, read_json
from ...data.jsonl import iter_records
from ...errors import MedMLLMError, brief
from . import SUITES, Task, register


def medqa_items(path: Path, task: Task) -> Iterator[dict | MedMLLMError]:
    for lineno, _, q in iter_records(path):
        where = f"{path}:{lineno}"
        if isinstance(q, MedMLLMError):
            yield q
            continue
        try:
            options, letter = q["options"], str(q["answer_idx"]).strip()
            question = str(q["question"]).strip()
        except (KeyError, TypeError) as e:
            yield MedMLLMError(f"{where}: not a MedQA record ({type(e).__name__}: {brief(e)})")
            continue
        if not isinstance(options, dict) or letter not in options:
            yield MedMLLMError(f"{where}: answer_idx {letter!r} is not one of the options")
            continue
        prompt = choice_prompt(question, {k: str(v) for k, v in sorted(options.items())})
        yield {"id": f"medqa-{lineno}", "where": where, "question": prompt, "ref": letter,
               "history": [{"role": "user", "content": prompt}], "answer_type": "CHOICE", "split": "test",
               "inputs": {}, "category": q.get("meta_info"), "choices": options}


def pubmedqa_items(path: Path, task: Task) -> Iterator[dict | MedMLLMError]:
    data = read_json(path)
    if not isinstance(data, dict):
        yield MedMLLMError(f"{path}: expected PubMedQA's {{PMID: record}} object")
        return
    truth_file = path.with_name("test_ground_truth.json")
    test_ids = set(read_json(truth_file)) if truth_file.is_file() else None
    for pmid, q in data.items():
        if test_ids is not None and pmid not in test_ids:
            continue
        try:
            context = "\n".join(str(c) for c in q["CONTEXTS"])
            prompt = (f"Context: {context}\nQuestion: {str(q['QUESTION']).strip()}\n"
                      "Answer with yes, no or maybe.")
            answer = str(q["final_decision"]).strip().lower()
        except (KeyError, TypeError) as e:
            yield MedMLLMError(f"{path}: record {pmid}: not a PubMedQA record (missing {e})")
            continue
        yield {"id": f"pubmedqa-{pmid}", "where": f"{path}: record {pmid}", "question": prompt, "ref": answer,
               "history": [{"role": "user", "content": prompt}], "answer_type": "CHOICE",
               "split": "test" if test_ids is not None else None, "inputs": {}, "category": answer,
               "choices": {"yes": "yes", "no": "no", "maybe": "maybe"}}


register(Task("medqa", "MedQA USMLE test questions (jind11/MedQA US test.jsonl), letter answers", "medqa.jsonl",
              {"CHOICE": ["choice_accuracy"]}, loader=medqa_items))
register(Task("pubmedqa", "PubMedQA PQA-L: the 500 test PMIDs of test_ground_truth.json (ori_pqal.json)",
              "ori_pqal.json", {"CHOICE": ["choice_accuracy"]}, loader=pubmedqa_items))

SUITES.register("clinical-qa")(["medqa", "pubmedqa"])
