"""docs/design.md's "Where to add" table, checked: one of each kind of part, each written and
registered as that table says and nothing else edited, then used end to end (convert -> train with
the new encoder, connector and stage -> evaluate on the new task -> score with the new reward)."""
import json

import pytest
import torch
from PIL import Image
from tiny import TINY_LLM, run_cli
from torch import nn

from medmllm.connectors import CONNECTORS
from medmllm.data.formats import FORMATS, Context, read_csv, vqa_record
from medmllm.encoders import ENCODERS
from medmllm.eval.tasks import TASKS, VQA_METRICS, Task, register
from medmllm.recipes import RECIPES
from medmllm.recipes._trainer import build, save, train
from medmllm.rewards import REWARDS, combine


# -- an encoder: one class with the contract's members (encoders/base.py) ------------------------
class TinyConvEncoder(nn.Module):
    """A 16x16 grey image -> a 4x4 grid of 24-wide features (two stride-2 convolutions)."""

    modality = "image"

    def __init__(self, width: int = 24):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, width, 3, 2, 1), nn.GELU(), nn.Conv2d(width, width, 3, 2, 1))
        self.width = width

    @property
    def out_dim(self) -> int:
        return self.width

    @property
    def num_patches(self) -> int:
        return 16

    def input_spec(self) -> dict:
        return {"image_size": 16, "image_channels": 1}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(2).transpose(1, 2)  # (B, 1, 16, 16) -> (B, 16, width)


# -- a connector: (in_dim, out_dim, in_tokens, **params) with num_tokens -------------------------
class MeanPairConnector(nn.Module):
    """Averages neighbouring feature vectors in pairs, then projects: M = N / 2."""

    def __init__(self, in_dim: int, out_dim: int, in_tokens: int):
        super().__init__()
        self.proj, self.num_tokens = nn.Linear(in_dim, out_dim), in_tokens // 2

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        b, n, d = features.shape
        return self.proj(features.view(b, n // 2, 2, d).mean(2))  # (B, N/2, d_llm)


# -- a training stage: build -> train -> save ------------------------------------------------------
def answers_only_sft(cfg, resume: bool = False) -> dict:
    """SFT that trains the connector and the LLM, and the encoder too."""
    model, processor, data = build(cfg, default_policy={"encoders": "full", "connectors": "full", "llm": "full"},
                                   resume=resume)
    metrics = train(cfg, model, processor, data, resume=resume)
    save(cfg, model, processor, metrics)
    return metrics


# -- a data format: a generator over a Context -----------------------------------------------------
def bright_csv(ctx: Context):
    """`image,answer` rows of a CSV -> closed VQA records."""
    path = ctx.src / "labels.csv"
    for i, row in enumerate(read_csv(path, ["image", "answer"])):
        yield vqa_record(f"bright-{i}", ctx.rel(ctx.src / row["image"]), "Is the image bright?", row["answer"],
                         {"split": "test" if i % 4 == 3 else "train", "answer_type": "CLOSED"})


# -- a reward: fn(completion, reference) -> [0, 1] -------------------------------------------------
def short_answer(completion: str, reference: str) -> float:
    return 1.0 if len(completion.split()) <= 3 else 0.0


@pytest.fixture
def registered():
    """Everything registered as a new file would register it, and unregistered afterwards."""
    entries = [(ENCODERS, "test_tiny_conv", TinyConvEncoder), (CONNECTORS, "test_mean_pair", MeanPairConnector),
               (RECIPES, "test_sft_all", answers_only_sft), (FORMATS, "test-bright-csv", bright_csv),
               (REWARDS, "test_short", short_answer)]
    for registry, name, obj in entries:
        registry.register(name)(obj)
    register(Task("test-bright", "Is the image bright? (test split)", "bright.jsonl", VQA_METRICS, split="test"))
    yield
    for registry, name, _ in entries:
        registry.unregister(name)
    TASKS.unregister("test-bright")


def test_one_of_each_part_end_to_end(registered, tmp_path, capsys):
    import yaml

    src = tmp_path / "src"
    src.mkdir()
    rows = ["image,answer"]
    for i in range(32):
        Image.new("L", (16, 16), 200 if i % 2 else 30).save(src / f"{i}.png")
        rows.append(f"{i}.png,{'yes' if i % 2 else 'no'}")
    (src / "labels.csv").write_text("\n".join(rows) + "\n")

    code, out, err = run_cli(capsys, "data", "convert", src, tmp_path / "data" / "bright.jsonl", "--format",
                             "test-bright-csv")
    assert code == 0 and "wrote 32 records" in out, err

    cfg = {"model": {"llm": {"config": TINY_LLM, "tokenizer_vocab": 300},
                     "encoders": {"image": {"name": "test_tiny_conv"}},
                     "connectors": {"image": {"name": "test_mean_pair"}}},
           "data": {"train": [str(tmp_path / "data" / "bright.jsonl")]},
           "train": {"stage": "test_sft_all", "max_steps": 4, "batch_size": 8, "learning_rate": 1e-3,
                     "output_dir": str(tmp_path / "run"), "logging_steps": 1}}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    code, out, err = run_cli(capsys, "train", tmp_path / "cfg.yaml")
    assert code == 0, err
    settings = json.loads((tmp_path / "run" / "model" / "processor_config.json").read_text())
    assert (settings["image_size"], settings["image_channels"], settings["num_tokens"]) == (16, 1, {"image": 8})
    run_config = json.loads((tmp_path / "run" / "model" / "run_config.json").read_text())
    assert run_config["train"]["stage"] == "test_sft_all"

    code, out, err = run_cli(capsys, "eval", "--model", tmp_path / "run" / "model", "--task", "test-bright",
                             "--data-dir", tmp_path / "data", "--out", tmp_path / "eval")
    assert code == 0, err
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert "test-bright" in json.dumps(results)
    preds = (tmp_path / "eval" / "predictions.jsonl").read_text().splitlines()
    assert len([p for p in preds if not json.loads(p).get("blank")]) == 8  # the test split: every 4th of 32

    reward = combine({"test_short": 1, "format": 1})
    assert reward.scores("<think>bright</think><answer>yes</answer>", "yes") == {"test_short": 1.0, "format": 1.0}


def test_a_registered_encoder_must_keep_the_contract():
    class NoSpec(nn.Module):
        modality = "image"
        out_dim, num_patches = 8, 4

    with pytest.raises(TypeError, match="lacks input_spec"):
        ENCODERS.register("test_no_spec")(NoSpec)
    assert "test_no_spec" not in ENCODERS
