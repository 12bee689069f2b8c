"""open-r1's reward functions, registered unchanged in a plugin package, through `grpo score` and `grpo train`.

open-r1's code is not part of this repository: the script takes the path of an open-r1 checkout
(huggingface/open-r1; its src/open_r1/rewards.py and tests/test_rewards.py) and builds, in a
temporary directory, a plugin distribution `openr1-rewards` whose hook registers open-r1's functions
as they are: ``register("openr1.format", rewards.format_reward)``, and the ``get_*`` factories with
``factory=True``.

Part 1 runs open-r1's own tests (tests/test_rewards.py) with every reward function they call
replaced by a proxy that writes the call's inputs as JSONL rows (chat-format ``completion``,
``solution``, ``completion_ids``), scores them with `grpo score` in a subprocess (a factory's
parameters become the mix entry's ``options``) and returns the scores, so open-r1's own assertions
judge what `grpo score` produced. A factory call first runs `grpo score` on an empty input, and a
ValueError the factory raises reaches the test as the ValueError it expects. Each proxied call is
also made directly, and the two results compared.

Part 2 runs `grpo train` for two steps on the shipped tiny model with a conversational dataset
(prompts are chat messages, a ``solution`` column) and a mix of every open-r1 reward that runs
offline, and reads each reward's errors and unscorable samples per step from metrics.jsonl.

Importing open_r1.rewards unchanged needs two shims of its surroundings, not of its code: the
package ``open_r1.utils`` is created bare (its __init__ imports open-r1's training stack, which needs
``trl.get_kbit_device_map``, gone from TRL 1.x), and ``open_r1.utils.import_utils`` answers whether
e2b and morphcloud are installed with a bool (under transformers 5 the helper it calls returns a
``(bool, version)`` tuple, which is always true, so open-r1 would import packages that are absent).

    pip install -e ".[bench]" aiohttp async-lru python-dotenv jieba   # what open-r1's modules import
    python benchmarks/openr1_rewards.py --open-r1 PATH/TO/open-r1 [--skip-train] [--json]

Offline: nothing is downloaded. Prints the command, machine, date, load, the open-r1 commit, and the
figures.
"""
from __future__ import annotations

import argparse
import datetime
import importlib.util
import inspect
import io
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

# open-r1 function -> (registered name, is a factory)
REWARDS = {
    "accuracy_reward": ("openr1.accuracy", False),
    "format_reward": ("openr1.format", False),
    "tag_count_reward": ("openr1.tag_count", False),
    "reasoning_steps_reward": ("openr1.reasoning_steps", False),
    "len_reward": ("openr1.length", False),
    "get_cosine_scaled_reward": ("openr1.cosine", True),
    "get_repetition_penalty_reward": ("openr1.repetition_penalty", True),
    "get_code_format_reward": ("openr1.code_format", True),
    "get_soft_overlong_punishment": ("openr1.soft_overlong", True),
}

SHIMS = '''
import importlib.util, sys, types

def load_open_r1(src):
    """open_r1.rewards, unchanged, from the checkout's src directory (see the benchmark's docstring)."""
    if "open_r1.rewards" in sys.modules:
        return sys.modules["open_r1.rewards"]
    package = types.ModuleType("open_r1")
    package.__path__ = [src + "/open_r1"]
    utils = types.ModuleType("open_r1.utils")
    utils.__path__ = [src + "/open_r1/utils"]
    probes = types.ModuleType("open_r1.utils.import_utils")
    for module in (utils, probes):
        module.is_e2b_available = lambda: importlib.util.find_spec("e2b_code_interpreter") is not None
        module.is_morph_available = lambda: importlib.util.find_spec("morphcloud") is not None
    sys.modules.update({"open_r1": package, "open_r1.utils": utils, "open_r1.utils.import_utils": probes})
    import open_r1.rewards
    return open_r1.rewards
'''

