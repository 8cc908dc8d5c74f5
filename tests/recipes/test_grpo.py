"""GRPO: the advantage and loss math on hand-made tensors, the rewards a rollout is scored with, a few
steps on MedSynth x-ray, CT and ECG reasoning prompts (finite loss, parameters move, rewards in [0, 1],
KL 0 at step 1, the saved model loads), rollout reuse with `iterations` and resume, LoRA, a
learning-signal check, and the variants end to end: KL-free (no reference model), dynamic sampling's
refill and its all-tied case. The variants' math is in test_grpo_variants.py."""
import json
import math
from types import SimpleNamespace

import pytest
import torch

from tiny import tiny_model_dict
from medmllm import rewards
from medmllm.config import RunConfig, from_dict
from medmllm.synth import synthesize
from medmllm.engine import load
from medmllm.errors import MedMLLMError
from medmllm.reasoning import THINK_PREFIX
from medmllm.recipes import run
from medmllm.recipes.grpo import GRPOTrainer, RepeatBatchSampler, group_advantages, grpo_loss


def _letters(completion: str, letters: str) -> float:
    body = completion.removeprefix(THINK_PREFIX)
    return sum(c in letters for c in body) / max(len(body), 1)


# dense test rewards (a random tiny model never earns the verifiable ones, so its groups would all tie)
if "test_prefers_yes" not in rewards.REWARDS:
    rewards.register("test_prefers_yes")(lambda completion, reference: _letters(completion, "yes"))
DEFAULT = {"format": 0.2, "closed_match": 0.4, "numeric": 0.2, "open_match": 0.2}
SCRIPT: list[float] = []  # the rewards `test_scripted` hands out, in scoring order; then 1.0 (every group ties)
if "test_scripted" not in rewards.REWARDS:
    rewards.register("test_scripted")(lambda completion, reference: SCRIPT.pop(0) if SCRIPT else 1.0)


# -- the math ---------------------------------------------------------------------------------
def test_advantages_are_group_normalised():
    r = torch.tensor([1.0, 0.0, 0.5, 0.5, 0.2, 0.2, 0.2, 0.2, 0.9, 0.1, 0.3, 0.7])
    adv = group_advantages(r, group_size=4).view(3, 4)
    assert torch.allclose(adv[1], torch.zeros(4))  # identical rewards -> zero advantage
    for g in (0, 2):
        assert abs(adv[g].mean()) < 1e-6 and abs(adv[g].std(correction=0) - 1) < 1e-3
    assert adv[0, 0] > 0 > adv[0, 1] and adv[0, 2] == adv[0, 3] == 0


def test_loss_zero_advantage_gives_zero_policy_gradient():
    logp = torch.randn(4, 5, requires_grad=True)
    mask = torch.ones(4, 5)
    adv = group_advantages(torch.full((4,), 0.7), 4)
    loss, stats = grpo_loss(logp, logp.detach(), None, adv, mask, beta=0.04, epsilon=0.2)
    loss.backward()
    assert loss.item() == 0 and stats["kl"] == 0 and torch.all(logp.grad == 0)
    # with the reference equal to the policy the k3 KL and its gradient vanish too
    logp.grad = None
    loss, stats = grpo_loss(logp, logp.detach(), logp.detach().clone(), adv, mask, beta=0.04, epsilon=0.2)
    loss.backward()
    assert abs(loss.item()) < 1e-7 and abs(stats["kl"]) < 1e-7 and logp.grad.abs().max() < 1e-7


def test_loss_values_masking_and_kl_by_hand():
    logp = torch.tensor([[-1.0, -2.0, -3.0], [-0.5, -0.5, -9.0]], requires_grad=True)
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])  # the second completion is 2 tokens long
    adv = torch.tensor([1.0, -2.0])
    loss, stats = grpo_loss(logp, logp.detach(), None, adv, mask, beta=0.0, epsilon=0.2)
    assert math.isclose(loss.item(), ((-1.0) + 2.0) / 2, abs_tol=1e-6)  # ratio 1: -A per sequence, then mean
    loss.backward()
    expected = torch.tensor([[-1 / 3, -1 / 3, -1 / 3], [1.0, 1.0, 0.0]]) / 2  # d/dlogp of -ratio*A, masked, averaged
    assert torch.allclose(logp.grad, expected, atol=1e-6)
    ref = logp.detach() + torch.tensor([[0.1, -0.2, 0.3], [0.5, 0.0, 7.0]])
    _, stats = grpo_loss(logp, logp.detach(), ref, adv, mask, beta=0.1, epsilon=0.2)
    k3 = lambda d: math.exp(d) - d - 1  # noqa: E731
    want = ((k3(0.1) + k3(-0.2) + k3(0.3)) / 3 + (k3(0.5) + k3(0.0)) / 2) / 2  # masked token ignored
    assert math.isclose(stats["kl"], want, rel_tol=1e-5)


