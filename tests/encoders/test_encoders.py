"""Encoders: HF vision backbones of several families, the 3D ViT and the 1D ECG ViT give (n, N, d)."""
import pytest
import torch

from medmllm.encoders import ENCODERS

VISION = {
    "siglip": {"model_type": "siglip_vision_model", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
               "num_attention_heads": 2, "image_size": 32, "patch_size": 8, "num_channels": 3},
    "clip": {"model_type": "clip_vision_model", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
             "num_attention_heads": 2, "image_size": 32, "patch_size": 8, "num_channels": 3},
    "vit": {"model_type": "vit", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
            "num_attention_heads": 2, "image_size": 32, "patch_size": 8, "num_channels": 1},
    "dinov2": {"model_type": "dinov2", "hidden_size": 32, "mlp_ratio": 2, "num_hidden_layers": 1,
               "num_attention_heads": 2, "image_size": 32, "patch_size": 8, "num_channels": 3},
    "convnext": {"model_type": "convnext", "hidden_sizes": [8, 16], "depths": [1, 1], "num_channels": 3,
                 "num_stages": 2, "image_size": 32},
}


@pytest.mark.parametrize("family", sorted(VISION))
def test_hf_vision_families(family):
    enc = ENCODERS.get("hf_vision")(config=VISION[family])
    channels = VISION[family]["num_channels"]
    out = enc(torch.randn(2, channels, 32, 32))
    assert out.shape == (2, enc.num_patches, enc.out_dim)
    if family != "convnext":
        assert enc.num_patches == 16  # the class token, where there is one, is dropped


def test_volume_and_ecg():
    vol = ENCODERS.get("vit3d")(img_size=[16, 32, 32], patch_size=[8, 16, 16], hidden_size=32, mlp_dim=64,
                                num_layers=1, num_heads=2)
    assert vol(torch.randn(2, 1, 16, 32, 32)).shape == (2, 8, 32)
    ecg = ENCODERS.get("vit1d")(leads=12, samples=1000, patch_size=100, hidden_size=32, mlp_dim=64, num_layers=1,
                                num_heads=2)
    out = ecg(torch.randn(2, 12, 1000))
    assert out.shape == (2, 10, 32)
    out.sum().backward()
    assert all(p.grad is not None for p in ecg.parameters())