PLUGIN = SHIMS + '''
from grpo_rewards import hookimpl

REWARDS = @REWARDS@
rewards = load_open_r1(@SRC@)


@hookimpl
def register_rewards(register):
    for function, (name, factory) in REWARDS.items():
        register(name, getattr(rewards, function), factory=factory)
'''


def make_plugin(root: Path, src: str) -> None:
    (root / "openr1_rewards.py").write_text(PLUGIN.replace("@REWARDS@", repr(REWARDS)).replace("@SRC@", repr(src)))
    info = root / "openr1_rewards-0.0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: openr1-rewards\nVersion: 0.0.0\n")
    (info / "entry_points.txt").write_text("[grpo_rewards]\nopenr1_rewards = openr1_rewards\n")


class GrpoScore:
    """Runs `grpo score` on one call's rows, with the open-r1 plugin and nothing else loaded."""

    def __init__(self, site: Path, work: Path):
        self.site, self.work, self.calls = site, work, 0
        self.env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
                    "GRPO_PLUGINS": "openr1-rewards", "HF_HUB_OFFLINE": "1"}

    def __call__(self, name: str, options: dict, rows: list[dict]) -> tuple[int, str, list]:
        self.calls += 1
        base = self.work / f"call{self.calls}"
        mix, data, out = base.with_suffix(".toml"), base.with_suffix(".jsonl"), base.with_suffix(".out.jsonl")
        mix.write_text(f"[[rewards]]\nuse = {json.dumps(name)}\non_error = \"raise\"\n"
                       + (f"options = {{ {', '.join(f'{k} = {json.dumps(v)}' for k, v in options.items())} }}\n"
                          if options else ""))
        data.write_text("".join(json.dumps(r) + "\n" for r in rows))
        proc = subprocess.run([sys.executable, "-m", "grpo_core.cli", "score", "--config", str(mix), "--input",
                               str(data), "--output", str(out), "--workers", "1", "--allow-unscored"],
                              capture_output=True, text=True, env=self.env, timeout=600)
        scores = [json.loads(line)["rewards"][name] for line in out.read_text().splitlines()] \
            if proc.returncode == 0 else []
        last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""
        return proc.returncode, last, scores


def _rows(bound: dict) -> list[dict]:
    """One JSONL row per sample from a call's bound arguments (lists of per-sample values)."""
    lists = {k: v for k, v in bound.items() if isinstance(v, list)}
    n = len(next(iter(lists.values())))
    rows = []
    for i in range(n):
        row = {("completion" if k == "completions" else k): v[i] for k, v in lists.items()}
        row.setdefault("completion", "")  # soft_overlong reads completion_ids only
        rows.append(row)
    return rows


def _bind(fn, args, kwargs) -> dict:
    bound = inspect.signature(fn).bind(*args, **kwargs)
    values = dict(bound.arguments)
    for p in inspect.signature(fn).parameters.values():
        if p.kind is p.VAR_KEYWORD:
            values.update(values.pop(p.name, {}))
    return values


def _same(a, b) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if a is None or b is None:
        return a is b
    return float(a) == float(b)


def proxies(rewards, grpo: GrpoScore, log: list) -> dict:
    def scorer(function, name, fn, options):
        def call(*args, **kwargs):
            rc, last, scores = grpo(name, options, _rows(_bind(fn, args, kwargs)))
            direct = fn(*args, **kwargs)
            log.append({"function": function, "options": options, "status": rc, "grpo": scores, "direct": direct,
                        "same": rc == 0 and _same(scores, list(direct))})
            if rc != 0:
                raise RuntimeError(f"grpo score exited {rc}: {last}")
            return scores
        call.__name__ = fn.__name__
        return call

    def factory(function, name, fn):
        def build(*args, **kwargs):
            options = _bind(fn, args, kwargs)
            rc, last, _ = grpo(name, options, [])  # the mix is built even for no rows: options are checked
            try:
                real = fn(*args, **kwargs)
                direct_error = None
            except ValueError as exc:
                real, direct_error = None, str(exc)
            if rc == 2:
                log.append({"function": function, "options": options, "status": rc, "grpo": last,
                            "direct": direct_error, "same": direct_error is not None and direct_error in last})
                raise ValueError(last)
            return scorer(function, name, real, options)
        return build

    table = {}
    for function, (name, is_factory) in REWARDS.items():
        fn = getattr(rewards, function)
        table[function] = factory(function, name, fn) if is_factory else scorer(function, name, fn, {})
    return table


