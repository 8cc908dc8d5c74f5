"""GRPO's loss variants against values worked out by hand: the aggregation of `loss_type` (grpo, bnpo,
dapo, dr_grpo) on completions of unequal length, `scale_rewards`, DAPO's clip-higher (`epsilon_high`),
GSPO's sequence-level ratio and its clipping, their gradients, the KL term's aggregation; and dynamic
sampling's bookkeeping (which groups are kept, the refill rounds, re-padding and the modality inputs
of rows joined from different rounds) on a trainer whose sampling is stubbed."""
import math
from types import SimpleNamespace

import pytest
import torch
from torch.testing import assert_close

from medmllm.config import GRPOSpec
from medmllm.recipes._grpo_math import group_advantages, grpo_loss
from medmllm.recipes._grpo_rows import concat_rows, take_rows, varied_rows
from medmllm.recipes.grpo import GRPOTrainer, shuffled_forever


def t(x):
    return torch.tensor(x, dtype=torch.float32)


# Two completions of 3 and 2 tokens (the second's last position is padding), ratios pi/pi_old chosen
# inside and outside the clip range [0.8, 1.2], advantages of both signs.
RATIOS = [[1.0, 1.25, 0.5], [0.7, 1.1, 3.0]]  # 3.0 sits on the padding: it must not count anywhere
MASK = torch.tensor([[1, 1, 1], [1, 1, 0]])
ADV = t([1.0, -2.0])


def _logps(ratios=RATIOS):
    """logp (with grad) and old_logp = 0, so that exp(logp - old_logp) is the given ratio."""
    return t(ratios).log().requires_grad_(), torch.zeros(2, 3)


# Token terms -min(r * A, clip(r, 0.8, 1.2) * A), by hand:
#   completion 0 (A = +1): r 1.0 -> -1.0;  r 1.25 -> -min(1.25, 1.2) = -1.2 (clipped);  r 0.5 -> -min(0.5, 0.8) = -0.5
#   completion 1 (A = -2): r 0.7 -> -min(-1.4, -1.6) = 1.6 (clipped);  r 1.1 -> -min(-2.2, -2.2) = 2.2
SUM_0, SUM_1 = -1.0 - 1.2 - 0.5, 1.6 + 2.2  # -2.7 over 3 tokens, 3.8 over 2 tokens


@pytest.mark.parametrize("loss_type,expected", [
    ("grpo", (SUM_0 / 3 + SUM_1 / 2) / 2),  # (-0.9 + 1.9) / 2 = 0.5: each completion's token mean, then their mean
    ("bnpo", (SUM_0 + SUM_1) / 5),  # 1.1 / 5 = 0.22: one mean over the batch's 5 completion tokens
    ("dapo", (SUM_0 + SUM_1) / 5),  # the same on one process
    ("dr_grpo", (SUM_0 + SUM_1) / (2 * 4)),  # 1.1 / (2 rows x max_completion_length 4) = 0.1375
])
def test_loss_type_aggregation_by_hand(loss_type, expected):
    logp, old = _logps()
    loss, stats = grpo_loss(logp, old, None, ADV, MASK, beta=0.0, epsilon=0.2, loss_type=loss_type,
                            max_completion_length=4)
    assert_close(loss, t(expected))
    assert stats["policy_loss"] == pytest.approx(expected, abs=1e-6)
    assert stats["clip_fraction"] == pytest.approx(2 / 5)  # tokens 1.25 (A > 0) and 0.7 (A < 0) of the 5


def test_dapo_divides_by_the_tokens_it_is_given():
    """`num_tokens`: every process's completion tokens per process (TRL's num_items_in_batch / processes)."""
    logp, old = _logps()
    loss, _ = grpo_loss(logp, old, None, ADV, MASK, 0.0, 0.2, loss_type="dapo", num_tokens=torch.tensor(10.0))
    assert_close(loss, t((SUM_0 + SUM_1) / 10))  # 0.11


