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
    "swin": {"model_type": "swin", "embed_dim": 8, "depths": [1, 1], "num_heads": [1, 2], "window_size": 4,
             "patch_size": 4, "image_size": 32, "num_channels": 3},
    "focalnet": {"model_type": "focalnet", "embed_dim": 8, "depths": [1, 1], "focal_levels": [2, 2],
                 "focal_windows": [3, 3], "use_conv_embed": True, "patch_size": 4, "image_size": 32, "num_channels": 1},
    "convnext": {"model_type": "convnext", "hidden_sizes": [8, 16], "depths": [1, 1], "num_channels": 3,
                 "num_stages": 2, "image_size": 32},
}


@pytest.mark.parametrize("family", sorted(VISION))
def test_hf_vision_families(family):
    enc = ENCODERS.get("hf_vision")(config=VISION[family])
    channels = VISION[family]["num_channels"]
    out = enc(torch.randn(2, channels, 32, 32))
    assert out.shape == (2, enc.num_patches, enc.out_dim)
    if family in ("swin", "focalnet"):  # hierarchical: 8 x 8 patches of 4 px merged once to 4 x 4, all kept
        assert (enc.num_patches, enc.out_dim) == (16, 16)
    elif family != "convnext":
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


class TinyConv(torch.nn.Module):
    """A test-only image encoder: 4x4 patches of a `size` x `size` image with `channels` channels."""

    modality = "image"

    def __init__(self, size: int = 12, channels: int = 2, width: int = 8):
        super().__init__()
        self.size, self.channels, self.width = size, channels, width
        self.conv = torch.nn.Conv2d(channels, width, kernel_size=4, stride=4)

    @property
    def out_dim(self) -> int:
        return self.width

    @property
    def num_patches(self) -> int:
        return (self.size // 4) ** 2

    def input_spec(self) -> dict:
        return {"image_size": self.size, "image_channels": self.channels}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).flatten(2).transpose(1, 2)  # (B, C, S, S) -> (B, N, width)


@pytest.fixture
def registered():
    """Register encoder classes under test-only names; they are removed again after the test."""
    names = []

    def register(name, cls):
        ENCODERS.register(name)(cls)
        names.append(name)

    yield register
    for name in names:
        ENCODERS.unregister(name)


def _build(name, params):
    from tiny import TINY_LLM
    from medmllm.build import build_model
    from medmllm.config import ModelConfig, from_dict

    cfg = from_dict(ModelConfig, {"llm": {"config": TINY_LLM, "tokenizer_vocab": 300},
                                  "encoders": {"image": {"name": name, "params": params}}})
    return build_model(cfg, ["a chest radiograph with a small effusion"] * 20)


def test_a_new_encoder_is_one_class_and_its_registration(registered):
    """Processor settings come from the encoder's `input_spec()` alone: no code elsewhere knows TinyConv."""
    registered("test_tiny_conv", TinyConv)
    model, proc = _build("test_tiny_conv", {"size": 12, "channels": 2})
    s = proc.settings
    assert (s.image_size, s.image_channels, s.num_tokens, s.image_mean) == (12, 2, {"image": 9}, [0.5, 0.5])
    pixels = proc.load("image", torch.rand(30, 40).numpy())
    assert pixels.shape == (2, 12, 12)
    assert model.encode("image", pixels[None]).shape == (1, 9, model.config.text_config.hidden_size)


def test_the_contract_is_checked(registered):
    class NoSpec(TinyConv):
        input_spec = None

    class Volumetric(TinyConv):
        modality = "mri"

    with pytest.raises(TypeError, match="'test_no_spec' \\(NoSpec\\) lacks a callable input_spec"):
        registered("test_no_spec", NoSpec)
    with pytest.raises(TypeError, match="`modality` must be one of image, volume, ecg, got 'mri'"):
        registered("test_mri", Volumetric)
    with pytest.raises(TypeError, match="is not an nn.Module class"):
        registered("test_function", lambda x: x)
    assert not any(n in ENCODERS for n in ("test_no_spec", "test_mri", "test_function"))

    class HalfSpec(TinyConv):
        def input_spec(self) -> dict:
            return {"image_size": self.size}

    registered("test_half_spec", HalfSpec)
    with pytest.raises(TypeError, match="input_spec\\(\\) gives image_size; image encoders must give image_size, "
                                        "image_channels"):
        _build("test_half_spec", {})


def test_the_encoder_must_take_the_configured_modality():
    from medmllm.errors import MedMLLMError

    with pytest.raises(MedMLLMError, match="'model.encoders.image.name': encoder 'vit3d' takes volume inputs, not image"):
        _build("vit3d", {})
