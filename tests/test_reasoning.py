"""Chain-of-thought at inference: forcing `<think>` and self-consistency voting (in the Python API
and in eval). Splitting reasoning from the answer is `medmllm.answers.split` (test_answers.py)."""
from medmllm.reasoning import THINK_PREFIX, normalise, vote


def test_vote_majority_ties_and_empty_answers():
    r = vote(["<answer>Yes.</answer>", "<answer>no</answer>", "<think>x</think><answer>yes</answer>"])
    assert r.answer == "Yes." and r.votes == {"yes": 2, "no": 1} and len(r.samples) == 3
    assert vote(["<answer>a</answer>", "<answer>b</answer>"]).answer == "a"  # tie: first seen
    assert vote(["<think>cut", "<think>cut", "<answer>0.42</answer>"]).answer == "0.42"  # empty answers do not vote
    assert normalise(" 0.42 cm. ") == "0.42 cm" and normalise("Left-sided!") == "left-sided"


def test_vote_counts_close_numbers_as_agreeing():
    answers = ["<answer>0.52</answer>", "<answer>0.43</answer>", "<answer>0.44</answer>", "<answer>0.45</answer>",
               "<answer>0.52</answer>"]
    r = vote(answers)  # 0.52 is the most frequent string, but 0.43-0.45 agree with one another
    assert r.answer == "0.43" and r.votes["0.52"] == 2  # 0.43 and 0.44 both have 3: first seen
    assert vote(["<answer>12 mm</answer>", "<answer>12 cm</answer>", "<answer>30 mm</answer>"]).answer == "12 mm"
    assert vote(["<answer>3</answer>", "<answer>yes</answer>", "<answer>yes</answer>"]).answer == "yes"
    assert vote(["<answer>100</answer>", "<answer>104</answer>", "<answer>90</answer>"]).answer == "100"


def test_engine_reason_think_and_self_consistency(tiny_model, tmp_path):
    from PIL import Image

    from medmllm.engine import Engine

    model, processor = tiny_model
    Image.new("L", (32, 32), 100).save(tmp_path / "x.png")
    engine = Engine(model, processor)
    reply = engine.reason("Is there an effusion?", image=tmp_path / "x.png", think=True, max_new_tokens=4)
    assert reply.text.startswith(THINK_PREFIX) and reply.votes
    many = engine.reason("Is there an effusion?", image=tmp_path / "x.png", samples=4, max_new_tokens=4)
    assert len(many.samples) == 4 and sum(many.votes.values()) <= 4


def test_eval_self_consistency_is_recorded_and_cached(tmp_path):
    import json

    from medmllm.build import build_model
    from medmllm.config import ModelConfig, from_dict
    from medmllm.synth import synthesize
    from medmllm.eval.backends import BACKENDS
    from medmllm.eval.evaluate import Decoding, run
    from medmllm.eval.tasks import resolve
    from tiny import tiny_model_dict

    synthesize(tmp_path / "data", ["xray"], n=24, seed=1)
    model, processor = build_model(from_dict(ModelConfig, tiny_model_dict(("image",))), ["yes no heart"] * 20)
    model.save_pretrained(tmp_path / "m"), processor.save_pretrained(tmp_path / "m")
    local = BACKENDS.get("local")(tmp_path / "m", batch_size=4)
    task = resolve("medsynth-xray-reason", tmp_path / "data")
    decoding = Decoding(think=True, samples=3, temperature=0.9, max_new_tokens=4)
    first = run(local, [task], tmp_path / "ev", blank=False, limit=4, decoding=decoding)
    assert first["decoding"]["samples"] == 3 and first["generated"] == 4
    preds = [json.loads(line) for line in (tmp_path / "ev" / "predictions.jsonl").read_text().splitlines()]
    assert all(p["pred"].startswith(THINK_PREFIX) and sum(p["pred_votes"].values()) <= 3 for p in preds)
    again = run(local, [task], tmp_path / "ev", blank=False, limit=4, decoding=decoding)
    assert again["cached"] == 4 and again["generated"] == 0
    greedy = run(local, [task], tmp_path / "ev", blank=False, limit=4, max_new_tokens=4)
    assert greedy["generated"] == 4  # another decoding is another cache key
