"""The ``code`` reward: the fraction of a sample's tests its program passes, run in the sandbox.

Why it is an *isolated* reward. The SDK's worker pool already runs one sample per call in as many
forked workers as the machine has cores, with a hard per-sample clock: that is exactly "programs of
a batch in parallel over the cores", and it adds a second line of defence we would otherwise build
again. If anything in our own code stalls on a hostile program, the pool kills the worker, and
bwrap's --die-with-parent takes the sandbox down with it. The workers are forked before the model
loads, so they are small: starting a sandbox from one costs the same whether the trainer holds
0.5 B or 7 B parameters, where spawning from the trainer itself would copy its page tables. The
pool's limit is derived from ours: ``timeout`` (per sample, plus the build limit of a compiled
language) plus ``POOL_GRACE`` seconds, so our own budget, which keeps the partial credit of the
tests already passed, always acts first. Called directly with a whole batch (outside the mix), the samples run in threads, as many as the cores.
"""
from __future__ import annotations

import concurrent.futures
import os
import time

from grpo_rewards import ConfigError
from grpo_rewards.text import as_text

from . import cases, extract, languages
from .sandbox import Limits, Program, create

POOL_GRACE = 3.0   # seconds the pool waits past a sample's own budget (sandbox start-up and teardown)


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _number(name, value, low=0.0, integer=False):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > low
    if integer:
        ok = ok and isinstance(value, int)
    if not ok:
        kind = "a positive integer" if integer else "a positive number"
        raise ConfigError(f"code: option {name!r} must be {kind}, got {value!r}")
    return value


def _column(name, value):
    if value is not None and (not isinstance(value, str) or not value):
        raise ConfigError(f"code: option {name!r} must name a dataset column, got {value!r}")
    return value


