"""Loading the policy: a Hugging Face causal LM (full precision or 4-bit NF4) with LoRA adapters on top.

The frozen base weights double as the KL reference (``reference_mode`` switches the adapter off), so a run
never holds a second copy of the model. Only the LoRA weights train, and only they are saved.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import re
from collections.abc import Iterator

import torch
from grpo_rewards.errors import ConfigError, first_line

from . import cpu_gemm

_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}

# "org/name" or "name": what a Hugging Face hub id looks like. Anything else can only be a local path.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def pick_device() -> torch.device:
    """The device a run uses: the current CUDA device when there is one, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """``"auto"`` is bfloat16 on a CUDA device that supports it, float32 everywhere else."""
    if dtype == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    if dtype not in _DTYPES:
        raise ConfigError(f"model.dtype: expected auto, float32, bfloat16 or float16, got {dtype!r}")
    return _DTYPES[dtype]


def _check_source(name: str) -> None:
    """Fail early, in one line, on a model name that can only be a local path and is not there."""
    if os.path.isdir(name):
        return
    if not _HUB_ID.match(name):  # "/x", "./x", "~/x", "a/b/c": a path, and it is not there
        raise ConfigError(f"model.name: no such directory: {name}")


def _hub_error(name: str, err: Exception) -> ConfigError:
    first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return ConfigError(
        f"model.name: cannot load {name!r}: not a local directory, and not in the Hugging Face cache "
        f"(or not a causal LM): {first_line}"
    )


def load_tokenizer(name: str):
    """The tokenizer of ``name``, ready for batched generation: a pad token, and padding on the left."""
    from transformers import AutoTokenizer

    name = os.path.expanduser(name)
    _check_source(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError) as err:
        raise _hub_error(name, err) from None
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ConfigError(f"model.name: the tokenizer of {name!r} has neither a pad token nor an eos token")
        # Padding positions are masked out everywhere, so reusing eos is safe and avoids resizing the embeddings.
        tokenizer.pad_token = tokenizer.eos_token
    # Prompts are left-padded so that every row's last prompt token sits in the same column for decoding.
    tokenizer.padding_side = "left"
    return tokenizer


