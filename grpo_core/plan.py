"""`grpo plan`: predict the peak GPU memory of one training step from the model's config.json alone.

Nothing is loaded but the config (`transformers.AutoConfig`), so a 7B plan takes a second on any machine.
The prediction mirrors what step.py does on a CUDA GPU:

  peak = always resident (base weights, LoRA weights + AdamW states, CUDA context)
       + max(generation working set, training working set)   (they never overlap: rollout tensors die first)
       + a fragmentation margin on that working set.

Checked on the CPU by tests/test_plan.py: parameter counts and NF4 + double-quant storage (exact), peft's LoRA
count and fp32 adapter dtype, the DynamicCache size (exact), the tensors autograd keeps per decoder layer
(saved_tensors_hooks, within 1%), and the whole training working set against the peak of live tensors in a real
log-prob + backward pass (within 2%, checkpointing on and off). The generation terms were compared the same
way once, by hand (they came out 6-10% high). NOT measured, no GPU being at hand: the CUDA context (0.75 GiB),
the fragmentation margin (10%), the 8-bit optimizer's state size, and whether CUDA kernels (memory-efficient
SDPA, bitsandbytes' dequantize-then-matmul for many rows, fused dropout) keep what their CPU twins keep.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from dataclasses import dataclass, field

from grpo_rewards import streams
from grpo_rewards.errors import ConfigError

from .config import Config, apply_override, config_from_dict, config_to_dict, load_config, resolve_model_path
from .distributed import check_world

GiB = 1 << 30
DEFAULT_PROMPT_LENGTH = 256  # padded prompt width assumed when not given (--prompt-length)
CUDA_CONTEXT_BYTES = int(0.75 * GiB)  # CUDA context + cuBLAS workspace + kernel images; not measured
FRAGMENTATION = 0.10  # caching-allocator slack on the working set (reserved vs allocated); not measured
LOGPROB_CHUNK_EXTRA = 4  # [chunk, vocab] fp32 buffers alive at a chunk backward peak: recomputed logits, log-softmax, grads (measured, CPU)
NF4_BLOCK, NF4_BLOCK2 = 64, 256  # bitsandbytes blocksizes: weights, then double-quantized absmax
SUPPORTED = ("llama", "mistral", "qwen2", "qwen3")
PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
_DTYPE_BYTES = {"auto": 2, "bfloat16": 2, "float16": 2, "float32": 4}  # auto = bf16 on a bf16-capable GPU
VLLM_DEFAULT_UTILIZATION = 0.9  # vLLM's --gpu-memory-utilization when none is given
ASSUMED_GPU_BYTES = 24 * GiB  # the GPU a server's share is a fraction of, when no --gpu-memory is given


@dataclass(frozen=True)
class Arch:
    """The shape of a Llama-style decoder, read from its config."""
    model_type: str
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    tied: bool
    qkv_bias: bool = False
    o_bias: bool = False
    mlp_bias: bool = False
    qk_norm: bool = False  # Qwen3 normalizes q and k per head

    @classmethod
    def from_config(cls, c) -> Arch:
        kind = getattr(c, "model_type", None)
        if kind not in SUPPORTED:
            raise ConfigError(f"model.name: grpo plan knows {', '.join(SUPPORTED)} decoders, not model_type {kind!r}")
        heads = c.num_attention_heads
        attn_bias = bool(getattr(c, "attention_bias", False))
        return cls(kind, c.hidden_size, c.intermediate_size, c.num_hidden_layers, heads,
                   getattr(c, "num_key_value_heads", None) or heads,
                   getattr(c, "head_dim", None) or c.hidden_size // heads, c.vocab_size,
                   bool(getattr(c, "tie_word_embeddings", False)),
                   qkv_bias=kind == "qwen2" or (kind in ("llama", "qwen3") and attn_bias),
                   o_bias=kind in ("llama", "qwen3") and attn_bias,
                   mlp_bias=kind == "llama" and bool(getattr(c, "mlp_bias", False)), qk_norm=kind == "qwen3")

    def linears(self) -> dict[str, tuple[int, int, bool]]:
        """(in, out, has_bias) of each projection of one decoder layer."""
        H, q, kv = self.hidden, self.heads * self.head_dim, self.kv_heads * self.head_dim
        return {"q_proj": (H, q, self.qkv_bias), "k_proj": (H, kv, self.qkv_bias), "v_proj": (H, kv, self.qkv_bias),
                "o_proj": (q, H, self.o_bias), "gate_proj": (H, self.intermediate, self.mlp_bias),
                "up_proj": (H, self.intermediate, self.mlp_bias), "down_proj": (self.intermediate, H, self.mlp_bias)}

    def norm_params(self) -> int:
        """RMSNorm weights: two per layer, q/k norms (Qwen3), the final norm."""
        return self.layers * (2 * self.hidden + (2 * self.head_dim if self.qk_norm else 0)) + self.hidden

    def embedding_params(self) -> int:
        return self.vocab * self.hidden * (1 if self.tied else 2)  # a tied lm_head is the embedding matrix

    def param_count(self) -> int:
        per_layer = sum(i * o + (o if b else 0) for i, o, b in self.linears().values())
        return self.layers * per_layer + self.norm_params() + self.embedding_params()


def load_arch(name: str, trust_remote_code: bool = False) -> Arch:
    """The Arch of a hub id (its config cached) or a local directory holding a config.json."""
    from transformers import AutoConfig

    path = resolve_model_path(name)
    if path != name or os.path.isabs(name):  # a local directory (or builtin:): say plainly what is missing
        if not os.path.isfile(os.path.join(path, "config.json")):
            raise ConfigError(f"model.name: no config.json in {path}")
    try:
        config = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError) as err:
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ConfigError(f"model.name: cannot read the config of {name!r} (not a local directory with a "
                          f"config.json, nor cached from the hub): {reason}") from None
    return Arch.from_config(getattr(config, "text_config", None) or config)


def nf4_linear_bytes(n: int) -> int:
    """Storage bitsandbytes gives one NF4 weight of n elements with double quantization."""
    blocks = math.ceil(n / NF4_BLOCK)
    return (math.ceil(n / 2)  # two 4-bit codes per byte
            + blocks  # one absmax per 64 weights, itself quantized to 8 bits
            + 4 * math.ceil(blocks / NF4_BLOCK2)  # fp32 absmax of each 256 absmax blocks
            + 4 + 16 * 4 + 256 * 4)  # fp32 absmax offset; each weight keeps its own NF4 and 8-bit code tables


def base_weight_bytes(arch: Arch, quantization: str, dtype_bytes: int) -> int:
    """Frozen base: NF4 projections, everything else (biases, norms, embeddings, lm_head) in the compute dtype."""
    linears = arch.linears().values()
    rest = arch.norm_params() + arch.embedding_params() + arch.layers * sum(o for _, o, b in linears if b)
    if quantization == "nf4":
        return arch.layers * sum(nf4_linear_bytes(i * o) for i, o, _ in linears) + rest * dtype_bytes
    return (arch.layers * sum(i * o for i, o, _ in linears) + rest) * dtype_bytes


def lora_targets(target_modules: str | list[str]) -> list[str]:
    if target_modules == "all-linear":  # peft: every linear but the output head
        return list(PROJECTIONS)
    names = [target_modules] if isinstance(target_modules, str) else target_modules
    wrong = [n for n in names if n.rsplit(".", 1)[-1] not in PROJECTIONS]
    if wrong:
        raise ConfigError(f"lora.target_modules: grpo plan knows all-linear or {', '.join(PROJECTIONS)}; "
                          f"got {wrong[0]!r}")
    return [p for p in PROJECTIONS if p in {n.rsplit(".", 1)[-1] for n in names}]


def lora_param_count(arch: Arch, r: int, targets: list[str]) -> int:
    shapes = arch.linears()
    return arch.layers * sum(r * (shapes[t][0] + shapes[t][1]) for t in targets)  # A [r, in] + B [out, r]


def _merged_lora_terms(arch: Arch, targets: list[str], quantization: str, db: int, dropout: float) -> list:
    """A float32 base keeps W + scale * B @ A of every adapted projection (lora_forward.py), within a budget."""
    from .model import MERGE_FOR_SAMPLING_MAX_BYTES

    adapted = arch.layers * sum(i * o for name, (i, o, _) in arch.linears().items() if name in targets) * 4
    if quantization == "nf4" or db != 4 or dropout > 0 or adapted > MERGE_FOR_SAMPLING_MAX_BYTES:
        return []
    return [Term("merged LoRA weights", "resident", adapted, "fp32 W + scale * B @ A per adapted projection")]


def kv_cache_bytes(arch: Arch, rows: int, tokens: int, dtype_bytes: int) -> int:
    """Keys and values of every layer: 2 x layers x kv_heads x head_dim per token and row."""
    return 2 * arch.layers * arch.kv_heads * arch.head_dim * dtype_bytes * rows * tokens


def layer_saved_bytes_per_token(arch: Arch, targets: list[str], r: int, dropout: float, db: int, seq: int) -> int:
    """Bytes autograd keeps per token for one decoder layer (no checkpointing), as saved_tensors_hooks see it."""
    H, I, qd = arch.hidden, arch.intermediate, arch.heads * arch.head_dim
    total = 2 * (4 * H + 4)  # each RMSNorm keeps its fp32 input copy and the fp32 rsqrt
    # SDPA keeps q, k and v (k, v repeated to all heads: transformers repeats them when a padding mask is
    # given), its output, the fp32 logsumexp, and its own compute-dtype copy of the boolean mask ([L] per token)
    total += 4 * qd * db + 4 * arch.heads + seq * db
    if arch.qk_norm:  # per-head RMSNorm on q and k: fp32 copies + rsqrt
        total += 4 * (qd + arch.kv_heads * arch.head_dim) + 4 * (arch.heads + arch.kv_heads)
    total += 3 * I * db  # SiLU keeps gate's output, the product keeps act(gate) and up's output
    shapes = arch.linears()
    for group in [("q_proj", "k_proj", "v_proj"), ("o_proj",), ("gate_proj", "up_proj"), ("down_proj",)]:
        hit = [t for t in group if t in targets]
        width = shapes[group[0]][0]
        if dropout > 0:  # each adapter keeps its dropout output (fp32) and CUDA dropout's bool mask
            total += len(hit) * 5 * width
        elif hit and db != 4:  # peft casts the input to the fp32 adapter dtype once per adapter; lora_A keeps it
            total += len(hit) * 4 * width
        elif hit and group != ("o_proj",):  # fp32 model: no cast, adapters share their input (o_proj's is
            total += 4 * width  # a view of the SDPA output, kept already)
    return total + len(targets) * 4 * r  # lora_B keeps lora_A's fp32 output [r]


@dataclass(frozen=True)
class Term:
    name: str
    phase: str  # "resident" | "generation" | "training" | "margin"
    bytes: int
    note: str  # where it comes from
    moment: str = ""  # terms of different moments of one phase never coexist: the phase takes the largest


def phase_bytes(terms: list[Term], phase: str) -> int:
    """Terms of a phase that live throughout it, plus its largest moment."""
    mine = [t for t in terms if t.phase == phase]
    moments = {t.moment for t in mine if t.moment}
    return sum(t.bytes for t in mine if not t.moment) + max(
        (sum(t.bytes for t in mine if t.moment == m) for m in moments), default=0)


@dataclass
class Plan:
    model: str
    arch: Arch
    assumptions: dict
    terms: list[Term]
    peak_phase: str  # "generation" or "training"
    total_bytes: int
    alternatives: list[tuple[tuple[str, ...], int]] = field(default_factory=list)  # (--set overrides, total bytes)

    def phase_bytes(self, phase: str) -> int:
        return phase_bytes(self.terms, phase)

    def to_dict(self) -> dict:
        return {"model": self.model, "arch": dataclasses.asdict(self.arch), "assumptions": self.assumptions,
                "terms": [dataclasses.asdict(t) for t in self.terms], "peak_phase": self.peak_phase,
                "total_bytes": self.total_bytes,
                "alternatives": [{"set": list(s), "total_bytes": b} for s, b in self.alternatives]}


def plan_memory(cfg: Config, *, prompt_length: int | None = None, arch: Arch | None = None,
                alternatives: bool = True, gpu_bytes: int | None = None, world_size: int = 1) -> Plan:
    """Predict the peak GPU memory of one `grpo train` step of ``cfg`` on a CUDA GPU (``prompt_length``:
    padded prompt tokens, default DEFAULT_PROMPT_LENGTH). ``arch`` skips reading the model's config.
    The old-policy and reference passes (num_iterations > 1, beta > 0) run the same micro-batches without
    autograd, so they always need less than the training pass and never set the peak. With a managed vLLM
    server (generation.backend = "vllm") the trainer does not sample: the server's share of the GPU
    (generation.gpu_memory_utilization of ``gpu_bytes``) replaces the generation terms; asleep during
    training (generation.sleep), it keeps only its CUDA context (assumed, not measured). With ``world_size``
    ranks (torchrun) the plan is per GPU: each holds the whole model and its 1/world_size of the prompts."""
    arch = arch or load_arch(cfg.model.name, cfg.model.trust_remote_code)
    P = DEFAULT_PROMPT_LENGTH if prompt_length is None else prompt_length
    if P < 1:
        raise ConfigError(f"--prompt-length must be at least 1 (got {P})")
    g, t, lora = cfg.grpo, cfg.train, cfg.lora
    db = _DTYPE_BYTES[cfg.model.dtype]
    checkpointing = cfg.model.gradient_checkpointing in (True, "auto")  # auto: on, on CUDA (model.py)
    nf4 = cfg.model.quantization == "nf4"
    targets = lora_targets(lora.target_modules)
    H, V, nl = arch.hidden, arch.vocab, arch.layers
    T, L = g.max_completion_length, P + g.max_completion_length
    check_world(g, world_size)
    B = g.prompts_per_step // world_size  # prompts sampled and trained per step on each GPU
    N = B * g.num_generations
    M = math.ceil(N / t.gradient_accumulation_steps)  # rows per micro-batch (step.py's _micro_batches)
    n_lora = lora_param_count(arch, lora.r, targets)
    # bitsandbytes dequantizes a whole NF4 weight to the compute dtype for each matmul of many tokens
    dequant = max(i * o for i, o, _ in arch.linears().values()) * db if nf4 else 0
    per_layer = layer_saved_bytes_per_token(arch, targets, lora.r, lora.dropout, db, L)
    chunk = min(g.logprob_chunk_rows(V), M * T)
    adam = (2 + 8 / 256) if t.optimizer == "paged_adamw_8bit" else 8  # 8-bit: 2 uint8 states + fp32 absmax/256
    # one layer's no-grad forward at its peak (gate_proj's adapter), per token: embedding output, residual,
    # layer input, normed input (4H) and SiLU output + peft's clone of the base result (2I) in the compute
    # dtype, plus peft's fp32 copy of the input (H) and the adapter's fp32 output and scaled output (2I)
    forward_per_token = db * (4 * H + 2 * arch.intermediate) + 4 * (H + 2 * arch.intermediate)
    server = cfg.generation.backend == "vllm"
    terms = [
        Term("base weights", "resident", base_weight_bytes(arch, cfg.model.quantization, db),
             ("NF4 projections (4 bits + 8-bit absmax/64 + fp32 absmax/256 blocks); " if nf4 else "all ")
             + f"embeddings, lm_head, norms, biases in {db}-byte compute dtype"),
        Term("LoRA weights", "resident", 4 * n_lora, f"{n_lora:,} params, fp32 (peft upcasts adapters of a bf16 base)"),
        Term("optimizer states", "resident", int(adam * n_lora), f"{t.optimizer}: {adam:g} bytes per LoRA param"),
        Term("CUDA context", "resident", CUDA_CONTEXT_BYTES, "context, cuBLAS workspace, kernels (assumed)"),
        *_merged_lora_terms(arch, targets, cfg.model.quantization, db, lora.dropout),
        *(_server_terms(cfg, gpu_bytes) if server else []),
    ]
    if not server:  # a vLLM server samples in its own share of the GPU (above), not in the trainer's
        terms += [
            Term("KV cache", "generation", kv_cache_bytes(arch, N, L, db),
                 f"{N} rows x {L} tokens, 2 x layers x kv_heads x head_dim", "decode"),
            Term("prefill activations", "generation",
                 B * P * forward_per_token + B * P * P * (1 + db) + kv_cache_bytes(arch, B, P, db),
                 f"{B} prompt(s) x {P} tokens: one layer's activations, mask, the prompts' KV cache", "prefill"),
            Term("KV cache copy", "generation",
                 max(kv_cache_bytes(arch, N, L, db) // (2 * nl), kv_cache_bytes(arch, N, P, db)),
                 "the prompts' cache beside the decode buffers (decode.py), or one layer's keys twice", "decode"),
            Term("decode logits", "generation", N * V * (db + 8 + (29 if g.top_p < 1 else 0)),
                 f"[{N}, vocab]: head output, tempered fp32, probabilities" + (", top-p sort" if g.top_p < 1 else ""),
                 "decode"),
        ]
    terms.append(Term("LoRA gradients", "training", 4 * n_lora, "fp32, from the first backward to zero_grad"))
    if world_size > 1:  # distributed.sum_gradients: one flat fp32 copy, after the backward passes
        terms.append(Term("gradient all-reduce buffer", "training", 4 * n_lora, "flat fp32 copy of the LoRA "
                          "gradients; NCCL's own buffers not counted (not measured)", "gradient sync"))
    if checkpointing:
        terms += [Term("checkpointed layer inputs", "training", nl * M * L * H * db,
                       f"{nl} layers x {M} rows x {L} tokens x hidden"),
                  Term("recomputed layer", "training", M * L * per_layer,
                       f"one layer's saved activations, {per_layer:,} B/token", "layer backward")]
    else:
        terms.append(Term("saved activations", "training", nl * M * L * per_layer,
                          f"{nl} layers x {M * L} tokens x {per_layer:,} B"))
    terms += [
        Term("final hidden states", "training", M * L * (4 + db) * H + M * T * H * db,
             "final norm's fp32 copy, last hidden state, the completion slice"),
        Term("attention mask", "training", M * L * L, f"boolean [{M}, 1, {L}, {L}] shared by the layers"),
        Term("log-prob chunk backward", "training", LOGPROB_CHUNK_EXTRA * 4 * chunk * V,
             f"{LOGPROB_CHUNK_EXTRA} x [{chunk}, vocab] fp32 gradients", "log-prob backward"),
        Term("layer backward grads", "training", M * L * (4 + 2 * db) * arch.intermediate + 2 * M * L * H * db,
             "one fp32 + two compute-dtype MLP-wide grads, residual grad in and out", "layer backward"),
    ]
    if nf4:
        terms += [Term("NF4 dequantized weight", phase, dequant, "largest projection in the compute dtype", moment)
                  for phase, moment in (("generation", "prefill"), ("training", "layer backward"))
                  if not (server and phase == "generation")]
    work = {p: phase_bytes(terms, p) for p in ("generation", "training")}
    peak_phase = max(work, key=work.get)
    # the margin is the trainer's caching allocator's: a vLLM server's share is allocated by vLLM, up front
    own = phase_bytes([x for x in terms if not x.name.startswith("vLLM server")], peak_phase)
    terms.append(Term("fragmentation margin", "margin", int(FRAGMENTATION * own),
                      f"{FRAGMENTATION:.0%} of the {peak_phase} working set (assumed)"))
    total = sum(x.bytes for x in terms if x.phase in ("resident", "margin")) + work[peak_phase]
    assumptions = {"prompt_length": P, "completion_length": T, "rows_per_step": N, "rows_per_micro_batch": M,
                   "compute_dtype_bytes": db, "gradient_checkpointing": checkpointing,
                   "logprob_chunk_rows": g.logprob_chunk_rows(V),
                   "quantization": cfg.model.quantization, "device": "CUDA GPU", "world_size": world_size,
                   "params": arch.param_count(), "lora_params": n_lora}
    plan = Plan(cfg.model.name, arch, assumptions, terms, peak_phase, total)
    if alternatives:
        totals = [(remedy, plan_memory(changed, prompt_length=P, arch=arch, alternatives=False,
                                       gpu_bytes=gpu_bytes, world_size=world_size).total_bytes)
                  for remedy, changed in _remedies(cfg, plan)]
        plan.alternatives = [(remedy, b) for remedy, b in totals if b < total]  # only what lowers the peak
    return plan


def _server_terms(cfg: Config, gpu_bytes: int | None) -> list[Term]:
    """The vLLM server's share of the GPU, when grpo starts it on the trainer's GPU (managed mode)."""
    gen = cfg.generation
    if gen.mode != "managed":
        return []  # an external server's memory is wherever that server runs
    share = gen.gpu_memory_utilization or VLLM_DEFAULT_UTILIZATION
    total = gpu_bytes or ASSUMED_GPU_BYTES
    # vLLM fills its share: its own copy of the weights (NF4: --quantization bitsandbytes), then KV cache
    note = (f"generation.gpu_memory_utilization {share:g}" if gen.gpu_memory_utilization else
            f"vLLM's default {share:g}: set generation.gpu_memory_utilization") + \
           f" x {total / GiB:.0f} GiB" + ("" if gpu_bytes else " (assumed GPU; give --gpu-memory)")
    if gen.sleep is False:
        return [Term("vLLM server", "resident", int(share * total), note)]
    return [Term("vLLM server (awake)", "generation", int(share * total), note),
            Term("vLLM server (asleep)", "resident", CUDA_CONTEXT_BYTES, "its CUDA context stays (assumed)")]


def _remedies(cfg: Config, plan: Plan) -> list[tuple[str, ...]]:
    """Overrides that each lower the peak, most specific to the peak phase first. A remedy is every
    ``--set`` it needs (halving max_completion_length also lowers a min_completion_length above it), and
    only remedies that give a config `grpo train` accepts, and that change something, are kept."""
    g, t, m = cfg.grpo, cfg.train, cfg.model
    out: list[tuple[str, ...]] = []
    if plan.peak_phase == "training":
        if plan.assumptions["rows_per_micro_batch"] > 1:
            n = plan.assumptions["rows_per_step"]
            steps = sorted({min(n, t.gradient_accumulation_steps * 2 ** i) for i in range(1, 8)})
            out += [(f"train.gradient_accumulation_steps={k}",) for k in steps]  # down to one row per micro-batch
        if not plan.assumptions["gradient_checkpointing"]:
            out.append(("model.gradient_checkpointing=true",))
        if plan.assumptions["logprob_chunk_rows"] > 256:
            out.append((f"grpo.logprob_chunk_size={plan.assumptions['logprob_chunk_rows'] // 4}",))
    out.append((f"grpo.num_generations={max(2, g.num_generations // 2)}",))
    shorter = max(1, g.max_completion_length // 2)
    out.append((f"grpo.max_completion_length={shorter}",)
               + ((f"grpo.min_completion_length={shorter}",) if g.min_completion_length > shorter else ()))
    if g.prompts_per_step > 1 and (g.prompts_per_step // 2) % plan.assumptions["world_size"] == 0:
        out.append((f"grpo.prompts_per_step={g.prompts_per_step // 2}",))
    if m.quantization == "none":
        out.append(('model.quantization="nf4"',))
    kept = []
    for remedy in dict.fromkeys(out):
        changed = _with(cfg, remedy)
        if changed is not None and changed != cfg:  # drop no-ops (G already 2) and anything train would refuse
            kept.append((remedy, changed))
    return kept


def _with(cfg: Config, overrides: tuple[str, ...]) -> Config | None:
    """``cfg`` with ``overrides`` applied exactly as ``--set`` applies them, or None when the result is invalid."""
    raw = config_to_dict(cfg)
    try:
        for override in overrides:
            apply_override(raw, override)
        return config_from_dict(raw, require_rewards=False)
    except ConfigError:
        return None


def _as_flags(overrides: tuple[str, ...]) -> str:
    return " ".join(f"--set {o}" for o in overrides)


def _gib(n: int) -> str:
    return f"{n / GiB:.2f}"


def format_plan(plan: Plan, budget_bytes: int | None = None) -> str:
    """A table of every term in GiB, the total, the peak phase and (with a budget) the verdict."""
    a = plan.assumptions
    lines = [f"grpo plan: {plan.model} ({plan.arch.model_type}, {a['params'] / 1e9:.2f}B params, "
             f"LoRA {a['lora_params'] / 1e6:.1f}M)",
             f"assumes: a CUDA GPU" + (f" per rank, {a['world_size']} ranks (figures per GPU)"
                                       if a["world_size"] > 1 else "") + f"; prompts padded to {a['prompt_length']} tokens (--prompt-length), "
             f"{a['completion_length']}-token completions; {a['rows_per_step']} rows per step, "
             f"{a['rows_per_micro_batch']} per micro-batch; "
             f"gradient checkpointing {'on' if a['gradient_checkpointing'] else 'off'}",
             ""]
    headers = {"resident": "always resident", "generation": "generation (rollout)",
               "training": "training forward/backward (one micro-batch)", "margin": "allocator"}
    width = max(len(t.name) + len(t.moment) for t in plan.terms) + 7
    for phase, header in headers.items():
        peak = "   <- peak" if phase == plan.peak_phase else ""
        lines.append(f"{header}: {_gib(plan.phase_bytes(phase))} GiB{peak}")
        for t in (t for t in plan.terms if t.phase == phase):
            name = f"{t.name} [{t.moment}]" if t.moment else t.name
            lines.append(f"  {name:<{width}}{_gib(t.bytes):>7} GiB   {t.note}")
    lines += ["(terms tagged [moment] never coexist: a phase counts its largest moment)", "",
              f"predicted peak: {_gib(plan.total_bytes)} GiB (resident + {plan.peak_phase} + margin)"]
    if budget_bytes is not None:
        spare = budget_bytes - plan.total_bytes
        if spare >= 0:
            lines.append(f"fits in {budget_bytes / GiB:.1f} GiB with {spare / GiB:.2f} GiB to spare")
        else:
            fixes = [(s, b) for s, b in plan.alternatives if b <= budget_bytes][:4] or \
                    sorted((x for x in plan.alternatives if x[1] < plan.total_bytes), key=lambda x: x[1])[:4]
            tries = ", ".join(f"{_as_flags(s)} ({_gib(b)} GiB)" for s, b in fixes) or "a smaller model"
            lines.append(f"does NOT fit in {budget_bytes / GiB:.1f} GiB: over by {-spare / GiB:.2f} GiB "
                         f"— try: {tries}")
    return "\n".join(lines)


_UNITS = {"": GiB, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": GiB, "t": 1 << 40, "kib": 1 << 10, "mib": 1 << 20,
          "gib": GiB, "tib": 1 << 40, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}


def parse_size(text: str) -> int:
    """Bytes in "24GiB", "24GB" (10^9), "24000MiB", "24G" (binary) or "24" (GiB)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", str(text))
    unit = match and _UNITS.get(match.group(2).lower())
    if not unit or float(match.group(1)) <= 0:
        raise ConfigError(f"--gpu-memory: cannot read {text!r} as a memory size (try 24GiB, 24GB, 24000MiB or 24)")
    return int(float(match.group(1)) * unit)