def test_clip_stops_the_gradient_beyond_the_range():
    old = torch.zeros(1, 2)
    mask = torch.ones(1, 2)
    # ratio 1.5 > 1 + eps with a positive advantage: clipped, no gradient, counted
    logp = torch.full((1, 2), math.log(1.5), requires_grad=True)
    loss, stats = grpo_loss(logp, old, None, torch.tensor([1.0]), mask, beta=0.0, epsilon=0.2)
    loss.backward()
    assert math.isclose(loss.item(), -1.2, rel_tol=1e-6) and torch.all(logp.grad == 0)
    assert stats["clip_fraction"] == 1.0
    # ratio 0.5 < 1 - eps with a positive advantage: the unclipped term is smaller, the gradient flows
    logp = torch.full((1, 2), math.log(0.5), requires_grad=True)
    loss, stats = grpo_loss(logp, old, None, torch.tensor([1.0]), mask, beta=0.0, epsilon=0.2)
    loss.backward()
    assert math.isclose(loss.item(), -0.5, rel_tol=1e-6) and torch.all(logp.grad < 0)
    assert stats["clip_fraction"] == 0.0
    # ratio 0.5 with a negative advantage: clipped at 0.8
    logp = torch.full((1, 2), math.log(0.5), requires_grad=True)
    loss, stats = grpo_loss(logp, old, None, torch.tensor([-1.0]), mask, beta=0.0, epsilon=0.2)
    loss.backward()
    assert math.isclose(loss.item(), 0.8, rel_tol=1e-6) and torch.all(logp.grad == 0) and stats["clip_fraction"] == 1


@pytest.mark.parametrize("weights", [{"closed_match": 1.0}, {"closed_match": 3, "format": 0},
                                     {"format": 1, "closed_match": 3}])
def test_score_is_the_combined_reward_and_logs_format_even_unweighted(weights):
    texts = ["<think>a</think><answer>yes</answer>", "yes", "Sure. <think>a</think><answer>no</answer>"]
    refs = ["yes"] * 3
    trainer = SimpleNamespace(reward=rewards.combine(weights))
    combined, scores = GRPOTrainer.score(trainer, texts, refs)
    assert list(scores) == list(dict.fromkeys([*trainer.reward.weights, "format"]))
    assert scores["format"].tolist() == [1.0, 0.0, 0.5] and scores["closed_match"].tolist() == [1.0, 1.0, 0.0]
    assert combined.dtype == torch.float32
    assert combined.tolist() == pytest.approx([trainer.reward(t, r) for t, r in zip(texts, refs)], abs=1e-7)


def test_repeat_sampler_repeats_each_block():
    idx = list(RepeatBatchSampler(5, block=2, repeats=3, seed=0))
    assert len(idx) == 18 == len(RepeatBatchSampler(5, block=2, repeats=3, seed=0))
    blocks = [idx[i:i + 2] for i in range(0, 18, 2)]
    assert all(blocks[i] == blocks[i + 1] == blocks[i + 2] for i in range(0, 9, 3))
    assert set(idx) == set(range(5))


# -- end to end on MedSynth -------------------------------------------------------------------
@pytest.fixture(scope="module")
def medsynth(tmp_path_factory):
    out = tmp_path_factory.mktemp("medsynth")
    synthesize(out, ["xray", "ct", "ecg"], n=24, seed=0)
    return out


def _cfg(data, out, manifests, modalities=("image", "volume", "ecg"), grpo=None, **train):
    model = tiny_model_dict(modalities)
    if "ecg" in modalities:
        model["encoders"]["ecg"]["params"] = {**model["encoders"]["ecg"]["params"], "samples": 5000, "patch_size": 250}
    grpo = {"group_size": 4, "max_new_tokens": 16, "rewards": {**DEFAULT, "test_prefers_yes": 0.5}, **(grpo or {})}
    manifests = [str(data / f"{m}_reason_train.jsonl") for m in manifests]
    return from_dict(RunConfig, {
        "model": model, "data": {"train": manifests, "max_length": 384},
        "train": {"stage": "grpo", "output_dir": str(out), "batch_size": 2, "learning_rate": 3e-3, "max_steps": 3,
                  "warmup_ratio": 0.0, "logging_steps": 1, "save_steps": 100,
                  "trainable": {"encoders": "full", "llm": "full"}, "grpo": grpo, **train}})


def _log(out):
    return [json.loads(line) for line in (out / "grpo_log.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("manifest,key,path", [("xray", "image", "xray/xray-00000.png"),
                                               ("ct", "volume", "ct/ct-00000.nii.gz"),
                                               ("ecg", "ecg", "ecg/ecg-00000")])
