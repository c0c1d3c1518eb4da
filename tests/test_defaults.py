"""Every default has one source: the commands take it from there and their help texts print it,
the variant lists agree, every output folder follows IMDB_OUTPUT_DIR, and the Python side finds
the cache where ./imdb put it."""

from __future__ import annotations

import argparse
import importlib
import os
import re
import subprocess

import pytest

from commands import REPO
from common import paths
from components.model import hparams
from components.model.hparams import TrainingConfig
from kubeflow.deployment import KubeflowSettings
from pipeline import configs
from serving.options import ServerOptions

# Each command's entry point: module, function, arguments before the options.
COMMANDS = {
    "run": ("pipeline.cli", "main"), "compile": ("kubeflow.cli", "main", "compile"),
    "submit": ("kubeflow.cli", "main", "submit"), "serve": ("serving.cli", "serve"),
    "predict": ("serving.cli", "predict"), "benchmark": ("benchmarks.full_data", "main"),
    "benchmark-scale": ("benchmarks.scaling", "main"), "benchmark-serving": ("benchmarks.serving_load", "main"),
    "server_memory": ("benchmarks.server_memory", "main"),
    "warmup_latency": ("benchmarks.warmup_latency", "main"),
}


class _Parsing(Exception):
    pass


def _parser(command: str) -> argparse.ArgumentParser:
    """The parser COMMAND's entry point builds, caught when it starts parsing."""
    module, function, *argv = COMMANDS[command]

    def caught(parser, *args, **kwargs):
        raise _Parsing(parser)

    with pytest.MonkeyPatch.context() as patch, pytest.raises(_Parsing) as parsing:
        patch.setattr(argparse.ArgumentParser, "parse_args", caught)
        getattr(importlib.import_module(module), function)(argv)
    return parsing.value.args[0]


def _helps(parser: argparse.ArgumentParser) -> dict:
    formatter = parser._get_formatter()
    return {action.option_strings[0]: formatter._expand_help(action) for action in parser._actions
            if action.option_strings and action.help}


def _same(stated: str, default) -> bool:
    try:
        return float(stated.replace(",", "")) == float(default)
    except (TypeError, ValueError):
        return stated == str(default)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_default_a_help_text_states_is_the_real_one(command):
    parser = _parser(command)
    defaults = {action.option_strings[0]: action.default for action in parser._actions if action.option_strings}
    for option, text in _helps(parser).items():
        default = defaults[option]
        if default is None or default is False or default in ("", []):
            continue  # said in words ("default: the newest served"), or taken from elsewhere (below)
        for stated in re.findall(r"\(default:? (.+?)(?:[;)]|, )", text):
            assert _same(stated, default), (command, option, text, default)


def test_commands_take_their_defaults_from_the_one_source(monkeypatch, tmp_path):
    out = str(tmp_path / "out")
    monkeypatch.setenv(paths.OUTPUT_DIR_ENV, out)
    monkeypatch.setattr(configs, "DEFAULT_MAX_ACCURACY_DROP", 0.125)
    monkeypatch.setattr(configs, "DEFAULT_MIN_ACCURACY_SAMPLE", 0.625)
    glove = TrainingConfig(variant="glove", epochs=13, glove_dim=77, fine_tune_epochs=3, fine_tune_learning_rate=0.00042,
                           bucket_width=24)
    monkeypatch.setitem(configs.VARIANT_DEFAULTS, "glove", configs.VariantDefaults(glove, sample_epochs=7))
    kubeflow = {"gpus": 3, "trainer_cpu": 6.5, "trainer_memory_gib": 24.0, "gpu_resource": "amd.com/gpu"}
    server = {"host": "0.0.0.0", "rest_port": 9501, "grpc_port": 9500, "num_versions": 3, "poll_seconds": 2.5,
              "http_parser": "h11", "event_loop": "asyncio"}
    selectors = {"gpu_node_selector": (("pool", "gpu"),), "gpu_tolerations": ("dedicated",)}
    for cls, values in ((KubeflowSettings, kubeflow), (ServerOptions, server), (KubeflowSettings, selectors)):
        for name, value in values.items():
            monkeypatch.setattr(cls, name, value)

    served = os.path.join(out, "serving_model", "imdb_sentiment")
    pipeline = {"--max-accuracy-drop": 0.125}
    expected = {
        "run": {**pipeline, "--output-dir": out},
        "compile": {**pipeline, **{f"--{k.replace('_', '-')}": v for k, v in kubeflow.items()},
                    "--output-dir": os.path.join(out, "kubeflow")},
        "submit": {"--package": os.path.join(out, "kubeflow", f"{configs.PIPELINE_NAME}.yaml")},
        "serve": {**{f"--{k.replace('_', '-')}": v for k, v in server.items()}, "--model-dir": served},
        "benchmark": {**pipeline, "--work-dir": os.path.join(out, "benchmarks")},
        "benchmark-scale": {"--work-dir": os.path.join(out, "scaling")},
        **{command: {"--model-dir": served} for command in ("benchmark-serving", "server_memory", "warmup_latency")},
    }
    pipeline_words = ["glove 7/13", "glove 24;", "(default 77)", "(default 3;", "(default 0.00042)", "(default 0.625 on a sample"]
    stated = {"run": pipeline_words, "benchmark": pipeline_words,
              "compile": [*pipeline_words, "(default pool=gpu)", "(default dedicated)"],
              "serve": [f"(default: {out}/logs/serve-<time>.log)"]}
    for command in COMMANDS:
        parser = _parser(command)
        defaults = {action.option_strings[0]: action.default for action in parser._actions if action.option_strings}
        assert {option: defaults[option] for option in expected.get(command, {})} == expected.get(command, {}), command
        text = " ".join(_helps(parser).values())
        for words in stated.get(command, []):
            assert words in text, (command, words)


def test_the_variant_lists_agree():
    assert list(configs.VARIANT_DEFAULTS) == list(hparams.VARIANTS) and configs.DEFAULT_VARIANT in hparams.VARIANTS
    assert [d.training.variant for d in configs.VARIANT_DEFAULTS.values()] == list(hparams.VARIANTS)
    assert _parser("run")._option_string_actions["--variant"].choices == hparams.VARIANTS


def test_path_options_keep_remote_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert paths.absolute("gs://bucket/glove.txt") == "gs://bucket/glove.txt"
    assert paths.absolute("glove.txt") == str(tmp_path / "glove.txt")
    assert paths.absolute(None) is None


@pytest.mark.parametrize("environment", [{"XDG_CACHE_HOME": "/xdg"}, {}, {"IMDB_CACHE": "/cache", "XDG_CACHE_HOME": "/xdg"}])
def test_python_finds_the_cache_where_imdb_sets_it_up(environment, monkeypatch):
    env = {"HOME": "/home/someone", "PATH": os.environ["PATH"], **environment}
    bash = subprocess.run(["bash", "-c", 'source env/environment.sh && printf %s "$IMDB_CACHE"'], cwd=REPO, env=env,
                          capture_output=True, text=True, check=True).stdout
    for name in ("HOME", "XDG_CACHE_HOME", "IMDB_CACHE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert paths.cache_dir() == bash
