"""``reward_model``: the score a learned reward model (a sequence-classification head) gives a
(prompt, completion) pair.

Any ``AutoModelForSequenceClassification`` checkpoint works: decoder reward models (Skywork-Reward,
Llama/Qwen/Gemma ``...ForSequenceClassification``) and encoder ones (OpenAssistant DeBERTa). The
model is loaded once, straight onto its device, and shared through :mod:`._cache`.
"""
import math
import os

from . import _cache
from . import _options as opt
from ._device import pick_device, pick_dtype
from ._inputs import as_messages, as_text

NAME = "reward_model"
TEMPLATES = ("auto", "chat", "plain")
QUANTIZATIONS = ("none", "nf4")
NORMALIZE = ("none", "sigmoid", "zscore")


class RewardModel:
    """Scores completions with a reward model; one float per sample (None when unscorable).

    Inputs longer than ``max_length`` tokens are truncated from the LEFT: the completion, which is
    what is being judged, is kept, and the start of the prompt is dropped first. Decoder reward
    models also read their score at the last token, so that token must survive truncation.
    """

    def __init__(self, *, model, template="auto", separator="\n", batch_size=8, max_length=1024,
                 device="auto", quantization="none", dtype="auto", normalize="none", label_index=0):
        # Cheap checks first, so a typo fails before torch is even imported.
        self.template = opt.choice(NAME, "template", template, TEMPLATES)
        self.separator = opt.text(NAME, "separator", separator)
        self.batch_size = opt.integer(NAME, "batch_size", batch_size, low=1)
        self.max_length = opt.integer(NAME, "max_length", max_length, low=2)
        self.quantization = opt.choice(NAME, "quantization", quantization, QUANTIZATIONS)
        self.normalize = opt.choice(NAME, "normalize", normalize, NORMALIZE)
        self.label_index = opt.integer(NAME, "label_index", label_index, low=0)
        opt.choice(NAME, "dtype", dtype, ("auto", "float32", "bfloat16", "float16"))
        path = resolve_model(NAME, model)

        self.device = pick_device(NAME, device)
        config = _load_config(model, path)
        if self.label_index >= config.num_labels:
            opt.fail(NAME, "label_index", f"is {self.label_index} but {model!r} has "
                                          f"{config.num_labels} label(s) (valid: 0..{config.num_labels - 1})")
        self.dtype = pick_dtype(NAME, dtype, self.device, getattr(config, "dtype", None))
        key = ("sequence-classification", path, self.device, str(self.dtype), self.quantization)
        self._model, self._tokenizer, self._pad_id = _cache.get(
            key, lambda: _load(model, path, config, self.device, self.dtype, self.quantization))

        has_template = bool(getattr(self._tokenizer, "chat_template", None))
        if self.template == "chat" and not has_template:
            opt.fail(NAME, "template", f"is 'chat' but the tokenizer of {model!r} has no chat template "
                                       "(use 'plain' or 'auto')")
        self.chat = self.template == "chat" or (self.template == "auto" and has_template)
        limit = getattr(config.get_text_config(), "max_position_embeddings", None)
        if isinstance(limit, int) and 0 < limit < self.max_length:
            # Longer inputs would index past the position table (or leave the range the model was
            # trained on), so the model's own limit wins; documented, hence no message per build.
            self.max_length = limit

    def __call__(self, prompts, completions):
        n = len(completions)
        prompts = [None] * n if prompts is None else list(prompts)
        encoded = self._encode(prompts, completions)
        scores = [None] * n
        todo = sorted((i for i in range(n) if encoded[i]), key=lambda i: len(encoded[i]))
        # Without any pad token the model cannot find the last real token of a padded row, so each
        # sample goes alone (the model then reads the true last token).
        size = self.batch_size if self._pad_id is not None else 1
        import torch

        with torch.inference_mode():
            # Sorted by length, so each batch pads as little as possible; scores go back by index.
            for start in range(0, len(todo), size):
                rows = todo[start:start + size]
                ids, mask = self._pad([encoded[i] for i in rows])
                logits = self._model(input_ids=ids, attention_mask=mask).logits
                for i, value in zip(rows, logits[:, self.label_index].float().cpu().tolist()):
                    scores[i] = value if math.isfinite(value) else None
        return normalize(scores, self.normalize)

    def _encode(self, prompts, completions):
        """Token ids per sample (None when it cannot be scored), truncated to ``max_length``."""
        texts = [self._format(p, c) for p, c in zip(prompts, completions)]
        ids = [None] * len(texts)
        # Chat-templated text already holds its special tokens (BOS, turn markers); plain text
        # gets the tokenizer's own ([CLS] ... [SEP] for encoders, BOS for decoders).
        for special in (False, True):
            rows = [i for i, t in enumerate(texts) if t is not None and t[1] == special]
            if rows:
                out = self._tokenizer([texts[i][0] for i in rows], add_special_tokens=special,
                                      truncation=True, max_length=self.max_length)["input_ids"]
                for i, row in zip(rows, out):
                    ids[i] = list(row) or None
        return ids

    def _format(self, prompt, completion):
        """(text, add_special_tokens) for one sample, or None when it cannot be scored."""
        if self.chat:
            turns = [] if prompt is None else as_messages(prompt, "user")
            reply = as_messages(completion, "assistant")
            if turns is None or reply is None:
                return None
            try:
                return self._tokenizer.apply_chat_template(turns + reply, tokenize=False), False
            except Exception:
                if prompt is not None:
                    raise  # a template that rejects the prompt is a real problem: let the mix report it
                # Scoring without prompts: some templates refuse a conversation that opens with
                # the assistant; then the completion is scored alone, as plain text.
        text = as_text(completion)
        if text is None:
            return None
        if prompt is not None:
            head = as_text(prompt)
            if head is None:
                return None
            text = head + self.separator + text
        return text, True

    def _pad(self, rows):
        """Right padding: positions of the real tokens stay 0..len-1, so a sample scores the same
        whatever batch it lands in."""
        import torch

        width = max(len(r) for r in rows)
        pad = self._pad_id if self._pad_id is not None else 0
        ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows], device=self.device)
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], device=self.device)
        return ids, mask


