"""stdin/stdout cases, on problems and cases the tests generate: right programs pass, wrong ones fail."""
import json
import os
import random
import shutil

import pytest

import grpo_code
from grpo_rewards.testing import mix, score

SUM = "```python\nimport sys\nprint(sum(int(x) for x in sys.stdin.read().split()))\n```"
SUM_OFF_BY_ONE = "```python\nimport sys\nprint(sum(int(x) for x in sys.stdin.read().split()) + 1)\n```"
SUM_SMALL_ONLY = "```python\nimport sys\nv = [int(x) for x in sys.stdin.read().split()]\nprint(sum(v) if len(v) < 4 else 0)\n```"


def sum_cases(seed: int, n: int = 6) -> dict:
    rng = random.Random(seed)
    inputs, outputs = [], []
    for i in range(n):
        values = [rng.randint(-10**6, 10**6) for _ in range(2 + i)]  # 2..n+1 numbers
        inputs.append(" ".join(map(str, values)) + "\n")
        outputs.append(f"{sum(values)}\n")
    return {"inputs": inputs, "outputs": outputs}


def test_generated_cases_right_wrong_and_partial(sandbox_ready):
    tests = sum_cases(0)
    scores = score(grpo_code, "code", completions=[SUM, SUM_OFF_BY_ONE, SUM_SMALL_ONLY], tests=[tests] * 3)
    assert scores == [1.0, 0.0, pytest.approx(2 / 6)]  # the last is right on the 2 and 3 number cases only


def test_all_or_nothing(sandbox_ready):
    tests = sum_cases(1)
    scores = score(grpo_code, "code", options={"all_or_nothing": True}, completions=[SUM, SUM_SMALL_ONLY],
                   tests=[tests] * 2)
    assert scores == [1.0, 0.0]


def test_test_formats_json_string_and_list_of_cases(sandbox_ready):
    tests = sum_cases(2, n=3)
    as_json = json.dumps(tests)
    as_list = [{"input": i, "output": o} for i, o in zip(tests["inputs"], tests["outputs"])]
    scores = score(grpo_code, "code", completions=[SUM] * 3, tests=[tests, as_json, as_list])
    assert scores == [1.0, 1.0, 1.0]


def test_many_generated_problems_in_one_batch(sandbox_ready):
    # Reverse the words of each line, on random lines: 24 samples, right and wrong interleaved.
    rng = random.Random(3)
    right = "```python\nimport sys\nfor line in sys.stdin:\n    print(' '.join(reversed(line.split())))\n```"
    wrong = "```python\nimport sys\nfor line in sys.stdin:\n    print(' '.join(line.split()))\n```"
    completions, tests, expected = [], [], []
    for i in range(24):
        lines = [" ".join(rng.choice(["ab", "cd", "ef", "gh", "ij"]) for _ in range(rng.randint(2, 6)))
                 for _ in range(rng.randint(1, 4))]
        case = {"inputs": ["\n".join(lines) + "\n"], "outputs": ["\n".join(" ".join(reversed(l.split())) for l in lines)]}
        good = i % 3 != 0
        completions.append(right if good else wrong)
        tests.append(case)
        expected.append(1.0 if good or all(l.split() == l.split()[::-1] for l in lines) else 0.0)
    assert score(grpo_code, "code", completions=completions, tests=tests) == expected


@pytest.mark.parametrize("compare, output, expected", [
    ("whitespace", "1  2\n3 \n\n", 1.0), ("whitespace", "1 2 4", 0.0),
    ("lines", "1 2  \n3\n\n", 1.0), ("lines", "1  2\n3\n", 0.0),
    ("exact", "1 2\n3\n", 1.0), ("exact", "1 2\n3", 0.0),
    ("float", "1.0000001 2\n3", 1.0), ("float", "1.001 2\n3", 0.0),
])
def test_output_comparison(sandbox_ready, compare, output, expected):
    program = f"```python\nimport sys\nsys.stdout.write({output!r})\n```"
    got = score(grpo_code, "code", options={"compare": compare}, completions=[program],
                tests=[{"inputs": [""], "outputs": ["1 2\n3\n"]}])
    assert got == [expected]


