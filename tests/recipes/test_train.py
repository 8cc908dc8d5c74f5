"""Recipes end to end on MedSynth: all three modalities train (loss falls), save, resume, and chat."""
import json

import pytest

from tiny import tiny_model_dict
from medmllm.config import from_dict, RunConfig
from medmllm.synth import synthesize
from medmllm.engine import load
from medmllm.recipes import run


@pytest.fixture(scope="module")
def medsynth(tmp_path_factory):
    out = tmp_path_factory.mktemp("medsynth")
    synthesize(out, ["xray", "ct", "ecg"], n=20, seed=3)
    return out


def _cfg(data, out, stage="sft", **train):
    model = tiny_model_dict()
    model["encoders"]["ecg"]["params"] = {**model["encoders"]["ecg"]["params"], "samples": 5000, "patch_size": 250}
    manifests = [str(data / f"{m}_{'report' if stage == 'align' else 'vqa'}_train.jsonl") for m in ("xray", "ct", "ecg")]
    return from_dict(RunConfig, {"model": model, "data": {"train": manifests, "max_length": 384},
                                 "train": {"stage": stage, "output_dir": str(out), "batch_size": 8,
                                           "learning_rate": 3e-3, "logging_steps": 5, "save_steps": 20,
                                           "trainable": {"encoders": "full", "llm": "full"}, **train}})


def test_unknown_stage_is_named():
    from medmllm.config import load_config
    from medmllm.errors import MedMLLMError

    with pytest.raises(MedMLLMError) as e:
        run(load_config(None, ["train.stage=pretrain", "data.train=[x.jsonl]"]))
    assert str(e.value) == "config key 'train.stage': unknown training stage 'pretrain'; choose from align, dpo, grpo, sft"


def test_three_modalities_train_and_chat(medsynth, tmp_path):
    cfg = _cfg(medsynth, tmp_path / "sft", max_steps=40)
    run(cfg)
    history = json.loads((tmp_path / "sft" / "log_history.json").read_text())
    losses = [h["loss"] for h in history if "loss" in h]
    assert losses[-1] < 0.6 * losses[0], losses
    assert all(h["threads"] >= 1 for h in history if "loss" in h)  # the thread count in use, in the run's log
    assert (tmp_path / "sft" / "loss.png").stat().st_size > 1000
    assert list((tmp_path / "sft" / "tensorboard").rglob("events.out.tfevents.*"))
    engine = load(tmp_path / "sft" / "model")
    for key, path in (("image", "xray/xray-00000.png"), ("volume", "ct/ct-00000.nii.gz"), ("ecg", "ecg/ecg-00000")):
        answer = engine.chat("Describe it.", **{key: medsynth / path}, max_new_tokens=8)
        assert isinstance(answer, str) and answer.strip(), key
    dicom_answer = engine.chat("Is there a pleural effusion?", image=medsynth / "xray/xray-00000.dcm", max_new_tokens=4)
    assert dicom_answer.strip()


def test_align_trains_connectors_only_and_resume_continues(medsynth, tmp_path):
    cfg = _cfg(medsynth, tmp_path / "align", stage="align", max_steps=20, trainable={})
    from medmllm.recipes._trainer import build

    model, _, _ = build(cfg, default_policy={"encoders": "frozen", "connectors": "full", "llm": "frozen"})
    names = {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad}
    assert names == {"connectors"}
    run(cfg)
    cfg.train.max_steps = 25
    run(cfg, resume=True)
    state = json.loads((tmp_path / "align" / "log_history.json").read_text())
    assert max(h["step"] for h in state) == 25


def test_time_budget_stops_training_and_decays_on_the_clock(tmp_path, monkeypatch):
    """`train.max_minutes` ends a run early (for equal-compute comparisons) and still saves; the cosine
    schedule, whose 100,000 steps are out of reach, decays on the clock instead. The recipes' clock is
    a fake that advances 50 ms a reading, so the test does not depend on this machine's speed."""
    import types

    ticks = iter(range(10**6))
    monkeypatch.setattr("medmllm.recipes._trainer.time", types.SimpleNamespace(perf_counter=lambda: next(ticks) * 0.05))
    synthesize(tmp_path / "d", ["xray"], n=12, seed=0)
    cfg = from_dict(RunConfig, {"model": tiny_model_dict(("image",)),
                                "data": {"train": [str(tmp_path / "d" / "xray_vqa_train.jsonl")]},
                                "train": {"max_steps": 100000, "max_minutes": 0.02, "batch_size": 2,
                                          "learning_rate": 1e-3, "warmup_ratio": 0.0,
                                          "output_dir": str(tmp_path / "run"), "logging_steps": 1}})
    run(cfg)
    history = json.loads((tmp_path / "run" / "log_history.json").read_text())
    assert history[-1]["step"] < 1000 and (tmp_path / "run" / "model" / "config.json").is_file()
    rates = [h["learning_rate"] for h in history if "learning_rate" in h]
    assert len(rates) >= 4 and rates[0] > 0.8e-3 and rates[-1] < 0.2e-3, rates   # constant without the clock
    assert all(b <= a for a, b in zip(rates, rates[1:])), rates


