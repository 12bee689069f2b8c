"""Final-answer extraction: which part of a completion is its answer."""
import pytest

from grpo_math import score
from grpo_math.extract import extract_answers


@pytest.mark.parametrize("text, first", [
    ("<think>it is 6</think><answer>7</answer>", "7"),
    ("<answer>The result is \\boxed{3}</answer>", "3"),
    ("<answer> 12", "12"),
    ("so \\boxed{1} then \\boxed{2}. Finally the answer is \\boxed{5}.", "5"),
    ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
    ("\\fbox{4}", "4"),
    ("\\boxed{\\{1, \\{2\\}\\}}", "\\{1, \\{2\\}\\}"),
    ("\\boxed {9}", "9"),
    ("\\boxed{12", "12"),  # a truncated completion still holds its answer
    ("Natalia sold 48/2 = <<48/2=24>>24 clips.\n#### 72", "72"),
    ("Thus the answer is 42.", "42"),
    ("Final Answer: The final answer is $28 \\%$. I hope it is correct.", "28 \\%"),
    ("Final Answer: The largest $n$ is 34.", "34"),
    ("Final answer: 12,000,023. I hope it is correct.", "12,000,023"),
    ("**Final Answer**\n\\[\n\\boxed{17}\n\\]", "17"),
    ("The answer is: \n\n$$\\frac{3}{4}$$", "\\frac{3}{4}"),
    ("Answer \\[ 9 \\]", "9"),
    ("Answer \\( (9+1) \\)", "(9+1)"),
    ("We find $x = 3$ and then $y = 4$. So $x + y = 7$.", "x + y = 7"),
    ("The number is 1,000.99€", "1,000.99"),
    ("We get P = 1/2 divided by 3/4, so 2/3. <|im_end|>", "2/3"),
    ("increases by $\\frac{2}{1}$ so the error grows by 100%.", "100"),
    ("Result: (2, 3)", "(2, 3)"),
    ("\\frac{10}{9}", "\\frac{10}{9}"),
    ("The correct option is C", "C"),
    ("\\\\boxed{\\\\frac{1}{2}}", "\\frac{1}{2}"),  # JSON double escaping
    ("$\\boxed{\x0crac{1}{2}}$", "\\frac{1}{2}"),  # \f of \frac eaten by a non-raw string
])
def test_first_candidate(text, first):
    assert extract_answers(text)[0].strip() == first


@pytest.mark.parametrize("text, joined", [
    ("\\boxed{1} and \\boxed{2}", "1 \\and 2"),
    ("\\boxed{(1, 2)}, \\boxed{(2, 1)}", "(1, 2) \\and (2, 1)"),
    ("\\boxed{k = 45} \\quad \\text{and} \\quad \\boxed{n = 2}", "k = 45 \\and n = 2"),
    ("$1$ and $2$ and $3$", "1 \\and 2 \\and 3"),
])
def test_boxes_and_math_listing_answers_are_joined(text, joined):
    assert extract_answers(text)[0] == joined


@pytest.mark.parametrize("text, last", [
    ("\\boxed{1} no no no no no \\boxed{2}", "2"),  # not a list: too many words between
    ("\\boxed{\\frac{1}{2}} hmm wait \\boxed{\\frac{1}{3}}", "\\frac{1}{3}"),  # a correction
    ("So $x = \\boxed{3}$. Then $y = 2x = \\boxed{6}$.", "6"),  # a new sentence
])
def test_boxes_in_separate_statements_are_not_joined(text, last):
    assert extract_answers(text)[0] == last


def test_final_answer_phrase_after_boxes_wins():
    text = ("interest is $\\boxed{200}$, then $\\boxed{255}$ more. Final Answer: The final answer "
            "is $10,455$. I hope it is correct.")
    assert extract_answers(text)[0] == "10,455"


def test_answer_followed_by_rambling_notes():
    text = "Final Answer: The final answer is $14 {, }916$. " + "[Note: please double-check.] " * 200
    assert score(text, "14916") == 1.0


def test_no_answer_at_all():
    assert extract_answers("") == []
    assert extract_answers("   \n ") == []
    assert score("I do not know how to solve this problem, sorry about that.", "5") == 0.0
    assert score("P(A) = (1/2) / (3/4) = 2/3.", "2/3") == 1.0


def test_chat_tokens_and_think_blocks_are_ignored():
    assert score("<think>maybe 6?</think>The answer is 7<|im_end|>", "7") == 1.0
    assert score("<think>7 is wrong</think> so the answer is 6", "7") == 0.0


def test_markdown_headings_are_not_gsm8k_answers():
    assert score("\\boxed{42}\n\n#### Verification\nEverything checks out.", "42") == 1.0
    assert score("#### Step 1\nWe add.\n#### Step 2\nSo the total is 42.", "42") == 1.0


def test_letters_glued_to_digits_are_not_a_number():
    assert score("AZYUK2A", "2") == 0.0