def test_grpo_steps_on_each_modality(medsynth, tmp_path, manifest, key, path):
    from medmllm.recipes._trainer import build

    cfg = _cfg(medsynth, tmp_path / "run", [manifest])
    initial, _, _ = build(cfg, default_policy={})  # same seed, same weights as the run starts from
    initial = {k: v.clone() for k, v in initial.state_dict().items()}
    run(cfg)
    log = _log(tmp_path / "run")
    assert [r["step"] for r in log] == [1, 2, 3]
    for r in log:
        assert math.isfinite(r["loss"])
        for name in ("reward", *(f"rewards/{n}" for n in cfg.train.grpo.rewards), "well_formed"):
            assert 0.0 <= r[name] <= 1.0, (name, r)
        assert 1 <= r["completion_length"] <= 16 and 0 <= r["clip_fraction"] <= 1
    assert abs(log[0]["kl"]) < 1e-6  # policy == reference before the first update
    assert log[-1]["kl"] > 0  # ... and no longer after it
    history = json.loads((tmp_path / "run" / "log_history.json").read_text())
    logged = [h for h in history if "loss" in h]
    assert len(logged) == 3 and all("reward" in h and "kl" in h and "clip_fraction" in h for h in logged)
    assert (tmp_path / "run" / "loss.png").is_file()
    engine = load(tmp_path / "run" / "model")
    final = engine.model.state_dict()
    changed = [k for k in initial if not torch.equal(initial[k], final[k])]
    assert any(k.startswith("llm.") for k in changed) and any(k.startswith(f"encoders.{key}") for k in changed)
    reply = engine.reason("What is shown?", **{key: medsynth / path}, max_new_tokens=8)
    assert isinstance(reply.text, str) and reply.text.startswith(THINK_PREFIX)


def test_iterations_reuse_the_rollout_and_resume(medsynth, tmp_path):
    cfg = _cfg(medsynth, tmp_path / "run", ["xray"], modalities=("image",), grpo={"iterations": 2},
               max_steps=2, save_steps=2)
    run(cfg)
    a, b = _log(tmp_path / "run")
    assert a["sample"] == b["sample"] and a["time_generate"] == b["time_generate"]  # step 2 reuses step 1's batch
    assert b["kl"] > 0 and a["kl"] < 1e-6
    cfg.train.max_steps = 3
    run(cfg, resume=True)
    log = _log(tmp_path / "run")
    assert [r["step"] for r in log] == [1, 2, 3]
    history = json.loads((tmp_path / "run" / "log_history.json").read_text())
    assert max(h["step"] for h in history) == 3


def test_lora_policy_uses_the_adapter_free_model_as_reference(medsynth, tmp_path):
    cfg = _cfg(medsynth, tmp_path / "run", ["xray"], modalities=("image",), max_steps=2,
               trainable={"encoders": "frozen", "connectors": "full", "llm": "lora"})
    run(cfg)
    log = _log(tmp_path / "run")
    assert abs(log[0]["kl"]) < 1e-6 and log[-1]["kl"] > 0 and all(math.isfinite(r["loss"]) for r in log)
    assert (tmp_path / "run" / "model" / "adapter_config.json").is_file()
    assert load(tmp_path / "run" / "model").chat("What is shown?", image=medsynth / "xray/xray-00000.png",
                                                 max_new_tokens=4) is not None


def test_bad_settings_are_named(medsynth, tmp_path):
    with pytest.raises(MedMLLMError, match="train.grpo.group_size"):
        run(_cfg(medsynth, tmp_path, ["xray"], modalities=("image",), grpo={"group_size": 1}))
    with pytest.raises(MedMLLMError, match="unknown reward 'nope'"):
        run(_cfg(medsynth, tmp_path, ["xray"], modalities=("image",), grpo={"rewards": {"nope": 1.0}}))


def test_reward_preferring_one_answer_is_learned(medsynth, tmp_path):
    """A learning signal: rewarded for writing "yes" letters, a tiny model's mean reward climbs."""
    cfg = _cfg(medsynth, tmp_path / "run", ["xray"], modalities=("image",), max_steps=20, learning_rate=2e-2,
               lr_scheduler="constant", batch_size=2, logging_steps=10,
               grpo={"group_size": 8, "max_new_tokens": 8, "rewards": {"test_prefers_yes": 1.0}})
    run(cfg)
    reward = [r["reward"] for r in _log(tmp_path / "run")]
    first, last = sum(reward[:5]) / 5, sum(reward[-5:]) / 5
    assert last > first + 0.2, reward


# -- the variants end to end --------------------------------------------------------------------
def _spy(monkeypatch, name: str) -> list:
    """Record each call of `GRPOTrainer.<name>` as (its arguments, its result)."""
    calls, original = [], getattr(GRPOTrainer, name)

    def spy(self, *args):
        out = original(self, *args)
        calls.append((args, out))
        return out

    monkeypatch.setattr(GRPOTrainer, name, spy)
    return calls