@pytest.mark.parametrize("loss_type,per_token", [
    ("dapo", lambda a, n: -a / 5),  # d/dlogp (-r A) at r == 1 is -A, over the 5 tokens of the batch
    ("bnpo", lambda a, n: -a / 5),
    ("dr_grpo", lambda a, n: -a / (2 * 4)),  # over rows x max_completion_length, whatever the length
    ("grpo", lambda a, n: -a / (n * 2)),  # over the completion's own length n, then the 2 completions
])
def test_gradient_at_ratio_one(loss_type, per_token):
    logp = torch.tensor([[-1.0, -2.0, -3.0], [-0.5, -0.5, -9.0]], requires_grad=True)
    loss, _ = grpo_loss(logp, logp.detach(), None, ADV, MASK, 0.0, 0.2, loss_type=loss_type, max_completion_length=4)
    loss.backward()
    # completion 0: A = 1, 3 tokens; completion 1: A = -2, 2 tokens, its padding gets no gradient
    expected = t([[per_token(1.0, 3)] * 3, [per_token(-2.0, 2)] * 2 + [0.0]])
    assert_close(logp.grad, expected)


def test_clip_higher_is_asymmetric():
    """epsilon_high 0.28: the ratio 1.25 with A > 0 is inside [0.8, 1.28], so it is not clipped and keeps its
    gradient; with epsilon_high unset (= epsilon 0.2) it is clipped at 1.2. The low side stays at 0.8."""
    logp, old = _logps()
    loss, stats = grpo_loss(logp, old, None, ADV, MASK, 0.0, 0.2, epsilon_high=0.28)
    loss.backward()
    # completion 0: -1.0 - 1.25 - 0.5 = -2.75 over 3 tokens; completion 1 unchanged (0.7 < 0.8 is still clipped)
    assert_close(loss, t((-2.75 / 3 + 1.9) / 2))  # 0.491667
    assert stats["clip_fraction"] == pytest.approx(1 / 5)  # only the 0.7 token
    # d/dlogp of -r * A / (3 * 2) at r = 1.25, A = 1
    assert_close(logp.grad[0, 1], t(-1.25 / 6))
    assert logp.grad[1, 0] == 0  # 0.7 with A < 0: clipped at 0.8 on the low side, as before

    logp, old = _logps()
    loss, stats = grpo_loss(logp, old, None, ADV, MASK, 0.0, 0.2)  # epsilon_high None: symmetric
    loss.backward()
    assert_close(loss, t(0.5))
    assert stats["clip_fraction"] == pytest.approx(2 / 5)
    assert logp.grad[0, 1] == 0  # 1.25 > 1.2 with A > 0: clipped, no gradient


def test_sequence_level_ratio_is_the_geometric_mean_and_clips_per_sequence():
    """GSPO: s_i = exp(mean of the completion's token log-ratios), padding left out, clipped as one."""
    ratios = [[1.0, 1.25, 0.5], [0.5, 0.6, 3.0]]
    logp, old = _logps(ratios)
    loss, stats = grpo_loss(logp, old, None, ADV, MASK, 0.0, 0.2, importance_sampling_level="sequence")
    loss.backward()
    s0 = (1.0 * 1.25 * 0.5) ** (1 / 3)  # 0.625^(1/3) = 0.85499: inside [0.8, 1.2] -> term -s0 * 1
    s1 = (0.5 * 0.6) ** (1 / 2)  # 0.3^(1/2) = 0.54772 (not 3.0's): below 0.8 with A = -2 -> clipped: -(0.8 * -2) = 1.6
    assert s1 < 0.8 < s0
    assert_close(loss, t((-s0 + 1.6) / 2))  # grpo: the mean over the 2 completions of their (broadcast) term
    assert stats["clip_fraction"] == pytest.approx(1 / 2)  # counted per completion, as TRL does
    # d/dlogp_t of -s0 / 2 is -(s0 / 3) / 2 for each of completion 0's tokens; the clipped one gets none
    assert_close(logp.grad, t([[-s0 / 6] * 3, [0.0, 0.0, 0.0]]))

    logp, old = _logps(ratios)
    loss, _ = grpo_loss(logp, old, None, ADV, MASK, 0.0, 0.2, importance_sampling_level="sequence", loss_type="dapo")
    assert_close(loss, t((3 * -s0 + 2 * 1.6) / 5))  # a completion's term counts once per token under dapo