def load_policy(
    name: str,
    *,
    quantization: str = "none",
    dtype: str = "auto",
    lora_r: int = 16,
    lora_alpha: int = 32,
    lora_dropout: float = 0.0,
    target_modules: str | list[str] = "all-linear",
    gradient_checkpointing: bool | str = "auto",
    device: torch.device | str | None = None,
    adapter_path: str | None = None,
    trainable: bool = True,
):
    """Load ``name`` (hub id or local directory) as a LoRA-wrapped policy and its tokenizer.

    Returns ``(peft_model, tokenizer)``. Only the LoRA weights have ``requires_grad`` (none at all when
    ``trainable`` is false). With ``adapter_path`` the saved adapter is loaded instead of a fresh one.
    """
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    device = torch.device(device) if device is not None else pick_device()
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    compute_dtype = resolve_dtype(dtype, device)
    if quantization not in ("none", "nf4"):
        raise ConfigError(f"model.quantization: expected 'none' or 'nf4', got {quantization!r}")
    if gradient_checkpointing not in (True, False, "auto"):
        raise ConfigError(f"model.gradient_checkpointing: expected true, false or 'auto', got {gradient_checkpointing!r}")
    if adapter_path is not None:
        check_adapter(adapter_path)  # a damaged local adapter must not send peft looking for it on the hub

    name = os.path.expanduser(name)
    tokenizer = load_tokenizer(name)

    kwargs = {"dtype": compute_dtype, "device_map": {"": str(device)}}
    if int(importlib.metadata.version("transformers").split(".")[0]) >= 5:  # 4.x loads none unless asked
        # transformers 5 swaps layers for kernels fetched from the Hub unless told not to: code downloaded at
        # run time, numerics the decode step and the TRL parity tests do not know, and a re-kernelize at every
        # train()/eval() switch (two a step; the pair took 5.1 ms on the benchmark's policy, 1.7 ms without).
        kwargs["use_kernels"] = False
    if quantization == "nf4":
        # bitsandbytes 0.50 runs 4-bit layers on the CPU as well (tested), so one path serves tests and GPUs.
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute_dtype,
        )
    try:
        model = AutoModelForCausalLM.from_pretrained(name, **kwargs)
    except (OSError, ValueError) as err:
        raise _hub_error(name, err) from None

    if quantization == "nf4":
        _keep_4bit_weights_trainable(model)

    # The base never trains. This is the part of peft's prepare_model_for_kbit_training we want; we skip its
    # upcast of every non-4-bit weight to float32, which would double the memory of embeddings and lm_head
    # (the largest unquantized tensors) for frozen weights that gain nothing from it.
    for param in model.parameters():
        param.requires_grad_(False)
    if model.generation_config is not None and model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id

    if gradient_checkpointing == "auto":
        # On a GPU activation memory is what limits batch and sequence length, so recomputing is worth ~30%
        # more compute. On the CPU we only run tiny models where activations are small and time is what's short.
        gradient_checkpointing = device.type == "cuda"
    if gradient_checkpointing and trainable:
        _enable_checkpointing(model)

    if adapter_path is not None:
        try:
            policy = PeftModel.from_pretrained(model, adapter_path, is_trainable=trainable)
        except (RuntimeError, ValueError, KeyError) as err:  # shapes or modules that do not fit this model
            raise ConfigError(f"adapter {adapter_path} does not fit model {name}: {first_line(err)}") from None
    else:
        lora = LoraConfig(
            r=lora_r,
            lora_alpha=lora_alpha,
            lora_dropout=lora_dropout,
            target_modules=target_modules,
            bias="none",
            task_type="CAUSAL_LM",
        )
        policy = get_peft_model(model, lora)
        if not trainable:
            for param in policy.parameters():
                param.requires_grad_(False)
    from .lora_forward import use_merged_lora

    cpu_gemm.use_onednn(policy)  # float32 linear maps on the CPU by oneDNN, not MKL (cpu_gemm.py says why)
    use_merged_lora(policy, MERGE_FOR_SAMPLING_MAX_BYTES)  # full-precision LoRA as one matmul per layer
    if not trainable:
        policy.eval()
    return policy, tokenizer


def load_from_config(cfg, *, adapter_path: str | None = None, trainable: bool = True):
    """``load_policy`` with a run config's [model] and [lora] settings; ``(peft_model, tokenizer)``."""
    from .config import resolve_model_path

    m, lora = cfg.model, cfg.lora
    return load_policy(resolve_model_path(m.name), quantization=m.quantization, dtype=m.dtype, lora_r=lora.r,
                       lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=lora.target_modules,
                       gradient_checkpointing=m.gradient_checkpointing if trainable else False,
                       adapter_path=adapter_path, trainable=trainable)


def _keep_4bit_weights_trainable(model) -> None:
    """Stop bitsandbytes from repacking 4-bit weights for CPU inference.

    On CPUs with AVX512-BF16, a Linear4bit called in eval mode without grad (as in every rollout) repacks its
    weight in place into an inference-only layout; every later call, training ones included, then takes a
    path without autograd: a layer with a bias fails in backward, one without silently passes no gradient
    to the layers below it. GRPO alternates sampling and training, so keep the trainable layout always.
    """
    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False


def _enable_checkpointing(model) -> None:
    # Non-reentrant checkpointing lets gradients reach the LoRA weights even though the frozen embeddings
    # produce outputs that do not require grad; transformers also hooks the input embeddings to require grad.
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x name
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    model.enable_input_require_grads()
    # A KV cache is useless (and warned about) in a checkpointed training forward; sampling asks for it.
    model.config.use_cache = False


@contextlib.contextmanager
def reference_mode(model) -> Iterator[None]:
    """Run ``model`` as the frozen reference: LoRA adapter switched off, no autograd graph.

    A model without adapters (not a PeftModel) already is its own reference.
    """
    with torch.no_grad(), adapters_off(model):
        yield


