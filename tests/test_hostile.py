"""Hostile completions through the real `math` reward and the real runtime: they score 0, execute
nothing, and a batch of them finishes within its time limits plus a small overhead."""
import json
import math
import time

import pytest

from sdk_fixtures import run_cli

CANARY = "/tmp/grpo-hostile-canary"


def hostile_rows():
    inject = [
        f"\\boxed{{__import__('os').system('touch {CANARY}')}}",
        f"<answer>__import__('os').system('touch {CANARY}')</answer>",
        f"The answer is (lambda: __import__('os').system('touch {CANARY}'))()",
        "\\boxed{().__class__.__bases__[0].__subclasses__()}",
        "\\boxed{open('/etc/passwd').read()}",
        "<answer>exec('import os')</answer>",
        "\\boxed{eval('1+1')}",
        "#### __builtins__.__dict__['eval']('2')",
        "\\boxed{\\input{/etc/passwd}}",
    ]
    heavy = [
        "\\boxed{9^{9^{9^{9^{9}}}}}",
        "\\boxed{2^{2^{2^{2^{2^{2^{2^{2}}}}}}}}",
        "The answer is 10**10**10**10",
        "\\boxed{1000000000!}",
        "\\boxed{(10^{100})!}",
        "\\boxed{\\binom{10^{12}}{10^{6}}}",
        "\\boxed{" + "{" * 5000 + "1" + "}" * 5000 + "}",
        "\\boxed{" + "(" * 20000 + "1" + ")" * 20000 + "}",
        "\\boxed{" + "\\sqrt{" * 3000 + "2" + "}" * 3000 + "}",
        "\\boxed{" + "\\frac{1}{" * 2000 + "2" + "}" * 2000 + "}",
        "x" * 2_000_000 + " the answer is 7",
        "(" * 1_000_000,
        "\\boxed{" * 200_000,
    ]
    enumerations = [
        "The answer is " + " or ".join(str(i) for i in range(2000)),
        " ".join(f"\\boxed{{{i}}}" for i in range(5000)),
        "<answer>" + ", ".join(str(i) for i in range(100_000)) + "</answer>",
        "\\boxed{x = 1 \\text{ or } x = 2 \\text{ or } x = 3 \\text{ or } x = 4 \\text{ or } x = 5 \\text{ or } x = 6}",
    ]
    empty = ["", "\x00" * 1000, "\\boxed{\x00}", "<answer>\x00\x00</answer>", "\\boxed{}", "<answer></answer>"]
    # The reference 5 appears in none of them as the final answer, except as one candidate of many.
    return [{"completion": c, "answer": "5"} for c in inject + heavy + enumerations + empty]


@pytest.fixture
def canary():
    import os

    if os.path.exists(CANARY):
        os.remove(CANARY)
    yield CANARY
    assert not os.path.exists(CANARY), "a hostile completion executed code"


def test_hostile_batch_scores_zero_quickly_and_executes_nothing(tmp_path, canary):
    rows = hostile_rows()
    sample_file = tmp_path / "hostile.jsonl"
    sample_file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = tmp_path / "mix.toml"
    config.write_text('[[rewards]]\nuse = "math"\n')
    out = tmp_path / "out.jsonl"
    start = time.monotonic()
    result = run_cli("score", "--config", str(config), "--input", str(sample_file), "--output", str(out),
                     "--workers", "2")
    elapsed = time.monotonic() - start
    assert result.returncode == 0, result.stderr
    scored = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(scored) == len(rows)
    bad = [(r["completion"][:60], r["rewards"]["math"]) for r in scored if r["rewards"]["math"] != 0.0]
    assert not bad, bad
    math_line = next(line for line in result.stderr.splitlines() if line.split()[:1] == ["math"])
    timeouts = int(math_line.split()[-1])
    # A sample gets 1 s, two workers run side by side; start-up, 2 MB rows and IPC are the overhead.
    assert elapsed < math.ceil(timeouts / 2) * 1.0 + 15.0, (elapsed, result.stderr)


def test_a_hostile_row_does_not_stall_its_neighbours(tmp_path):
    rows = [{"completion": "\\boxed{5}", "answer": "5"}] * 8
    rows[3] = {"completion": "\\boxed{" + "{" * 5000 + "1" + "}" * 5000 + "}", "answer": "5"}
    sample_file = tmp_path / "mixed.jsonl"
    sample_file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = tmp_path / "mix.toml"
    config.write_text('[[rewards]]\nuse = "math"\n')
    result = run_cli("score", "--config", str(config), "--input", str(sample_file))
    assert result.returncode == 0, result.stderr
    scores = [json.loads(line)["rewards"]["math"] for line in result.stdout.splitlines()]
    assert scores == [1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0]