def test_sequence_level_equals_token_level_on_policy():
    """At ratio 1 (iterations 1) GSPO's value is the token level's; the gradient spreads the same way."""
    logp = torch.tensor([[-1.0, -2.0, -3.0], [-0.5, -0.5, -9.0]], requires_grad=True)
    seq, _ = grpo_loss(logp, logp.detach(), None, ADV, MASK, 0.0, 0.2, importance_sampling_level="sequence")
    seq.backward()
    grad_seq, logp.grad = logp.grad.clone(), None
    tok, _ = grpo_loss(logp, logp.detach(), None, ADV, MASK, 0.0, 0.2)
    tok.backward()
    assert_close(seq, tok)
    assert_close(grad_seq, logp.grad)


def test_kl_term_follows_the_aggregation_and_beta_zero_has_none():
    logp = torch.tensor([[-1.0, -2.0, -3.0], [-0.5, -0.5, -9.0]])
    delta = t([[0.1, -0.2, 0.3], [0.5, 0.0, 7.0]])  # ref - logp; 7.0 is padding
    k3 = [[math.exp(d) - d - 1 for d in row] for row in delta.tolist()]
    policy_dapo = -(1.0 * 3 - 2.0 * 2) / 5  # ratio 1: -A per token, summed (1 * 3 tokens, -2 * 2 tokens) over 5
    loss, stats = grpo_loss(logp, logp, logp + delta, ADV, MASK, beta=0.1, epsilon=0.2, loss_type="dapo")
    kl_dapo = (sum(k3[0]) + k3[1][0] + k3[1][1]) / 5
    assert_close(loss, t(policy_dapo + 0.1 * kl_dapo))
    # the logged KL stays the mean per completion whatever the loss type
    assert stats["kl"] == pytest.approx((sum(k3[0]) / 3 + (k3[1][0] + k3[1][1]) / 2) / 2, rel=1e-5)
    loss, stats = grpo_loss(logp, logp, None, ADV, MASK, beta=0.0, epsilon=0.2, loss_type="dapo")  # KL-free
    assert_close(loss, t(policy_dapo))
    assert stats["kl"] == 0.0


def test_bad_variant_names_raise():
    logp, old = _logps()
    for kwargs in ({"loss_type": "ppo"}, {"importance_sampling_level": "batch"}, {"loss_type": "dr_grpo"}):
        with pytest.raises(ValueError):  # dr_grpo without max_completion_length: no constant to divide by
            grpo_loss(logp, old, None, ADV, MASK, 0.0, 0.2, **kwargs)
    with pytest.raises(ValueError):
        group_advantages(t([1.0, 0.0]), 2, scale="std")


# -- advantages ---------------------------------------------------------------------------------
REWARDS = t([1.0, 0.0, 1.0, 0.0, 0.5, 0.5, 0.5, 1.0])  # 2 groups of 4


def test_scale_rewards_none_group_batch_by_hand():
    # group means 0.5 and 0.625: r - mean
    centred = [0.5, -0.5, 0.5, -0.5, -0.125, -0.125, -0.125, 0.375]
    assert_close(group_advantages(REWARDS, 4, scale="none"), t(centred))  # Dr. GRPO: no division
    # population stds: group 0: 0.5; group 1: sqrt((3 * 0.125^2 + 0.375^2) / 4) = sqrt(0.046875) = 0.216506
    std = [0.5] * 4 + [math.sqrt(0.046875)] * 4
    assert_close(group_advantages(REWARDS, 4, scale="group"), t([c / (s + 1e-4) for c, s in zip(centred, std)]))
    assert_close(group_advantages(REWARDS, 4), group_advantages(REWARDS, 4, scale="group"))  # the default
    # batch: one std over all 8 rewards (mean 0.5625): sqrt((3 * 0.4375^2 + 2 * 0.5625^2 + 3 * 0.0625^2) / 8)
    batch_std = math.sqrt((3 * 0.4375 ** 2 + 2 * 0.5625 ** 2 + 3 * 0.0625 ** 2) / 8)  # sqrt(0.15234375) = 0.390312
    assert_close(group_advantages(REWARDS, 4, scale="batch"), t([c / (batch_std + 1e-4) for c in centred]))


