"""reward_model loading: one copy per process, the right device and dtype, clear option errors."""
import pytest
import torch
import transformers

import grpo_reward_model
from grpo_reward_model import _device
from grpo_rewards import ConfigError
from grpo_rewards.testing import mix


@pytest.fixture
def load_count(monkeypatch):
    """How many times a sequence-classification model was loaded from disk."""
    calls = []
    original = transformers.AutoModelForSequenceClassification.from_pretrained

    def counting(*args, **kwargs):
        calls.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(transformers.AutoModelForSequenceClassification, "from_pretrained", counting)
    return calls


def test_model_loads_once_for_two_calls_and_two_instances(llama_rm, load_count):
    first = grpo_reward_model.RewardModel(model=llama_rm)
    first(["a"], ["b"])
    first(["c"], ["d"])
    # Options that do not change the weights (batching, normalisation) share the loaded model.
    second = grpo_reward_model.RewardModel(model=llama_rm, batch_size=2, normalize="sigmoid")
    second(["a"], ["b"])
    assert len(load_count) == 1
    assert second._model is first._model


def test_two_mix_entries_share_one_model(llama_rm, load_count):
    with mix(grpo_reward_model, rewards=[
            {"use": "reward_model", "options": {"model": llama_rm}},
            {"use": "reward_model", "name": "again", "options": {"model": llama_rm + "/"}}]) as m:
        m.score(["x"], prompts=["y"])
    assert len(load_count) == 1


def test_a_different_dtype_is_a_different_model(llama_rm, load_count):
    a = grpo_reward_model.RewardModel(model=llama_rm)
    b = grpo_reward_model.RewardModel(model=llama_rm, dtype="bfloat16")
    assert len(load_count) == 2 and a._model is not b._model
    assert next(b._model.parameters()).dtype == torch.bfloat16


def test_loaded_straight_onto_the_device_in_eval_mode(llama_rm, load_count):
    reward = grpo_reward_model.RewardModel(model=llama_rm)
    assert load_count[0]["device_map"] == {"": "cpu"}  # placed while loading, no CPU copy then a move
    assert reward.device == "cpu" and next(reward._model.parameters()).device.type == "cpu"
    assert not reward._model.training
    assert reward.dtype == torch.float32  # "auto" on the CPU


