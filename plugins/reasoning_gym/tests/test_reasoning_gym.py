"""grpo-reasoning-gym: tasks from reasoning-gym's generators, scored by reasoning-gym's own checkers."""
import inspect
import re
import subprocess
import sys
import warnings

import pytest

import grpo_reasoning_gym as plugin
from grpo_reasoning_gym.names import TASKS, UNSAFE
from grpo_rewards import ConfigError, UserError
from grpo_rewards.testing import registry_with, score, score_batch

# Tasks whose reference answers, tagged, must score 1.0 and whose wrong answers must score lower.
CHECKED = ("basic_arithmetic", "chain_sum", "gcd", "lcm", "word_sorting", "letter_counting", "spell_backward",
           "base_conversion", "caesar_cipher", "number_sorting")


def rows(name, split="train", seed=0, n=6, **options):
    return registry_with(plugin).tasks[f"reasoning_gym.{name}"].obj(split=split, seed=seed, n=n, **options)


@pytest.mark.parametrize("name", CHECKED)
def test_reference_answers_score_one_and_wrong_answers_lower(name):
    batch = rows(name)
    assert len(batch) == 6
    entries = [r["entry"] for r in batch]
    right = [f"Let me work it out.\n<answer>{r['answer']}</answer>" for r in batch]
    # a wrong answer: another row's reference (where it differs), or plain nonsense
    others = [next((o["answer"] for o in batch if str(o["answer"]) != str(r["answer"])), "nonsense") for r in batch]
    wrong = [f"<answer>{other}</answer>" for other in others]
    scores = score(plugin, "reasoning_gym", completions=right + wrong + ["no tags at all"] * 6, entry=entries * 3)
    assert scores[:6] == [1.0] * 6, (name, scores[:6])
    assert all(s < 1.0 for s in scores[6:]), (name, scores[6:])


def test_chat_completions_score_like_text():
    batch = rows("chain_sum", n=3)
    text = [f"<answer>{r['answer']}</answer>" for r in batch]
    chat = [[{"role": "assistant", "content": t}] for t in text]
    entries = [r["entry"] for r in batch]
    assert score(plugin, "reasoning_gym", completions=chat, entry=entries) == \
        score(plugin, "reasoning_gym", completions=text, entry=entries) == [1.0] * 3


def test_the_whole_completion_can_be_the_answer():
    batch = rows("gcd", n=3)
    scores = score(plugin, "reasoning_gym", options={"answer_tag": ""},
                   completions=[f"  {r['answer']}\n" for r in batch], entry=[r["entry"] for r in batch])
    assert scores == [1.0] * 3


def test_train_and_test_never_share_a_question_and_are_reproducible():
    train = {r["prompt"] for seed in (0, 1, 2) for r in rows("basic_arithmetic", "train", seed, n=200)}
    test = {r["prompt"] for seed in (0, 1) for r in rows("basic_arithmetic", "test", seed, n=100)}
    assert len(train) > 500 and len(test) > 150 and not train & test
    assert rows("basic_arithmetic", "test", 5, n=20) == rows("basic_arithmetic", "eval", 5, n=20)
    once = rows("basic_arithmetic", "train", 3, n=50)
    assert len({r["prompt"] for r in once}) == 50  # distinct within a call


def test_options_reach_the_generator_and_bad_ones_are_named():
    batch = rows("basic_arithmetic", n=10, min_terms=5, max_terms=5)
    assert all(r["entry"]["metadata"]["num_terms"] == 5 for r in batch)
    with pytest.raises(ValueError, match="reasoning_gym.basic_arithmetic: TypeError: .*no_such_option"):
        rows("basic_arithmetic", no_such_option=1)
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        rows("basic_arithmetic", split="dev")


def test_unsafe_checkers_are_refused_as_tasks_and_as_rows():
    with pytest.raises(ConfigError, match="reasoning_gym.countdown: its answer checker evaluates"):
        rows("countdown")
    entry = {"question": "q", "answer": "1", "metadata": {"source_dataset": "countdown"}}
    result = score_batch(plugin, "reasoning_gym", on_error="skip", completions=["<answer>1</answer>"], entry=[entry])
    assert result.rewards["reasoning_gym"] == [None] and result.counts["reasoning_gym"].errors == 1
    assert "evaluates the model's answer as code" in result.counts["reasoning_gym"].first_error


def test_rows_without_an_entry_are_unscorable_and_a_missing_column_is_named():
    assert score(plugin, "reasoning_gym", completions=["<answer>1</answer>"] * 2,
                 entry=[None, {"metadata": {"source_dataset": "no_such_dataset"}}]) == [None, None]
    with pytest.raises(UserError, match="no column 'entry'"):  # raised in the worker, reported by the mix
        score(plugin, "reasoning_gym", completions=["x"], answer=["1"])
    with pytest.raises(ConfigError, match="option 'answer_tag'"):
        score(plugin, "reasoning_gym", options={"answer_tag": "a>b"}, completions=["x"], entry=[None])


def test_the_task_list_is_the_installed_reasoning_gyms():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from reasoning_gym.factory import DATASETS
    assert tuple(sorted(DATASETS)) == TASKS
    assert sorted(registry_with(plugin).tasks) == [f"reasoning_gym.{n}" for n in TASKS]


def _code_eval_in_checker(cls) -> bool:
    """Does score_answer, or a function of reasoning-gym it calls, use eval/exec/parse_expr/sympify?"""
    from reasoning_gym.dataset import ProceduralDataset

    if cls.score_answer is ProceduralDataset.score_answer:
        return False
    danger = re.compile(r"\beval\(|\bexec\(|sympify|parse_expr|parse_latex")
    seen, stack = set(), [cls.score_answer]
    while stack:
        fn = stack.pop()
        if fn in seen:
            continue
        seen.add(fn)
        source = inspect.getsource(fn)
        if danger.search(source):
            return True
        for called in re.findall(r"self\.(\w+)\(", source):
            if inspect.isfunction(getattr(cls, called, None)):
                stack.append(getattr(cls, called))
        for called in re.findall(r"(?<![.\w])(\w+)\(", source):
            target = fn.__globals__.get(called)
            if inspect.isfunction(target) and target.__module__.startswith("reasoning_gym"):
                stack.append(target)
    return False


def test_the_unsafe_list_matches_the_installed_checkers():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from reasoning_gym.factory import DATASETS
    flagged = {name for name, (cls, _) in DATASETS.items() if _code_eval_in_checker(cls)}
    # These two eval only reasoning-gym's own generated problem or reference, never the answer.
    assert flagged - {"bitwise_arithmetic", "number_sorting"} == UNSAFE


def test_loading_the_plugin_does_not_import_reasoning_gym():
    code = ("import sys, grpo_reasoning_gym; from grpo_rewards.testing import registry_with; "
            "registry_with(grpo_reasoning_gym); print('reasoning_gym' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
