"""The vllm backend against the hf one, on one real vLLM server (the shipped tiny model, a LoRA adapter):
the same greedy completions with the same adapter weights, the same Rollout layout, the sampler's
log-probs next to the trainer's, and after k real training steps the server's greedy outputs equal the hf
backend's with the step-k adapter. Runs with the virtualenv of scripts/install_vllm_cpu.sh (vllm_fixtures)."""
import os

import pytest
import torch

from vllm_fixtures import vllm_overrides

PROMPTS = 48  # eval prompts of a seed the default run never trains on


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from grpo_rewards import RewardMix, plugins

    from grpo_core.config import load_config
    from grpo_core.data import encode_prompt, load_rows
    from grpo_core.generation.vllm import VllmSampler
    from grpo_core.model import load_from_config

    run = tmp_path_factory.mktemp("vllm-run")
    cfg = load_config(None, [*vllm_overrides(), f"train.output_dir={run}"])
    torch.manual_seed(0)
    registry = plugins.registry()
    with RewardMix.from_config(cfg.rewards, registry=registry) as mix, VllmSampler(cfg, str(run), progress=False) as sampler:
        mix.start()
        model, tokenizer = load_from_config(cfg)
        rows = load_rows(cfg.data, "test", seed=3, count=PROMPTS, registry=registry)
        prompts = [encode_prompt(tokenizer, r["prompt"], None) for r in rows]
        yield {"cfg": cfg, "sampler": sampler, "model": model, "tokenizer": tokenizer, "prompts": prompts,
               "mix": mix, "registry": registry, "run": run}


def _greedy(backend, s, G=2):
    return backend.sample_groups(s["model"], s["tokenizer"], s["prompts"], num_generations=G, max_new_tokens=8,
                                 temperature=0.0)


def _assert_same_completions(a, b):
    assert torch.equal(a.completion_lengths, b.completion_lengths)
    assert torch.equal(a.truncated, b.truncated)
    assert torch.equal(a.completion_ids, b.completion_ids)
    assert torch.equal(a.input_ids, b.input_ids) and torch.equal(a.attention_mask, b.attention_mask)


def test_greedy_completions_equal_hf_with_the_same_adapter(served):
    from grpo_core.generation.hf import HfSampler

    with torch.no_grad():  # an adapter that is far from the identity, so that the server must really apply it
        g = torch.Generator().manual_seed(1)
        for name, p in served["model"].named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    hf = _greedy(HfSampler(), served)
    vllm = _greedy(served["sampler"], served)
    _assert_same_completions(hf, vllm)
    from grpo_core.rollout import sample_groups

    with served["model"].disable_adapter():
        base = sample_groups(served["model"], served["tokenizer"], served["prompts"], num_generations=2,
                             max_new_tokens=8, temperature=0.0)
    assert not torch.equal(base.completion_ids, hf.completion_ids)  # the adapter changes what is sampled


