"""grpo_core.plan: each memory term against what the libraries really allocate on the CPU, and the CLI entry.

Tiny random models are built from the same configs the plan reads; NF4 runs on the CPU (bitsandbytes >= 0.48).
"""
from __future__ import annotations

import json
import os
import weakref

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch
from grpo_rewards.errors import ConfigError

from grpo_core.config import config_from_dict, load_config
from grpo_core.plan import (GiB, Arch, base_weight_bytes, format_plan, kv_cache_bytes, layer_saved_bytes_per_token,
                            lora_param_count, lora_targets, parse_size, plan_memory, run_plan)

TINY = dict(hidden_size=128, intermediate_size=352, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, vocab_size=1000, max_position_embeddings=512)
QWEN7B = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 3584,
          "intermediate_size": 18944, "num_hidden_layers": 28, "num_attention_heads": 28, "num_key_value_heads": 4,
          "vocab_size": 152064, "tie_word_embeddings": False, "max_position_embeddings": 32768,
          "rms_norm_eps": 1e-6, "rope_theta": 1000000.0}


def hf_config(model_type: str, **extra):
    from transformers import AutoConfig

    return AutoConfig.for_model(model_type, **{**TINY, **extra})


def save_model(directory, config, seed=0, tokenizer=False) -> str:
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    AutoModelForCausalLM.from_config(config).save_pretrained(directory)
    if tokenizer:
        from engine_fixtures import make_tokenizer

        make_tokenizer().save_pretrained(directory)
    return str(directory)


def load_nf4(directory):
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    bnb = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                             bnb_4bit_compute_dtype=torch.bfloat16)
    return AutoModelForCausalLM.from_pretrained(directory, dtype=torch.bfloat16, device_map={"": "cpu"},
                                                quantization_config=bnb)


def make_cfg(name, **sections) -> object:
    raw = {"model": {"name": str(name), "quantization": "nf4"}, "data": {"dataset": "unused"}}
    for key, value in sections.items():
        section, field = key.split("__")
        raw.setdefault(section, {})[field] = value
    return config_from_dict(raw, require_rewards=False)


@pytest.fixture(scope="module")
def tiny_nf4_dir(tmp_path_factory):
    return save_model(tmp_path_factory.mktemp("tiny_nf4"), hf_config("qwen2", tie_word_embeddings=False))


@pytest.fixture()
def qwen7b_dir(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(QWEN7B))
    return tmp_path


# ---------------------------------------------------------------- terms against the real thing

@pytest.mark.parametrize("model_type,extra", [
    ("qwen2", {"tie_word_embeddings": False}), ("qwen2", {"tie_word_embeddings": True}),
    ("llama", {}), ("llama", {"attention_bias": True, "mlp_bias": True, "head_dim": 48}),
    ("mistral", {}), ("qwen3", {"head_dim": 16}),
])
def test_param_count_matches_a_model_built_from_the_config(model_type, extra):
    from transformers import AutoModelForCausalLM

    config = hf_config(model_type, **extra)
    model = AutoModelForCausalLM.from_config(config)
    real = sum(p.numel() for p in model.parameters())
    assert Arch.from_config(config).param_count() == pytest.approx(real, rel=1e-3)


def test_nf4_bytes_match_bitsandbytes_storage(tiny_nf4_dir):
    model = load_nf4(tiny_nf4_dir)
    storages = {}
    for param in model.parameters():
        storages[param.untyped_storage().data_ptr()] = param.untyped_storage().nbytes()
        state = getattr(param, "quant_state", None)
        if state is not None:
            for t in (state.absmax, state.code, state.offset, state.state2.absmax, state.state2.code):
                storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
    arch = Arch.from_config(model.config)
    assert base_weight_bytes(arch, "nf4", 2) == pytest.approx(sum(storages.values()), rel=0.02)


@pytest.mark.parametrize("targets", ["all-linear", ["q_proj", "v_proj", "down_proj"]])
def test_lora_count_and_fp32_dtype_match_peft(tiny_nf4_dir, targets):
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(load_nf4(tiny_nf4_dir), LoraConfig(r=8, target_modules=targets, task_type="CAUSAL_LM"))
    lora = [p for n, p in model.named_parameters() if "lora_" in n]
    assert {p.dtype for p in lora} == {torch.float32}  # peft upcasts adapters on a bf16 NF4 base
    expected = lora_param_count(Arch.from_config(model.config), 8, lora_targets(targets))
    assert expected == model.get_nb_trainable_parameters()[0] == sum(p.numel() for p in lora)


