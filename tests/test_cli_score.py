"""`grpo score` and a third-party plugin written only from DESIGN.md's contract, installed by pip."""
import json
import subprocess
import sys
import textwrap

import pytest

from sdk_fixtures import pip_install_plugin, run_cli

# DESIGN.md's complete third-party plugin, verbatim in substance.
SHOUTING = '''
from grpo_rewards import hookimpl

def shouting(completions, **fields):
    return [1.0 if c.isupper() else 0.0 for c in completions]

class LengthTarget:
    def __init__(self, target=100):
        self.target = target
    def __call__(self, completions):
        return [-abs(len(c) - self.target) / self.target for c in completions]

@hookimpl
def register_rewards(register):
    register("shouting", shouting)
    register("length_target", LengthTarget)
'''

@pytest.fixture(scope="module")
def installed_shouting(tmp_path_factory):
    return pip_install_plugin(tmp_path_factory, "grpo-shouting", "grpo_shouting", SHOUTING, "1.2.3", "shouting")


def write(path, text):
    path.write_text(textwrap.dedent(text))
    return path


def test_third_party_plugin_installs_lists_scores_and_can_be_left_out(installed_shouting, tmp_path):
    listing = run_cli("plugins", "--json", path_dirs=[installed_shouting])
    plugins = {p["distribution"]: p for p in json.loads(listing.stdout)["plugins"]}
    assert plugins["grpo-shouting"]["version"] == "1.2.3"
    assert plugins["grpo-shouting"]["rewards"] == ["shouting", "length_target"]

    config = write(tmp_path / "mix.toml", """
        [[rewards]]
        use = "shouting"
        weight = 2.0

        [[rewards]]
        use = "length_target"
        weight = 0.5
        options = { target = 4 }
        """)
    samples = tmp_path / "in.jsonl"
    samples.write_text('{"completion": "HEYY"}\n{"completion": "hi"}\n')
    out = tmp_path / "out.jsonl"
    result = run_cli("score", "--config", str(config), "--input", str(samples), "--output", str(out),
                     path_dirs=[installed_shouting])
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[0]["rewards"] == {"shouting": 1.0, "length_target": 0.0} and rows[0]["total"] == 2.0
    assert rows[1]["rewards"] == {"shouting": 0.0, "length_target": -0.5} and rows[1]["total"] == -0.25

    left_out = run_cli("score", "--config", str(config), "--input", str(samples),
                       path_dirs=[installed_shouting], env={"GRPO_PLUGINS": "grpo-format"})
    assert left_out.returncode == 2
    assert "unknown reward 'shouting'" in left_out.stderr
    listing = run_cli("plugins", path_dirs=[installed_shouting], env={"GRPO_PLUGINS": "grpo-format"})
    assert "grpo-shouting" not in listing.stdout


def test_score_output_summary_and_columns(tmp_path):
    config = write(tmp_path / "train.toml", """
        [model]
        name = "ignored/by-score"

        [[rewards]]
        use = "format.regex"
        options = { pattern = "^\\\\d+$", mode = "search" }

        [[rewards]]
        use = "format.terminated"
        """)
    samples = tmp_path / "in.jsonl"
    samples.write_text("\n".join(json.dumps(r) for r in [
        {"prompt": "p", "completion": "42", "truncated": False, "id": 1},
        {"completion": "no", "truncated": True, "id": 2},
    ]) + "\n")
    result = run_cli("score", "--config", str(config), "--input", str(samples))
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in rows] == [1, 2]  # input columns are kept
    assert rows[0]["rewards"] == {"format.regex": 1.0, "format.terminated": 0.0}
    assert rows[1]["rewards"] == {"format.regex": 0.0, "format.terminated": -1.0}
    assert "scored 2 rows" in result.stderr
    assert "format.terminated" in result.stderr


@pytest.mark.parametrize("rows, message", [
    ('{"completion": "a"}\nnot json\n', "in.jsonl:2: invalid JSON"),
    ('{"prompt": "a"}\n', "in.jsonl:1: row has no 'completion' text field"),
    ('[1, 2]\n', "in.jsonl:1: expected a JSON object"),
])
def test_bad_input_rows_are_one_line_errors(tmp_path, rows, message):
    config = write(tmp_path / "mix.toml", '[[rewards]]\nuse = "format.regex"\noptions = { pattern = "a" }\n')
    (tmp_path / "in.jsonl").write_text(rows)
    result = run_cli("score", "--config", str(config), "--input", str(tmp_path / "in.jsonl"))
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("config_text, message", [
    (None, "config file not found"),
    ("[[rewards]\nuse = 1", "invalid TOML"),
    ("[model]\nname = 'x'\n", "no [[rewards]] tables"),
    ('[[rewards]]\nuse = "format.regex"\noptions = { pattern = "(" }\n', "format.regex: option 'pattern'"),
    ('[[rewards]]\nuse = "format.regexx"\n', "Did you mean 'format.regex'?"),
])
def test_bad_configs_are_one_line_errors(tmp_path, config_text, message):
    config = tmp_path / "mix.toml"
    if config_text is not None:
        config.write_text(config_text)
    (tmp_path / "in.jsonl").write_text('{"completion": "a"}\n')
    result = run_cli("score", "--config", str(config), "--input", str(tmp_path / "in.jsonl"))
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_score_and_plugins_do_not_import_torch(tmp_path):
    code = ("import sys; from grpo_core.cli import main; main(['plugins']); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
