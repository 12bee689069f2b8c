"""One loaded copy of each model per process.

Keyed by (kind, model path, device, dtype, quantization): two mix entries that use the same
reward model, or a reward rebuilt between runs, get the model already on the device instead of
a second copy next to the policy. Entries live until :func:`clear_cache` (a trainer that is done
with its rewards can call it to give the memory back).
"""
import contextlib
import threading

_models = {}
_lock = threading.Lock()  # two threads building the same reward must not load it twice


def get(key, load):
    """The cached value for ``key``, calling ``load()`` once when it is missing."""
    with _lock:
        if key not in _models:
            _models[key] = load()
        return _models[key]


def clear_cache():
    """Forget every loaded model (the memory is freed once no reward holds it any more)."""
    with _lock:
        _models.clear()


def size():
    return len(_models)


@contextlib.contextmanager
def quiet_loading():
    """No per-shard progress bar while a reward loads its model: in `grpo score` or a training log
    it is noise between the lines that matter. The previous setting is restored afterwards."""
    from transformers.utils import logging

    was_enabled = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            logging.enable_progress_bar()
