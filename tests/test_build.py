"""The real loading path: pretrained parts from folders, exactly as from hub ids."""
import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM, ViTConfig, ViTModel

from medmllm.build import build_model
from medmllm.config import ModelConfig, from_dict
from medmllm.data.tokenizer import train_tokenizer
from medmllm.engine import Engine


def test_build_from_local_folders(tmp_path):
    vit_dir, llm_dir = tmp_path / "vit", tmp_path / "llm"
    vit = ViTModel(ViTConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                             image_size=32, patch_size=8, num_channels=3), add_pooling_layer=False)
    vit.save_pretrained(vit_dir)
    (vit_dir / "preprocessor_config.json").write_text('{"image_mean": [0.4, 0.4, 0.4], "image_std": [0.2, 0.2, 0.2]}')
    tok = train_tokenizer(["a chest radiograph with a small effusion"] * 50, 300)
    tok.save_pretrained(llm_dir)
    llm = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128,
                                       num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=2))
    llm.save_pretrained(llm_dir)

    cfg = from_dict(ModelConfig, {"llm": {"pretrained": str(llm_dir)},
                                  "encoders": {"image": {"name": "hf_vision", "pretrained": str(vit_dir)}}})
    model, proc = build_model(cfg)
    vit_sd = vit.state_dict()
    ours = model.encoders["image"].model.state_dict()
    for k, v in vit_sd.items():  # (our ViTModel also has the pooler the saved one lacks)
        assert torch.equal(ours[k], v), k
    assert torch.equal(model.llm.model.layers[0].self_attn.q_proj.weight, llm.model.layers[0].self_attn.q_proj.weight)
    assert proc.settings.image_mean == [0.4, 0.4, 0.4] and proc.settings.image_size == 32
    assert proc.settings.num_tokens["image"] == 16  # CLS dropped

    model.save_pretrained(tmp_path / "med")
    proc.save_pretrained(tmp_path / "med")
    engine = Engine.from_pretrained(tmp_path / "med")
    answer = engine.chat("What do you see?", image=torch.rand(40, 40).numpy(), max_new_tokens=4)
    assert isinstance(answer, str)
    assert len(AutoTokenizer.from_pretrained(tmp_path / "med")) == len(proc.tokenizer)
