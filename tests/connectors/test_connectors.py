"""Every registered connector maps (n, N, d_enc) to (n, M, d_llm) and trains."""
import pytest
import torch

from medmllm.connectors import CONNECTORS


@pytest.mark.parametrize("name,params,m", [("linear", {}, 20), ("mlp2x_gelu", {}, 20),
                                           ("resampler", {"num_tokens": 6}, 6), ("pool", {"num_tokens": 5}, 5)])
def test_shapes_and_gradients(name, params, m):
    conn = CONNECTORS.get(name)(24, 40, 20, **params)
    x = torch.randn(3, 20, 24, requires_grad=True)
    y = conn(x)
    assert y.shape == (3, m, 40) and conn.num_tokens == m
    y.sum().backward()
    assert x.grad is not None and all(p.grad is not None for p in conn.parameters())


def test_registry_lists_all_and_rejects_unknown():
    from medmllm.errors import MedMLLMError

    assert CONNECTORS.names() == ["linear", "mlp2x_gelu", "pool", "resampler"]
    with pytest.raises(MedMLLMError, match="unknown connector 'qformer9'"):
        CONNECTORS.get("qformer9")


def test_pool_rejects_more_tokens_than_features():
    with pytest.raises(ValueError, match="num_tokens must be in 1..20"):
        CONNECTORS.get("pool")(8, 8, 20, num_tokens=21)


@pytest.mark.parametrize("name", ["linear", "mlp2x_gelu"])
def test_position_table_starts_at_zero_and_learns(name):
    """`positions: true`: a learned (N, d_llm) table added per token index; at the start the connector's
    map is the plain one, then the table gets a gradient and makes equal features at two places differ."""
    torch.manual_seed(0)
    plain = CONNECTORS.get(name)(24, 40, 20)
    conn = CONNECTORS.get(name)(24, 40, 20, positions=True)
    conn.proj.load_state_dict(plain.proj.state_dict())
    x = torch.randn(3, 20, 24)
    torch.testing.assert_close(conn(x), plain(x))
    conn(x).pow(2).sum().backward()
    assert conn.positions.shape == (20, 40) and conn.positions.grad.abs().sum() > 0
    with torch.no_grad():
        conn.positions.copy_(torch.randn(20, 40))
    same = x[:, :1].expand(3, 20, 24)  # the same feature vector at every place
    y = conn(same)
    assert not torch.allclose(y[:, 0], y[:, 1])


def test_position_table_survives_a_model_build_and_save(tmp_path):
    """Built inside a MedMLLM (whose weight init runs over every module) the table is still zero; trained
    values come back from a saved folder; hf-llava export refuses it with a one-line error naming the key."""
    from tiny import tiny_model_dict

    from medmllm.build import build_model
    from medmllm.checkpoint import load_pretrained
    from medmllm.config import ModelConfig, from_dict
    from medmllm.errors import MedMLLMError
    from medmllm.export import check_llava, source_config

    spec = tiny_model_dict(("image",))
    spec["connectors"]["image"]["params"] = {"positions": True}
    model, processor = build_model(from_dict(ModelConfig, spec), ["Is there a pleural effusion? yes no"] * 20)
    table = model.connectors["image"].positions
    assert table.shape == (model.num_tokens("image"), 64) and not table.any()
    with torch.no_grad():
        table.copy_(torch.randn_like(table))
    model.save_pretrained(tmp_path / "m")
    processor.save_pretrained(tmp_path / "m")
    loaded = load_pretrained(tmp_path / "m")[0]
    torch.testing.assert_close(loaded.connectors["image"].positions, table)
    with pytest.raises(MedMLLMError, match=r"connectors\.image\.params\.positions"):
        check_llava(source_config(tmp_path / "m"), tmp_path / "m")
