import os

# Tests never reach a model or dataset hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The slow-plugin notice is wall-clock based: on a loaded machine sympy's import alone can pass 5 s, and a
# notice would add a line where tests count them. The test of the notice sets its own threshold.
os.environ.setdefault("GRPO_SLOW_IMPORT_SECONDS", "120")
# A fixed thread count: results that must match bit for bit (an exact resume) need the same reduction order,
# which a thread count that follows the machine's load (grpo_core/cpu_threads.py) would not promise.
os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))

import signal
import sys

# A shell starts background jobs with SIGINT ignored, and grpo honours that; the tests send real SIGINTs
# (to themselves and to the commands they start), so they must not inherit it.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Shared test helpers (sdk_fixtures.py, ...) import by plain name.
sys.path.insert(0, os.path.dirname(__file__))