def normalize(scores, mode):
    """Apply the ``normalize`` option to the scored samples of one call (None stays None)."""
    if mode == "sigmoid":
        return [None if s is None else _sigmoid(s) for s in scores]
    if mode == "zscore":
        values = [s for s in scores if s is not None]
        if not values:
            return scores
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
        # One sample, or all equal: nothing to standardise against, so every score is the mean (0).
        return [None if s is None else ((s - mean) / std if std > 0 else 0.0) for s in scores]
    return scores


def _sigmoid(x):
    # Split by sign so exp never overflows for large |x|.
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def resolve_model(reward, model):
    """A local model directory as an absolute path, or a hub id as given."""
    opt.text(reward, "model", model, allow_empty=False)
    path = os.path.expanduser(model)
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, "config.json")):
            opt.fail(reward, "model", f"directory {model!r} has no config.json (not a transformers model directory)")
        return os.path.realpath(path)
    if os.path.exists(path):
        opt.fail(reward, "model", f"{model!r} is a file; expected a model directory or a hub id")
    # Hub ids are "name" or "org/name"; anything else that looks like a path is a missing directory.
    if path.startswith(("/", ".", "~")) or "\\" in model or model.count("/") > 1:
        opt.fail(reward, "model", f"directory not found: {model!r}")
    return model


def _first_line(exc):
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def _load_config(model, path):
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES

    try:
        config = AutoConfig.from_pretrained(path)
    except Exception as exc:
        where = "from its directory" if os.path.isdir(path) else \
            "(not a local directory, and not on the hub or in its cache; offline with HF_HUB_OFFLINE=1?)"
        opt.fail(NAME, "model", f"could not load {model!r} {where}: {_first_line(exc)}")
    if config.model_type not in MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES:
        opt.fail(NAME, "model", f"{model!r} is a {config.model_type!r} model, which has no "
                                "sequence-classification head in transformers")
    archs = getattr(config, "architectures", None) or []
    if archs and not any(a.endswith("ForSequenceClassification") for a in archs):
        # A causal LM would load with a freshly initialised (random) score head: refuse it.
        opt.fail(NAME, "model", f"{model!r} is a {archs[0]}, not a sequence-classification (reward) model")
    return config


def _load(model, path, config, device, dtype, quantization):
    """Tokenizer and model, the weights loaded directly onto ``device`` (no CPU copy is kept)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except Exception as exc:
        opt.fail(NAME, "model", f"could not load the tokenizer of {model!r}: {_first_line(exc)}")
    kwargs = {"config": config, "dtype": dtype, "device_map": {"": device}, "output_loading_info": True}
    if quantization == "nf4":
        import torch
        from transformers import BitsAndBytesConfig

        # The 4-bit weights are dequantised to this dtype for each matmul: half precision on a GPU,
        # float32 on the CPU (where bitsandbytes also runs, more slowly).
        compute = dtype
        if dtype == torch.float32 and device.startswith("cuda"):
            compute = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute)
    try:
        with _cache.quiet_loading():
            net, info = AutoModelForSequenceClassification.from_pretrained(path, **kwargs)
    except Exception as exc:
        opt.fail(NAME, "model", f"could not load {model!r} as a sequence-classification model: {_first_line(exc)}")
    missing = sorted(info.get("missing_keys") or [])
    if missing:
        shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
        opt.fail(NAME, "model", f"{model!r} has no trained weights for {shown}: not a reward model checkpoint")
    net.eval()

    tokenizer.truncation_side = "left"  # keep the completion (see RewardModel)
    tokenizer.padding_side = "right"
    text_config = net.config.get_text_config()
    pad_id = text_config.pad_token_id
    if pad_id is None and tokenizer.pad_token_id is not None:
        # What reward-model trainers do: the model finds each row's last real token by the pad id.
        pad_id = tokenizer.pad_token_id
        text_config.pad_token_id = net.config.pad_token_id = pad_id
    return net, tokenizer, pad_id
