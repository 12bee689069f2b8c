"""Tiny randomly initialised reward models, built with the `tokenizers` library and saved to disk,
so every test loads through the same from_pretrained path a hub model takes, offline."""
import os

# Tests never reach a model hub; set before transformers is imported anywhere.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import string  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

import grpo_reward_model  # noqa: E402

# Tiny models gain nothing from intra-op threads, and on a busy machine spinning OpenMP workers
# make each matmul take milliseconds instead of microseconds.
torch.set_num_threads(1)

# Turn markers are single special tokens so a test can find the assistant turn in the ids.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
)
SPECIALS = ["<pad>", "<s>", "</s>", "<unk>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]


def char_tokenizer(chat_template=CHAT_TEMPLATE, bos_in_plain=True):
    """One token per character: token counts are easy to reason about in truncation tests."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    chars = list(string.ascii_letters + string.digits + string.punctuation + " \n")
    vocab = {tok: i for i, tok in enumerate(SPECIALS + chars)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(pattern="", behavior="isolated")
    if bos_in_plain:  # like Llama: plain text gets a BOS when add_special_tokens=True
        tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>", additional_special_tokens=SPECIALS[4:])
    if chat_template:
        fast.chat_template = chat_template
    return fast


def save_llama_rm(path, *, chat_template=CHAT_TEMPLATE, num_labels=1, seed=0, positions=512, pad=True, hidden=32):
    """A 2-layer LlamaForSequenceClassification with random weights (a score head included)."""
    import torch
    from transformers import LlamaConfig, LlamaForSequenceClassification

    tokenizer = char_tokenizer(chat_template)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=positions,
                         num_labels=num_labels, pad_token_id=tokenizer.pad_token_id if pad else None,
                         bos_token_id=1, eos_token_id=2)
    torch.manual_seed(seed)
    model = LlamaForSequenceClassification(config)
    with torch.no_grad():  # a visible spread of scores, so ranking and normalisation tests mean something
        model.score.weight.normal_(0, 1.0)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def save_bert_rm(path, *, num_labels=3, seed=0):
    """A tiny BertForSequenceClassification ([CLS] ... [SEP], no chat template)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    vocab = {tok: i for i, tok in enumerate(specials + chars)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                 pre_tokenizers.Split(pattern="", behavior="isolated")])
    tok.post_processor = processors.BertProcessing(("[SEP]", 3), ("[CLS]", 2))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]",
                                        cls_token="[CLS]", sep_token="[SEP]")
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                        num_attention_heads=4, max_position_embeddings=128, num_labels=num_labels,
                        pad_token_id=0)
    torch.manual_seed(seed)
    BertForSequenceClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def llama_rm(tmp_path_factory):
    return save_llama_rm(tmp_path_factory.mktemp("llama_rm"))


@pytest.fixture(scope="session")
def plain_rm(tmp_path_factory):
    """The same architecture without a chat template: 'auto' must fall back to plain text."""
    return save_llama_rm(tmp_path_factory.mktemp("plain_rm"), chat_template=None)


@pytest.fixture(scope="session")
def bert_rm(tmp_path_factory):
    return save_bert_rm(tmp_path_factory.mktemp("bert_rm"))


@pytest.fixture
def make_llama_rm(tmp_path):
    """Build a variant: ``make_llama_rm("name", chat_template=None, pad=False, ...)``."""
    return lambda name="rm", **kwargs: save_llama_rm(tmp_path / name, **kwargs)


@pytest.fixture(autouse=True)
def fresh_cache():
    """Each test starts with no loaded model, so load counts and spies see their own loads."""
    grpo_reward_model.clear_cache()
    yield
    grpo_reward_model.clear_cache()
