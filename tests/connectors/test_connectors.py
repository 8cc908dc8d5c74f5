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


def test_grid_positions_is_maes_2d_sine_cosine_table():
    """Row-major 6 x 6 grid, 16 channels: the first 8 code the row, the last 8 the column, each as
    [sin(p w_0..3), cos(p w_0..3)] with w_i = 10000^(-i/4); a non-square count falls back to 1-D."""
    from medmllm.connectors.mlp import grid_positions

    table = grid_positions(36, 16)
    w = torch.tensor([10000 ** (-i / 4) for i in range(4)])
    for index, (row, col) in ((0, (0, 0)), (7, (1, 1)), (17, (2, 5))):
        expect = torch.cat([torch.sin(row * w), torch.cos(row * w), torch.sin(col * w), torch.cos(col * w)])
        torch.testing.assert_close(table[index], expect)
    assert grid_positions(5, 6).shape == (5, 6)
    w1 = torch.tensor([10000 ** (-i / 3) for i in range(3)])
    torch.testing.assert_close(grid_positions(5, 6)[3], torch.cat([torch.sin(3 * w1), torch.cos(3 * w1)]))


def test_positions_before_the_mlp_make_the_mean_token_tell_left_from_right():
    """`positions: true` adds the table to the features in front of the projector. The same finding
    (one feature vector) in the left half or the right half of a 6 x 6 grid of otherwise equal
    features: without the table the mean of the projected tokens is identical (a token's place is
    lost when the LLM averages); with it, before any training, the two means differ; the table learns."""
    torch.manual_seed(0)
    plain = CONNECTORS.get("mlp2x_gelu")(24, 40, 36)
    conn = CONNECTORS.get("mlp2x_gelu")(24, 40, 36, positions=True)
    conn.proj.load_state_dict(plain.proj.state_dict())
    background, finding = torch.randn(24), 3 * torch.randn(24)
    left, right = background.repeat(1, 36, 1), background.repeat(1, 36, 1)  # (1, 36, 24)
    left[0, 2 * 6 + 1], right[0, 2 * 6 + 4] = finding, finding  # row 2, column 1 vs column 4
    torch.testing.assert_close(plain(left).mean(1), plain(right).mean(1))
    assert (conn(left).mean(1) - conn(right).mean(1)).abs().max() > 1e-3
    conn(left).pow(2).sum().backward()
    assert conn.positions.shape == (36, 24) and conn.positions.grad.abs().sum() > 0


def test_position_table_survives_a_model_build_and_save(tmp_path):
    """Built inside a MedMLLM (whose weight init runs over every module) the table is still the sine-cosine
    grid; trained
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
    from medmllm.connectors.mlp import grid_positions

    table = model.connectors["image"].positions
    n, d_enc = table.shape
    assert n == model.num_tokens("image") and d_enc != 64  # d_llm is 64: the table is on the features' side
    torch.testing.assert_close(table.detach(), grid_positions(n, d_enc))
    with torch.no_grad():
        table.copy_(torch.randn_like(table))
    model.save_pretrained(tmp_path / "m")
    processor.save_pretrained(tmp_path / "m")
    loaded = load_pretrained(tmp_path / "m")[0]
    torch.testing.assert_close(loaded.connectors["image"].positions, table)
    with pytest.raises(MedMLLMError, match=r"connectors\.image\.params\.positions"):
        check_llava(source_config(tmp_path / "m"), tmp_path / "m")


def test_regions_append_one_summary_token_of_the_pooled_regions():
    """`regions: 2` appends one token: the 6 x 6 grid's four 3 x 3 region means, concatenated in
    row-major order (top-left, top-right, bottom-left, bottom-right), through the summary MLP. Checked
    against that computed by hand; a finding in the left or the right half changes which block of the
    summary's input carries it, so the token differs (the grid tokens' mean would not); a non-square
    grid or too many regions is refused."""
    torch.manual_seed(0)
    conn = CONNECTORS.get("mlp2x_gelu")(24, 40, 36, regions=2)
    assert conn.num_tokens == 37
    x = torch.randn(2, 36, 24)
    y = conn(x)
    assert y.shape == (2, 37, 40)
    torch.testing.assert_close(y[:, :36], conn.proj(x))
    grid = x.reshape(2, 6, 6, 24)
    blocks = [grid[:, r:r + 3, c:c + 3].mean((1, 2)) for r in (0, 3) for c in (0, 3)]  # 4 x (2, 24)
    torch.testing.assert_close(y[:, 36], conn.summary(torch.cat(blocks, dim=1)))
    background, finding = torch.randn(24), 3 * torch.randn(24)
    left, right = background.repeat(1, 36, 1), background.repeat(1, 36, 1)
    left[0, 2 * 6 + 1], right[0, 2 * 6 + 4] = finding, finding
    assert (conn(left)[0, 36] - conn(right)[0, 36]).abs().max() > 1e-3
    with pytest.raises(ValueError, match="square token grid"):
        CONNECTORS.get("mlp2x_gelu")(24, 40, 20, regions=2)
    with pytest.raises(ValueError, match="1 <= regions <= its side"):
        CONNECTORS.get("linear")(24, 40, 36, regions=7)


def test_a_table_added_to_a_model_saved_without_one_starts_as_the_grid(tmp_path):
    """Fine-tuning a saved model with `positions: true` switched on (its folder has no table): the new
    parameter is the sine-cosine grid, not uninitialised memory (transformers leaves missing keys to
    the model's init), and the saved weights load unchanged."""
    import json

    from tiny import tiny_model_dict

    from medmllm.build import build_model
    from medmllm.checkpoint import load_pretrained
    from medmllm.config import ModelConfig, from_dict
    from medmllm.connectors.mlp import grid_positions

    spec = from_dict(ModelConfig, tiny_model_dict(("image",)))
    model, processor = build_model(spec, ["Is there a nodule? yes no"] * 20)
    model.save_pretrained(tmp_path / "m")
    processor.save_pretrained(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    config["connectors"]["image"]["params"] = {"positions": True}
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    loaded = load_pretrained(tmp_path / "m")[0]
    table = loaded.connectors["image"].positions
    torch.testing.assert_close(table.detach(), grid_positions(*table.shape))
    torch.testing.assert_close(loaded.connectors["image"].proj[0].weight, model.connectors["image"].proj[0].weight)


def test_order_columns_reads_the_grid_column_by_column():
    """`order: columns`: the projected 6 x 6 grid goes to the LLM column by column, so the image's left
    half is the first 18 tokens and its right half the last 18; each token is the one `rows` gives at
    the transposed place. A non-square grid or an unknown order is refused."""
    torch.manual_seed(0)
    rows = CONNECTORS.get("mlp2x_gelu")(24, 40, 36)
    cols = CONNECTORS.get("mlp2x_gelu")(24, 40, 36, order="columns")
    cols.load_state_dict(rows.state_dict())
    x = torch.randn(2, 36, 24)
    by_rows, by_cols = rows(x), cols(x)  # (2, 36, 40) each
    for r in range(6):
        for c in range(6):
            torch.testing.assert_close(by_cols[:, c * 6 + r], by_rows[:, r * 6 + c])
    left = {r * 6 + c for r in range(6) for c in range(3)}
    first18 = {int((by_rows[0] - t).abs().sum(-1).argmin()) for t in by_cols[0, :18]}
    assert first18 == left
    with pytest.raises(ValueError, match="square token grid"):
        CONNECTORS.get("linear")(24, 40, 20, order="columns")
    with pytest.raises(ValueError, match="'rows', or 'columns'"):
        CONNECTORS.get("linear")(24, 40, 36, order="diagonal")
