"""`medmllm data validate` / `inspect`, and bad files through every command: one line naming the
file (or manifest line), a non-zero exit, never a traceback."""
import json

import numpy as np
import yaml

from medmllm.data.validate import validate
from tiny import run_cli, tiny_model_dict
from test_io import _bad_files


def one_line_error(code, err, *needles):
    assert code != 0 and "Traceback" not in err, err
    last = err.strip().splitlines()[-1]  # progress bars may come before it
    assert last.startswith("error: ") and err.count("error: ") == 1, err
    for needle in needles:
        assert needle in last, last


KIND = {".png": "image", ".dcm": "image", ".nii": "volume", ".gz": "volume", ".hea": "ecg", ".npy": "volume"}


def _record(name, i):
    modality = KIND[name[name.rindex("."):]]
    ph = {"image": "<image>", "volume": "<volume>", "ecg": "<ecg>"}[modality]
    return {"id": f"r{i}", modality: name, "conversations": [{"from": "human", "value": f"{ph}\nFinding?"},
                                                               {"from": "gpt", "value": "no"}]}


def test_inspect_json_keys(capsys):
    from pydicom.data import get_testdata_file

    code, out, _ = run_cli(capsys, "data", "inspect", get_testdata_file("CT_small.dcm"), "--json")
    info = json.loads(out)
    assert code == 0
    for key in ("kind", "shape", "dtype", "spacing", "min", "max", "modality", "window", "transfer_syntax"):
        assert key in info
    assert info["kind"] == "image" and info["dtype"] == "int16" and info["modality"] == "CT"
    code, out, _ = run_cli(capsys, "data", "inspect", get_testdata_file("waveform_ecg.dcm"), "--json")
    assert json.loads(out)["sampling_rate"] == 1000.0 and json.loads(out)["kind"] == "signal"


def test_inspect_bad_files(tmp_path, capsys):
    for name, needle in _bad_files(tmp_path).items():
        code, _, err = run_cli(capsys, "data", "inspect", tmp_path / name)
        one_line_error(code, err, name, needle)
        assert code == 2


def test_validate_reports_every_bad_record(tmp_path, capsys):
    from PIL import Image

    bad = list(_bad_files(tmp_path))
    Image.new("L", (16, 16), 90).save(tmp_path / "ok.png")
    np.save(tmp_path / "ok.npy", np.zeros((4, 8, 8), np.float32))
    records = [_record(n, i) for i, n in enumerate(bad)]
    good = [_record("ok.png", 100), _record("ok.npy", 101)]
    wrong_kind = {"id": "k", "volume": "ok.png", "conversations": good[1]["conversations"]}
    lines = [json.dumps(r) for r in good + records + [wrong_kind]] + ["{not json", json.dumps({
        "id": "e", "image": "ok.png", "conversations": [{"from": "human", "value": "<image>\nQ"},
                                                        {"from": "gpt", "value": " "}]})]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    code, out, _ = run_cli(capsys, "data", "validate", manifest)
    printed = out.strip().splitlines()
    assert code == 1
    assert printed[-1].startswith(f"{len(lines)} records: 2 ok, {len(lines) - 2} bad")
    assert len(printed) == len(lines) - 2 + 1
    for k, name in enumerate(bad):
        assert printed[k].startswith(f"{manifest}:{k + 3}: ") and name in printed[k], printed[k]
    assert "is an image, not usable as 'volume'" in out and "not valid JSON" in out and "empty answer" in out
    quick = validate([manifest], decode=False)
    assert quick["bad"] == 2  # without decoding, only the structural problems are found


def test_train_and_eval_bad_files(tmp_path, capsys, tiny_model):
    from PIL import Image

    _bad_files(tmp_path)
    Image.new("L", (16, 16), 90).save(tmp_path / "ok.png")
    model, processor = tiny_model
    model.save_pretrained(tmp_path / "model"), processor.save_pretrained(tmp_path / "model")
    for name in ("truncated.png", "header_only.nii", "rec.hea"):
        manifest = tmp_path / f"{name}.jsonl"
        manifest.write_text(json.dumps(_record("ok.png", 0)) + "\n" + json.dumps(_record(name, 1)) + "\n")
        cfg = {"model": tiny_model_dict(), "data": {"train": [str(manifest)]},
               "train": {"max_steps": 1, "batch_size": 2, "output_dir": str(tmp_path / "run")}}
        (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
        one_line_error(*run_cli(capsys, "train", tmp_path / "cfg.yaml")[::2], name)
        one_line_error(*run_cli(capsys, "eval", "--model", tmp_path / "model", "--data", manifest,
                                "--out", tmp_path / "ev", "--no-blank")[::2], name)
    code, out, err = run_cli(capsys, "eval", "--model", tmp_path / "model", "--data", manifest, "--out",
                             tmp_path / "ev", "--no-blank", "--on-error", "skip", "--batch-size", "2")
    assert code == 0 and "skipped 1 bad record(s)" in out, (out, err)


def test_review_cases_paths_skips_and_convert_target(tmp_path, capsys):
    from PIL import Image

    Image.new("L", (16, 16), 90).save(tmp_path / "ok.png")
    (tmp_path / "bad.png").write_text("not an image")
    conv = [{"from": "human", "value": "<image>\n<image>\nQ"}, {"from": "gpt", "value": "no"}]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"id": "a", "image": ["ok.png", 5], "conversations": conv}) + "\n"
                        + json.dumps({"id": "b", "image": ["ok.png", ""], "conversations": conv}) + "\n")
    code, out, _ = run_cli(capsys, "data", "validate", manifest)
    assert code == 1 and out.count("'image' must be a file path") == 2
    # a training batch whose only record is bad is refilled, not run empty
    good, bad = _record("ok.png", 0), _record("bad.png", 1)
    train = tmp_path / "t.jsonl"
    train.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    cfg = {"model": tiny_model_dict(("image",)), "data": {"train": [str(train)]},
           "train": {"max_steps": 2, "batch_size": 1, "output_dir": str(tmp_path / "run")}}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    code, out, err = run_cli(capsys, "train", tmp_path / "cfg.yaml", "--on-error", "skip")
    assert code == 0, err
    assert "skipped 1 bad record(s)" in out and "t.jsonl:2" in err
    src = tmp_path / "VQA_RAD Dataset Public.json"
    src.write_text("[]")
    code, _, err = run_cli(capsys, "data", "convert", "--format", "vqa-rad", src, src)
    assert code == 2 and "must be a new .jsonl manifest" in err and src.read_text() == "[]"
