"""Reference formats, unscorable references (None) and odd completion values."""
import pytest

from grpo_math import MathReward, score
from grpo_math.reward import read_reference

GSM8K = ("Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
         "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72")
MATH_SOLUTION = ("Since $x<2$, it follows that $|x-2|=2-x$. If $2-x=p$, then $x=2-p$. "
                 "Thus $x-p=\\boxed{2-2p}$.")


@pytest.mark.parametrize("reference", [
    "\\frac{1}{2}", "$\\frac{1}{2}$", "$$\\frac12$$", "\\(\\frac{1}{2}\\)", "0.5", "1/2",
    "\\boxed{\\frac{1}{2}}", "The answer is $\\frac{1}{2}$.", "<answer>1/2</answer>",
])
def test_reference_spellings(reference):
    assert score("\\boxed{\\dfrac{1}{2}}", reference) == 1.0


def test_gsm8k_reference_with_calculator_annotations():
    assert score("She sold 72 clips in total. The answer is 72.", GSM8K) == 1.0
    assert score("The answer is 24.", GSM8K) == 0.0


def test_whole_solution_as_reference():
    assert score("So the answer is $\\boxed{2 - 2p}$.", MATH_SOLUTION) == 1.0
    assert score("So the answer is $\\boxed{2 + 2p}$.", MATH_SOLUTION) == 0.0


def test_numeric_references_that_are_not_strings():
    assert score("\\boxed{42}", 42) == 1.0
    assert score("\\boxed{2.5}", 2.5) == 1.0
    assert score("\\boxed{3}", 2.5) == 0.0


@pytest.mark.parametrize("reference", [None, "", "   ", "\\boxed{}", float("nan"), ["", None], True])
def test_missing_reference_is_unscorable(reference):
    assert score("\\boxed{1}", reference) is None


@pytest.mark.parametrize("reference", [
    "\\frac{1}{", "((((", "\\begin{cases} x \\end{cases}", "\\int_0^1 x dx =", "#### ",
])
def test_unreadable_reference_is_unscorable(reference):
    assert score("\\boxed{1}", reference) is None


@pytest.mark.parametrize("completion", [None, "", 17, ["not", "chat"], {"no": "content"}, b"\\boxed{1}"])
def test_odd_completions_score_zero(completion):
    assert score(completion, "1") == 0.0


def test_chat_message_completions():
    messages = [{"role": "assistant", "content": "The answer is \\boxed{1}."}]
    assert score(messages, "1") == 1.0
    assert score({"role": "assistant", "content": "\\boxed{2}"}, "1") == 0.0


def test_unparsable_completion_scores_zero_not_none():
    assert score("\\boxed{\\frac{1}{}", "1") == 0.0
    assert score("the answer is ))((", "1") == 0.0


def test_reference_is_parsed_once():
    read_reference.cache_clear()
    reward = MathReward()
    reward(completions=["\\boxed{3}"] * 8, answer=["$3$"] * 8)
    info = read_reference.cache_info()
    assert info.misses == 1 and info.hits == 7
