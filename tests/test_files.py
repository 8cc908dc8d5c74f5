"""The one atomic-write helper: a destination is either the old one or the whole new one, never half."""
import os

import pytest

from medmllm.files import atomic_folder, atomic_open, atomic_path, atomic_write


def test_atomic_write_text_bytes_and_parents(tmp_path):
    assert atomic_write(tmp_path / "a" / "b.json", "{}") == tmp_path / "a" / "b.json"
    atomic_write(tmp_path / "c.bin", b"\x00\x01")
    assert (tmp_path / "a" / "b.json").read_text() == "{}" and (tmp_path / "c.bin").read_bytes() == b"\x00\x01"
    assert sorted(os.listdir(tmp_path)) == ["a", "c.bin"]


def test_a_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    dst = tmp_path / "m.jsonl"
    dst.write_text("old\n")
    with pytest.raises(RuntimeError), atomic_open(dst) as f:
        f.write("half a line")
        raise RuntimeError("disk full")
    assert dst.read_text() == "old\n" and os.listdir(tmp_path) == ["m.jsonl"]


def test_the_temporary_keeps_the_suffix_for_format_sniffing_writers(tmp_path):
    with atomic_path(tmp_path / "loss.png") as tmp:
        assert tmp.suffix == ".png" and tmp.name.startswith(".") and tmp.parent == tmp_path
        tmp.write_bytes(b"png")
    assert (tmp_path / "loss.png").read_bytes() == b"png"


def test_atomic_folder_replaces_a_folder_whole_or_not_at_all(tmp_path):
    final = tmp_path / "model"
    final.mkdir()
    (final / "old.bin").write_text("old")
    with pytest.raises(KeyError), atomic_folder(final) as tmp:
        (tmp / "weights").write_text("partial")
        raise KeyError("interrupted")
    assert os.listdir(final) == ["old.bin"] and os.listdir(tmp_path) == ["model"]
    with atomic_folder(final) as tmp:
        (tmp / "weights").write_text("new")
    assert os.listdir(final) == ["weights"] and os.listdir(tmp_path) == ["model"]
