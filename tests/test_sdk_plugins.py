"""Plugin discovery through entry points, GRPO_PLUGINS, and failures that stay contained."""
import json

import pytest

from grpo_rewards import plugins
from grpo_rewards.plugins import PluginInfo, Registry

from sdk_fixtures import make_distribution, run_cli

GOOD = """
from grpo_rewards import hookimpl

def shouting(completions, **fields):
    return [1.0 if c.isupper() else 0.0 for c in completions]

@hookimpl
def register_rewards(register):
    register("shouting", shouting)
"""


@pytest.fixture
def site(tmp_path):
    make_distribution(tmp_path, "grpo-shouting", "grpo_shouting", GOOD)
    make_distribution(tmp_path, "grpo-broken", "grpo_broken", "import no_such_module_anywhere\n")
    make_distribution(tmp_path, "grpo-badhook", "grpo_badhook", """
        from grpo_rewards import hookimpl
        @hookimpl
        def register_rewards(register):
            raise RuntimeError("boom in register")
        """)
    return tmp_path


def plugin_rows(result):
    assert result.returncode == 0, result.stderr
    return {p["distribution"]: p for p in json.loads(result.stdout)["plugins"]}


def test_all_installed_plugins_load_and_failures_are_reported_once(site):
    result = run_cli("plugins", "--json", path_dirs=[site])
    rows = plugin_rows(result)
    assert rows["grpo-shouting"]["rewards"] == ["shouting"]
    assert rows["grpo-shouting"]["version"] == "0.1.0"
    assert "ModuleNotFoundError" in rows["grpo-broken"]["error"]
    assert "boom in register" in rows["grpo-badhook"]["error"]
    assert rows["grpo-format"]["error"] is None  # the others still load
    assert result.stderr.count("grpo-broken") == 1
    assert result.stderr.count("grpo-badhook") == 1


def test_grpo_plugins_allow_list(site):
    rows = plugin_rows(run_cli("plugins", "--json", path_dirs=[site], env={"GRPO_PLUGINS": "grpo_shouting"}))
    assert list(rows) == ["grpo-shouting"]
    rows = plugin_rows(run_cli("plugins", "--json", path_dirs=[site], env={"GRPO_PLUGINS": ""}))
    assert rows == {}
    result = run_cli("plugins", path_dirs=[site], env={"GRPO_PLUGINS": "grpo-shouting, grpo-nothere"})
    assert "grpo-shouting" in result.stdout and "grpo-format" not in result.stdout
    assert "grpo-nothere" in result.stderr


def test_plugins_text_listing_names_rewards_and_failures(site):
    result = run_cli("plugins", path_dirs=[site])
    assert "grpo-shouting 0.1.0\n  reward  shouting" in result.stdout
    assert "grpo-broken 0.1.0  FAILED: ModuleNotFoundError" in result.stdout


def _module(name, **attrs):
    import types
    mod = types.ModuleType(name)
    mod.__dict__.update(attrs)
    return mod


def test_duplicate_reward_name_fails_second_plugin_only():
    from grpo_rewards import hookimpl

    @hookimpl
    def register_rewards(register):
        register("same", lambda completions: [0.0] * len(completions))

    reg = Registry()
    reg.add(_module("a", register_rewards=register_rewards), PluginInfo("a", "dist-a", "1"))
    reg.add(_module("b", register_rewards=register_rewards), PluginInfo("b", "dist-b", "1"))
    assert reg.rewards["same"].plugin.distribution == "dist-a"
    assert "already registered by dist-a" in reg.plugins[1].error


def test_misspelt_hook_is_a_load_error():
    from grpo_rewards import hookimpl

    @hookimpl
    def register_reward(register):  # missing "s"
        pass

    reg = Registry()
    reg.add(_module("typo", register_reward=register_reward), PluginInfo("typo", "dist-typo", "1"))
    assert "register_reward" in reg.plugins[0].error


def test_hook_arguments_are_opt_in_and_bad_names_rejected():
    from grpo_rewards import hookimpl

    @hookimpl
    def register_rewards():  # declares no argument: allowed, registers nothing
        pass

    reg = Registry()
    reg.add(_module("quiet", register_rewards=register_rewards), PluginInfo("quiet", "d", "1"))
    assert reg.plugins[0].error is None and reg.rewards == {}

    @hookimpl
    def register_rewards(register):  # noqa: F811
        register("has space", lambda completions: [])

    reg.add(_module("bad", register_rewards=register_rewards), PluginInfo("bad", "d2", "1"))
    assert "invalid name" in reg.plugins[1].error


def test_registry_is_cached_and_resettable(monkeypatch):
    plugins.reset()
    first = plugins.registry()
    assert plugins.registry() is first
    plugins.reset()
    assert plugins.registry() is not first