def test_no_code_no_tests_and_the_fence(sandbox_ready):
    tests = sum_cases(4, n=2)
    got = score(grpo_code, "code", completions=["no code here", SUM, "```bash\necho 1\n```", SUM],
                tests=[tests, None, tests, "not json"])
    assert got == [0.0, None, 0.0, None]  # no program: 0; no readable tests: unscorable
    assert score(grpo_code, "code", options={"no_code": "skip"}, completions=["no code"], tests=[tests]) == [None]
    bare = "import sys\nprint(sum(int(x) for x in sys.stdin.read().split()))"
    assert score(grpo_code, "code", options={"require_fence": False}, completions=[bare], tests=[tests]) == [1.0]
    first_last = "```python\nprint(0)\n```\nor better:\n" + SUM
    assert score(grpo_code, "code", completions=[first_last], tests=[tests]) == [1.0]
    assert score(grpo_code, "code", options={"block": "first"}, completions=[first_last], tests=[tests]) == [0.0]
    cut_off = SUM[:-3]  # the engine stopped it before the closing fence
    assert score(grpo_code, "code", completions=[cut_off], tests=[tests]) == [1.0]


def test_the_sample_budget_keeps_partial_credit(sandbox_ready):
    # Each case sleeps 0.6 s: a 2 s budget for the sample cannot run all five; those it ran still count.
    slow = "```python\nimport sys, time\ntime.sleep(0.6)\nprint(sum(int(x) for x in sys.stdin.read().split()))\n```"
    got = score(grpo_code, "code", options={"timeout": 2.0}, completions=[slow], tests=[sum_cases(5, n=5)])
    assert 0.0 < got[0] < 1.0


def test_prefix_column_for_completion_style_prompts(sandbox_ready):
    got = score(grpo_code, "code", options={"prefix_column": "head", "require_fence": False},
                completions=["    return a * b\n"], head=["def mul(a, b):\n"],
                test=["def check(f):\n    assert f(3, 4) == 12\n"], entry_point=["mul"])
    assert got == [1.0]


# C++ and JavaScript are optional for users; CI installs their toolchains, so there a missing one fails.
@pytest.mark.skipif(shutil.which("g++") is None and not os.environ.get("CI"), reason="g++ is not installed")
def test_cpp(sandbox_ready):
    right = "```cpp\n#include <iostream>\nint main() { long a, s = 0; while (std::cin >> a) s += a; std::cout << s; }\n```"
    broken = "```cpp\nint main() { return }\n```"
    got = score(grpo_code, "code", options={"language": "cpp"}, completions=[right, broken, SUM],
                tests=[sum_cases(6, n=3)] * 3)
    assert got == [1.0, 0.0, 0.0]  # a python block is not a C++ program


@pytest.mark.skipif(shutil.which("node") is None and not os.environ.get("CI"), reason="node is not installed")
def test_javascript(sandbox_ready):
    right = ("```javascript\nconst v = require('fs').readFileSync(0, 'utf8').split(/\\s+/).filter(Boolean);\n"
             "console.log(v.reduce((s, x) => s + Number(x), 0));\n```")
    got = score(grpo_code, "code", options={"language": "javascript"}, completions=[right, "```js\nwhile(1){}\n```"],
                tests=[sum_cases(7, n=3)] * 2)
    assert got == [1.0, 0.0]


def test_through_the_pool_like_training(sandbox_ready):
    with mix(grpo_code, rewards=[{"use": "code", "options": {"timeout": 4.0}}]) as m:
        component = m.components[0]
        assert component.isolate and component.timeout == 4.0 + grpo_code.reward.POOL_GRACE
        result = m.score([SUM, SUM_OFF_BY_ONE] * 4, tests=[sum_cases(8)] * 8)
    assert result.rewards["code"] == [1.0, 0.0] * 4


def test_odd_dataset_values(sandbox_ready):
    assert score(grpo_code, "code", completions=[SUM], tests=[{"inputs": ["1 2"], "outputs": [3]}]) == [1.0]
    define = "```python\ndef f():\n    return 1\n```"
    got = score(grpo_code, "code", completions=[define] * 3,
                test=["def check(g):\n    assert g() == 2\n", "def check(g):\n    assert g() == 2\n",
                      "assert f() == 1\n"],
                entry_point=["f", "not an identifier", ""])
    assert got == [0.0, None, 1.0]  # a check() that cannot be called is no test; no entry point: the test runs as is
