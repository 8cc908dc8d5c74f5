"""The one turn format: `chat.normalize_record` at the edge, and a `{role, content}` manifest that
goes through validate -> train -> eval exactly like the same records in LLaVA's `{from, value}`."""
import json

from PIL import Image
from tiny import run_cli, tiny_model_dict

from medmllm.chat import normalize_record, normalize_turn, text_slots


def test_normalize_turn_maps_llava_roles_and_leaves_the_rest_for_the_check():
    assert normalize_turn({"from": "human", "value": "q"}) == {"role": "user", "content": "q"}
    assert normalize_turn({"from": "gpt", "value": "a"}) == {"role": "assistant", "content": "a"}
    assert normalize_turn({"role": "system", "content": "s"}) == {"role": "system", "content": "s"}
    assert normalize_turn({"from": "doctor", "value": "x"}) == {"role": "doctor", "content": "x"}  # named by the check
    assert normalize_turn("text") == "text" and normalize_turn({"x": 1}) == {"x": 1}


def test_normalize_record_handles_preference_records_without_touching_the_input():
    rec = {"prompt": "<image>\nDescribe.", "chosen": [{"from": "gpt", "value": "Clear."}],
           "rejected": {"role": "assistant", "content": "Effusion."}, "image": "a.png"}
    before = json.dumps(rec)
    out = normalize_record(rec)
    assert out == {"prompt": [{"role": "user", "content": "<image>\nDescribe."}], "chosen": "Clear.",
                   "rejected": "Effusion.", "image": "a.png"}
    assert json.dumps(rec) == before


def test_text_slots_reach_every_turn_text_in_either_form():
    rec = {"conversations": [{"from": "human", "value": "a"}, {"role": "assistant", "content": "b"}],
           "prompt": [{"role": "user", "content": "c"}], "chosen": {"from": "gpt", "value": "d"}, "rejected": "e"}
    assert sorted(c[k] for c, k, _ in text_slots(rec)) == ["a", "b", "c", "d", "e"]


def _manifests(tmp_path, n=24):
    """The same tiny X-ray VQA data twice: LLaVA turns and {role, content} turns."""
    for k in range(2):
        Image.new("L", (32, 32), 40 + 150 * k).save(tmp_path / f"x{k}.png")
    out = {}
    for form, (user, asst, role_key, text_key) in {"llava": ("human", "gpt", "from", "value"),
                                                   "openai": ("user", "assistant", "role", "content")}.items():
        lines = []
        for i in range(n):
            k = i % 2
            lines.append(json.dumps({"id": f"{form}-{i}", "image": f"x{k}.png", "meta": {"answer_type": "CLOSED"},
                                     "conversations": [{role_key: user, text_key: "<image>\nIs the image bright?"},
                                                       {role_key: asst, text_key: "yes" if k else "no"}]}))
        out[form] = tmp_path / f"{form}.jsonl"
        out[form].write_text("\n".join(lines) + "\n")
    return out


def test_role_content_records_validate_train_and_evaluate(tmp_path, capsys):
    import yaml

    manifests = _manifests(tmp_path)
    code, out, err = run_cli(capsys, "data", "validate", manifests["openai"])
    assert code == 0 and "24 ok, 0 bad" in out, out + err
    results = {}
    for form, manifest in manifests.items():
        cfg = {"model": tiny_model_dict(("image",)), "data": {"train": [str(manifest)]},
               "train": {"max_steps": 3, "batch_size": 4, "output_dir": str(tmp_path / form), "seed": 0,
                         "logging_steps": 1}}
        (tmp_path / f"{form}.yaml").write_text(yaml.safe_dump(cfg))
        code, out, err = run_cli(capsys, "train", tmp_path / f"{form}.yaml")
        assert code == 0, err
        code, out, err = run_cli(capsys, "eval", "--model", tmp_path / form / "model", "--data", manifest,
                                 "--out", tmp_path / f"eval-{form}")
        assert code == 0, err
        history = json.loads((tmp_path / form / "log_history.json").read_text())
        results[form] = ([h["loss"] for h in history if "loss" in h],
                         [json.loads(line)["pred"] for line in (tmp_path / f"eval-{form}" / "predictions.jsonl")
                          .read_text().splitlines()])
    # same data in either form: the same tokenizer, the same losses, the same answers
    assert results["openai"][0] == results["llava"][0] and len(results["openai"][0]) == 3
    assert results["openai"][1] == results["llava"][1] and len(results["openai"][1]) == 24