def test_kl_free_variants_build_no_reference(medsynth, tmp_path, monkeypatch):
    """beta 0, the KL-free setting of DAPO and Dr. GRPO: no reference model is built, no reference log-probs
    are taken, the KL is 0; here with Dr. GRPO's aggregation and unscaled advantages, GSPO's sequence
    ratio and clip-higher, the rollout reused (iterations 2) so that step 2 is off-policy."""
    import medmllm.recipes.grpo as recipe

    monkeypatch.setattr(recipe, "reference_model", lambda model: pytest.fail("a reference model was built"))
    rollouts = _spy(monkeypatch, "rollout")
    cfg = _cfg(medsynth, tmp_path / "run", ["xray"], modalities=("image",), max_steps=2,
               grpo={"beta": 0.0, "loss_type": "dr_grpo", "scale_rewards": "none", "epsilon_high": 0.28,
                     "importance_sampling_level": "sequence", "iterations": 2})
    run(cfg)
    log = _log(tmp_path / "run")
    assert [r["kl"] for r in log] == [0.0, 0.0] and all(math.isfinite(r["loss"]) for r in log)
    assert len(rollouts) == 1 and rollouts[0][1]["ref_logps"] is None  # one rollout, reused by step 2
    assert "groups_kept" not in log[0]  # logged with dynamic sampling only


def test_dynamic_sampling_refills_tied_groups_from_new_prompts(medsynth, tmp_path, monkeypatch):
    """Round 1 (2 prompts x G 2): the first group ties (dropped), the second differs (kept); one new prompt
    is drawn, sampled and kept; the step trains on rows of both rounds, re-padded, with their x-ray and
    CT inputs (the forward pass checks that each row's placeholders find their inputs)."""
    SCRIPT[:] = [1.0, 1.0, 0.0, 1.0, 0.0, 1.0]
    drawn, rollouts = _spy(monkeypatch, "draw_prompts"), _spy(monkeypatch, "rollout")
    cfg = _cfg(medsynth, tmp_path / "run", ["xray", "ct"], modalities=("image", "volume"), max_steps=1,
               grpo={"group_size": 2, "beta": 0.0, "loss_type": "dapo", "dynamic_sampling": True,
                     "rewards": {"test_scripted": 1.0}})
    run(cfg)
    assert not SCRIPT
    (record,) = _log(tmp_path / "run")
    assert (record["groups_kept"], record["sampling_rounds"]) == (2, 2) and math.isfinite(record["loss"])
    assert record["reward"] == pytest.approx(4 / 6)  # over all 6 completions generated
    ((n,), new), = drawn
    assert n == 1 and new["input_ids"].shape[0] == 2  # one prompt, repeated G times
    out = rollouts[0][1]
    assert out["completion_ids"].shape[0] == 4
    assert_close = torch.testing.assert_close
    assert_close(out["advantages"], group_advantages(torch.tensor([0.0, 1.0, 0.0, 1.0]), 2))
    for row in (2, 3):  # the new prompt's rows, left-padded to the batch's width
        assert_close(out["prompt_ids"][row][out["prompt_mask"][row].bool()],
                     new["input_ids"][row - 2][new["attention_mask"][row - 2].bool()])


def test_dynamic_sampling_with_only_tied_groups_trains_on_nothing(medsynth, tmp_path, monkeypatch):
    """Every completion scores 1.0: each step makes max_sampling_rounds rounds, keeps no group, and trains
    on a zero loss (which still has a graph): the run goes on, logs 0 kept groups, and the weights stay."""
    from medmllm.recipes._trainer import build

    SCRIPT.clear()
    drawn = _spy(monkeypatch, "draw_prompts")
    cfg = _cfg(medsynth, tmp_path / "run", ["xray"], modalities=("image",), max_steps=2,
               grpo={"group_size": 2, "dynamic_sampling": True, "max_sampling_rounds": 3,
                     "rewards": {"test_scripted": 1.0}})
    initial, _, _ = build(cfg, default_policy={})
    initial = {k: v.clone() for k, v in initial.state_dict().items()}
    run(cfg)
    log = _log(tmp_path / "run")
    assert [(r["groups_kept"], r["sampling_rounds"]) for r in log] == [(0, 3), (0, 3)]
    assert all(r["loss"] == 0.0 and r["policy_loss"] == 0.0 and r["reward"] == 1.0 for r in log)
    assert [args for args, _ in drawn] == [(2,), (2,)] * 2  # each step refills twice, 2 prompts each time
    final = load(tmp_path / "run" / "model").model.state_dict()
    assert all(torch.equal(initial[k], final[k]) for k in initial)