def test_equal_groups_get_zero_advantage_under_every_scale():
    r = t([0.3, 0.3, 0.9, 0.1])
    for scale in ("none", "group", "batch"):
        assert group_advantages(r, 2, scale=scale)[:2].tolist() == [0.0, 0.0]


# -- dynamic sampling ---------------------------------------------------------------------------
def _round(prompt_lengths, completion_lengths, rewards, images=None, volumes=None, texts=None, width=None):
    """A sampled round as `GRPOTrainer.sample` returns it: left-padded prompts (token id = 10 * row + 1),
    right-padded completions (id 100 + row), pad id 0; `images`/`volumes`: inputs per row (tagged by value),
    under a MedMLLM's input keys (its modalities)."""
    n = len(rewards)
    pw, cw = width or max(prompt_lengths), max(completion_lengths)
    prompt_mask = torch.tensor([[0] * (pw - k) + [1] * k for k in prompt_lengths])
    completion_mask = torch.tensor([[1] * k + [0] * (cw - k) for k in completion_lengths])
    counts = [[(images or [0] * n)[i], (volumes or [0] * n)[i], 0] for i in range(n)]
    part = {"prompt_ids": prompt_mask * (10 * torch.arange(n)[:, None] + 1), "prompt_mask": prompt_mask,
            "completion_ids": completion_mask * (100 + torch.arange(n)[:, None]), "completion_mask": completion_mask,
            "rewards": t(rewards), "scores": {"format": t([1.0] * n)}, "texts": texts or [f"c{i}" for i in range(n)],
            "input_keys": ["image", "volume", "ecg"], "input_counts": torch.tensor(counts), "inputs": {},
            "time_generate": 0.5}
    tag = 0.0
    for key, col in (("image", 0), ("volume", 1)):
        c = [row[col] for row in counts]
        if sum(c):
            part["inputs"][key] = torch.arange(tag, tag + sum(c)).view(-1, 1, 1)  # (n_inputs, 1, 1), values = tags
            tag += 100
    return part


def test_varied_rows_and_take_rows_keep_each_rows_inputs():
    # G = 2: group 0 (rows 0, 1) ties, group 1 (rows 2, 3) differs; rows 0/1 own 1 image each, rows 2/3 two
    part = _round([3, 3, 4, 4], [2, 2, 1, 3], [1.0, 1.0, 0.0, 1.0], images=[1, 1, 2, 2])
    assert varied_rows(part["rewards"], 2) == [2, 3]
    kept = take_rows(part, [2, 3])
    assert kept["texts"] == ["c2", "c3"] and kept["rewards"].tolist() == [0.0, 1.0]
    assert kept["inputs"]["image"].flatten().tolist() == [2.0, 3.0, 4.0, 5.0]  # the images of rows 2 and 3
    assert_close(kept["prompt_ids"], part["prompt_ids"][2:])
    assert take_rows(part, [])["inputs"] == {} and take_rows(part, [])["prompt_ids"].shape == (0, 4)


