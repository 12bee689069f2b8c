"""grpo_core.config: defaults, validation messages, --set overrides and the TOML round trip."""
import dataclasses
import os
import subprocess
import sys
import textwrap

import pytest
from grpo_rewards.errors import ConfigError

from grpo_core.config import (
    ASSETS_DIR, DEFAULT_CONFIG_TOML, DataConfig, EvalConfig, GrpoConfig, LoraConfig, ModelConfig,
    TrainConfig, config_to_dict, config_to_toml, load_config, resolve_model_path,
)

# The "Config shape (training)" example from DESIGN.md, verbatim.
DESIGN_TOML = r'''
[model]
name = "Qwen/Qwen2.5-0.5B-Instruct"   # hub id or local directory
quantization = "nf4"                   # "nf4" | "none"

[lora]
r = 16
alpha = 32
target_modules = "all-linear"

[data]
dataset = "openai/gsm8k"               # hub id, local .jsonl/.json/.parquet/.csv, or a registered task
split = "train"
prompt = "question"                    # column holding the prompt (text or chat messages)
system = "Think step by step, then put the final answer in \\boxed{}."

[grpo]
num_generations = 8
prompts_per_step = 4
max_completion_length = 256
loss = "dapo"                          # grpo | bnpo | dr_grpo | dapo
beta = 0.0
epsilon = 0.2
epsilon_high = 0.28
scale_rewards = "group"                # group | batch | none

[train]
steps = 200
learning_rate = 1e-5
output_dir = "runs/gsm8k"
save_every = 50
seed = 0

[[rewards]]
use = "math"
'''

MINIMAL = '''
[model]
name = "org/model"

[data]
dataset = "arithmetic"

[[rewards]]
use = "math"
'''


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative paths in configs resolve against the working directory


def write(text, name="config.toml"):
    with open(name, "w", encoding="utf-8") as fh:
        fh.write(textwrap.dedent(text))
    return name


def load(text, *overrides, **kw):
    return load_config(write(text), list(overrides), **kw)


def error(text, *overrides, **kw):
    """The ConfigError message, checked to be a single line."""
    with pytest.raises(ConfigError) as info:
        load(text, *overrides, **kw)
    message = str(info.value)
    assert "\n" not in message and message.strip() == message
    return message


def with_grpo(line):
    return MINIMAL + f"\n[grpo]\n{line}\n"


# ---------------------------------------------------------------- defaults


def test_dataclass_defaults():
    assert ModelConfig(name="m") == ModelConfig("m", "none", "auto", "auto", False)
    assert LoraConfig() == LoraConfig(16, 32.0, 0.0, "all-linear")
    data = DataConfig(dataset="d")
    assert (data.split, data.eval_split, data.prompt, data.system, data.options) == ("train", "test", "prompt", None, {})
    assert (data.seed, data.eval_seed, data.eval_limit) == (0, 1, 200)
    g = GrpoConfig()
    assert (g.num_generations, g.prompts_per_step, g.max_completion_length, g.min_completion_length) == (8, 4, 256, 0)
    assert (g.temperature, g.top_p, g.top_k, g.loss, g.beta, g.epsilon) == (1.0, 1.0, 0, "dapo", 0.0, 0.2)
    assert g.epsilon_high == 0.2  # None resolves to epsilon
    assert (g.scale_rewards, g.num_iterations, g.mask_truncated_completions, g.logprob_chunk_size) == (
        "group", 1, False, "auto")
    # "auto" chunks keep one chunk's float32 logits within 256 MiB; an int is taken as it is
    assert (g.logprob_chunk_rows(4096), g.logprob_chunk_rows(151_936), g.logprob_chunk_rows(10**9)) == (16384, 441, 1)
    assert GrpoConfig(logprob_chunk_size=64).logprob_chunk_rows(151_936) == 64
    t = TrainConfig()
    assert (t.steps, t.learning_rate, t.lr_scheduler, t.warmup_steps, t.gradient_accumulation_steps) == (
        200, 1e-5, "cosine", 0, 1)
    assert (t.max_grad_norm, t.optimizer, t.weight_decay, t.output_dir, t.save_every, t.seed, t.log_completions) == (
        1.0, "adamw", 0.0, "runs/default", 50, 0, 4)
    assert EvalConfig().max_completion_length is None


