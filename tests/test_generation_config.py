"""[generation]: validation, the managed server's command line, the hf -> vLLM sampling mapping, the Rollout built
from a server's answer, and `grpo plan` with a server on the GPU. No server runs here (tests/test_vllm*.py)."""
import shlex

import pytest
import torch

from grpo_rewards.errors import ConfigError


def load(*overrides):
    from grpo_core.config import load_config

    return load_config(None, list(overrides))


def test_defaults_and_round_trip():
    from grpo_core.config import config_from_dict, config_to_dict

    cfg = load()
    assert cfg.generation.backend == "hf" and cfg.generation.importance_sampling == "token_truncate"
    assert cfg.generation.importance_sampling_cap == 3.0 and cfg.generation.port == 0
    cfg = load("generation.backend=vllm", 'generation.command=["V/bin/python", "-m", "vllm"]',
               'generation.env={VLLM_CPU_KVCACHE_SPACE="1"}', 'generation.extra_args="--enforce-eager --seed 3"')
    assert config_from_dict(config_to_dict(cfg)) == cfg


@pytest.mark.parametrize("override, message", [
    ('generation.mode="external"', 'generation.url is required with generation.mode = "external"'),
    ('generation.env={X=1}', "generation.env.X: expected a string, got integer 1"),
    ('generation.importance_sampling="sequence_truncate"', "generation.importance_sampling must be one of none"),
    ("generation.importance_sampling_cap=0", "generation.importance_sampling_cap must be greater than 0"),
    ("generation.gpu_memory_utilization=1.5", "generation.gpu_memory_utilization must be at most 1"),
    ("generation.port=70000", "generation.port must be at most 65535"),
    ('generation.backend="sglang"', "generation.backend must be one of hf, vllm"),
    ('generation.comand="vllm"', "unknown key 'generation.comand' (did you mean 'generation.command'?)"),
])
def test_mistakes_are_one_line(override, message):
    overrides = ["generation.backend=vllm", override] if "backend" not in override else [override]
    with pytest.raises(ConfigError) as err:
        load(*overrides)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_managed_command_line():
    from grpo_core.generation.vllm import managed_command

    cfg = load("generation.backend=vllm", "lora.r=20", "generation.max_model_len=256",
               "generation.gpu_memory_utilization=0.3", 'generation.extra_args="--enforce-eager --swap-space 0"',
               'generation.env={A="b"}', "generation.sleep=false", "train.output_dir=/tmp/r")
    argv, env = managed_command(cfg, "/m", "127.0.0.1", 8011, "float32")
    line = shlex.join(argv)
    assert argv[:2] == ["vllm", "serve"]  # a bare `vllm` runs its serve subcommand
    for part in ("--model /m", "--port 8011", "--dtype float32", "--enable-lora", "--max-lora-rank 32",
                 "--logprobs-mode processed_logprobs", "--max-model-len 256", "--gpu-memory-utilization 0.3"):
        assert part in line, part
    assert line.endswith("--enforce-eager --swap-space 0") and "--enable-sleep-mode" not in line
    assert "--max-num-batched-tokens 16384" in line  # on a CPU: 8 prompts x G=8 x 256, no prompt split
    assert env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "1" and env["A"] == "b" and env["GRPO_RUN_DIR"] == "/tmp/r"
    cfg = load("generation.backend=vllm", 'generation.command="/v/bin/python -m vllm.entrypoints.openai.api_server"',
               "generation.sleep=true")
    argv, env = managed_command(cfg, "/m", "127.0.0.1", 1, "bfloat16")
    assert argv[:3] == ["/v/bin/python", "-m", "vllm.entrypoints.openai.api_server"] and argv[3] == "--model"
    assert "--enable-sleep-mode" in argv and env["VLLM_SERVER_DEV_MODE"] == "1"


