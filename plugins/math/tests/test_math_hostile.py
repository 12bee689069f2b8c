"""Hostile completions score 0, execute nothing and finish fast, in the calling process.

The worker pool's timeout is the second line of defence; these tests call the checker directly,
so a slow path shows up here as a slow test rather than as a killed worker.
"""
import os
import time

import pytest

from grpo_math import score

TIME_LIMIT = 1.0  # seconds per row, generous: most of these finish in a few milliseconds

HOSTILE = {
    "power tower": "\\boxed{2^{2^{2^{100}}}}",
    "nine tower": "\\boxed{9^{9^{9^9}}}",
    "plain power tower": "The answer is 9^9^9^9^9",
    "huge factorial": "\\boxed{1000000!}",
    "factorial of a power": "\\boxed{(10^{10})!}",
    "factorial chain": "\\boxed{((3!)!)!}",
    "huge binomial": "\\boxed{\\binom{10^{9}}{5\\cdot 10^8}}",
    "power of sqrt": "\\boxed{\\sqrt{2}^{10^{9}}}",
    "power of fraction": "\\boxed{(3/2)^{10^{7}}}",
    "polynomial power": "\\boxed{(x+1)^{1000000}}",
    "matrix power": "\\boxed{\\begin{pmatrix}1&1\\\\1&0\\end{pmatrix}^{1000000}}",
    "sine of a huge number": "\\boxed{\\sin(10^{10000})}",
    "huge sum": "\\boxed{\\sum_{k=1}^{10^{100}} k}",
    "sum of towers": "\\boxed{\\sum_{k=1}^{1000} 10^{10^{k}}}",
    "e tower": "\\boxed{e^{e^{e^{e^{10}}}}}",
    "long literal": "\\boxed{" + "9" * 100_000 + "}",
    "huge exponent literal": "\\boxed{1e999999}",
    "nested braces": "\\boxed{" + "{" * 5000 + "1" + "}" * 5000 + "}",
    "nested parentheses": "\\boxed{" + "(" * 5000 + "1" + ")" * 5000 + "}",
    "nested parentheses, plain": "(" * 100_000 + "1" + ")" * 100_000,
    "nested fractions": "\\boxed{" + "\\frac{1}{" * 300 + "2" + "}" * 300 + "}",
    "nested roots": "\\boxed{" + "\\sqrt{" * 300 + "2" + "}" * 300 + "}",
    "nested text": "\\boxed{" + "\\text{" * 200 + "1" + "}" * 200 + "}",
    "minus chain": "\\boxed{" + "-" * 5000 + "1}",
    "power chain": "\\boxed{" + "2^" * 500 + "2}",
    "bars": "\\boxed{" + "|" * 3000 + "}",
    "plus-minus chain": "\\boxed{" + "\\pm 1 " * 100 + "}",
    "many items": "\\boxed{" + ",".join(["1"] * 10_000) + "}",
    "many tuples": "\\boxed{" + ",".join(["(1,2)"] * 300) + "}",
    "big matrix": "\\boxed{\\begin{pmatrix}" + " \\\\ ".join(["1 & " * 50 + "1"] * 50) + "\\end{pmatrix}}",
    "determinant of towers": "\\boxed{\\begin{vmatrix}" + " \\\\ ".join([" & ".join(["2^{90000}"] * 3)] * 3)
                             + "\\end{vmatrix}}",
    "symbolic 10 x 10 determinant": "\\boxed{\\begin{vmatrix}" + " \\\\ ".join(
        " & ".join(f"x_{{{i}{j}}}" for j in range(10)) for i in range(10)) + "\\end{vmatrix}}",
    "4 x 4 determinant of powers": "\\boxed{\\det\\begin{pmatrix}" + " \\\\ ".join(
        " & ".join(f"(x+{i}{j})^{{999}}" for j in range(4)) for i in range(4)) + "\\end{pmatrix}}",
    "primes and subscripts": "\\boxed{" + "x" + "'" * 700 + "_{" + "\\mathrm{" * 25 + "a" + "}" * 25 + "}}",
    "function head over a long bracket": "\\boxed{" + "f" * 1 + "(" + ",".join(["x"] * 350) + ") = 1}",
    "mixed numbers": "\\boxed{" + " + ".join(["1 1/2"] * 150) + "}",
    "clock times": "\\boxed{" + ", ".join(["12:30 p.m."] * 100) + "}",
    "import": "\\boxed{__import__('os').system('touch /tmp/grpo_math_pwned')}",
    "lambda": "\\boxed{(lambda: __import__('os').system('touch /tmp/grpo_math_pwned'))()}",
    "dunder chain": "\\boxed{().__class__.__bases__[0].__subclasses__()}",
    "open": "\\boxed{open('/etc/passwd').read()}",
    "eval": "The answer is eval('__import__(\"os\").system(\"touch /tmp/grpo_math_pwned\")')",
    "exec": "\\boxed{exec(\"import os\")}",
    "sympify bait": "\\boxed{Symbol('x').__class__}",
    "empty": "",
    "nul bytes": "\x00" * 1000,
    "nul in box": "\\boxed{\x00\x00}",
    "lone surrogates": "\\boxed{\ud800\udfff}",
    "2 MB of letters": "a" * 2_000_000,
    "2 MB of digits": "1" * 2_000_000,
    "2 MB of commas": "1," * 1_000_000,
    "2 MB of open boxes": "\\boxed{" * 300_000,
    "2 MB of dollars": "$" * 2_000_000,
    "2 MB of answer phrases": "answer is " * 200_000,
    "2 MB of backslashes": "\\" * 2_000_000,
    "2 MB of braces": "{" * 2_000_000,
    "2 MB of maths": "\\frac{1}{2} $x^2$ \\boxed{3} " * 70_000,
}


@pytest.mark.parametrize("completion", list(HOSTILE.values()), ids=list(HOSTILE))
@pytest.mark.parametrize("reference", ["42", "x^2+1", "\\{1,2\\}"])
def test_hostile_completion_scores_zero_fast(completion, reference):
    start = time.perf_counter()
    result = score(completion, reference)
    elapsed = time.perf_counter() - start
    assert result == 0.0
    assert elapsed < TIME_LIMIT, f"took {elapsed:.2f} s"


@pytest.mark.parametrize("reference", list(HOSTILE.values()), ids=list(HOSTILE))
def test_hostile_reference_never_raises_and_is_fast(reference):
    start = time.perf_counter()
    result = score("\\boxed{42}", reference)
    assert result in (0.0, None)
    assert time.perf_counter() - start < TIME_LIMIT


def test_injection_attempts_executed_nothing():
    assert not os.path.exists("/tmp/grpo_math_pwned")


def test_dangerous_names_become_harmless_symbols_at_worst():
    # A name that happens to spell code is only ever a sympy Symbol: equal to itself, nothing more.
    assert score("\\boxed{open}", "\\text{open}") == 1.0
    assert score("\\boxed{eval}", "42") == 0.0
