"""Typed run config: TOML -> validated dataclasses, before any model or dataset is touched (so no torch).

Sections [model] [lora] [data] [grpo] [train] [eval] [generation] plus [[rewards]] tables; every key has a default
except model.name and data.dataset. Each field's type hint (str, int, float, bool, Literal, unions) and
bounds in its metadata drive validation, so a new key is one line. Every mistake raises ConfigError with
one line naming the key. Relative paths (model.name, data.dataset, train.output_dir) resolve against the
current working directory, not the config file's folder: a path means the same on the command line.
"""
from __future__ import annotations

import dataclasses
import difflib
import os
import re
import tomllib
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import tomli_w
from grpo_rewards.errors import ConfigError

from .typecheck import check_field, got, show

ASSETS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets")
DATA_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")
_LOCAL_PREFIXES = ("/", "./", "../", "~")

# Placeholder default config (`grpo train` with no file): tiny and CPU-sized. The lead tunes the numbers.
DEFAULT_CONFIG_TOML = """\
# The embedded default run (`grpo train` with no config): a tiny model that ships with grpo-core learns
# to add two-digit numbers with GRPO on a CPU in about 20 s (BENCHMARKS.md, "Learning is unchanged").
# Its warm-up taught it true sums and then a sloppy habit of dropping carries, so it starts out
# partly right; the math reward pays only for the correct sum, and GRPO has to find that carrying
# is what pays. Eval problems come from a seed and a split the training never sees.

[model]
name = "builtin:tiny-arith"

[lora]
r = 16
alpha = 32

[data]
dataset = "arithmetic"
eval_limit = 200

[grpo]
num_generations = 8
prompts_per_step = 8
max_completion_length = 8
temperature = 1.0
loss = "dapo"

[train]
steps = 150
learning_rate = 1e-3
lr_scheduler = "constant"
output_dir = "runs/tiny-arith"
save_every = 50
log_completions = 4

[[rewards]]
use = "math"

[[rewards]]
use = "format.regex"
weight = 0.1
options = { pattern = '^<answer>-?[0-9]+</answer>$' }
"""


MAX_STEPS = 1_000_000_000  # a bound that catches a slip of the keyboard, not a real run
TRACKERS = ("tensorboard", "wandb", "trackio")  # train.report_to (trackers.py)


def _f(default: Any = dataclasses.MISSING, **bounds: Any) -> Any:
    """A field with optional bounds: ge/gt/le/lt, and allow_empty for strings and lists."""
    if isinstance(default, dataclasses.Field):  # a default_factory field
        return field(default_factory=default.default_factory, metadata=bounds)
    return field(default=default, metadata=bounds)


@dataclass(frozen=True)
class ModelConfig:
    SECTION: ClassVar[str] = "model"
    name: str = _f()  # hub id, local directory, or "builtin:NAME" (see resolve_model_path)
    quantization: Literal["nf4", "none"] = "none"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    gradient_checkpointing: bool | Literal["auto"] = "auto"
    trust_remote_code: bool = False


@dataclass(frozen=True)
class LoraConfig:
    SECTION: ClassVar[str] = "lora"
    r: int = _f(16, gt=0)
    alpha: float = _f(32.0, gt=0)
    dropout: float = _f(0.0, ge=0, lt=1)
    target_modules: str | list[str] = "all-linear"


@dataclass(frozen=True)
class DataConfig:
    SECTION: ClassVar[str] = "data"
    dataset: str = _f()  # hub id, local .jsonl/.json/.parquet/.csv, or a registered task name
    subset: str | None = None  # a hub dataset's configuration, e.g. "main" for openai/gsm8k
    split: str = "train"
    eval_split: str = "test"
    prompt: str = "prompt"  # column holding the prompt
    system: str | None = _f(None, allow_empty=True)  # None: no system message
    options: dict[str, Any] = field(default_factory=dict)  # passed to a registered task
    seed: int = _f(0, ge=0)  # for generated tasks
    eval_seed: int = _f(1, ge=0)
    eval_limit: int = _f(200, gt=0)  # the one home of the eval prompt count
    max_prompt_length: int | None = _f(None, ge=1)  # None: a prompt too long for the model is an error; N: cut to N tokens (from the left)