def test_sampling_mapping():
    from grpo_core.generation.vllm import sampling_request

    body = sampling_request(num_generations=8, max_new_tokens=64, min_new_tokens=2, temperature=0.7, top_p=0.9,
                            top_k=0, eos_token_ids=[2, 7], seed=11, min_p=0.05)
    assert body["n"] == 8 and body["max_tokens"] == 64 and body["min_tokens"] == 2 and body["top_k"] == 0
    assert body["temperature"] == 0.7 and body["top_p"] == 0.9 and body["stop_token_ids"] == [2, 7]
    assert body["seed"] == 11 and body["logprobs"] == 0 and body["return_token_ids"] and body["min_p"] == 0.05
    with pytest.raises(TypeError, match="does not know sampling parameter"):
        sampling_request(num_generations=1, max_new_tokens=1, min_new_tokens=0, temperature=1, top_p=1, top_k=0,
                         eos_token_ids=[2], seed=None, beam_width=4)


def test_rollout_from_a_servers_answer_has_the_hf_layout():
    from grpo_core.generation.vllm import build_rollout

    choices = [{"token_ids": [5, 6, 2], "logprobs": {"token_logprobs": [-0.1, -0.2, -0.3]}, "finish_reason": "stop"},
               {"token_ids": [5, 6, 7, 8], "logprobs": {"token_logprobs": [-1, -1, -1, -1]}, "finish_reason": "length"},
               {"token_ids": [9, 9, 9, 2], "logprobs": {"token_logprobs": [-1, -1, -1, -1]}, "finish_reason": "stop"},
               {"token_ids": [2], "logprobs": {"token_logprobs": [-0.5]}, "finish_reason": "stop"}]
    r = build_rollout([[1, 3, 4], [1, 4]], choices, 2, pad_id=0, eos=[2], version=7)
    assert r.prompt_length == 3 and r.completion_ids.tolist() == [[5, 6, 2, 0], [5, 6, 7, 8], [9, 9, 9, 2], [2, 0, 0, 0]]
    assert r.input_ids[:, :3].tolist() == [[1, 3, 4], [1, 3, 4], [0, 1, 4], [0, 1, 4]]  # left-padded prompts
    assert r.attention_mask.tolist()[3] == [0, 1, 1, 1, 0, 0, 0]
    assert r.truncated.tolist() == [False, True, False, False] and r.completion_lengths.tolist() == [3, 4, 4, 1]
    assert torch.allclose(r.sampler_logprobs[0], torch.tensor([-0.1, -0.2, -0.3, 0.0]))
    assert r.adapter_versions == [7] * 4 and r.num_prompts == 2


def test_plan_counts_a_managed_servers_share_of_the_gpu():
    from grpo_core.plan import GiB, plan_memory

    name = "model.name=benchmarks/qwen2.5-7b-architecture"
    base = plan_memory(load(name, 'model.quantization="nf4"'), gpu_bytes=24 * GiB)
    awake = plan_memory(load(name, 'model.quantization="nf4"', "generation.backend=vllm",
                             "generation.gpu_memory_utilization=0.3"), gpu_bytes=24 * GiB)
    names = {t.name: t for t in awake.terms}
    assert "KV cache" in {t.name for t in base.terms} and "KV cache" not in names  # the server samples
    assert names["vLLM server (awake)"].bytes == int(0.3 * 24 * GiB) and names["vLLM server (awake)"].phase == "generation"
    asleep_peak = awake.total_bytes
    always = plan_memory(load(name, 'model.quantization="nf4"', "generation.backend=vllm", "generation.sleep=false",
                              "generation.gpu_memory_utilization=0.3"), gpu_bytes=24 * GiB)
    assert {t.name: t for t in always.terms}["vLLM server"].phase == "resident"
    assert always.total_bytes > asleep_peak  # a server that never sleeps adds its share to the training peak
    external = plan_memory(load(name, "generation.backend=vllm", 'generation.mode="external"',
                                'generation.url="http://gpu:8000"'), gpu_bytes=24 * GiB)
    assert not any(t.name.startswith("vLLM server") for t in external.terms)