def test_sampled_rollouts_have_the_hf_layout_and_the_trainers_log_probs(served):
    from grpo_core.logprobs import completion_logprobs

    s, G = served, 4
    sampler = s["sampler"]
    version = sampler.version
    r = sampler.sample_groups(s["model"], s["tokenizer"], s["prompts"][:8], num_generations=G, max_new_tokens=6,
                              min_new_tokens=3, temperature=1.0, generator=torch.Generator().manual_seed(0))
    eos, pad = 2, s["tokenizer"].pad_token_id
    rows, width = r.completion_ids.shape
    assert rows == 8 * G and r.num_prompts == 8 and r.adapter_versions == [version] * rows
    assert torch.equal(r.input_ids[:, r.prompt_length:], r.completion_ids)
    assert torch.equal(r.attention_mask[:, r.prompt_length:], r.completion_mask)
    for i in range(rows):
        n = int(r.completion_lengths[i])
        ids = r.completion_ids[i].tolist()
        assert 3 <= n <= 6 and r.completion_mask[i].tolist() == [1] * n + [0] * (width - n)
        assert ids[n:] == [pad] * (width - n) and float(r.sampler_logprobs[i, n:].abs().sum()) == 0
        assert eos not in ids[:min(3, n)]  # min_new_tokens bans EOS, as in the hf loop
        assert bool(r.truncated[i]) == (ids[n - 1] != eos) and (bool(r.truncated[i]) <= (n == 6))
        assert torch.equal(r.input_ids[i, :r.prompt_length], r.input_ids[i - i % G, :r.prompt_length])
    assert len({tuple(row) for row in r.completion_ids.tolist()}) > 8  # sampled, not greedy
    with torch.no_grad():
        trainer, _ = completion_logprobs(s["model"], r.input_ids, r.attention_mask, width)
    # The server reports the distribution it sampled from: before min_new_tokens EOS is banned and the rest
    # renormalised, so there its log-probs are higher than the policy's; after, both are the same policy.
    mask = r.completion_mask.bool()
    banned, free = mask.clone(), mask.clone()
    banned[:, 3:], free[:, :3] = False, False
    assert float((r.sampler_logprobs - trainer)[banned].min()) > -1e-4
    diff = (trainer - r.sampler_logprobs)[free].abs()
    print(f"sampler/trainer log-prob difference: mean {float(diff.mean()):.2e}, max {float(diff.max()):.2e}")
    assert float(diff.max()) < 1e-3  # float32 on both sides: kernels differ, the distribution does not


def test_same_generator_seed_same_samples(served):
    s = served
    draw = lambda: s["sampler"].sample_groups(s["model"], s["tokenizer"], s["prompts"][:4], num_generations=4,
                                              max_new_tokens=8, generator=torch.Generator().manual_seed(5))
    a, b = draw(), draw()
    assert torch.equal(a.completion_ids, b.completion_ids)


def test_after_k_training_steps_the_servers_greedy_outputs_equal_hf(served):
    """Real steps through grpo_step with the vllm backend, then parity with the adapter of step k."""
    from grpo_core.data import PromptStream, load_rows
    from grpo_core.generation.hf import HfSampler
    from grpo_core.step import grpo_step
    from grpo_core.trainer import build_optimizer, build_scheduler

    s, cfg, k = served, served["cfg"], 3
    model, sampler = s["model"], s["sampler"]
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = build_optimizer(model, cfg, params)
    scheduler = build_scheduler(optimizer, cfg, k)
    stream = PromptStream(load_rows(cfg.data, "train", seed=0, count=64, registry=s["registry"]), 0)
    generator = torch.Generator().manual_seed(0)
    sampler.start_at(0)
    before = [p.detach().clone() for p in params]
    for step in range(1, k + 1):
        record, samples = grpo_step(model, s["tokenizer"], optimizer, scheduler, s["mix"],
                                    stream.take(cfg.grpo.prompts_per_step), cfg, generator, params, sampler)
        assert all(sample["adapter_version"] == step - 1 for sample in samples)
        for key in ("sampler/logprob_diff_mean", "sampler/logprob_diff_max", "sampler/kl", "sampler/is_weight_mean"):
            assert record[key] is not None, key
        assert record["sampler/logprob_diff_max"] < 1e-3
        print(f"step {step}: sampler/trainer log-prob difference mean {record['sampler/logprob_diff_mean']:.2e}, "
              f"max {record['sampler/logprob_diff_max']:.2e}, KL {record['sampler/kl']:.2e}")
    assert any(not torch.equal(a, p) for a, p in zip(before, params))  # the adapter moved
    vllm = _greedy(sampler, s)  # syncs the step-k adapter first
    assert sampler.adapter[0] == f"grpo-v{k}"
    _assert_same_completions(_greedy(HfSampler(), s), vllm)


def test_a_refused_request_is_one_line(served):
    from grpo_rewards.errors import UserError

    sampler = served["sampler"]
    with pytest.raises(UserError) as err:
        sampler._request("POST", "/v1/load_lora_adapter", {"lora_name": "x", "lora_path": "/no/such/adapter"})
    assert "\n" not in str(err.value) and "refused POST /v1/load_lora_adapter" in str(err.value)
    assert os.path.isfile(os.path.join(served["run"], "vllm-server.log"))
