"""The attention mask of packed records kept apart (`medmllm/llm/mask.py`)."""
import torch

from medmllm.llm.mask import packed_attention


def test_each_record_sees_the_shared_prefix_and_itself():
    """Segments [0, 0, 1, 1, 2, 2, -1]: the prefix is causal; record 1 sees the prefix and its earlier
    tokens; record 2 the prefix and itself, never record 1; padding sees itself only. The additive form
    is 0 where allowed and the dtype's minimum elsewhere."""
    segments = torch.tensor([[0, 0, 1, 1, 2, 2, -1]])
    expected = torch.tensor([
        [1, 0, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0, 0],
        [1, 1, 1, 0, 0, 0, 0],
        [1, 1, 1, 1, 0, 0, 0],
        [1, 1, 0, 0, 1, 0, 0],
        [1, 1, 0, 0, 1, 1, 0],
        [0, 0, 0, 0, 0, 0, 1]], dtype=torch.bool)
    mask = packed_attention(segments, torch.float32, additive=False)
    assert mask.shape == (1, 1, 7, 7) and torch.equal(mask[0, 0], expected)
    additive = packed_attention(segments, torch.bfloat16, additive=True)
    assert additive.dtype == torch.bfloat16
    assert torch.equal(additive[0, 0] == 0, expected)
    assert torch.all(additive[0, 0][~expected] == torch.finfo(torch.bfloat16).min)


def test_an_attention_without_4d_masks_is_refused_in_one_line(tiny_model):
    """Packed records need the block mask; an attention kind that cannot take it (flash attention) is
    named in a one-line error that says what to set, rather than silently training records together."""
    import pytest

    model, proc = tiny_model
    ids = torch.tensor([[proc.tokenizer.pad_token_id] * 4])
    before, model.llm.config._attn_implementation = model.llm.config._attn_implementation, "flash_attention_2"
    try:
        with pytest.raises(ValueError, match=r"need eager or sdpa attention .* set data.pack_turns=1"):
            model(input_ids=ids, segments=torch.tensor([[0, 0, 1, 2]]))
    finally:
        model.llm.config._attn_implementation = before