class CodeReward:
    """Run the completion's program against the sample's tests; see the plugin README for every option."""

    isolate = True

    def __init__(self, language: str = "python", tests_column: str = "tests", test_column: str = "test",
                 entry_point_column: str = "entry_point", prefix_column: str | None = None, block: str = "last",
                 require_fence: bool = True, compare: str = "whitespace", float_tol: float = 1e-6,
                 all_or_nothing: bool = False, strict_returns: bool = True, no_code: str = "zero", test_timeout: float = 2.0,
                 timeout: float = 10.0, memory_mb: int = 512, output_kb: int = 1024, max_processes: int = 16,
                 file_size_mb: int = 16, tmp_mb: int = 64, sandbox: str = "bwrap", python: str = "python3",
                 ro_paths: list | tuple = (), memory_limit_mb: int = 1024):
        if block not in ("last", "first"):
            raise ConfigError(f'code: option \'block\' must be "last" or "first", got {block!r}')
        if compare not in cases.COMPARES:
            raise ConfigError(f"code: option 'compare' must be one of {', '.join(cases.COMPARES)}, got {compare!r}")
        if no_code not in ("zero", "skip"):
            raise ConfigError(f'code: option \'no_code\' must be "zero" (score 0) or "skip" (unscorable), '
                              f"got {no_code!r}")
        for name, flag in (("require_fence", require_fence), ("all_or_nothing", all_or_nothing),
                           ("strict_returns", strict_returns)):
            if not isinstance(flag, bool):
                raise ConfigError(f"code: option {name!r} must be true or false, got {flag!r}")
        if not isinstance(ro_paths, (list, tuple)) or not all(isinstance(p, str) and os.path.isabs(p)
                                                               and os.path.isdir(p) for p in ro_paths):
            raise ConfigError(f"code: option 'ro_paths' must list existing absolute directories, got {ro_paths!r}")
        if not isinstance(python, str) or not python:
            raise ConfigError(f"code: option 'python' must name an interpreter, got {python!r}")
        self.tests_column = _column("tests_column", tests_column)
        self.test_column = _column("test_column", test_column)
        self.entry_point_column = _column("entry_point_column", entry_point_column)
        self.prefix_column = _column("prefix_column", prefix_column)
        self.block, self.require_fence, self.compare = block, require_fence, compare
        if isinstance(float_tol, bool) or not isinstance(float_tol, (int, float)) or not 0 <= float_tol < 1:
            raise ConfigError(f"code: option 'float_tol' must be a number in [0, 1), got {float_tol!r}")
        self.float_tol = float(float_tol)
        self.all_or_nothing, self.strict_returns = all_or_nothing, strict_returns
        self.no_code_score = 0.0 if no_code == "zero" else None
        self.test_timeout = float(_number("test_timeout", test_timeout))
        self.sample_timeout = float(_number("timeout", timeout))
        self.limits = Limits(
            timeout=self.test_timeout, memory_mb=_number("memory_mb", memory_mb, integer=True),
            output_bytes=_number("output_kb", output_kb, integer=True) * 1024,
            processes=_number("max_processes", max_processes, integer=True),
            file_size_mb=_number("file_size_mb", file_size_mb, integer=True),
            tmp_mb=_number("tmp_mb", tmp_mb, integer=True))
        lang = languages.build(language, python=python, sandboxed=sandbox != "none", ro_paths=tuple(ro_paths))
        self.language = lang
        # What the SDK's worker pool reads: its hard per-sample limit (a compiled language's build has a
        # limit of its own, outside the sample's budget), and the worker's own memory cap.
        build = lang.compile_limits.timeout if lang.compile is not None else 0.0
        self.timeout = self.sample_timeout + build + POOL_GRACE
        self.memory_limit_mb = _number("memory_limit_mb", memory_limit_mb, integer=True)
        self.backend = create(sandbox, {lang.name: lang}, tuple(ro_paths))

    def __call__(self, completions, **fields) -> list[float | None]:
        n = len(completions)
        if self.tests_column not in fields and self.test_column not in fields:
            have = ", ".join(sorted(fields)) or "none"
            raise ConfigError(f"code: the batch has neither a {self.tests_column!r} column (stdin/stdout cases) "
                              f"nor a {self.test_column!r} column (assert-style tests); columns: {have}; set the "
                              "options 'tests_column' / 'test_column'")

        def column(name):
            values = list(fields.get(name) or []) if name else []
            return values + [None] * (n - len(values))

        rows = list(zip(completions, column(self.tests_column), column(self.test_column),
                        column(self.entry_point_column), column(self.prefix_column)))
        if n <= 1:
            return [self.score(*row) for row in rows]
        with concurrent.futures.ThreadPoolExecutor(min(n, _cores())) as pool:
            return list(pool.map(lambda row: self.score(*row), rows))

    def score(self, completion, tests=None, test=None, entry_point=None, prefix=None) -> float | None:
        """One sample: 1.0 when every test passes, the fraction passed (or 0 with all_or_nothing), None when
        the sample has no tests to judge it by."""
        stdio = cases.stdio_cases(tests) if tests is not None else None
        assert_test = test if isinstance(test, str) and test.strip() else None
        if stdio is None and assert_test is None:
            return None
        program = extract.extract_program(as_text(completion), self.language.tags, self.block, self.require_fence)
        if program is None:
            return self.no_code_score
        if isinstance(prefix, str) and prefix:
            program = prefix + program
        jobs = [(given, expected, None) for given, expected in stdio or []]
        if assert_test is not None:
            if self.language.name != "python":
                source, stdin, nonce = program + "\n" + assert_test + "\n", b"", None  # the test holds main()
            else:
                entry_point = entry_point or None
                if entry_point is not None and not (isinstance(entry_point, str) and entry_point.isidentifier()):
                    return None  # a test whose check() cannot be called would pass by doing nothing
                source, stdin, nonce = cases.assert_program(program, assert_test, entry_point, self.strict_returns)
            jobs.append((stdin, None, (source, nonce)))
        deadline = time.monotonic() + self.sample_timeout
        passed = 0
        for given, expected, harness in jobs:
            remaining = deadline - time.monotonic()
            if remaining <= 0.05:
                break  # the sample's budget is spent: the tests left count as failed
            limits = self.limits if remaining >= self.limits.timeout else \
                Limits(**{**self.limits.__dict__, "timeout": remaining})
            ok = self._run_one(program, given, expected, harness, limits)
            passed += ok
            if not ok and self.all_or_nothing:
                return 0.0
        if self.all_or_nothing:
            return 1.0 if passed == len(jobs) else 0.0
        return passed / len(jobs)

    def _run_one(self, program, given, expected, harness, limits) -> bool:
        source = harness[0] if harness else program
        result = self.backend.run(Program(self.language.name, source), given, limits)
        if not result.ok:
            return False
        if harness is not None:
            return harness[1] is None or cases.assert_passed(result.stdout, harness[1])
        return cases.same_output(result.stdout, expected, self.compare, self.float_tol)