@contextlib.contextmanager
def adapters_off(model) -> Iterator[None]:
    """``model`` with its LoRA adapters switched off, as peft's ``disable_adapter`` switches them, without
    what made that cost 5.8 ms a call on the benchmark's model (0.7 ms this way), twice a step: a survey
    of every layer's status and requires_grad turned off and on for every adapter weight (a layer that is
    off never reads its adapter, so no gradient could reach it either way). Each layer gets back exactly
    the state it had. Models with anything but LoRA layers (prompt learning, modules_to_save) go through
    peft's own switch."""
    disable = getattr(model, "disable_adapter", None)
    layers = _lora_layers_only(model) if disable is not None else None
    if layers is None:
        with disable() if disable is not None else contextlib.nullcontext():
            yield
        return
    before = [layer._disable_adapters for layer in layers]
    was_disabled = getattr(model, "_adapters_disabled", False)
    try:
        for layer in layers:
            layer._disable_adapters = True
        model._adapters_disabled = True
        yield
    finally:
        for layer, state in zip(layers, before):
            layer._disable_adapters = state
        model._adapters_disabled = was_disabled


def _lora_layers_only(model) -> list | None:
    """Every tuner layer of a peft LoRA model when all of them are LoRA layers, else None."""
    try:
        from peft.tuners.lora import LoraLayer
        from peft.tuners.tuners_utils import BaseTunerLayer
        from peft.utils.other import AuxiliaryTrainingWrapper
    except ImportError:
        return None
    config = getattr(model, "active_peft_config", None)
    if config is None or getattr(config, "is_prompt_learning", True) or getattr(config, "is_adaption_prompt", False):
        return None
    layers = []
    for module in model.modules():
        if isinstance(module, AuxiliaryTrainingWrapper) or \
                (isinstance(module, BaseTunerLayer) and not isinstance(module, LoraLayer)):
            return None
        if isinstance(module, LoraLayer):
            layers.append(module)
    return layers or None


# Merged copies are made only up to this size: merging pays where decoding is dominated by per-layer overhead
# (small models, the CPU), and costs a second copy of every adapted weight while sampling.
MERGE_FOR_SAMPLING_MAX_BYTES = 1 << 30


def _mergeable_lora_layers(model, max_bytes: int) -> list | None:
    """The LoRA layers of ``model`` when every one of them can sample from a merged float32 copy, else None."""
    try:
        from peft.tuners.lora import Linear as LoraLinear
        from peft.tuners.lora import LoraLayer

        from .lora_forward import MergedLoraLinear
    except ImportError:
        return None
    layers = [m for m in model.modules() if isinstance(m, LoraLayer)]
    total = 0
    for layer in layers:
        base = layer.get_base_layer()
        # Exactly peft's plain Linear over a float32 nn.Linear: not 4-bit (its weight is packed), not bf16 (the
        # delta would round away against the weight), not DoRA or LoRA biases (not a plain B @ A).
        if type(layer) not in (LoraLinear, MergedLoraLinear) or type(base) not in cpu_gemm.PLAIN_LINEARS \
                or base.weight.dtype != torch.float32:
            return None
        if any(layer.use_dora.get(a) or getattr(layer, "lora_bias", {}).get(a) for a in layer.active_adapters):
            return None
        total += base.weight.numel() * base.weight.element_size()
    return layers if layers and total <= max_bytes else None


