import os

# Tests never reach a model or dataset hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import sys

# Shared test helpers (sdk_fixtures.py, ...) import by plain name.
sys.path.insert(0, os.path.dirname(__file__))
