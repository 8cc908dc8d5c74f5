"""The dpo stage: the loss on hand-made log-probs, and a tiny model trained from a saved checkpoint on
MedSynth preference pairs (loss starts at log 2, rewards separate, the reference stays frozen)."""
import json
import math

import pytest
import torch
from safetensors.torch import load_file

from tiny import tiny_model_dict
from medmllm.build import build_model
from medmllm.config import ModelConfig, RunConfig, from_dict, load_config
from medmllm.synth import synthesize
from medmllm.synth.preferences import write_preferences
from medmllm.engine import load
from medmllm.errors import MedMLLMError
from medmllm.recipes import RECIPES, run
from medmllm.recipes import dpo as dpo_module
from medmllm.recipes.dpo import dpo_loss, sequence_logps


def _softplus(x):
    return math.log1p(math.exp(x))


def test_dpo_loss_by_hand():
    t = torch.tensor
    pc, pr, rc, rr = t([-10.0, -5.0]), t([-12.0, -5.0]), t([-11.0, -5.0]), t([-11.0, -5.0])
    losses, cr, rj = dpo_loss(pc, pr, rc, rr, beta=0.1)
    # pair 0: margin (1) - (-1) = 2, z = 0.2; pair 1: policy == reference -> log 2
    assert losses.tolist() == pytest.approx([_softplus(-0.2), math.log(2)], abs=1e-6)
    assert cr.tolist() == pytest.approx([0.1, 0.0]) and rj.tolist() == pytest.approx([-0.1, 0.0])
    smoothed, _, _ = dpo_loss(pc, pr, rc, rr, beta=0.1, label_smoothing=0.1)
    assert smoothed[0].item() == pytest.approx(0.9 * _softplus(-0.2) + 0.1 * _softplus(0.2), abs=1e-6)
    assert smoothed[1].item() == pytest.approx(math.log(2), abs=1e-6)
    # beta scales the margin
    assert dpo_loss(pc, pr, rc, rr, beta=1.0)[0][0].item() == pytest.approx(_softplus(-2.0), abs=1e-6)
    # ipo: log-ratios per answer token, squared distance to 1 / (2 beta)
    ipo, _, _ = dpo_loss(pc, pr, rc, rr, beta=0.5, loss="ipo", chosen_tokens=t([2, 1]), rejected_tokens=t([4, 1]))
    assert ipo.tolist() == pytest.approx([(1 / 2 + 1 / 4 - 1.0) ** 2, 1.0])
    # gradients push chosen up and rejected down
    pc_, pr_ = pc.clone().requires_grad_(), pr.clone().requires_grad_()
    dpo_loss(pc_, pr_, rc, rr)[0].sum().backward()
    assert (pc_.grad < 0).all() and (pr_.grad > 0).all()
    with pytest.raises(MedMLLMError, match="train.dpo.loss"):
        dpo_loss(pc, pr, rc, rr, loss="hinge")


def test_sequence_logps_sums_answer_tokens_only():
    class Fixed(torch.nn.Module):  # logits that make token t+1's log-prob known
        def forward(self, input_ids, attention_mask, use_cache, **kw):
            logits = torch.zeros(*input_ids.shape, 4)
            logits[..., 1] = math.log(3.0)  # p(1) = 3 / 6, p(others) = 1 / 6
            return type("Out", (), {"logits": logits})()

    inputs = {"input_ids": torch.tensor([[0, 1, 1, 2]]), "attention_mask": torch.ones(1, 4, dtype=torch.long),
              "labels": torch.tensor([[-100, -100, 1, 2]])}
    logps, n = sequence_logps(Fixed(), inputs)
    assert n.tolist() == [2] and logps.item() == pytest.approx(math.log(0.5) + math.log(1 / 6))


def test_config_keys():
    cfg = load_config(None, ["train.stage=dpo", "train.dpo.beta=0.2", "train.dpo.loss=ipo",
                             "train.dpo.label_smoothing=0.1"])
    assert (cfg.train.stage, cfg.train.dpo.beta, cfg.train.dpo.loss, cfg.train.dpo.label_smoothing) == \
        ("dpo", 0.2, "ipo", 0.1)
    assert load_config(None).train.dpo.beta == 0.1 and "dpo" in RECIPES
    with pytest.raises(MedMLLMError, match="train.dpo.loss"):
        load_config(None, ["train.dpo.loss=kto"])
    with pytest.raises(MedMLLMError, match="train.init_from"):
        run(load_config(None, ["train.stage=dpo", "data.train=[x.jsonl]"]))


