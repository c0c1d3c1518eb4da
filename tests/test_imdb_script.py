"""What ./imdb itself makes of a command line, with the environment it would enter stubbed out."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from commands import REPO

STUB = """
env_ensure() { :; }
env_exec() { printf '%s\\n' "$@" >"$STUB_OUT/exec"; }
_locked_tools() { echo fetched >>"$STUB_OUT/fetched"; echo /flink.jar; }
"""


@pytest.fixture
def imdb(tmp_path):
    """Runs a copy of ./imdb whose environment only records the command it was asked to run."""
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "environment.sh").write_text(STUB)
    shutil.copy(os.path.join(REPO, "imdb"), tmp_path / "imdb")

    def run(*argv, **environment):
        env = {"PATH": os.environ["PATH"], "STUB_OUT": str(tmp_path), **environment}
        subprocess.run([str(tmp_path / "imdb"), *argv], env=env, cwd=tmp_path, check=True, timeout=60)
        fetched = (tmp_path / "fetched").exists()
        (tmp_path / "fetched").unlink(missing_ok=True)
        return (tmp_path / "exec").read_text().splitlines(), fetched
    return run


@pytest.mark.parametrize("beam_args, flink", [
    (["--runner=FlinkRunner"], True), (["--runner", "FlinkRunner"], True), (["--runner", "flink"], True),
    (["--runner", "FnApiRunner"], False), (["--flink_master=host:8081"], False)])
def test_run_fetches_the_flink_job_server_for_either_spelling_of_the_runner(imdb, beam_args, flink):
    command, fetched = imdb("run", "--data", "d", "--", *beam_args)
    assert command == ["python", "-m", "pipeline.cli", "--data", "d", "--", *beam_args]
    assert fetched == flink


@pytest.mark.parametrize("argv, environment, expected", [
    ([], {}, ["--logdir", "outputs/pipelines"]),
    (["--port", "6007"], {}, ["--logdir", "outputs/pipelines", "--port", "6007"]),
    (["runs", "--port", "6007"], {}, ["--logdir", "runs", "--port", "6007"]),
    ([], {"IMDB_OUTPUT_DIR": "/elsewhere"}, ["--logdir", "/elsewhere/pipelines"]),
])
def test_tensorboard_reads_the_runs_folder_unless_given_one(imdb, argv, environment, expected):
    assert imdb("tensorboard", *argv, **environment)[0] == ["tensorboard", *expected]
