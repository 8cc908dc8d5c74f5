"""The converted manifests train: one step on all 2D manifests together, one on the 3D (M3D) ones."""
import importlib.util
import json
import math
from pathlib import Path

import pytest

from medmllm.config import from_dict, RunConfig
from medmllm.data.formats import convert
from medmllm.recipes import run

FORMATS_2D = {"vqa-rad": "vqa-rad", "slake": "slake", "pathvqa": "pathvqa", "pathvqa-parquet": "pathvqa",
              "pmc-vqa": "pmc-vqa", "mimic-cxr": "mimic-cxr", "iu-xray": "iu-xray", "iu-xray-r2gen": "iu-xray",
              "roco": "roco", "llava-med": "llava-med"}
FORMATS_3D = {"m3d-cap": "m3d-cap", "m3d-vqa": "m3d-vqa"}


def _tiny_model_dict(modalities):
    """The tests' shared tiny model (tests/tiny.py; tests/conftest.py, loaded by path, in older trees)."""
    try:
        from tiny import tiny_model_dict
    except ImportError:
        spec = importlib.util.spec_from_file_location("_root_conftest", Path(__file__).parents[2] / "conftest.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        tiny_model_dict = module.tiny_model_dict
    return tiny_model_dict(modalities)


def _convert_all(tmp_path, names, build):
    manifests = []
    for name, fmt in names.items():
        out = tmp_path / "manifests" / f"{name}.jsonl"
        stats = convert(fmt, build[name](tmp_path / "src" / name), out)
        assert stats["records"] > 0 and stats["skipped"] == 0
        manifests.append(str(out))
    return manifests


@pytest.mark.parametrize("dims", ["2d", "3d"])
def test_one_step_on_converted_manifests(tmp_path, build, dims):
    manifests = _convert_all(tmp_path, FORMATS_2D if dims == "2d" else FORMATS_3D, build)
    model = _tiny_model_dict(("image",) if dims == "2d" else ("volume",))
    if dims == "2d":
        # 1-channel 32x32 tiny encoder: RGB figures are averaged to grey and resized by the processor
        assert model["encoders"]["image"]["params"]["config"]["num_channels"] == 1
    else:
        model["preprocess"] = {"hu_window": [0.0, 1.0]}  # M3D volumes are already scaled to [0, 1], not HU
    cfg = from_dict(RunConfig, {"model": model, "data": {"train": manifests, "max_length": 384},
                                "train": {"stage": "sft", "output_dir": str(tmp_path / "run"), "batch_size": 4,
                                          "max_steps": 1, "logging_steps": 1, "save_steps": 10}})
    run(cfg)
    history = json.loads((tmp_path / "run" / "log_history.json").read_text())
    losses = [h["loss"] for h in history if "loss" in h]
    assert losses and all(math.isfinite(x) for x in losses), history
    n = sum(len(Path(m).read_text().splitlines()) for m in manifests)
    assert n == (33 if dims == "2d" else 12)