def test_auto_device_is_the_training_gpu_when_cuda_is_available(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert _device.pick_device("reward_model", "auto") == "cuda:1"
    assert _device.pick_device("reward_model", "cuda") == "cuda:1"
    assert _device.pick_device("reward_model", "cuda:0") == "cuda:0"
    assert _device.pick_device("reward_model", "cpu") == "cpu"
    with pytest.raises(ConfigError, match="only 2 CUDA"):
        _device.pick_device("reward_model", "cuda:5")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert _device.pick_device("reward_model", "auto") == "cpu"
    with pytest.raises(ConfigError, match="reward_model: option 'device'.*CUDA is not available"):
        _device.pick_device("reward_model", "cuda")


def test_auto_device_reaches_from_pretrained(llama_rm, monkeypatch):
    # Pretend CUDA exists and stop at from_pretrained: the load is asked for the GPU directly.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    seen = {}

    def fake(path, **kwargs):
        seen.update(kwargs)
        raise RuntimeError("stop before touching a GPU")

    monkeypatch.setattr(transformers.AutoModelForSequenceClassification, "from_pretrained", fake)
    with pytest.raises(ConfigError, match="stop before touching a GPU"):
        grpo_reward_model.RewardModel(model=llama_rm)
    assert seen["device_map"] == {"": "cuda:0"}
    assert seen["dtype"] == torch.float32  # the checkpoint was saved in float32


def test_auto_dtype_follows_the_checkpoint_on_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert _device.pick_dtype("r", "auto", "cuda:0", "bfloat16") == torch.bfloat16
    assert _device.pick_dtype("r", "auto", "cuda:0", None) == torch.float32
    assert _device.pick_dtype("r", "auto", "cpu", "bfloat16") == torch.float32
    assert _device.pick_dtype("r", "float16", "cpu", None) == torch.float16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert _device.pick_dtype("r", "auto", "cuda:0", torch.bfloat16) == torch.float16


@pytest.mark.parametrize("options, message", [
    ({"template": "jinja"}, "option 'template' must be one of 'auto', 'chat', 'plain'"),
    ({"batch_size": 0}, "option 'batch_size' must be >= 1"),
    ({"batch_size": True}, "option 'batch_size' must be an integer"),
    ({"max_length": "long"}, "option 'max_length' must be an integer"),
    ({"quantization": "int8"}, "option 'quantization' must be one of 'none', 'nf4'"),
    ({"normalize": "minmax"}, "option 'normalize' must be one of"),
    ({"dtype": "float64"}, "option 'dtype' must be one of"),
    ({"label_index": 1}, "option 'label_index' is 1 but .* has 1 label"),
    ({"label_index": -1}, "option 'label_index' must be >= 0"),
    ({"device": "gpu7"}, "option 'device' is not a torch device"),
    ({"separator": 3}, "option 'separator' must be a string"),
])
def test_bad_options_are_one_line_config_errors(llama_rm, options, message):
    with pytest.raises(ConfigError, match=f"^reward_model: {message}") as info:
        grpo_reward_model.RewardModel(model=llama_rm, **options)
    assert "\n" not in str(info.value)


def test_model_errors(tmp_path, plain_rm, make_llama_rm):
    with pytest.raises(ConfigError, match="reward_model: option 'model' directory not found: '/nowhere/rm'"):
        grpo_reward_model.RewardModel(model="/nowhere/rm")
    with pytest.raises(ConfigError, match="has no config.json"):
        grpo_reward_model.RewardModel(model=str(tmp_path))
    with pytest.raises(ConfigError, match="option 'model' must be a non-empty string"):
        grpo_reward_model.RewardModel(model="")
    with pytest.raises(ConfigError, match="option 'template' is 'chat' but the tokenizer .* has no chat template"):
        grpo_reward_model.RewardModel(model=plain_rm, template="chat")
    with pytest.raises(ConfigError, match="not on the hub or in its cache"):
        grpo_reward_model.RewardModel(model="no-such-org/no-such-reward-model")


def test_a_causal_lm_is_not_a_reward_model(tmp_path, llama_rm):
    from transformers import AutoConfig, AutoModelForCausalLM
    config = AutoConfig.from_pretrained(llama_rm)
    AutoModelForCausalLM.from_config(config).save_pretrained(tmp_path / "lm")
    with pytest.raises(ConfigError, match="is a LlamaForCausalLM, not a sequence-classification"):
        grpo_reward_model.RewardModel(model=str(tmp_path / "lm"))


def test_a_checkpoint_without_its_head_is_refused(tmp_path, llama_rm):
    # Same architecture name, but the score head's weights are missing: it would be random.
    from safetensors.torch import load_file, save_file
    import shutil
    shutil.copytree(llama_rm, tmp_path / "headless")
    weights = load_file(tmp_path / "headless" / "model.safetensors")
    save_file({k: v for k, v in weights.items() if not k.startswith("score")},
              tmp_path / "headless" / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ConfigError, match="has no trained weights for score.weight"):
        grpo_reward_model.RewardModel(model=str(tmp_path / "headless"))


def test_mix_reports_missing_and_unknown_options(llama_rm):
    with pytest.raises(ConfigError, match="missing required option 'model'"):
        mix(grpo_reward_model, rewards=[{"use": "reward_model"}])
    with pytest.raises(ConfigError, match="unknown option 'batchsize' \\(did you mean 'batch_size'\\?\\)"):
        mix(grpo_reward_model, rewards=[{"use": "reward_model", "options": {"model": llama_rm, "batchsize": 2}}])
    with pytest.raises(ConfigError, match="^reward_model: option 'normalize'"):
        mix(grpo_reward_model, rewards=[{"use": "reward_model", "options": {"model": llama_rm, "normalize": 1}}])
