import pytest

from grpo_format import ThinkAnswer
from grpo_rewards import ConfigError

GOOD = "<think>step 1\nstep 2</think><answer>42</answer>"


def score(text, **options):
    return ThinkAnswer(**options)([text])[0]


@pytest.mark.parametrize("text", [
    GOOD,
    "<think>x</think>\n<answer>42</answer>",
    "  \n<think>\nmulti\n\nline\n</think>\n\n<answer>\n42\n</answer>\n  ",
    "<think></think><answer>42</answer>",  # empty think allowed by default
    "<think>a < b and c > d</think><answer>a<b</answer>",
    "\t<think>x</think>\r\n<answer>y</answer>\t",
])
def test_well_formed(text):
    assert score(text) == 1.0


@pytest.mark.parametrize("text,why", [
    ("<answer>42</answer>", "missing think block"),
    ("<think>x</think>", "missing answer block"),
    ("<think>x<answer>42</answer>", "missing </think>"),
    ("<think>x</think><answer>42", "missing </answer>"),
    ("<think>x</think>42</answer>", "missing <answer>"),
    ("<think>a</think><think>b</think><answer>42</answer>", "duplicated think"),
    ("<think>a</think><answer>1</answer><answer>2</answer>", "duplicated answer"),
    ("<think>a</think></think><answer>1</answer>", "duplicated closing tag"),
    ("<answer>42</answer><think>x</think>", "wrong block order"),
    ("</think>x<think><answer>42</answer>", "think tags reversed"),
    ("<think>x</think><answer>42</answer>trailing", "text after"),
    ("Sure! <think>x</think><answer>42</answer>", "text before"),
    ("<think>x</think>so the answer is<answer>42</answer>", "text between"),
    ("<think>x</think><answer></answer>", "empty answer"),
    ("<think>x</think><answer>  \n </answer>", "blank answer"),
    ("<think>x<answer>42</answer></think>", "answer nested in think"),
    ("<think><think>x</think></think><answer>42</answer>", "think nested in think"),
    ("<think>x</think><answer><think>y</think>42</answer>", "think nested in answer"),
    ("<THINK>x</THINK><ANSWER>42</ANSWER>", "tags are case-sensitive"),
    ("<think >x</think><answer>42</answer>", "tag with space"),
    ("", "empty string"),
    ("no tags at all", "plain text"),
])
def test_malformed(text, why):
    assert score(text) == 0.0, why


def test_custom_tag_names():
    text = "<reasoning>r</reasoning> <final>7</final>"
    assert score(text, think_tag="reasoning", answer_tag="final") == 1.0
    assert score(text) == 0.0
    assert score(GOOD, think_tag="reasoning", answer_tag="final") == 0.0


def test_require_think_false():
    assert score("<answer>42</answer>", require_think=False) == 1.0
    assert score(GOOD, require_think=False) == 1.0
    # an optional think block that appears must still be complete and in place
    assert score("<think>x<answer>42</answer>", require_think=False) == 0.0
    assert score("<answer>42</answer><think>x</think>", require_think=False) == 0.0
    assert score("reasoning <answer>42</answer>", require_think=False) == 0.0
    assert score("<answer></answer>", require_think=False) == 0.0


def test_allow_empty_think_false():
    assert score("<think></think><answer>1</answer>", allow_empty_think=False) == 0.0
    assert score("<think> \n</think><answer>1</answer>", allow_empty_think=False) == 0.0
    assert score(GOOD, allow_empty_think=False) == 1.0


def test_think_prefilled():
    # the chat template opened <think> in the prompt
    assert score("step 1</think><answer>42</answer>", think_prefilled=True) == 1.0
    assert score(GOOD, think_prefilled=True) == 0.0  # a second <think>
    assert score(GOOD, think_prefilled=False) == 1.0


def test_partial_credit_orders_quality():
    r = ThinkAnswer(partial=True)
    nothing, some, most, good = r([
        "plain text",
        "<think>x</think> 42",
        "<think>x</think><answer>42</answer> extra",
        GOOD,
    ])
    assert nothing == 0.0
    assert 0.0 < some < most < good == 1.0


def test_partial_is_one_only_when_well_formed():
    r = ThinkAnswer(partial=True)
    assert r(["<think>x</think><answer></answer>"])[0] < 1.0
    assert r(["<think>x</think>hm<answer>1</answer>"])[0] < 1.0
    strict = ThinkAnswer()
    for text in ["<answer>1</answer><think>x</think>", "<think>x</think><answer>1</answer>",
                 "<think>x</think><answer>1</answer><answer>2</answer>"]:
        assert (r([text])[0] == 1.0) == (strict([text])[0] == 1.0)


def test_partial_without_think_requirement():
    r = ThinkAnswer(partial=True, require_think=False)
    assert r(["<answer>1</answer>"]) == [1.0]
    assert 0.0 < r(["<answer>1"])[0] < 1.0


def test_batch_and_chat_form():
    r = ThinkAnswer()
    chat = [{"role": "assistant", "content": GOOD}]
    assert r([GOOD, "bad", chat]) == [1.0, 0.0, 1.0]
    assert r([]) == []


@pytest.mark.parametrize("options,option", [
    ({"think_tag": ""}, "think_tag"),
    ({"think_tag": "a b"}, "think_tag"),
    ({"answer_tag": "<answer>"}, "answer_tag"),
    ({"answer_tag": 3}, "answer_tag"),
    ({"think_tag": "x", "answer_tag": "x"}, "answer_tag"),
    ({"partial": "yes"}, "partial"),
    ({"require_think": 1}, "require_think"),
    ({"allow_empty_think": None}, "allow_empty_think"),
    ({"think_prefilled": "no"}, "think_prefilled"),
])
def test_bad_options(options, option):
    with pytest.raises(ConfigError) as err:
        ThinkAnswer(**options)
    message = str(err.value)
    assert message.startswith(f"format.think_answer: option '{option}'")
    assert "\n" not in message