@dataclass(frozen=True)
class GrpoConfig:
    SECTION: ClassVar[str] = "grpo"
    num_generations: int = _f(8, ge=2)  # a group of one has no baseline
    prompts_per_step: int = _f(4, ge=1)
    max_completion_length: int = _f(256, ge=1)
    min_completion_length: int = _f(0, ge=0)
    temperature: float = _f(1.0, gt=0)
    top_p: float = _f(1.0, gt=0, le=1)
    top_k: int = _f(0, ge=0)  # 0 disables top-k
    min_p: float = _f(0.0, ge=0, lt=1)  # drop tokens below min_p x the top token's probability; 0 disables
    repetition_penalty: float = _f(1.0, gt=0)  # > 1 discourages tokens already in the prompt or completion
    # a registered loss (grpo | bnpo | dr_grpo | dapo | cispo | sapo, or a plugin's): checked before the model loads
    loss: str = "dapo"
    loss_options: dict[str, Any] = field(default_factory=dict)  # keyword options of the loss (sapo: temperature_*)
    importance_sampling_level: Literal["token", "sequence"] = "token"  # "sequence": GSPO
    beta: float = _f(0.0, ge=0)  # KL weight; 0 skips the reference pass
    epsilon: float = _f(0.2, gt=0)
    epsilon_high: float | None = _f(None, gt=0)  # None: same as epsilon (resolved on load)
    delta: float | None = _f(None, gt=1)  # two-sided clipping: ratio cap for negative advantages; None: off
    top_entropy_quantile: float = _f(1.0, ge=0, le=1)  # < 1: only the highest-entropy tokens carry the policy term
    entropy_coef: float = _f(0.0, ge=0)  # entropy bonus: loss -= entropy_coef x mean token entropy
    advantage: str = "grpo"  # a registered advantage estimator
    advantage_options: dict[str, Any] = field(default_factory=dict)
    scale_rewards: Literal["group", "batch", "none"] = "group"
    # several rewards: normalise the weighted total (GRPO), or each reward in its group and then sum (GDPO)
    multi_objective: Literal["sum_then_normalize", "normalize_then_sum"] = "sum_then_normalize"
    dynamic_sampling: bool = False  # drop zero-spread groups and sample more prompts until the batch is full
    max_generation_rounds: int = _f(4, ge=1)  # dynamic sampling's budget of rollout rounds per step
    max_round_prompts: int | None = _f(None, ge=1)  # prompts one such round may draw; None: 2 x prompts_per_step
    num_iterations: int = _f(1, ge=1)
    mask_truncated_completions: bool = False
    logprob_chunk_size: int | Literal["auto"] = _f("auto", gt=0)  # rows per output-head chunk (logprobs.py)

    # logprob_chunk_size = "auto": as many rows as keep one chunk's float32 logits within this size
    # (16,384 rows at a 4k vocabulary, 441 at Qwen2.5's 152k)
    AUTO_CHUNK_BYTES: ClassVar[int] = 256 << 20

    def logprob_chunk_rows(self, vocab_size: int) -> int:
        """Rows given to the output head at once (logprobs.py), for a model with this vocabulary."""
        if self.logprob_chunk_size == "auto":
            return max(1, self.AUTO_CHUNK_BYTES // (4 * vocab_size))
        return self.logprob_chunk_size

    def __post_init__(self) -> None:
        if self.min_completion_length > self.max_completion_length:
            raise ConfigError(f"grpo.min_completion_length must be at most grpo.max_completion_length "
                              f"({self.max_completion_length}) (got {self.min_completion_length})")
        if self.epsilon_high is None:
            object.__setattr__(self, "epsilon_high", self.epsilon)
        elif self.epsilon_high < self.epsilon:
            raise ConfigError(f"grpo.epsilon_high must be at least grpo.epsilon ({show(self.epsilon)}) "
                              f"(got {show(self.epsilon_high)})")
        if self.max_round_prompts is None:
            object.__setattr__(self, "max_round_prompts", 2 * self.prompts_per_step)
        elif self.max_round_prompts < self.prompts_per_step:
            raise ConfigError(f"grpo.max_round_prompts must be at least grpo.prompts_per_step "
                              f"({self.prompts_per_step}) (got {self.max_round_prompts})")
        if self.delta is not None and self.delta < 1 + self.epsilon_high:
            raise ConfigError(f"grpo.delta must be at least 1 + grpo.epsilon_high ({show(1 + self.epsilon_high)}), "
                              f"so that it caps only negative advantages (got {show(self.delta)})")
        if self.multi_objective == "normalize_then_sum" and self.scale_rewards != "group":
            raise ConfigError("grpo.scale_rewards applies to multi_objective = \"sum_then_normalize\"; "
                              "normalize_then_sum normalises each reward in its group, then the sum over the batch")


@dataclass(frozen=True)
class TrainConfig:
    SECTION: ClassVar[str] = "train"
    steps: int = _f(200, ge=1, le=MAX_STEPS)
    learning_rate: float = _f(1e-5, gt=0)
    lr_scheduler: Literal["cosine", "constant"] = "cosine"
    warmup_steps: int = _f(0, ge=0)
    gradient_accumulation_steps: int = _f(1, ge=1)  # micro-batches per optimizer step
    max_grad_norm: float = _f(1.0, ge=0)  # 0 disables clipping
    optimizer: Literal["adamw", "paged_adamw_8bit"] = "adamw"
    weight_decay: float = _f(0.0, ge=0)
    output_dir: str = "runs/default"
    save_every: int = _f(50, ge=0)  # 0: save only at the end
    seed: int = _f(0, ge=0)
    log_completions: int = _f(4, ge=0)  # samples per step written to completions.jsonl
    collective_timeout: float = _f(600.0, gt=0)  # torchrun runs: seconds a rank waits for the others, then fails
    report_to: str | list[str] = _f(field(default_factory=list), allow_empty=True)  # trackers.py: tensorboard, wandb, trackio

    def __post_init__(self) -> None:
        names = [self.report_to] if isinstance(self.report_to, str) else list(self.report_to)
        for name in names:
            if name not in TRACKERS:
                raise ConfigError(f"train.report_to: unknown tracker {show(name)} (choose from {', '.join(TRACKERS)})")
        object.__setattr__(self, "report_to", list(dict.fromkeys(names)))


@dataclass(frozen=True)
class EvalConfig:
    SECTION: ClassVar[str] = "eval"
    # None: same as grpo.max_completion_length (resolved on load). The prompt count lives in data.eval_limit.
    max_completion_length: int | None = _f(None, ge=1)


@dataclass(frozen=True)
class GenerationConfig:
    """Who samples the groups: the trainer's own decode loop (hf), or a vLLM server (grpo_core/generation/)."""
    SECTION: ClassVar[str] = "generation"
    backend: Literal["hf", "vllm"] = "hf"
    mode: Literal["managed", "external"] = "managed"  # managed: grpo starts and stops the server
    command: str | list[str] = "vllm"  # managed: the program, e.g. ["V/bin/python", "-m", "vllm.entrypoints.openai.api_server"]
    url: str | None = None  # external: a running server, e.g. "http://gpu-box:8000"
    host: str = "127.0.0.1"
    port: int = _f(0, ge=0, le=65535)  # managed; 0 picks a free port
    gpu_memory_utilization: float | None = _f(None, gt=0, le=1)  # the server's share of the GPU (vLLM's flag)
    max_model_len: int | None = _f(None, gt=0)
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"  # auto: the trainer's compute dtype
    extra_args: str | list[str] | None = None  # appended to the server's command line
    env: dict[str, Any] = field(default_factory=dict)  # extra environment for the server
    sleep: bool | Literal["auto"] = "auto"  # sleep/wake between generation and training; auto: managed on a GPU
    adapter_dir: str | None = None  # where each step's adapter is written for the server; None: tmpfs
    start_timeout: float = _f(600.0, gt=0)  # seconds to wait for the server's health endpoint
    request_timeout: float = _f(600.0, gt=0)
    retries: int = _f(3, ge=0)  # failed requests retried before the run checkpoints and stops
    importance_sampling: Literal["none", "token_truncate", "sequence_mask"] = "token_truncate"
    importance_sampling_cap: float = _f(3.0, gt=0)

    def __post_init__(self) -> None:
        if self.backend == "vllm" and self.mode == "external" and not self.url:
            raise ConfigError('generation.url is required with generation.mode = "external" (e.g. "http://host:8000")')
        for key, value in self.env.items():
            if not isinstance(value, str):
                raise ConfigError(f"generation.env.{key}: expected a string, got {got(value)}")


SECTIONS: dict[str, type] = {c.SECTION: c for c in (ModelConfig, LoraConfig, DataConfig, GrpoConfig, TrainConfig,
                                                    EvalConfig, GenerationConfig)}


@dataclass(frozen=True)
class Config:
    model: ModelConfig
    lora: LoraConfig
    data: DataConfig
    grpo: GrpoConfig
    train: TrainConfig
    eval: EvalConfig
    rewards: list[dict[str, Any]]  # checked for a string `use`; the reward SDK validates the rest
    generation: GenerationConfig = GenerationConfig()

    def __post_init__(self) -> None:
        if self.eval.max_completion_length is None:
            object.__setattr__(self, "eval", dataclasses.replace(
                self.eval, max_completion_length=self.grpo.max_completion_length))


# ---------------------------------------------------------------- raw dict -> Config

def _all_keys() -> list[str]:
    return [f"{s}.{f.name}" for s, cls in SECTIONS.items() for f in dataclasses.fields(cls)]


def _suggest(wrong: str, candidates: list[str]) -> str:
    # A key put in the wrong section is the likeliest slip, so an exact key name elsewhere wins.
    tail = wrong.rsplit(".", 1)[-1]
    moved = [c for c in candidates if c.rsplit(".", 1)[-1] == tail and c != wrong]
    close = moved or difflib.get_close_matches(wrong, candidates, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _build_section(cls: type, raw: Any) -> Any:
    name = cls.SECTION
    if not isinstance(raw, dict):
        raise ConfigError(f"{name}: expected a table ([{name}]), got {got(raw)}")
    hints, kwargs = typing.get_type_hints(cls), {}
    for key in raw:
        if key not in hints or key == "SECTION":
            raise ConfigError(f"unknown key '{name}.{key}'{_suggest(f'{name}.{key}', _all_keys())}")
    for f in dataclasses.fields(cls):
        if f.name in raw:
            kwargs[f.name] = check_field(f"{name}.{f.name}", raw[f.name], hints[f.name], dict(f.metadata))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"missing required key '{name}.{f.name}' (add it under [{name}])")
    return cls(**kwargs)


def _check_rewards(raw: Any, required: bool) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise ConfigError(f"rewards: expected an array of tables ([[rewards]]), got {got(raw)}")
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise ConfigError(f"rewards[{i}]: expected a table, got {got(entry)}")
        if "use" not in entry:
            raise ConfigError(f"rewards[{i}]: missing required key 'use' (a registered reward name)")
        if not isinstance(entry["use"], str) or not entry["use"]:
            raise ConfigError(f"rewards[{i}].use: expected a reward name, got {got(entry['use'])}")
    if required and not raw:
        raise ConfigError("no rewards configured: add at least one [[rewards]] table with use = \"...\"")
    return raw


def config_from_dict(raw: dict[str, Any], *, require_rewards: bool = True) -> Config:
    """Validate a parsed TOML document (no filesystem checks; load_config adds those)."""
    for key, value in raw.items():
        if key not in SECTIONS and key != "rewards":
            if isinstance(value, dict):
                raise ConfigError(f"unknown section '{key}'{_suggest(key, [*SECTIONS, 'rewards'])}")
            raise ConfigError(f"unknown key '{key}'{_suggest(key, _all_keys())}")
    sections = {name: _build_section(cls, raw.get(name, {})) for name, cls in SECTIONS.items()}
    return Config(**sections, rewards=_check_rewards(raw.get("rewards", []), require_rewards))


# ---------------------------------------------------------------- paths

def resolve_model_path(name: str) -> str:
    """What to hand to from_pretrained: grpo_core/assets/NAME for "builtin:NAME" (it may not exist
    yet), a user-expanded path for a local directory, the name unchanged for a hub id."""
    if name.startswith("builtin:"):
        return os.path.join(ASSETS_DIR, name[len("builtin:"):])
    if name.startswith(_LOCAL_PREFIXES):
        return os.path.expanduser(name)
    return name


def _check_paths(cfg: Config) -> None:
    name = cfg.model.name
    if name.startswith("builtin:"):
        # A plain name only, so that "builtin:../x" cannot point outside the assets folder.
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name[len("builtin:"):]):
            raise ConfigError(f"model.name: bad builtin model name {show(name)}")
    elif name.startswith(_LOCAL_PREFIXES) and not os.path.isdir(os.path.expanduser(name)):
        # Hub ids look like "org/name", so only explicit path prefixes are taken as local paths.
        raise ConfigError(f"model.name: no such directory: {name}")
    dataset = cfg.data.dataset
    if dataset.lower().endswith(DATA_SUFFIXES) and not os.path.isfile(os.path.expanduser(dataset)):
        raise ConfigError(f"data.dataset: no such file: {dataset}")