def run_open_r1_tests(checkout: Path, site: Path, work: Path) -> dict:
    logging.getLogger("latex2sympy2_extended").setLevel(logging.ERROR)  # a deprecation notice on every parse
    namespace: dict = {}
    exec(SHIMS, namespace)
    rewards = namespace["load_open_r1"](str(checkout / "src"))
    spec = importlib.util.spec_from_file_location("open_r1_test_rewards", checkout / "tests" / "test_rewards.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    log: list = []
    grpo = GrpoScore(site, work)
    for function, proxy in proxies(rewards, grpo, log).items():
        if hasattr(module, function):
            setattr(module, function, proxy)  # the tests' own names now score through `grpo score`
    outcomes = {}
    suite = unittest.TestLoader().loadTestsFromModule(module)
    for test in _flatten(suite):
        before = len(log)
        result = unittest.TestResult()
        test.run(result)
        status = "failed" if result.failures else "error" if result.errors else "skipped" if result.skipped \
            else "passed"
        detail = (result.failures or result.errors or [(None, "")])[0][1].strip().splitlines()[-1:] or [""]
        outcomes[test.id().split(".", 1)[1]] = {"status": status, "calls": len(log) - before, "detail": detail[0]}
    return {"tests": outcomes, "calls": log, "grpo_runs": grpo.calls}


def _flatten(suite):
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from _flatten(item)
        else:
            yield item


TRAIN_MIX = [
    ("openr1.accuracy", {}), ("openr1.format", {}), ("openr1.tag_count", {}), ("openr1.reasoning_steps", {}),
    ("openr1.length", {}), ("openr1.cosine", {"max_len": 100}),
    ("openr1.repetition_penalty", {"ngram_size": 2, "max_penalty": -1.0}),
    ("openr1.code_format", {"language": "python"}),
    ("openr1.soft_overlong", {"max_completion_len": 8, "soft_punish_cache": 4}),
]


def run_train(site: Path, work: Path) -> dict:
    data = work / "chat.jsonl"
    data.write_text("".join(json.dumps({"prompt": [{"role": "user", "content": f"What is {a} + {b}?"}],
                                        "solution": f"${a + b}$"}) + "\n"
                            for a, b in zip(range(10, 42, 4), range(31, 95, 8))))
    lines = ["[model]", 'name = "builtin:tiny-arith"', "[lora]", "r = 8", "alpha = 16", "[data]",
             f"dataset = {json.dumps(str(data))}", 'prompt = "prompt"', "eval_limit = 4", "[grpo]",
             "num_generations = 4", "prompts_per_step = 2", "max_completion_length = 8", "[train]", "steps = 2",
             "learning_rate = 1e-3", f"output_dir = {json.dumps(str(work / 'run'))}", "save_every = 2", ""]
    for name, options in TRAIN_MIX:
        lines += ["[[rewards]]", f"use = {json.dumps(name)}"]
        if options:
            lines.append("options = { " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in options.items()) + " }")
        lines.append("")
    config = work / "train.toml"
    config.write_text("\n".join(lines))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
           "GRPO_PLUGINS": "openr1-rewards", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "grpo_core.cli", "train", str(config), "--no-progress"],
                          capture_output=True, text=True, env=env, timeout=1200)
    metrics_file = work / "run" / "metrics.jsonl"
    metrics = [json.loads(line) for line in metrics_file.read_text().splitlines()] if metrics_file.exists() else []
    per_step = [{name: {k: m.get(f"rewards/{name}/{k}") for k in ("mean", "errors", "unscorable", "timeouts")}
                 for name, _ in TRAIN_MIX} for m in metrics]
    return {"status": proc.returncode, "stderr_tail": proc.stderr.strip().splitlines()[-3:], "steps": per_step}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--open-r1", required=True, type=Path, help="path of an open-r1 checkout")
    parser.add_argument("--skip-train", action="store_true", help="only part 1 (open-r1's tests)")
    parser.add_argument("--json", action="store_true", help="print the full results as JSON")
    args = parser.parse_args()
    checkout = args.open_r1.resolve()
    if not (checkout / "src" / "open_r1" / "rewards.py").is_file():
        print(f"openr1_rewards: {checkout} is not an open-r1 checkout (no src/open_r1/rewards.py)", file=sys.stderr)
        return 2
    commit = subprocess.run(["git", "-C", str(checkout), "log", "-1", "--format=%h %cs %s"], capture_output=True,
                            text=True).stdout.strip() or "unknown (not a git checkout)"
    print(f"command: {' '.join([Path(sys.executable).name] + sys.argv)}")
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"date: {datetime.datetime.now().isoformat(timespec='seconds')}; load: {os.getloadavg()}")
    print(f"open-r1: {checkout} @ {commit}")
    started = datetime.datetime.now()
    with tempfile.TemporaryDirectory(prefix="openr1-") as tmp:
        site, work = Path(tmp) / "site", Path(tmp) / "work"
        site.mkdir()
        work.mkdir()
        make_plugin(site, str(checkout / "src"))
        quiet = io.StringIO()  # open-r1's rewards print their parse failures; keep the report readable
        stdout, sys.stdout = sys.stdout, quiet
        try:
            part1 = run_open_r1_tests(checkout, site, work)
        finally:
            sys.stdout = stdout
        tests, calls = part1["tests"], part1["calls"]
        print("\npart 1: open-r1's tests/test_rewards.py, every reward call scored by `grpo score`")
        for test, outcome in tests.items():
            print(f"  {outcome['status']:<7} {outcome['calls']:>2} calls  {test}"
                  + (f"  ({outcome['detail'][:100]})" if outcome["status"] != "passed" else ""))
        counted = {t: o for t, o in tests.items() if o["calls"]}
        uncounted = ", ".join(f"{t.rsplit('.', 1)[-1]} {o['status']}" for t, o in tests.items() if not o["calls"])
        print(f"  tests that call a reward: {sum(o['status'] == 'passed' for o in counted.values())} of "
              f"{len(counted)} pass; tests that call none: {len(tests) - len(counted)} ({uncounted})")
        print(f"  reward calls whose `grpo score` result equals the direct call's: "
              f"{sum(c['same'] for c in calls)} of {len(calls)} (factory calls included); "
              f"`grpo score` runs: {part1['grpo_runs']}")
        part2 = None
        if not args.skip_train:
            part2 = run_train(site, work)
            print(f"\npart 2: `grpo train`, 2 steps, conversational prompts, {len(TRAIN_MIX)} open-r1 rewards: "
                  f"exit status {part2['status']}")
            for i, step in enumerate(part2["steps"], 1):
                bad = {n: v for n, v in step.items() if v["errors"] or v["unscorable"]}
                print(f"  step {i}: errors {sum(v['errors'] for v in step.values())}, unscorable "
                      f"{sum(v['unscorable'] for v in step.values())} over {len(step)} rewards"
                      + (f"; {bad}" if bad else ""))
                print("    means: " + ", ".join(f"{n.split('.', 1)[1]} {v['mean']:.3f}" if v["mean"] is not None
                                               else f"{n.split('.', 1)[1]} -" for n, v in step.items()))
            if part2["status"]:
                print("  " + "\n  ".join(part2["stderr_tail"]))
        print(f"\nelapsed: {(datetime.datetime.now() - started).total_seconds():.0f} s; load now: {os.getloadavg()}")
        if args.json:
            print(json.dumps({"part1": part1, "part2": part2}, default=str, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