def test_kv_cache_matches_a_real_dynamic_cache():
    from transformers import AutoModelForCausalLM

    config = hf_config("qwen2")
    model = AutoModelForCausalLM.from_config(config).to(torch.bfloat16)
    with torch.no_grad():
        cache = model(input_ids=torch.randint(0, 1000, (6, 40)), use_cache=True).past_key_values
    real = sum(t.numel() * t.element_size() for layer in cache.layers for t in (layer.keys, layer.values))
    assert kv_cache_bytes(Arch.from_config(config), 6, 40, 2) == real


@pytest.mark.parametrize("model_type,quantization,dtype,dropout,targets", [
    ("qwen2", "nf4", torch.bfloat16, 0.0, "all-linear"),
    ("qwen2", "nf4", torch.bfloat16, 0.1, ["q_proj", "o_proj", "up_proj"]),
    ("qwen3", "none", torch.bfloat16, 0.0, "all-linear"),
    ("llama", "none", torch.float32, 0.0, "all-linear"),
])
def test_saved_activations_match_what_autograd_keeps(tmp_path, model_type, quantization, dtype, dropout, targets):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    config = hf_config(model_type)
    save_model(tmp_path, config)
    model = load_nf4(tmp_path) if quantization == "nf4" else AutoModelForCausalLM.from_pretrained(tmp_path, dtype=dtype)
    model.requires_grad_(False)
    model.enable_input_require_grads()  # as gradient checkpointing does, so that layer 0 saves too
    model = get_peft_model(model, LoraConfig(r=8, lora_dropout=dropout, target_modules=targets, task_type="CAUSAL_LM"))
    model.train()
    rows, seq = 3, 40
    ids, mask = torch.randint(0, 1000, (rows, seq)), torch.ones(rows, seq, dtype=torch.long)
    mask[0, :5] = 0  # padding, as in training: SDPA gets a mask and k, v are repeated to all heads
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved = {}

    def pack(t):
        if t.untyped_storage().data_ptr() not in params:
            saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model.get_base_model().model(input_ids=ids, attention_mask=mask, use_cache=False)
    arch, db = Arch.from_config(config), torch.finfo(dtype).bits // 8
    per_token = layer_saved_bytes_per_token(arch, lora_targets(targets), 8, dropout, db, seq)
    if dropout:  # the CPU's dropout keeps an fp32 noise tensor where CUDA's fused kernel keeps a bool mask
        per_token += 3 * sum(arch.linears()[t][0] for t in lora_targets(targets))
    final_norm = 4 * arch.hidden + 4
    assert sum(saved.values()) == pytest.approx(rows * seq * (arch.layers * per_token + final_norm), rel=0.03)


class LiveBytes(torch.utils._python_dispatch.TorchDispatchMode):
    """The peak of live tensor bytes created inside the mode (what a CUDA allocator would have allocated)."""

    def __init__(self, skip):
        super().__init__()
        self.live = self.peak = 0
        self.seen = set(skip)

    def _gone(self, key, size):
        self.live -= size
        self.seen.discard(key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in torch.utils._pytree.tree_leaves(out):
            if isinstance(t, torch.Tensor) and t.untyped_storage().data_ptr() not in self.seen:
                storage, key = t.untyped_storage(), t.untyped_storage().data_ptr()
                self.seen.add(key)
                self.live += storage.nbytes()
                weakref.finalize(storage, self._gone, key, storage.nbytes())
        self.peak = max(self.peak, self.live)
        return out


@pytest.mark.parametrize("checkpointing", [True, False])
def test_training_working_set_matches_the_live_tensor_peak(tmp_path, checkpointing):
    """The whole training phase, as step.py runs it: log-probs with entropy, then backward."""
    from grpo_core.logprobs import completion_logprobs
    from grpo_core.model import load_policy

    save_model(tmp_path, hf_config("qwen2", vocab_size=4000, tie_word_embeddings=False), tokenizer=True)
    model, _ = load_policy(str(tmp_path), quantization="nf4", dtype="bfloat16", lora_r=8,
                           gradient_checkpointing=checkpointing, device="cpu")
    model.train()
    rows, prompt, completion, chunk = 4, 24, 72, 96
    ids = torch.randint(0, 4000, (rows, prompt + completion))
    mask = torch.ones_like(ids)
    mask[0, :3], mask[-1, -4:] = 0, 0
    skip = [p.untyped_storage().data_ptr() for p in [*model.parameters(), *model.buffers()]]
    for p in model.parameters():
        state = getattr(p, "quant_state", None)
        if state is not None:
            skip += [t.untyped_storage().data_ptr() for t in (state.absmax, state.code, state.offset,
                                                               state.state2.absmax, state.state2.code)]
    with LiveBytes(skip) as tracker:
        logp, _ = completion_logprobs(model, ids, mask, completion, chunk_size=chunk, with_entropy=True)
        (-logp.mean()).backward()
    cfg = make_cfg(tmp_path, model__dtype="bfloat16", model__gradient_checkpointing=checkpointing, lora__r=8,
                   grpo__num_generations=rows, grpo__prompts_per_step=1, grpo__max_completion_length=completion,
                   grpo__logprob_chunk_size=chunk)
    predicted = plan_memory(cfg, prompt_length=prompt).phase_bytes("training")
    # if this fails after a change to logprobs.py or step.py, the plan's training terms need the same change
    assert tracker.peak == pytest.approx(predicted, rel=0.10)


# ---------------------------------------------------------------- the plan as a whole

def test_more_work_needs_more_memory(qwen7b_dir):
    def total(**kw):
        base = dict(grpo__num_generations=8, grpo__max_completion_length=512, grpo__prompts_per_step=1,
                    model__gradient_checkpointing=True, train__gradient_accumulation_steps=1)
        return plan_memory(make_cfg(qwen7b_dir, **{**base, **kw})).total_bytes

    reference = total()
    assert total(grpo__num_generations=16) > reference
    assert total(grpo__max_completion_length=1024) > reference
    assert total(grpo__prompts_per_step=2) > reference
    assert total(model__gradient_checkpointing=False) > reference
    assert total(train__gradient_accumulation_steps=4) < reference
    assert total(model__quantization="none") > reference
    longer_prompts = plan_memory(make_cfg(qwen7b_dir), prompt_length=1024).total_bytes
    assert longer_prompts > plan_memory(make_cfg(qwen7b_dir)).total_bytes


@pytest.mark.parametrize("text,size", [("24GiB", 24 * GiB), ("24GB", 24 * 10**9), ("24000MiB", 24000 * 2**20),
                                       ("24", 24 * GiB), (" 23.5 gib ", int(23.5 * GiB)), ("80G", 80 * GiB)])
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "lots", "24 parsecs", "-3GiB", "0", "GiB", "1.2.3GB"])
def test_parse_size_errors_are_one_line(text):
    with pytest.raises(ConfigError, match="--gpu-memory") as info:
        parse_size(text)
    assert "\n" not in str(info.value)