def run_plan(config_path: str | None, overrides: list[str], gpu_memory: str | None, as_json: bool,
             *, prompt_length: int | None = None, world_size: int = 1) -> int:
    """`grpo plan [CONFIG] [--set k=v] [--gpu-memory 24GiB] [--json] [--prompt-length N]`: print the plan.

    Returns 0 when it fits (or no --gpu-memory was given), 1 when it does not fit. Mistakes raise ConfigError
    (the CLI prints one line and exits 2)."""
    budget = parse_size(gpu_memory) if gpu_memory is not None else None
    cfg = load_config(config_path, overrides, require_rewards=False)  # planning needs no rewards
    if world_size < 1:
        raise ConfigError(f"--world-size must be at least 1 (got {world_size})")
    plan = plan_memory(cfg, prompt_length=prompt_length, gpu_bytes=budget, world_size=world_size)
    fits = budget is None or plan.total_bytes <= budget
    out = streams.results()  # stdout, and only our output (streams.py)
    if as_json:
        print(json.dumps({**plan.to_dict(), "budget_bytes": budget, "fits": None if budget is None else fits,
                          "spare_bytes": None if budget is None else budget - plan.total_bytes}), file=out)
    else:
        print(format_plan(plan, budget), file=out)
    return 0 if fits else 1
