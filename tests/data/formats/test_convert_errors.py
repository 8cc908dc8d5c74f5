"""Every problem is ONE line naming the file and the record; `skip` counts bad records; OUT is never half-written."""
import json
import os
import subprocess
import sys

import pytest

from medmllm.data.formats import convert
from medmllm.errors import MedMLLMError


def _error(*args, **kw) -> str:
    with pytest.raises(MedMLLMError) as e:
        convert(*args, **kw)
    msg = str(e.value)
    assert "\n" not in msg, msg
    return msg


def test_missing_image_fails_naming_file_and_record(tmp_path, build):
    src = build["vqa-rad"](tmp_path)
    (src / "VQA_RAD Image Folder" / "synpic200.jpg").unlink()
    msg = _error("vqa-rad", src, tmp_path / "m.jsonl")
    assert msg == (f"VQA_RAD Dataset Public.json: record 2 (qid 0003): image 'synpic200.jpg' not found in "
                   f"{src / 'VQA_RAD Image Folder'}")


def test_skip_counts_bad_records(tmp_path, build, capsys):
    src = build["vqa-rad"](tmp_path)
    (src / "VQA_RAD Image Folder" / "synpic200.jpg").unlink()
    stats = convert("vqa-rad", src, tmp_path / "m.jsonl", on_error="skip")
    assert stats["records"] == 2 and stats["skipped"] == 2 and stats["splits"] == {"train": 2}
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all("synpic200.jpg' not found" in line for line in err), err
    assert len((tmp_path / "m.jsonl").read_text().splitlines()) == 2


def test_images_option_overrides_the_folder(tmp_path, build):
    src = build["vqa-rad"](tmp_path)
    moved = tmp_path / "elsewhere"
    os.rename(src / "VQA_RAD Image Folder", moved)
    assert "not found in" in _error("vqa-rad", src, tmp_path / "m.jsonl")
    stats = convert("vqa-rad", src, tmp_path / "sub" / "m.jsonl", images=moved)
    rec = json.loads((tmp_path / "sub" / "m.jsonl").read_text().splitlines()[0])
    assert stats["records"] == 4 and rec["image"] == "../elsewhere/synpic100.jpg"


def test_missing_source_file(tmp_path):
    (tmp_path / "empty").mkdir()
    msg = _error("vqa-rad", tmp_path / "empty", tmp_path / "m.jsonl")
    assert msg == f"{tmp_path / 'empty'}: no VQA-RAD JSON found (expected 'VQA_RAD Dataset Public.json' or " \
                  "'VQA_RAD Dataset Public*.json')"
    assert _error("slake", tmp_path / "nowhere", tmp_path / "m.jsonl") == f"{tmp_path / 'nowhere'}: not found"
    assert "no M3D-VQA CSV found" in _error("m3d-vqa", tmp_path / "empty", tmp_path / "m.jsonl")


def test_bad_json(tmp_path, build):
    src = build["slake"](tmp_path)
    (src / "validate.json").write_text('[{"qid": 1,')
    msg = _error("slake", src, tmp_path / "m.jsonl")
    assert msg.startswith(f"{src / 'validate.json'}: not valid JSON (")


def test_bad_pickle(tmp_path, build):
    src = build["pathvqa"](tmp_path)
    (src / "qas" / "val" / "val_qa.pkl").write_bytes(b"\x80\x04garbage")
    assert _error("pathvqa", src, tmp_path / "m.jsonl").startswith(f"{src / 'qas' / 'val' / 'val_qa.pkl'}: not a readable")


@pytest.mark.parametrize("name,file,column", [("pmc-vqa", "train.csv", "Choice C"),
                                              ("m3d-vqa", "M3D_VQA_val.csv", "Answer Choice")])
def test_missing_csv_column(tmp_path, build, name, file, column):
    import csv

    src = build[name](tmp_path)
    rows = list(csv.DictReader(open(src / file)))
    with open(src / file, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[k for k in rows[0] if k != column])
        w.writeheader()
        w.writerows({k: v for k, v in r.items() if k != column} for r in rows)
    msg = _error(name, src, tmp_path / "m.jsonl")
    assert msg.startswith(f"{src / file}: missing column(s) '{column}' (has ")