def test_qwen25_7b_fits_in_24_gib(qwen7b_dir, capsys):
    cfg = make_cfg(qwen7b_dir, model__dtype="bfloat16", model__gradient_checkpointing=True, lora__r=16,
                   lora__target_modules="all-linear", grpo__num_generations=8, grpo__prompts_per_step=1,
                   grpo__max_completion_length=512)
    plan = plan_memory(cfg)
    text = format_plan(plan, 24 * GiB)
    print(text)
    assert plan.assumptions["params"] == pytest.approx(7.62e9, rel=0.01)  # Qwen2.5-7B's published count
    assert plan.total_bytes < 24 * GiB
    assert "fits in 24.0 GiB with" in text
    for term in plan.terms:
        assert term.name in text
    assert plan.peak_phase in ("generation", "training") and f"+ {plan.peak_phase} +" in text


def test_run_plan_exit_codes_table_and_json(qwen7b_dir, tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_text(f'[model]\nname = "{qwen7b_dir}"\nquantization = "nf4"\n[data]\ndataset = "unused"\n'
                      '[grpo]\nnum_generations = 8\nprompts_per_step = 1\nmax_completion_length = 512\n')
    assert run_plan(str(config), [], "24GiB", False) == 0
    assert "fits in 24.0 GiB" in capsys.readouterr().out
    assert run_plan(str(config), [], None, False) == 0  # no budget: no verdict
    assert "fit" not in capsys.readouterr().out.split("predicted peak")[1]
    too_big = ["grpo.prompts_per_step=8", "model.gradient_checkpointing=false"]
    assert run_plan(str(config), too_big, "24GiB", False) == 1
    out = capsys.readouterr().out
    assert "does NOT fit in 24.0 GiB: over by" in out and "try: --set " in out
    assert run_plan(str(config), [], "24GiB", True) == 0
    data = json.loads(capsys.readouterr().out)
    plan = plan_memory(load_config(str(config), require_rewards=False))
    assert data["fits"] is True and data["total_bytes"] == plan.total_bytes
    assert data["spare_bytes"] == 24 * GiB - plan.total_bytes and data["peak_phase"] == plan.peak_phase
    assert {t["name"] for t in data["terms"]} == {t.name for t in plan.terms}


def test_unreadable_or_unsupported_models_are_one_line_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="model.name: no config.json in") as info:
        plan_memory(make_cfg(tmp_path))  # a directory without config.json
    assert "\n" not in str(info.value)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_embd": 64}))
    with pytest.raises(ConfigError, match="not model_type 'gpt2'"):
        plan_memory(make_cfg(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps(QWEN7B))
    with pytest.raises(ConfigError, match="lora.target_modules"):
        plan_memory(make_cfg(tmp_path, lora__target_modules=["lm_head"]))
