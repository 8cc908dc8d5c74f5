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
