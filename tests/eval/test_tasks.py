"""The task registry: every task resolves, pins its split, and reads its benchmark's own files."""
import json

import pytest

from medmllm.errors import MedMLLMError
from medmllm.eval.metrics import METRICS
from medmllm.eval.tasks import SUITES, TASKS, resolve


def test_every_task_names_known_metrics_and_suites_name_known_tasks():
    for name in TASKS.names():
        for metrics in TASKS.get(name).metrics.values():
            assert all(m in METRICS for m in metrics), (name, metrics)
    for suite in SUITES.names():
        assert all(t in TASKS for t in SUITES.get(suite)), suite


def test_split_is_pinned(tmp_path):
    rec = lambda i, split: {"id": f"q{i}", "conversations": [{"from": "human", "value": "Q?"},  # noqa: E731
                                                             {"from": "gpt", "value": "yes"}],
                            "meta": {"split": split, "answer_type": "CLOSED"}}
    (tmp_path / "vqa-rad.jsonl").write_text("".join(json.dumps(rec(i, s)) + "\n"
                                                    for i, s in enumerate(["train", "test", "test"])))
    task, path = resolve("vqa-rad", tmp_path)
    assert [it["id"] for it in task.items(path)] == ["q1", "q2"]
    task, path = resolve(f"vqa-rad={tmp_path / 'vqa-rad.jsonl'}", None)
    assert len(list(task.items(path))) == 2
    with pytest.raises(MedMLLMError, match="slake.jsonl not found"):
        resolve("slake", tmp_path)


def test_medqa_and_pubmedqa_read_their_own_formats(tmp_path):
    medqa = tmp_path / "medqa.jsonl"
    medqa.write_text(json.dumps({"question": "Which drug?", "options": {"A": "Heparin", "B": "Warfarin"},
                                 "answer_idx": "B", "answer": "Warfarin", "meta_info": "step1"}) + "\n"
                     + json.dumps({"question": "Bad", "options": {"A": "x"}, "answer_idx": "C"}) + "\n")
    task, path = resolve("medqa", tmp_path)
    items = list(task.items(path))
    assert items[0]["ref"] == "B" and "B: Warfarin" in items[0]["question"] and items[0]["answer_type"] == "CHOICE"
    assert isinstance(items[1], MedMLLMError) and "medqa.jsonl:2" in str(items[1])
    assert METRICS.get("choice_accuracy")(["The answer is B", "Heparin"], ["B", "B"],
                                          choices=[items[0]["choices"]] * 2)[1] == [1.0, 0.0]
    (tmp_path / "ori_pqal.json").write_text(json.dumps({
        "1": {"QUESTION": "Does X help?", "CONTEXTS": ["A trial."], "final_decision": "yes"},
        "2": {"QUESTION": "Does Y help?", "CONTEXTS": ["Another."], "final_decision": "maybe"}}))
    (tmp_path / "test_ground_truth.json").write_text(json.dumps({"2": "maybe"}))
    task, path = resolve("pubmedqa", tmp_path)
    items = list(task.items(path))
    assert [it["id"] for it in items] == ["pubmedqa-2"] and items[0]["ref"] == "maybe"
    assert METRICS.get("choice_accuracy")(["Maybe."], ["maybe"], choices=[items[0]["choices"]])[0] == 1.0


def test_prompt_template_wraps_the_question_and_keeps_placeholders(tmp_path):
    from medmllm.eval.tasks import Task, VQA_METRICS

    from PIL import Image

    Image.new("L", (8, 8)).save(tmp_path / "x.png")
    rec = {"id": "a", "image": "x.png", "conversations": [{"from": "human", "value": "<image>\nIs there an effusion?"},
                                        {"from": "gpt", "value": "no"}], "meta": {"answer_type": "CLOSED"}}
    (tmp_path / "m.jsonl").write_text(json.dumps(rec) + "\n")
    task = Task("t", "test", "m.jsonl", VQA_METRICS, prompt="{question} Answer yes or no.")
    (item,) = list(task.items(tmp_path / "m.jsonl"))
    assert item["history"][-1]["content"] == "<image>\nIs there an effusion? Answer yes or no."
    assert rec["conversations"][0]["value"] == "<image>\nIs there an effusion?"
