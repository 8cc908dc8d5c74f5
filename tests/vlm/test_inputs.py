"""What a 2D model receives for a CT/MRI volume (ordered, windowed, labelled slices) and for an ECG (a
paper plot, compared with a stored reference), and the one-line errors of `model.vlm` and its inputs."""
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from tiny import run_cli
from medmllm.build import build_model
from medmllm.config import ModelConfig, from_dict
from medmllm.data import flat
from medmllm.engine import Engine
from medmllm.errors import FieldError, MedMLLMError
from medmllm.synth import synthesize
from medmllm.data.preprocess import VLMInputs
from medmllm.vlm.scratch import build

WINDOWS = ["wide", "soft_tissue", "brain"]
REFERENCE = Path(__file__).parent / "ecg-00000_paper.png"  # flat.ecg_paper of MedSynth ECG seed 0, case 0


@pytest.fixture(scope="module")
def llava(tmp_path_factory):
    return build("llava", tmp_path_factory.mktemp("llava") / "m", ["Slice of a CT. Is there a lesion? yes no"] * 20,
                 image_size=32, vocab=300)


def _model(folder, **inputs):
    return build_model(from_dict(ModelConfig, {"vlm": str(folder), "vlm_inputs": {"image_size": 32, **inputs}}))


def test_a_volume_is_ordered_windowed_labelled_slices(llava):
    model, proc = _model(llava, slices=5, volume_windows=WINDOWS)
    n = proc.settings.num_tokens["image"]
    assert proc.settings.num_tokens["volume"] == 5 * n
    vol = np.stack([np.full((40, 40), -1000.0 + 100 * i, np.float32) for i in range(20)])  # slice i: -1000 + 100 i HU
    images = proc.images("volume", vol)
    assert images.shape == (5, 3, 40, 40)
    for k, i in enumerate([0, 5, 10, 14, 19]):  # first to last, evenly, in order
        np.testing.assert_allclose(images[k], flat.windowed(vol[i], WINDOWS))
    assert proc.images("volume", vol[:3]).shape[0] == 5  # a thinner volume repeats slices: the same tokens
    # what the model gets: each slice resized, as 8-bit RGB, normalised by its image processor (mean = std = 0.5)
    pixels = proc.inputs("volume", [vol])["pixel_values"]
    assert pixels.shape == (5, 3, 32, 32)
    expected = np.round(np.stack([flat.windowed(vol[i], WINDOWS) for i in [0, 5, 10, 14, 19]]) * 255) / 255
    np.testing.assert_allclose(pixels.numpy(), (expected[..., :32, :32] - 0.5) / 0.5, atol=2.1 / 255)
    # the text: each slice's label, in order, before its image tokens
    enc = proc.encode([{"role": "user", "content": "<volume>\nIs there a lesion?"}], generation_prompt=True)
    text = proc.tokenizer.decode(enc["input_ids"])
    starts = [text.index(f"Slice {i} of 5: ") for i in range(1, 6)]
    assert starts == sorted(starts)
    assert text.count("<image>") == 5 * n and enc["input_ids"].count(model.config.image_token_id) == 5 * n
    assert isinstance(Engine(model, proc).chat("Is there a lesion?", volume=vol, max_new_tokens=3), str)


def test_a_coronal_dicom_series_is_cut_axially(llava, tmp_path):
    src = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    folder = tmp_path / "series"
    folder.mkdir()
    for i in range(6):  # coronal slices along y; the image rows run along -z
        ds = src.copy()
        ds.SeriesInstanceUID, ds.SOPInstanceUID, ds.InstanceNumber = "1.2.3", f"1.2.3.{i}", i + 1
        ds.ImageOrientationPatient = [1, 0, 0, 0, 0, -1]
        ds.ImagePositionPatient = [0.0, float(i), 0.0]
        ds.save_as(folder / f"s{i}.dcm")
    _, proc = _model(llava, slices=4, volume_windows=["wide"])
    images = proc.images("volume", folder)
    assert images.shape == (4, 3, 6, 128)  # axial slices: 6 coronal slices deep, 128 columns wide
    _, coronal = _model(llava, slices=4, volume_windows=["wide"], plane="coronal")
    assert coronal.images("volume", folder).shape == (4, 3, 128, 128)


