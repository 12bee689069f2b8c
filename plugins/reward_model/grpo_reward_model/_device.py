"""Where a reward's model runs and in which dtype. torch is imported inside the functions, so
importing the plugin (``grpo plugins``) never pays for it."""
from . import _options as opt

DTYPES = ("auto", "float32", "bfloat16", "float16")


def pick_device(reward, option_value):
    """The device a model goes to, as a canonical string ("cpu", "cuda:0", ...).

    ``"auto"`` is the GPU the policy trains on when CUDA is available (the current CUDA device,
    which the trainer, or ``torch.cuda.set_device`` in a multi-GPU launch, selected), else the
    CPU. A bare ``"cuda"`` is resolved the same way, so "auto" and "cuda" share cached models.
    """
    import torch

    if option_value == "auto":
        return f"cuda:{torch.cuda.current_device()}" if torch.cuda.is_available() else "cpu"
    if not isinstance(option_value, str):
        opt.fail(reward, "device", f"must be 'auto' or a torch device such as 'cpu' or 'cuda:0', "
                                   f"got {opt.show(option_value)}")
    try:
        device = torch.device(option_value)
    except (RuntimeError, ValueError):
        opt.fail(reward, "device", f"is not a torch device (use 'auto', 'cpu', 'cuda' or 'cuda:N'), "
                                   f"got {opt.show(option_value)}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            opt.fail(reward, "device", f"is {option_value!r} but CUDA is not available here "
                                       "(use 'auto' to fall back to the CPU)")
        index = torch.cuda.current_device() if device.index is None else device.index
        if index >= torch.cuda.device_count():
            opt.fail(reward, "device", f"is {option_value!r} but only {torch.cuda.device_count()} "
                                       "CUDA device(s) are visible")
        return f"cuda:{index}"
    return str(device)


def pick_dtype(reward, option_value, device, checkpoint_dtype=None):
    """The torch dtype for the weights.

    ``"auto"``: float32 on the CPU (half-precision matmuls there are slow and lose accuracy for no
    memory that matters); on a GPU, the dtype the checkpoint was saved in (most reward models are
    published in bfloat16), float32 when the checkpoint does not say.
    """
    import torch

    opt.choice(reward, "dtype", option_value, DTYPES)
    if option_value != "auto":
        return getattr(torch, option_value)
    if device == "cpu" or not device.startswith("cuda"):
        return torch.float32
    saved = _as_dtype(checkpoint_dtype)
    if saved == torch.bfloat16 and not torch.cuda.is_bf16_supported():
        return torch.float16
    return saved if saved in (torch.float32, torch.bfloat16, torch.float16) else torch.float32


def _as_dtype(value):
    import torch

    if isinstance(value, torch.dtype):
        return value
    if isinstance(value, str):
        return getattr(torch, value.replace("torch.", ""), None)
    return None