def test_unknown_split(tmp_path, build):
    src = build["vqa-rad"](tmp_path)
    msg = _error("vqa-rad", src, tmp_path / "m.jsonl", split="validate")
    assert msg == f"{src / 'VQA_RAD Dataset Public.json'}: no split 'validate'; available: train, test"
    assert _error("m3d-vqa", build["m3d-vqa"](tmp_path / "b"), tmp_path / "m.jsonl", split="dev").endswith(
        "no split 'dev'; available: test, train, val")


def test_unknown_format(tmp_path):
    msg = _error("vqa-med", tmp_path, tmp_path / "m.jsonl")
    assert msg.startswith("unknown data format 'vqa-med'; choose from iu-xray, llava-med, m3d-cap, m3d-vqa")


def test_bad_records_in_other_formats(tmp_path, build):
    mimic = build["mimic-cxr"](tmp_path / "a")
    (mimic / "files" / "p11" / "p11000011" / "s50000002.txt").unlink()
    assert _error("mimic-cxr", mimic, tmp_path / "m.jsonl") == (
        f"mimic-cxr-2.0.0-split.csv.gz: record 2 (dicom_id d3): report 'files/p11/p11000011/s50000002.txt' not found "
        f"in {mimic}, {mimic / 'mimic-cxr-reports'}")
    m3d = build["m3d-cap"](tmp_path / "b")
    (m3d.parent / "M3D_Cap_npy" / "ct_quizze" / "000003" / "Coronal" / "0.npy").unlink()
    assert _error("m3d-cap", m3d, tmp_path / "m.jsonl") == (
        "M3D_Cap.json: validation record 0 (M3D_Cap_npy/ct_quizze/000003/Coronal/0.npy): volume "
        f"'M3D_Cap_npy/ct_quizze/000003/Coronal/0.npy' not found in {m3d.parent}")
    roco = build["roco"](tmp_path / "c")
    with open(roco / "data" / "test" / "radiology" / "captions.txt", "a") as f:
        f.write("ROCO_20002 no tab here\n")
    assert _error("roco", roco, tmp_path / "m.jsonl", split="test") == (
        "captions.txt (test): line 2 (ROCO_20002 no tab here): expected 'ROCO_ID<TAB>caption'")


def test_failure_leaves_existing_out_untouched(tmp_path, build):
    src = build["vqa-rad"](tmp_path)
    out = tmp_path / "m.jsonl"
    out.write_text("old\n")
    (src / "VQA_RAD Image Folder" / "synpic200.jpg").unlink()
    _error("vqa-rad", src, out)
    assert out.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["VQA_RAD", "m.jsonl"]


def _cli(*args):
    env = {**os.environ, "MEDMLLM_DEBUG": ""}
    return subprocess.run([sys.executable, "-m", "medmllm.cli", "data", "convert", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=120)


def test_cli_success_and_error(tmp_path, build):
    src = build["vqa-rad"](tmp_path)
    out = tmp_path / "m.jsonl"
    ok = _cli("--format", "vqa-rad", src, out)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == f"wrote 4 records to {out} (train 2, test 2)"
    (src / "VQA_RAD Image Folder" / "synpic100.jpg").unlink()
    bad = _cli("--format", "vqa-rad", "--split", "train", src, out)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: VQA_RAD Dataset Public.json: record 0 (qid 0001): "
                                                   "image 'synpic100.jpg' not found"), bad.stderr


def test_command_summary_lines(tmp_path, build, capsys):
    """The command function itself (in-process): the summary, left-out and skipped lines."""
    from medmllm.cli.data import convert as command

    src = build["mimic-cxr"](tmp_path)
    (src / "files" / "p11" / "p11000011" / "s50000002" / "d3.jpg").unlink()
    command(src, tmp_path / "m.jsonl", format="mimic-cxr", on_error="skip")
    assert capsys.readouterr().out.splitlines() == [
        f"wrote 1 records to {tmp_path / 'm.jsonl'} (train 1)",
        "left out 2 record(s) by the benchmark's convention (see the format's notes)",
        "skipped 1 bad record(s)"]


def test_unexpected_exception_becomes_one_line(tmp_path, build):
    src = build["roco"](tmp_path)
    dlinks = src / "data" / "test" / "radiology" / "dlinks.txt"
    dlinks.unlink()
    dlinks.mkdir()  # reading it raises IsADirectoryError inside the adapter
    msg = _error("roco", src, tmp_path / "m.jsonl", split="test")
    assert msg.startswith(f"{src}: roco conversion failed after 0 record(s): IsADirectoryError: "), msg
