"""Dynamic sampling: the round loop on its own, the re-padded merge against the model, and training with
it on (only informative groups reach the loss, metrics, exact resume with num_iterations and accumulation)."""
import json
import os
import signal

import pytest
import torch

from engine_fixtures import config_text, make_tiny_model, write_dataset
from grpo_core import dynamic_sampling
from grpo_core.dynamic_sampling import Generated, collect, merge
from grpo_core.rollout import Rollout
from grpo_rewards.mix import MixScores

G = 2


def _fake_round(rows):
    """A hand-made round: prompt b has b + 1 tokens (so prompt widths differ), completions 1..3 tokens."""
    P, T, n = max(len(r["ids"]) for r in rows), 3, len(rows) * G
    ids, mask = torch.zeros(n, P + T, dtype=torch.long), torch.zeros(n, P + T, dtype=torch.long)
    lengths = torch.tensor([1 + (i % 3) for i in range(n)])
    for i in range(n):
        prompt = rows[i // G]["ids"]
        ids[i, P - len(prompt):P], mask[i, P - len(prompt):P] = torch.tensor(prompt), 1
        ids[i, P:P + lengths[i]], mask[i, P:P + lengths[i]] = 7, 1
    rollout = Rollout(ids, mask, P, ids[:, P:], mask[:, P:], torch.zeros(n, dtype=torch.bool), lengths, G)
    totals = [float(r["keep"] and i % G) for r in rows for i in range(G)]  # spread only where keep
    scores = MixScores(total=totals, rewards={"r": totals}, weights={"r": 1.0})
    return Generated(rows, rollout, [f"c{i}" for i in range(n)], scores)


def _rows(keeps, start=0):
    return [{"id": start + i, "ids": list(range(1, 2 + (start + i) % 3)), "keep": k} for i, k in enumerate(keeps)]


def _decide(batch):
    return [r["keep"] for r in batch.rows]


def test_rounds_until_the_batch_is_full():
    draws = []
    queue = iter([_rows([False, True], start=3)])

    def draw(n):
        draws.append(n)
        return next(queue)

    state = {}
    batch, info = collect(_fake_round, _rows([True, False, True]), draw, _decide, target=3, max_rounds=4,
                          max_prompts=6, state=state)
    # no keep rate known yet: round 1 is the step's 3 prompts; 2 of 3 informative, so 1 missing at a rate of
    # p = 2/3 -> ceil((1 + sqrt(1 x 1/3)) / (2/3)) = ceil(2.37) = 3 prompts; round 2 (2 rows here): 1 of 2
    assert draws == [3]
    assert [r["id"] for r in batch.rows] == [0, 2, 4]
    assert info.metrics() == {"sampling/rounds": 2, "sampling/prompts_consumed": 5, "sampling/groups_dropped": 2,
                              "sampling/groups_surplus": 0, "sampling/groups_short": 0, "sampling/keep_rate": 0.6}
    assert state == {"keep_rate": 0.6}
    # the merged batch holds exactly the chosen groups' rows, re-padded to the widest prompt
    assert batch.rollout.input_ids.shape[0] == 3 * G and batch.rollout.prompt_length == 3
    assert batch.completions == ["c0", "c1", "c4", "c5", "c2", "c3"]
    assert batch.scores.total == [0.0, 1.0, 0.0, 1.0, 0.0, 1.0]
    assert torch.equal(batch.rollout.completion_lengths, torch.tensor([1, 2, 2, 3, 3, 1]))
    for row in range(3 * G):  # each row's prompt tokens end at the boundary; completions start there
        assert batch.rollout.attention_mask[row, 3 - len(batch.rows[row // G]["ids"]):3].all()
        assert batch.rollout.completion_mask[row].sum() == batch.rollout.completion_lengths[row]


def test_the_previous_keep_rate_sizes_the_first_round():
    draws = []

    def draw(n):
        draws.append(n)
        return _rows([True] * n, start=10)

    # the last step kept 0.6 of its groups: (3 + sqrt(3 x 0.4)) / 0.6 = 6.8 -> 7 prompts in round 1, the
    # step's 3 and 4 drawn
    batch, info = collect(_fake_round, _rows([True, False, True]), draw, _decide, target=3, max_rounds=4,
                          max_prompts=8, state={"keep_rate": 0.6})
    assert draws == [4] and info.metrics()["sampling/rounds"] == 1 and info.groups_surplus == 3
    assert [r["id"] for r in batch.rows] == [0, 2, 10]
    # a round never draws more than max_prompts
    collect(_fake_round, _rows([True, False, True]), draw, _decide, target=3, max_rounds=1, max_prompts=4,
            state={"keep_rate": 0.1})
    assert draws[-1] == 1


def test_surplus_groups_are_cut_and_an_exhausted_budget_trains_on_what_there_is():
    def run(keeps, more, rounds):
        draws = []

        def draw(n):
            draws.append(n)
            return _rows([more] * n, start=2)
        batch, info = collect(_fake_round, _rows(keeps), draw, _decide, target=2, max_rounds=rounds, max_prompts=4)
        return batch, info, draws

    batch, info, draws = run([True, False], True, 3)
    # (1 + sqrt(0.5)) / 0.5 = 3.4 -> 4 drawn, all informative: 3 beyond the target
    assert draws == [4] and info.groups_surplus == 3 and [r["id"] for r in batch.rows] == [0, 2]
    batch, info, draws = run([False, True], False, 2)
    assert info.metrics()["sampling/groups_short"] == 1 and [r["id"] for r in batch.rows] == [1]
    batch, info, draws = run([False, False], False, 2)
    assert draws == [4]  # nothing informative yet: as many as a round may draw
    assert info.groups_short == 2 and [r["id"] for r in batch.rows] == [0, 1]  # nothing found: the first round


def test_informative_groups_reads_advantages_that_reach_the_loss():
    adv = torch.tensor([0.0, 0.0, 0.5, -0.5, 1.0, 0.0])
    in_loss = torch.tensor([True, True, True, True, False, True])
    assert dynamic_sampling.informative_groups(adv, in_loss, 2) == [False, True, False]


def test_merged_rows_have_the_log_probs_of_their_own_rounds(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from grpo_core.logprobs import completion_logprobs
    from grpo_core.rollout import sample_groups

    path = make_tiny_model(tmp_path / "m")
    model, tok = AutoModelForCausalLM.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)
    rounds = []
    for seed, prompts in ((0, ["ab", "a much longer prompt"]), (1, ["xyz 12", "q"])):
        ids = [tok(p)["input_ids"] for p in prompts]
        rollout = sample_groups(model, tok, ids, num_generations=G, max_new_tokens=6, eos_token_ids=[5, 9, 14],
                                generator=torch.Generator().manual_seed(seed))
        rounds.append(Generated([{"p": p} for p in prompts], rollout, [""] * 2 * G,
                                MixScores(total=[0.0] * 2 * G, rewards={}, weights={})))
    merged = merge([(rounds[0], [1]), (rounds[1], [0, 1])])

    def logp(r):
        return completion_logprobs(model, r.input_ids, r.attention_mask, r.completion_ids.shape[1], group_size=G)[0]

    with torch.no_grad():
        got, wants = logp(merged.rollout), [logp(r.rollout) for r in rounds]
    pieces = [(wants[0], slice(2, 4)), (wants[1], slice(0, 4))]
    start = 0
    for want, rows in pieces:
        for row in range(rows.start, rows.stop):
            n = int(merged.rollout.completion_lengths[start])
            torch.testing.assert_close(got[start, :n], want[row, :n], atol=1e-5, rtol=1e-5)
            start += 1
    assert [r["p"] for r in merged.rows] == ["a much longer prompt", "xyz 12", "q"]


# -----------------------------------------------------------------------------
# training with dynamic sampling on

@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    return make_tiny_model(root / "model"), write_dataset(root / "data.jsonl")


def _config(tiny, tmp_path, name, **extra):
    model, data = tiny
    text = config_text(model, data, tmp_path / name, **{
        "grpo.dynamic_sampling": "true", "grpo.max_generation_rounds": "3", "grpo.num_iterations": "2",
        "train.gradient_accumulation_steps": "2", "train.steps": "4", "train.save_every": "0", **extra})
    # one reward that a random model's completions mostly miss: many groups tie at 0 and are dropped
    text = text[:text.index("[[rewards]]")] + '[[rewards]]\nuse = "format.regex"\noptions = { pattern = "^[a-h]" }\n'
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    from grpo_core.config import load_config
    return load_config(str(path))


def test_only_informative_groups_reach_the_loss_and_resume_is_exact(tiny, tmp_path, monkeypatch):
    from grpo_core import step as step_module
    from grpo_core.trainer import Interrupted, train

    reached = []
    real = step_module.policy_loss

    def spy(logp, old, ref, advantages, mask, **kw):
        reached.append((advantages.detach().clone(), mask.detach().clone()))
        return real(logp, old, ref, advantages, mask, **kw)

    monkeypatch.setattr(step_module, "policy_loss", spy)
    train(_config(tiny, tmp_path, "a"), progress=False)
    metrics = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert sum(m["sampling/groups_dropped"] for m in metrics) > 0  # the reward left groups tied
    assert max(m["sampling/rounds"] for m in metrics) > 1  # and extra rounds were drawn
    for m in metrics:
        consumed = m["sampling/prompts_consumed"]
        assert consumed >= 2 and m["sampling/rounds"] <= 3
        assert m["sampling/groups_short"] == 2 - min(2, consumed - m["sampling/groups_dropped"])
    assert reached
    for advantages, mask in reached:  # every micro-batch: whole groups, each with a non-zero advantage
        groups = (advantages.view(-1, 2) != 0) & (mask.sum(1).view(-1, 2) > 0)
        assert groups.any(dim=1).all(), advantages

    def ctrl_c_at_step_2(step, record):
        if step == 2:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(Interrupted):
        train(_config(tiny, tmp_path, "b"), on_step=ctrl_c_at_step_2, progress=False)
    train(_config(tiny, tmp_path, "b"), resume=True, progress=False)
    timing = {"tokens_per_second", "step_seconds", "generation_seconds", "scoring_seconds", "cpu_threads"}
    read = lambda run: [{k: v for k, v in json.loads(l).items() if k not in timing}
                        for l in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
    assert read("a") == read("b")
