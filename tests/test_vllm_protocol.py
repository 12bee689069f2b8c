"""The vllm backend's side of the HTTP conversation, against a small recording server that speaks the same
endpoints: external mode, the order of a step's calls (wake up, swap the adapter, sample, sleep), retries of
a failing server and the one-line failure after them. The paths a CPU cannot take with the real vLLM (sleep
mode is GPU-only) are checked here; everything else also runs against the real server (tests/test_vllm*.py)."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch

from grpo_rewards.errors import UserError


class Recorder(BaseHTTPRequestHandler):
    calls: list = []
    fail_completions = 0  # answer this many completions requests with 503 first

    def log_message(self, *args):
        pass

    def _answer(self, code, body):
        data = json.dumps(body).encode() if isinstance(body, dict) else body.encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        type(self).calls.append(("GET", self.path, None))
        self._answer(200, {"data": [{"id": "base-model", "parent": None}]})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        type(self).calls.append(("POST", self.path, body))
        if self.path == "/v1/completions":
            if type(self).fail_completions > 0:
                type(self).fail_completions -= 1
                return self._answer(503, {"message": "busy"})
            choices = [{"index": i, "token_ids": [5, 2], "logprobs": {"token_logprobs": [-0.5, -0.25]},
                        "finish_reason": "stop"} for i in range(body["n"])]
            return self._answer(200, {"choices": choices})
        self._answer(200, "Success: done.")  # the LoRA and sleep routes answer a plain sentence


@pytest.fixture
def server():
    Recorder.calls, Recorder.fail_completions = [], 0
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


class Adapter(torch.nn.Module):
    """Stands in for a peft model: what the backend uses of one (save_pretrained, a parameter, peft_config)."""
    peft_config = {"default": None}

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.saved = []

    def save_pretrained(self, path, **kwargs):
        self.saved.append(path)


class Tok:
    pad_token_id, eos_token_id = 0, 2


def _sampler(url, tmp_path, *overrides):
    from grpo_core.config import load_config
    from grpo_core.generation.vllm import VllmSampler

    cfg = load_config(None, ["generation.backend=vllm", 'generation.mode="external"', f'generation.url="{url}"',
                             f"train.output_dir={tmp_path}", *overrides])
    return VllmSampler(cfg, str(tmp_path), progress=False)


def _sample(sampler, G=2, **kw):
    return sampler.sample_groups(Adapter(), Tok(), [[1, 3], [1, 4, 4]], num_generations=G, max_new_tokens=4,
                                 eos_token_ids=[2], generator=torch.Generator().manual_seed(0), **kw)


def test_a_step_wakes_swaps_the_adapter_samples_and_sleeps(server, tmp_path):
    with _sampler(server, tmp_path, "generation.sleep=true") as sampler:
        assert sampler.base_model == "base-model"
        sampler.start_at(4)
        model, generator = Adapter(), torch.Generator().manual_seed(0)
        for _ in range(2):
            r = sampler.sample_groups(model, Tok(), [[1, 3], [1, 4, 4]], num_generations=2, max_new_tokens=4,
                                      eos_token_ids=[2], generator=generator)
        assert r.adapter_versions == [5] * 4 and r.completion_ids.tolist() == [[5, 2]] * 4
        assert model.saved[0].endswith("grpo-v4") and model.saved[1].endswith("grpo-v5")
    paths = [(m, p) for m, p, _ in Recorder.calls]
    assert paths[:5] == [("GET", "/v1/models"), ("POST", "/v1/load_lora_adapter"), ("POST", "/v1/completions"),
                         ("POST", "/v1/completions"), ("POST", "/sleep?level=1")]
    assert paths[5:9] == [("POST", "/wake_up"), ("POST", "/v1/unload_lora_adapter"), ("POST", "/v1/load_lora_adapter"),
                          ("POST", "/v1/completions")]
    loads = [b for m, p, b in Recorder.calls if p == "/v1/load_lora_adapter"]
    assert [b["lora_name"] for b in loads] == ["grpo-v4", "grpo-v5"]
    requests = [b for m, p, b in Recorder.calls if p == "/v1/completions"]
    assert all(b["model"] in ("grpo-v4", "grpo-v5") and b["n"] == 2 and b["prompt"] in ([1, 3], [1, 4, 4])
               for b in requests)
    assert len({b["seed"] for b in requests}) == len(requests)  # one seed per request, from the generator


def test_greedy_sends_one_request_per_sample(server, tmp_path):
    with _sampler(server, tmp_path) as sampler:
        r = _sample(sampler, G=3, temperature=0.0)
    requests = [b for m, p, b in Recorder.calls if p == "/v1/completions"]
    assert len(requests) == 6 and all(b["n"] == 1 and b["temperature"] == 0.0 and "seed" not in b for b in requests)
    assert r.completion_ids.shape == (6, 2)


def test_failed_requests_are_retried_then_fail_in_one_line(server, tmp_path):
    from grpo_core.generation import GenerationFailed

    with _sampler(server, tmp_path, "generation.retries=2") as sampler:
        Recorder.fail_completions = 2  # two failures, the third try answers
        assert _sample(sampler, G=2).completion_ids.shape == (4, 2)
        Recorder.fail_completions = 100
        with pytest.raises(GenerationFailed) as err:
            _sample(sampler, G=2)
    assert "did not answer POST /v1/completions after 3 tries: 503 busy" in str(err.value)
    assert "\n" not in str(err.value)


def test_no_server_at_the_url_is_one_line(tmp_path):
    from grpo_core.generation.server import free_port

    with pytest.raises(UserError, match=r"generation.url: no vLLM server answers at http://127.0.0.1:\d+"):
        _sampler(f"http://127.0.0.1:{free_port('127.0.0.1')}", tmp_path).__enter__()


def test_adapters_of_a_killed_run_are_removed(server, tmp_path):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = tmp_path / "adapters" / f"grpo-adapters-{int(dead.stdout)}-abc"
    (orphan / "grpo-v3").mkdir(parents=True)
    with _sampler(server, tmp_path, f'generation.adapter_dir="{tmp_path / "adapters"}"') as sampler:
        assert not orphan.exists() and sampler.adapter_root.startswith(str(tmp_path / "adapters"))
        live = sampler.adapter_root
    assert not (tmp_path / "adapters" / live).exists()