def test_time_budget_resumes_where_its_checkpoint_left(tmp_path):
    """The time spent is saved with a checkpoint; a resumed run continues the schedule and the budget."""
    from types import SimpleNamespace

    import torch
    from transformers import get_scheduler
    from transformers.trainer_callback import TrainerControl

    from medmllm.recipes._trainer import TimeBudget

    def begin(budget):
        param = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([param], lr=1.0)
        sched = get_scheduler("cosine", opt, num_warmup_steps=0, num_training_steps=1000)
        budget.on_train_begin(args, state, TrainerControl(), lr_scheduler=sched)
        opt.step(), sched.step()
        return opt.param_groups[0]["lr"]

    args = SimpleNamespace(device="cpu", output_dir=str(tmp_path))
    state = SimpleNamespace(max_steps=1000, global_step=5, is_world_process_zero=True)
    assert begin(TimeBudget(100.0)) > 0.99                    # a fresh budget: the cosine's start
    resumed = TimeBudget(100.0, spent=90.0)
    assert begin(resumed) == pytest.approx(0.0245, abs=2e-3)  # 90% spent: cos at 0.9 of the way
    (tmp_path / "checkpoint-5").mkdir()
    resumed.on_save(args, state, TrainerControl())
    assert 90.0 <= TimeBudget.spent_in(str(tmp_path / "checkpoint-5")) < 91.0
    assert TimeBudget.spent_in(None) == 0.0 and TimeBudget.spent_in(str(tmp_path)) == 0.0
    spent = TimeBudget(90.0, spent=TimeBudget.spent_in(str(tmp_path / "checkpoint-5")))
    begin(spent)
    assert spent.on_step_end(args, state, TrainerControl()).should_training_stop


def test_group_by_length_draws_batches_of_like_length(medsynth, tmp_path):
    from transformers import Trainer
    from transformers.trainer_pt_utils import LengthGroupedSampler

    from medmllm.errors import MedMLLMError
    from medmllm.recipes._trainer import length_grouped

    cfg = _cfg(medsynth, tmp_path / "grouped", max_steps=3)
    cfg.data.group_by_length = True
    run(cfg)
    assert (tmp_path / "grouped" / "model" / "model.safetensors").is_file()
    lengths = [30 + k % 7 if k % 2 else 200 + k % 5 for k in range(256)]  # short and long, interleaved
    sampler = length_grouped(Trainer)._get_train_sampler(
        type("T", (), {"args": type("A", (), {"train_batch_size": 4, "gradient_accumulation_steps": 1})(),
                       "train_dataset": type("D", (), {"lengths": lambda self: lengths})()})())
    assert isinstance(sampler, LengthGroupedSampler)

    def padding(order):  # share of a padded batch that is padding
        batches = [[lengths[i] for i in order[k:k + 4]] for k in range(0, len(order), 4)]
        return sum(4 * max(b) - sum(b) for b in batches) / sum(4 * max(b) for b in batches)

    order = list(sampler)
    assert sorted(order) == list(range(256))
    assert padding(order) < 0.1 < 0.3 < padding(list(range(256)))
    from medmllm.synth.preferences import write_preferences

    write_preferences(medsynth)
    dpo = _cfg(medsynth, tmp_path / "dpo", stage="dpo", max_steps=1, init_from=str(tmp_path / "grouped" / "model"))
    dpo.data.group_by_length = True
    dpo.data.train = [str(medsynth / "xray_pref_train.jsonl")]
    with pytest.raises(MedMLLMError, match="'data.group_by_length': the dpo stage does not group by length"):
        run(dpo)


def test_loss_weighting_needs_a_plain_output_layer(medsynth, tmp_path):
    """`train.loss_weighting` other than `token` on an LLM that caps its logits (Gemma 2's soft-capping): the
    config key's one-line error before any step, not a traceback from inside the forward."""
    from medmllm.errors import MedMLLMError

    cfg = _cfg(medsynth, tmp_path / "w", max_steps=1, loss_weighting="square")
    cfg.model.llm.config = {"model_type": "gemma2", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1,
                            "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
                            "final_logit_softcapping": 30.0, "max_position_embeddings": 1024}
    with pytest.raises(MedMLLMError, match=r"^config key 'train\.loss_weighting': 'square' needs an LLM"):
        run(cfg)
    assert not (tmp_path / "w" / "model").exists()


def test_memory_switches_keep_the_loss(medsynth, tmp_path):
    """`train.gradient_checkpointing` recomputes activations: the same losses step for step; `train.precision`
    bf16 (CPU autocast) trains to a finite loss near fp32's; fp16 without CUDA is one line naming the key."""
    import math

    import torch

    from medmllm.errors import MedMLLMError

    def losses(name, **train):
        cfg = _cfg(medsynth, tmp_path / name, max_steps=3, logging_steps=1, seed=0, **train)
        cfg.model.encoders = {"image": cfg.model.encoders["image"]}
        cfg.model.connectors = {"image": cfg.model.connectors["image"]}
        cfg.data.train = [str(medsynth / "xray_vqa_train.jsonl")]
        run(cfg)
        return [h["loss"] for h in json.loads((tmp_path / name / "log_history.json").read_text()) if "loss" in h]

    plain = losses("plain")
    assert losses("checkpointed", gradient_checkpointing=True) == pytest.approx(plain, rel=1e-5)
    bf16 = losses("bf16", precision="bf16")
    assert all(math.isfinite(x) for x in bf16) and bf16[0] == pytest.approx(plain[0], rel=0.05)
    if not torch.cuda.is_available():
        with pytest.raises(MedMLLMError, match="train.precision"):
            losses("fp16", precision="fp16")