def test_medsynth_ct_and_ecg_through_a_2d_model(llava, tmp_path):
    synthesize(tmp_path, ["ct", "ecg"], n=10, seed=0)
    model, proc = _model(llava, slices=3)
    engine = Engine(model, proc)
    assert isinstance(engine.chat("How many lesions are there?", volume=tmp_path / "ct" / "ct-00000.nii.gz",
                                  max_new_tokens=3), str)
    paper = proc.images("ecg", tmp_path / "ecg" / "ecg-00000")[0]  # (3, H, W) in [0, 1]
    reference = np.asarray(Image.open(REFERENCE).convert("RGB"), np.float32).transpose(2, 0, 1) / 255
    assert paper.shape == reference.shape
    assert np.abs(paper - reference).mean() < 1 / 255 and (paper == reference).all(0).mean() > 0.995
    assert proc.inputs("ecg", [tmp_path / "ecg" / "ecg-00000"])["pixel_values"].shape == (1, 3, 32, 32)
    assert isinstance(engine.chat("What is the rhythm?", ecg=tmp_path / "ecg" / "ecg-00000", max_new_tokens=3), str)


def test_bad_inputs_and_models_are_one_line(llava, tmp_path, capsys):
    with pytest.raises(FieldError) as e:
        VLMInputs(slices=0)
    assert e.value.field == "slices"
    with pytest.raises(FieldError) as e:
        VLMInputs(volume_windows=["wide", "lung"])
    assert e.value.field == "volume_windows"
    with pytest.raises(MedMLLMError, match="model.vlm_inputs.max_image_tokens"):
        _model(llava, max_image_tokens=1)
    # a model type no family covers, and a model folder with no processor
    config = json.loads((llava / "config.json").read_text())
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text(json.dumps({**config, "model_type": "blip-2"}))
    for folder, words in ((tmp_path / "other", "not a supported VLM family"), (tmp_path / "bare", "tokenizer")):
        if folder.name == "bare":
            folder.mkdir()
            for name in ("config.json", "model.safetensors"):
                (folder / name).write_bytes((llava / name).read_bytes())
        (tmp_path / "run.yaml").write_text(json.dumps({"model": {"vlm": str(folder)},
                                                       "data": {"train": [str(tmp_path / "x.jsonl")]},
                                                       "train": {"output_dir": str(tmp_path / "out")}}))
        (tmp_path / "x.jsonl").write_text('{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yes"}]}\n')
        capsys.readouterr()  # the loading bars of the model built above
        code, _, err = run_cli(capsys, "train", tmp_path / "run.yaml")
        assert code == 2 and len(err.strip().splitlines()) == 1 and "model.vlm" in err and words in err, err
    with pytest.raises(FieldError) as e:
        ModelConfig(vlm="x", encoders={"image": {"name": "hf_vision"}})
    assert e.value.field == "vlm"


def test_a_pickled_vlm_checkpoint_is_never_opened(llava, tmp_path):
    import builtins
    import pickle

    class Trap:  # unpickling it would create `marker`
        def __reduce__(self):
            return builtins.open, (str(tmp_path / "marker"), "w")

    folder = tmp_path / "pickled"
    folder.mkdir()
    for f in llava.iterdir():
        if f.name != "model.safetensors":
            (folder / f.name).write_bytes(f.read_bytes())
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(Trap()))
    with pytest.raises(MedMLLMError, match="model.vlm") as e:
        _model(folder)
    assert "\n" not in str(e.value) and not (tmp_path / "marker").exists()