@contextlib.contextmanager
def merged_for_sampling(model, max_bytes: int = MERGE_FOR_SAMPLING_MAX_BYTES) -> Iterator[None]:
    """Run ``model`` with each LoRA layer folded into a copy of its base weight, W + scale * B @ A.

    Decoding calls every layer once per token; a LoRA layer is three matmuls and a handful of small ops
    instead of one, which on a small model is most of a decode step. The copies are new tensors: the base
    weights (the KL reference) are untouched, and restored bit for bit on exit; a layer of lora_forward.py
    lends the merged copy its training passes keep, so a step merges once. Nothing changes for a model
    that cannot be merged exactly (4-bit or bf16 bases, DoRA) or whose adapted weights exceed ``max_bytes``.
    """
    layers = _mergeable_lora_layers(model, max_bytes)
    if layers is None or not hasattr(model, "disable_adapter"):
        yield
        return
    from .lora_forward import MergedLoraLinear

    originals = []
    try:
        with torch.no_grad():
            for layer in layers:
                base = layer.get_base_layer()
                active = [a for a in layer.active_adapters if a in layer.lora_A]
                if isinstance(layer, MergedLoraLinear) and len(active) == 1 \
                        and layer.lora_A[active[0]].weight.dtype == base.weight.dtype:
                    merged = layer.merged_weight(active[0])  # the training passes' copy: one merge a step
                else:
                    merged = base.weight + sum(layer.get_delta_weight(a) for a in active)
                originals.append((base, base.weight))
                base.weight = torch.nn.Parameter(merged, requires_grad=False)
        with adapters_off(model):
            yield
    finally:
        for base, weight in originals:
            base.weight = weight


ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")


def check_adapter(path: str, lora_r: int | None = None) -> None:
    """Raise ConfigError unless ``path`` holds a complete, readable LoRA adapter: its config parses, its
    weights file is there and every tensor in it reads back, with the rank the config (and ``lora_r``,
    when given) says. Loading then never falls through to a hub lookup of a local path."""
    import json

    def bad(reason):
        return ConfigError(f"adapter {path}: {reason}")

    config_file = os.path.join(path, "adapter_config.json")
    if not os.path.isdir(path):
        raise bad("no such directory")
    if not os.path.isfile(config_file):
        raise bad("adapter_config.json is missing")
    try:
        with open(config_file, encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise bad(f"adapter_config.json cannot be read ({type(err).__name__}: {err})") from None
    if not isinstance(config, dict) or not isinstance(config.get("r"), int):
        raise bad("adapter_config.json is not a LoRA adapter config (no integer 'r')")
    rank = config["r"]
    if lora_r is not None and rank != lora_r:
        raise bad(f"its rank is {rank}, the run's lora.r is {lora_r}")
    weights = next((os.path.join(path, w) for w in ADAPTER_WEIGHTS if os.path.isfile(os.path.join(path, w))), None)
    if weights is None:
        raise bad(f"{ADAPTER_WEIGHTS[0]} is missing")
    if weights.endswith(".bin"):
        return  # the old pickle format: peft reads it, we do not second-guess it
    from safetensors import safe_open

    patterned = bool(config.get("rank_pattern"))  # per-module ranks: no single rank to check against
    try:
        with safe_open(weights, framework="pt") as f:
            keys = list(f.keys())
            for key in keys:
                shape = tuple(f.get_tensor(key).shape)  # reads every byte: a cut file fails here
                if not patterned and (("lora_A" in key and shape[:1] != (rank,))
                                      or ("lora_B" in key and shape[1:2] != (rank,))):
                    raise bad(f"tensor {key} has shape {shape}, not rank {rank}")
    except ConfigError:
        raise
    except Exception as err:  # SafetensorError and friends: a truncated or garbled file
        raise bad(f"{os.path.basename(weights)} cannot be read ({first_line(err)})") from None
    if not keys:
        raise bad(f"{os.path.basename(weights)} holds no tensors")


def save_adapter(model, tokenizer, path: str | os.PathLike) -> None:
    """Write the LoRA adapter in peft's format, plus the tokenizer so the directory describes itself."""
    os.makedirs(path, exist_ok=True)
    # The vocabulary is never resized, so the base embeddings never change; False also stops peft from
    # probing the hub to find that out.
    model.save_pretrained(str(path), save_embedding_layers=False)
    if tokenizer is not None:
        tokenizer.save_pretrained(str(path))


def trainable_parameter_count(model) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts, 4-bit weights counted as the weights they stand for."""
    if hasattr(model, "get_nb_trainable_parameters"):  # peft's count knows that a 4-bit byte holds two weights
        return model.get_nb_trainable_parameters()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())