def test_concat_rows_repads_prompts_left_and_completions_right():
    a = _round([2, 4], [3, 1], [0.0, 1.0], images=[1, 1], width=6)  # 2 extra padding columns on the left
    b = _round([3], [5], [0.5], volumes=[2])
    out = concat_rows([a, b], pad_id=0)
    # prompt width 4 (the longest prompt), completion width 5 (the longest completion)
    assert out["prompt_mask"].tolist() == [[0, 0, 1, 1], [1, 1, 1, 1], [0, 1, 1, 1]]
    assert out["prompt_ids"].tolist() == [[0, 0, 1, 1], [11, 11, 11, 11], [0, 1, 1, 1]]
    assert out["completion_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 0, 0, 0, 0], [1, 1, 1, 1, 1]]
    assert out["completion_ids"].tolist() == [[100, 100, 100, 0, 0], [101, 0, 0, 0, 0], [100] * 5]
    assert out["rewards"].tolist() == [0.0, 1.0, 0.5] and out["texts"] == ["c0", "c1", "c0"]
    assert out["input_counts"].tolist() == [[1, 0, 0], [1, 0, 0], [0, 2, 0]]
    assert out["inputs"]["image"].flatten().tolist() == [0.0, 1.0]  # only a has images
    assert out["inputs"]["volume"].flatten().tolist() == [0.0, 1.0]  # only b has volumes
    assert out["scores"]["format"].tolist() == [1.0, 1.0, 1.0]


def _stub_trainer(rounds, max_rounds=3, group_size=2):
    """A GRPOTrainer with only what `dynamic_sample` uses; `sample` returns the next scripted round and
    `draw_prompts` records how many prompts it was asked for."""
    trainer = object.__new__(GRPOTrainer)
    trainer.spec = GRPOSpec(group_size=group_size, dynamic_sampling=True, max_sampling_rounds=max_rounds)
    trainer.processing_class = SimpleNamespace(pad_token_id=0)
    trainer.drawn = []
    trainer.draw_prompts = lambda n: trainer.drawn.append(n) or n
    trainer.sample = lambda n: rounds.pop(0)
    return trainer


def test_dynamic_sample_drops_tied_groups_and_refills_from_new_prompts():
    # round 1: B = 2 groups of G = 2; group 0 ties (dropped), group 1 varies (kept); 1 group missing
    first = _round([3, 3, 2, 2], [1, 1, 2, 2], [1.0, 1.0, 0.0, 1.0], images=[1, 1, 0, 0], volumes=[0, 0, 1, 1])
    second = _round([5, 5], [4, 1], [0.25, 0.75], images=[2, 2], texts=["n0", "n1"])  # one new prompt, it varies
    trainer = _stub_trainer([second])
    kept, rounds = GRPOTrainer.dynamic_sample(trainer, first)
    assert trainer.drawn == [1] and len(rounds) == 2 and rounds[1] is second
    assert kept["texts"] == ["c2", "c3", "n0", "n1"] and kept["rewards"].tolist() == [0.0, 1.0, 0.25, 0.75]
    assert kept["prompt_mask"].sum(1).tolist() == [2, 2, 5, 5] and kept["prompt_mask"].shape == (4, 5)
    assert kept["completion_mask"].sum(1).tolist() == [2, 2, 4, 1] and kept["completion_mask"].shape == (4, 4)
    assert kept["inputs"]["volume"].flatten().tolist() == [100.0, 101.0]  # group 1's volumes; group 0's images gone
    assert kept["inputs"]["image"].flatten().tolist() == [0.0, 1.0, 2.0, 3.0]  # the new group's 2 x 2 images
    assert kept["input_counts"].tolist() == [[0, 1, 0], [0, 1, 0], [2, 0, 0], [2, 0, 0]]


def test_dynamic_sample_stops_after_max_rounds_and_may_keep_nothing():
    def tied():  # both groups of G = 2 tie
        return _round([2, 2, 3, 3], [1, 2, 1, 1], [1.0, 1.0, 0.0, 0.0], images=[1, 1, 1, 1])

    trainer = _stub_trainer([tied(), tied()], max_rounds=3)
    kept, rounds = GRPOTrainer.dynamic_sample(trainer, tied())
    assert trainer.drawn == [2, 2] and len(rounds) == 3  # each refill asks for the groups still missing
    assert kept["texts"] == [] and kept["prompt_ids"].shape[0] == 0 and kept["inputs"] == {}

    trainer = _stub_trainer([], max_rounds=1)  # one round only: no refill
    kept, rounds = GRPOTrainer.dynamic_sample(trainer, tied())
    assert trainer.drawn == [] and len(rounds) == 1 and kept["texts"] == []


def test_dynamic_sample_keeps_a_full_batch_without_drawing():
    first = _round([2, 2, 2, 2], [1, 1, 1, 1], [0.0, 1.0, 1.0, 0.0])
    trainer = _stub_trainer([])
    kept, rounds = GRPOTrainer.dynamic_sample(trainer, first)
    assert trainer.drawn == [] and len(rounds) == 1 and kept["texts"] == first["texts"]


def test_refill_stream_is_seeded_and_reshuffles_each_pass():
    a, b = shuffled_forever(5, seed=3), shuffled_forever(5, seed=3)
    first = [next(a) for _ in range(10)]
    assert first == [next(b) for _ in range(10)]  # the same seed, the same stream
    assert sorted(first[:5]) == sorted(first[5:]) == list(range(5))  # every pass is a permutation