def test_minimal_config_fills_defaults():
    cfg = load(MINIMAL)
    assert cfg.model == ModelConfig(name="org/model")
    assert cfg.lora == LoraConfig() and cfg.train == TrainConfig() and cfg.grpo == GrpoConfig()
    assert cfg.data == DataConfig(dataset="arithmetic")
    assert cfg.eval.max_completion_length == 256  # resolved to grpo.max_completion_length
    assert cfg.rewards == [{"use": "math"}]


def test_config_is_frozen():
    cfg = load(MINIMAL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.grpo.beta = 1.0


def test_default_config_loads():
    cfg = load_config(None)
    assert cfg.model.name == "builtin:tiny-arith"
    assert cfg.data.dataset == "arithmetic"
    assert [r["use"] for r in cfg.rewards][0] == "math"
    assert any(r["use"].startswith("format.") for r in cfg.rewards)
    assert load_config(None, default_toml=DEFAULT_CONFIG_TOML) == cfg
    assert load_config(None, ["train.steps=3"]).train.steps == 3


def test_default_toml_argument_is_used():
    cfg = load_config(None, default_toml=MINIMAL)
    assert cfg.model.name == "org/model"
    with pytest.raises(ConfigError, match=r"^default config: invalid TOML: .*line 1"):
        load_config(None, default_toml="[model\nname = 1\n")


def test_import_and_load_are_light_and_fast():
    code = ("import sys, time; t = time.time(); from grpo_core.config import load_config; load_config(None); "
            "print('torch' in sys.modules, time.time() - t)")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    has_torch, seconds = out.stdout.split()
    assert has_torch == "False" and float(seconds) < 1.0


def test_design_example_loads():
    cfg = load(DESIGN_TOML)
    assert cfg.model.name == "Qwen/Qwen2.5-0.5B-Instruct" and cfg.model.quantization == "nf4"
    assert cfg.lora.alpha == 32.0 and isinstance(cfg.lora.alpha, float)
    assert cfg.data.prompt == "question"
    assert cfg.data.system == "Think step by step, then put the final answer in \\boxed{}."
    assert (cfg.grpo.epsilon, cfg.grpo.epsilon_high, cfg.grpo.loss) == (0.2, 0.28, "dapo")
    assert cfg.train.output_dir == "runs/gsm8k" and cfg.train.learning_rate == 1e-5
    assert cfg.rewards == [{"use": "math"}]


# ---------------------------------------------------------------- files and TOML


def test_missing_file():
    with pytest.raises(ConfigError) as info:
        load_config("nope/config.toml")
    assert str(info.value) == "config file not found: nope/config.toml"


def test_directory_as_config():
    os.mkdir("adir")
    with pytest.raises(ConfigError, match="^cannot read config file adir"):
        load_config("adir")


def test_invalid_toml_names_file_line_and_column():
    message = error("[model]\nname = \"x\"\nbeta = = 1\n")
    assert message.startswith("config.toml: invalid TOML: ")
    assert "(at line 3, column" in message


def test_not_utf8():
    with open("config.toml", "wb") as fh:
        fh.write(b"[model]\nname = \"\xff\"\n")
    with pytest.raises(ConfigError, match="^config.toml: invalid TOML: .*utf-8"):
        load_config("config.toml")


# ---------------------------------------------------------------- unknown and missing keys


def test_unknown_key_suggests_close_match():
    assert error(with_grpo("num_generation = 4")) == (
        "unknown key 'grpo.num_generation' (did you mean 'grpo.num_generations'?)")


def test_unknown_key_in_wrong_section_suggests_its_home():
    assert error(with_grpo("learning_rate = 0.1")) == (
        "unknown key 'grpo.learning_rate' (did you mean 'train.learning_rate'?)")


def test_unknown_key_without_suggestion():
    assert error(with_grpo("zzzzzz = 1")) == "unknown key 'grpo.zzzzzz'"


def test_unknown_section_suggests_close_match():
    assert error(MINIMAL + "\n[grop]\nbeta = 0.1\n") == "unknown section 'grop' (did you mean 'grpo'?)"
    assert error(MINIMAL + "\n[rewardz]\nx = 1\n") == "unknown section 'rewardz' (did you mean 'rewards'?)"


def test_top_level_key_suggests_its_section():
    assert error("steps = 3\n" + MINIMAL) == "unknown key 'steps' (did you mean 'train.steps'?)"


def test_missing_required_keys():
    assert error('[data]\ndataset = "d"\n[[rewards]]\nuse = "m"\n') == (
        "missing required key 'model.name' (add it under [model])")
    assert error('[model]\nname = "m"\n[[rewards]]\nuse = "m"\n') == (
        "missing required key 'data.dataset' (add it under [data])")


def test_section_must_be_a_table():
    assert error('model = "org/x"\n[data]\ndataset = "d"\n') == 'model: expected a table ([model]), got string "org/x"'


# ---------------------------------------------------------------- types


def test_wrong_type_number():
    assert error(with_grpo('beta = "high"')) == 'grpo.beta: expected a number, got string "high"'


def test_bool_is_not_an_int_or_number():
    assert error(with_grpo("num_generations = true")) == (
        "grpo.num_generations: expected an integer, got boolean true")
    assert error(with_grpo("beta = false")) == "grpo.beta: expected a number, got boolean false"


def test_int_is_accepted_as_float_but_float_not_as_int():
    cfg = load(with_grpo("temperature = 1\nbeta = 0"))
    assert cfg.grpo.temperature == 1.0 and isinstance(cfg.grpo.temperature, float)
    assert isinstance(cfg.grpo.beta, float)
    assert error(with_grpo("num_generations = 4.0")) == "grpo.num_generations: expected an integer, got float 4.0"


def test_string_and_bool_types():
    assert error(MINIMAL.replace('"org/model"', "3")) == "model.name: expected a string, got integer 3"
    assert error(MINIMAL + '\n[train]\noutput_dir = ""\n') == "train.output_dir must not be empty"
    assert error(MINIMAL.replace('name = "org/model"', 'name = "m"\ntrust_remote_code = "yes"')) == (
        'model.trust_remote_code: expected a boolean, got string "yes"')


def test_gradient_checkpointing_bool_or_auto():
    for value, expected in (("true", True), ("false", False), ('"auto"', "auto")):
        text = MINIMAL.replace('name = "org/model"', f'name = "m"\ngradient_checkpointing = {value}')
        assert load(text).model.gradient_checkpointing == expected
    text = MINIMAL.replace('name = "org/model"', 'name = "m"\ngradient_checkpointing = "always"')
    assert error(text) == 'model.gradient_checkpointing: expected a boolean or "auto", got string "always"'


def test_target_modules_string_or_list_of_strings():
    assert load(MINIMAL + '\n[lora]\ntarget_modules = ["q_proj", "v_proj"]\n').lora.target_modules == ["q_proj", "v_proj"]
    assert error(MINIMAL + "\n[lora]\ntarget_modules = [1]\n") == (
        "lora.target_modules: expected a string or a non-empty list of strings, got array [1]")
    assert error(MINIMAL + "\n[lora]\ntarget_modules = []\n").startswith("lora.target_modules: expected")


def test_system_and_options():
    cfg = load(MINIMAL.replace('dataset = "arithmetic"',
                               'dataset = "arithmetic"\nsystem = ""\noptions = { digits = 3, ops = ["+"] }'))
    assert cfg.data.system == "" and cfg.data.options == {"digits": 3, "ops": ["+"]}
    text = MINIMAL.replace('dataset = "arithmetic"', 'dataset = "arithmetic"\noptions = 3')
    assert error(text) == "data.options: expected a table, got integer 3"


# ---------------------------------------------------------------- ranges and choices


@pytest.mark.parametrize("line, message", [
    ("num_generations = 1", "grpo.num_generations must be at least 2 (got 1)"),
    ("prompts_per_step = 0", "grpo.prompts_per_step must be at least 1 (got 0)"),
    ("temperature = 0", "grpo.temperature must be greater than 0 (got 0.0)"),
    ("top_p = 1.5", "grpo.top_p must be at most 1 (got 1.5)"),
    ("top_k = -1", "grpo.top_k must be at least 0 (got -1)"),
    ("beta = -0.1", "grpo.beta must be at least 0 (got -0.1)"),
    ("beta = nan", "grpo.beta must be a finite number (got nan)"),
    ("loss = 1", "grpo.loss: expected a string, got integer 1"),  # the name is checked against the registry later
    ('importance_sampling_level = "group"', 'grpo.importance_sampling_level must be one of token, sequence (got "group")'),
    ("delta = 1.1", "grpo.delta must be at least 1 + grpo.epsilon_high (1.2), so that it caps only negative "
                    "advantages (got 1.1)"),
    ("top_entropy_quantile = 1.5", "grpo.top_entropy_quantile must be at most 1 (got 1.5)"),
    ("min_p = 1", "grpo.min_p must be less than 1 (got 1.0)"),
    ("repetition_penalty = 0", "grpo.repetition_penalty must be greater than 0 (got 0.0)"),
    ("max_generation_rounds = 0", "grpo.max_generation_rounds must be at least 1 (got 0)"),
    ("max_round_prompts = 3", "grpo.max_round_prompts must be at least grpo.prompts_per_step (4) (got 3)"),
    ('multi_objective = "normalize_then_sum"\nscale_rewards = "batch"',
     'grpo.scale_rewards applies to multi_objective = "sum_then_normalize"; normalize_then_sum normalises each '
     'reward in its group, then the sum over the batch'),
    ('scale_rewards = "std"', 'grpo.scale_rewards must be one of group, batch, none (got "std")'),
    ("min_completion_length = 300",
     "grpo.min_completion_length must be at most grpo.max_completion_length (256) (got 300)"),
    ("epsilon_high = 0.1", "grpo.epsilon_high must be at least grpo.epsilon (0.2) (got 0.1)"),
])
def test_grpo_ranges_and_choices(line, message):
    assert error(with_grpo(line)) == message


@pytest.mark.parametrize("section, line, message", [
    ("lora", "r = 0", "lora.r must be greater than 0 (got 0)"),
    ("lora", "dropout = 1.0", "lora.dropout must be less than 1 (got 1.0)"),
    ("model", 'quantization = "int8"', 'model.quantization must be one of nf4, none (got "int8")'),
    ("data", "eval_limit = 0", "data.eval_limit must be greater than 0 (got 0)"),
    ("train", "steps = 0", "train.steps must be at least 1 (got 0)"),
    ("train", "max_grad_norm = -1", "train.max_grad_norm must be at least 0 (got -1.0)"),
    ("train", 'optimizer = "sgd"', 'train.optimizer must be one of adamw, paged_adamw_8bit (got "sgd")'),
    ("eval", "max_completion_length = 0", "eval.max_completion_length must be at least 1 (got 0)"),
])
def test_other_ranges_and_choices(section, line, message):
    text = MINIMAL.replace(f"[{section}]\n", f"[{section}]\n{line}\n") if f"[{section}]" in MINIMAL \
        else MINIMAL + f"\n[{section}]\n{line}\n"
    assert error(text) == message


def test_edge_values_accepted():
    cfg = load(with_grpo("num_generations = 2\nmin_completion_length = 256\nepsilon_high = 0.2\ntop_p = 1"))
    assert cfg.grpo.num_generations == 2 and cfg.grpo.top_p == 1.0
    cfg = load(MINIMAL + "\n[train]\nmax_grad_norm = 0\nsave_every = 0\n[eval]\nmax_completion_length = 64\n")
    assert cfg.train.max_grad_norm == 0.0 and cfg.eval.max_completion_length == 64


# ---------------------------------------------------------------- rewards


def test_rewards_pass_through_other_keys():
    text = MINIMAL + '\n[[rewards]]\nuse = "format.think_answer"\nweight = 0.2\noptions = { strict = true }\n'
    assert load(text).rewards[1] == {"use": "format.think_answer", "weight": 0.2, "options": {"strict": True}}


def test_reward_entry_errors():
    base = MINIMAL.replace('[[rewards]]\nuse = "math"\n', "")
    assert error(base) == 'no rewards configured: add at least one [[rewards]] table with use = "..."'
    assert load(base, require_rewards=False).rewards == []
    assert error(MINIMAL + '\n[[rewards]]\nweight = 1.0\n') == (
        "rewards[1]: missing required key 'use' (a registered reward name)")
    assert error(MINIMAL + '\n[[rewards]]\nuse = 3\n') == "rewards[1].use: expected a reward name, got integer 3"
    assert error('rewards = ["math"]\n' + base) == (
        'rewards[0]: expected a table, got string "math"')
    assert error('rewards = "math"\n' + base) == (
        'rewards: expected an array of tables ([[rewards]]), got string "math"')


# ---------------------------------------------------------------- paths


def test_local_model_paths():
    assert error(MINIMAL.replace('"org/model"', '"./foo"')) == "model.name: no such directory: ./foo"
    assert error(MINIMAL.replace('"org/model"', '"/no/such/dir"')) == "model.name: no such directory: /no/such/dir"
    assert error(MINIMAL.replace('"org/model"', '"../nope"')) == "model.name: no such directory: ../nope"
    os.mkdir("foo")
    assert load(MINIMAL.replace('"org/model"', '"./foo"')).model.name == "./foo"
    assert load(MINIMAL.replace('"org/model"', '"Qwen/Qwen2.5-0.5B"')).model.name == "Qwen/Qwen2.5-0.5B"


def test_builtin_model():
    assert load(MINIMAL.replace('"org/model"', '"builtin:tiny-arith"')).model.name == "builtin:tiny-arith"
    assert resolve_model_path("builtin:tiny-arith") == os.path.join(ASSETS_DIR, "tiny-arith")
    assert ASSETS_DIR.endswith(os.path.join("grpo_core", "assets")) and os.path.isabs(ASSETS_DIR)
    assert error(MINIMAL.replace('"org/model"', '"builtin:../x"')) == 'model.name: bad builtin model name "builtin:../x"'


def test_resolve_model_path():
    assert resolve_model_path("org/model") == "org/model"
    assert resolve_model_path("./m") == "./m"
    assert resolve_model_path("~/m") == os.path.expanduser("~/m")


def test_dataset_files():
    for name in ("data.jsonl", "data.json", "d/x.parquet", "x.CSV"):
        assert error(MINIMAL.replace('"arithmetic"', f'"{name}"')) == f"data.dataset: no such file: {name}"
    write("{}\n", "data.jsonl")
    assert load(MINIMAL.replace('"arithmetic"', '"data.jsonl"')).data.dataset == "data.jsonl"
    assert load(MINIMAL.replace('"arithmetic"', '"openai/gsm8k"')).data.dataset == "openai/gsm8k"


# ---------------------------------------------------------------- --set


def test_set_parses_toml_values():
    cfg = load(MINIMAL, "grpo.beta=0.04", 'grpo.loss="bnpo"', "train.save_every=10",
               'lora.target_modules=["q_proj","v_proj"]', "grpo.mask_truncated_completions=true",
               "grpo.temperature=1")
    assert cfg.grpo.beta == 0.04 and cfg.grpo.loss == "bnpo" and cfg.train.save_every == 10
    assert cfg.lora.target_modules == ["q_proj", "v_proj"]
    assert cfg.grpo.mask_truncated_completions is True and cfg.grpo.temperature == 1.0


def test_set_falls_back_to_plain_strings():
    cfg = load(MINIMAL, "model.name=Qwen/Qwen2.5-0.5B", "grpo.loss=bnpo", "train.output_dir=runs/x y",
               " data.system = Be brief. ")
    assert cfg.model.name == "Qwen/Qwen2.5-0.5B" and cfg.grpo.loss == "bnpo"
    assert cfg.train.output_dir == "runs/x y" and cfg.data.system == "Be brief."


def test_set_is_validated_like_the_file():
    assert error(MINIMAL, "grpo.beta=high") == 'grpo.beta: expected a number, got string "high"'
    assert error(MINIMAL, "grpo.num_generations=1") == "grpo.num_generations must be at least 2 (got 1)"
    assert error(MINIMAL, "grpo.num_generation=4") == (
        "unknown key 'grpo.num_generation' (did you mean 'grpo.num_generations'?)")
    assert error(MINIMAL, "grop.beta=1") == "unknown section 'grop' (did you mean 'grpo'?)"
    assert error(MINIMAL, "model.name=./missing") == "model.name: no such directory: ./missing"


def test_set_later_wins_and_adds_sections():
    cfg = load(MINIMAL, "train.steps=5", "train.steps=7", "eval.max_completion_length=32")
    assert cfg.train.steps == 7 and cfg.eval.max_completion_length == 32


def test_set_nested_keys():
    cfg = load(MINIMAL, "data.options.digits=3", "data.options.ops=['+', '-']", "rewards.0.weight=0.5",
               "rewards.0.options.timeout=2.0")
    assert cfg.data.options == {"digits": 3, "ops": ["+", "-"]}
    assert cfg.rewards == [{"use": "math", "weight": 0.5, "options": {"timeout": 2.0}}]


@pytest.mark.parametrize("override, message", [
    ("grpo.beta", "--set grpo.beta: expected section.key=value"),
    ("beta=0.1", "--set beta=0.1: expected section.key=value"),
    ("grpo.=1", "--set grpo.=1: expected section.key=value"),
    ("=1", "--set =1: expected section.key=value"),
    ("model.name.x=1", "--set model.name.x=1: model.name is not a table"),
    ("rewards.3.weight=1", "--set rewards.3.weight=1: rewards has 1 entries (index from 0), got '3'"),
    ("rewards.x.weight=1", "--set rewards.x.weight=1: rewards has 1 entries (index from 0), got 'x'"),
    ("rewards.0=1", "--set rewards.0=1: cannot replace a whole entry of rewards"),
])
def test_set_errors(override, message):
    assert error(MINIMAL, override) == message


# ---------------------------------------------------------------- round trip


@pytest.mark.parametrize("text", [MINIMAL, DESIGN_TOML, DEFAULT_CONFIG_TOML])
def test_round_trip(text):
    cfg = load(text)
    written = config_to_toml(cfg)
    again = load_config(write(written, "resolved.toml"))
    assert again == cfg
    assert config_to_toml(again) == written


def test_round_trip_with_everything_set():
    cfg = load(MINIMAL.replace('dataset = "arithmetic"',
                               'dataset = "arithmetic"\nsystem = "a \\"quoted\\"\\nline"\noptions = { a = { b = 1 } }'),
               'lora.target_modules=["q_proj"]', "model.gradient_checkpointing=false",
               "grpo.epsilon_high=0.3", "eval.max_completion_length=9",
               'rewards.0.options={ timeout = 2.0, names = ["x"] }')
    written = config_to_toml(cfg)
    assert load_config(write(written, "resolved.toml")) == cfg


def test_written_config_lists_every_key():
    written = config_to_toml(load(MINIMAL))
    for key in ("quantization", "epsilon_high = 0.2", "log_completions", "[eval]", "max_completion_length = 256"):
        assert key in written


def test_config_to_dict():
    d = config_to_dict(load(MINIMAL))
    assert set(d) == {"model", "lora", "data", "grpo", "train", "eval", "generation", "rewards"}
    assert "system" not in d["data"]  # absent stays absent
    assert d["grpo"]["num_generations"] == 8 and d["rewards"] == [{"use": "math"}]