# ---------------------------------------------------------------- loading

def _parse_toml(text: str | bytes, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text if isinstance(text, str) else text.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{source}: invalid TOML: {' '.join(str(e).split())}") from None


def apply_override(raw: dict[str, Any], override: str) -> None:
    """Apply one ``section.key=value`` to a parsed TOML document, in place.
    Deeper paths reach into tables (``data.options.digits=3``) and lists (``rewards.0.weight=0.5``)."""
    path, eq, text = override.partition("=")
    parts = [p.strip() for p in path.split(".")]
    if not eq or len(parts) < 2 or not all(parts):
        raise ConfigError(f"--set {override}: expected section.key=value")
    node: Any = raw
    for depth, part in enumerate(parts[:-1]):
        where = ".".join(parts[:depth + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"--set {override}: {'.'.join(parts[:depth])} has {len(node)} entries "
                                  f"(index from 0), got {part!r}")
            node = node[int(part)]
        else:
            node = node.setdefault(part, {})
        if not isinstance(node, (dict, list)):
            raise ConfigError(f"--set {override}: {where} is not a table")
    if isinstance(node, list):
        raise ConfigError(f"--set {override}: cannot replace a whole entry of {'.'.join(parts[:-1])}")
    try:  # a TOML value (0.04, "bnpo", [1, 2], true), else the plain string: model.name=org/model
        node[parts[-1]] = tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        node[parts[-1]] = text.strip()


def load_config(path: str | None, overrides: typing.Iterable[str] = (), default_toml: str | None = None,
                *, require_rewards: bool = True) -> Config:
    """Read, override and validate a config. ``path=None`` uses ``default_toml`` (or DEFAULT_CONFIG_TOML)."""
    if path is None:
        raw = _parse_toml(DEFAULT_CONFIG_TOML if default_toml is None else default_toml, "default config")
    else:
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except OSError as e:
            raise ConfigError(f"cannot read config file {path}: {e.strerror or e}") from None
        raw = _parse_toml(data, path)
    for override in overrides:
        apply_override(raw, override)
    cfg = config_from_dict(raw, require_rewards=require_rewards)
    _check_paths(cfg)
    return cfg


def config_to_dict(cfg: Config) -> dict[str, Any]:
    """The fully resolved config as plain data; None (an absent data.system) is left out, as in TOML."""
    out = dataclasses.asdict(cfg)
    for section in SECTIONS:
        out[section] = {k: v for k, v in out[section].items() if v is not None}
    return out


def config_to_toml(cfg: Config) -> str:
    """TOML that load_config reads back to an equal Config."""
    return "# resolved config: every default filled in\n" + tomli_w.dumps(config_to_dict(cfg))
