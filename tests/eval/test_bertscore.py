"""BERTScore with a local model: a tiny random BERT built here, checked against bert_score.score itself."""
from __future__ import annotations

import math

import pytest

from medmllm.errors import MedMLLMError
from medmllm.eval.metrics import CONVENTIONS, METRICS
from medmllm.eval.metrics.bertscore import ENV, UNAVAILABLE, bertscore_convention, bertscore_name

CORPUS = ["the heart size is normal", "no pleural effusion or pneumothorax", "mild cardiomegaly is seen",
          "lungs are clear", "there is a small left pleural effusion", "no acute cardiopulmonary process",
          "the mediastinum is within normal limits", "right lower lobe opacity may represent pneumonia"]


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> str:
    """A folder with a random 2-layer BERT and a WordPiece tokenizer trained on CORPUS."""
    pytest.importorskip("bert_score")
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, BertTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(CORPUS, trainers.WordPieceTrainer(vocab_size=300, special_tokens=specials))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
                                                       special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    folder = tmp_path_factory.mktemp("bertscore") / "tiny-bert"
    BertTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                      sep_token="[SEP]", mask_token="[MASK]", model_max_length=128).save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                        vocab_size=tok.get_vocab_size(), max_position_embeddings=128)
    BertModel(config).save_pretrained(folder)
    return str(folder)


PREDS = ["the heart size is normal", "small left pleural effusion", "lungs are clear", "no pneumothorax"]
REFS = ["the heart size is normal", "there is a small left pleural effusion", "mild cardiomegaly is seen",
        "no acute cardiopulmonary process"]


def test_identical_strings_score_one(tiny_bert):
    score, per = METRICS.get("bertscore")(CORPUS[:3], CORPUS[:3], model=tiny_bert)
    assert per == pytest.approx([1.0] * 3, abs=1e-5) and score == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("num_layers, idf", [(None, False), (1, False), (2, True)])
def test_equals_bert_score_directly(tiny_bert, num_layers, idf):
    import bert_score

    score, per = METRICS.get("bertscore")(PREDS, REFS, model=tiny_bert, num_layers=num_layers, idf=idf)
    _, _, f1 = bert_score.score(PREDS, REFS, model_type=tiny_bert, num_layers=num_layers or 2, idf=idf, lang=None)
    assert per == pytest.approx(f1.tolist(), abs=1e-6)
    assert score == pytest.approx(f1.mean().item(), abs=1e-6)
    assert 0 < min(per) and max(per) < 1.0 + 1e-5 and per[0] == pytest.approx(1.0, abs=1e-5)


def test_multiple_references_take_the_max(tiny_bert, monkeypatch):
    monkeypatch.setenv(ENV, tiny_bert)  # the environment variable names the model
    metric = METRICS.get("bertscore")
    multi = [[REFS[0], REFS[1]], [REFS[2], REFS[1]], REFS[2]]  # a plain string among lists is one reference
    _, per = metric(PREDS[:3], multi)
    for i, refs in enumerate(multi):
        refs = [refs] if isinstance(refs, str) else refs
        singles = metric([PREDS[i]] * len(refs), refs)[1]
        assert per[i] == pytest.approx(max(singles), abs=1e-6)
        if len(singles) > 1 and abs(singles[0] - singles[1]) > 1e-4:  # the max, not the first or the mean
            assert per[i] > min(singles) + 1e-5


def test_missing_model_is_unavailable(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    with pytest.raises(MedMLLMError) as err:
        METRICS.get("bertscore")(["a"], ["a"])
    assert str(err.value) == UNAVAILABLE and "unavailable" in UNAVAILABLE


def test_bad_folder_is_one_line(tmp_path):
    pytest.importorskip("bert_score")
    missing = tmp_path / "nope"
    with pytest.raises(MedMLLMError, match="no such model folder") as err:
        METRICS.get("bertscore")(["a"], ["a"], model=str(missing))
    assert str(missing) in str(err.value) and "\n" not in str(err.value)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    with pytest.raises(MedMLLMError) as err:
        METRICS.get("bertscore")(["a"], ["a"], model=str(broken))
    assert str(broken) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(MedMLLMError) as err:  # a config but no weights or tokenizer
        METRICS.get("bertscore")(["a"], ["a"], model=str(broken), num_layers=1)
    assert str(broken) in str(err.value) and "\n" not in str(err.value)


def test_name_and_convention(tiny_bert):
    assert bertscore_name(tiny_bert, 1, False) == "BERTScore-tiny-bert-L1"
    assert bertscore_name(tiny_bert + "/", None, True) == "BERTScore-tiny-bert-L2-idf"  # the model's last layer
    assert METRICS.get("bertscore").name is bertscore_name
    conv = bertscore_convention(tiny_bert, 2, False)
    assert tiny_bert in conv and "layer 2" in conv and "idf off" in conv
    assert "no baseline rescaling" in CONVENTIONS["bertscore"] and "same model" in CONVENTIONS["bertscore"]


def test_empty_input():
    score, per = METRICS.get("bertscore")([], [], model="anything")
    assert math.isnan(score) and per == []