@pytest.fixture(scope="module")
def start(tmp_path_factory):
    """MedSynth x-ray pairs and a saved tiny model to start from (stands in for an sft checkpoint)."""
    data = tmp_path_factory.mktemp("medsynth")
    synthesize(data, ["xray"], n=24, seed=5)
    write_preferences(data)
    pairs = [json.loads(line) for line in (data / "xray_pref_train.jsonl").read_text().splitlines()]
    texts = [p["prompt"][0]["value"] for p in pairs] + [p[s] for p in pairs for s in ("chosen", "rejected")]
    torch.manual_seed(0)
    model, processor = build_model(from_dict(ModelConfig, tiny_model_dict(("image",))), texts)
    folder = tmp_path_factory.mktemp("sft") / "model"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return data, folder


def test_dpo_trains_from_a_checkpoint(start, tmp_path, monkeypatch):
    data, init = start
    refs = []

    def keep(cfg, like):
        ref = reference_model(cfg, like)
        refs.append(ref)
        return ref

    reference_model = dpo_module.reference_model
    monkeypatch.setattr(dpo_module, "reference_model", keep)
    out = tmp_path / "dpo"
    cfg = from_dict(RunConfig, {
        "data": {"train": [str(data / "xray_pref_train.jsonl")], "max_length": 512},
        "train": {"stage": "dpo", "init_from": str(init), "output_dir": str(out), "batch_size": 8,
                  "max_steps": 20, "learning_rate": 2e-3, "lr_scheduler": "constant", "warmup_ratio": 0,
                  "logging_steps": 1, "save_steps": 1000, "seed": 0, "dpo": {"beta": 0.1}}})
    metrics = run(cfg)
    history = [h for h in json.loads((out / "log_history.json").read_text()) if "loss" in h]
    assert len(history) == 20
    assert history[0]["loss"] == pytest.approx(math.log(2), abs=1e-4)  # policy == reference at step 1
    assert history[0]["rewards/margins"] == pytest.approx(0.0, abs=1e-4)
    for key in ("rewards/chosen", "rewards/rejected", "rewards/accuracies", "logps/chosen", "logps/rejected"):
        assert key in history[-1]
    first, last = history[:5], history[-5:]
    mean = lambda rows, k: sum(h[k] for h in rows) / len(rows)  # noqa: E731
    assert mean(last, "rewards/accuracies") > mean(first, "rewards/accuracies")
    assert mean(last, "rewards/margins") > mean(first, "rewards/margins") + 0.05
    assert mean(last, "loss") < mean(first, "loss")
    assert metrics["train_loss"] < math.log(2)
    # the reference stayed the starting checkpoint, frozen; the policy moved
    start_weights = load_file(init / "model.safetensors")
    (ref,) = refs
    assert not any(p.requires_grad for p in ref.parameters()) and not ref.training
    ref_state = ref.state_dict()
    assert all(torch.equal(ref_state[k], v) for k, v in start_weights.items())
    trained = load_file(out / "model" / "model.safetensors")
    assert any(not torch.equal(trained[k], v) for k, v in start_weights.items() if k.startswith("llm."))
    assert all(torch.equal(trained[k], v) for k, v in start_weights.items() if k.startswith("encoders."))
    assert json.loads((out / "model" / "run_config.json").read_text())["train"]["dpo"]["beta"] == 0.1
    answer = load(out / "model").chat("Describe the findings.", image=data / "xray" / "xray-00000.png",
                                      max_new_tokens=6)
    assert isinstance(answer, str)


def test_policy_layers_made_deterministic():
    from medmllm.recipes.dpo import deterministic_layers

    net = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.BatchNorm1d(4), torch.nn.Dropout(0.5))
    assert deterministic_layers(net) == [net[1]] and net[2].p == 0.0
