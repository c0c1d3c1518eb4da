"""The Beam options a local run passes (pipeline/beam_runners.py)."""

from __future__ import annotations

import json
import os

import pytest

from pipeline import beam_runners


def test_the_local_runner_is_named_and_the_users_options_come_last():
    args = beam_runners.local_args(["--direct_num_workers=2", "--runner=DirectRunner"])
    assert args[0] == "--runner=FnApiRunner" and args[1].startswith("--setup_file=")
    assert args[-2:] == ["--direct_num_workers=2", "--runner=DirectRunner"]
    assert beam_runners.runner_name(args) == "direct"  # the last --runner wins, as in Beam


@pytest.mark.parametrize("given", [["--runner=FlinkRunner"], ["--runner", "flink"], ["--runner=flink",
                                                                                      "--flink_master=[local]"]])
def test_flink_without_a_master_gets_the_embedded_cluster(given, tmp_path, monkeypatch):
    jar = tmp_path / "flink-job-server.jar"
    jar.write_bytes(b"PK")
    monkeypatch.setenv(beam_runners.FLINK_JOB_SERVER_ENV, str(jar))
    args = beam_runners.local_args(given)
    assert beam_runners.runner_name(args) == "flink"
    assert {"--flink_master=[local]", "--environment_type=LOOPBACK", f"--flink_job_server_jar={jar}"} <= set(args)
    # The user's options follow the defaults; then the runner that shares one job server.
    assert args[-len(given) - 1:-1] == given
    assert args[-1] == "--runner=pipeline.beam_runners.SharedJobServerFlinkRunner"


def test_the_embedded_flink_job_server_is_started_once_per_process(tmp_path):
    """Two pipelines with the same job server options get the same server object (started at its
    first use, stopped at exit); a different jar gets its own. Nothing is started here."""
    def server(jar):
        options = beam_runners.PipelineOptions(["--flink_master=[local]", f"--flink_job_server_jar={jar}"])
        return beam_runners.SharedJobServerFlinkRunner().default_job_server(options)

    first = server(tmp_path / "a.jar")
    assert server(tmp_path / "a.jar") is first
    assert server(tmp_path / "b.jar") is not first
    # A session cluster's job server too, one per master.
    def remote(master):
        options = beam_runners.PipelineOptions([f"--flink_master={master}", f"--flink_job_server_jar={tmp_path}/a.jar"])
        return beam_runners.SharedJobServerFlinkRunner().default_job_server(options)

    assert remote("localhost:8081") is remote("localhost:8081")
    assert remote("localhost:8081") is not remote("localhost:9081") and remote("localhost:8081") is not first


def test_a_flink_cluster_named_by_the_user_gets_the_job_server_and_the_users_options_win(tmp_path, monkeypatch):
    jar = tmp_path / "flink-job-server.jar"
    jar.write_bytes(b"PK")
    monkeypatch.setenv(beam_runners.FLINK_JOB_SERVER_ENV, str(jar))
    given = ["--runner=FlinkRunner", "--flink_master=flink.example:8081", "--environment_type=EXTERNAL"]
    options = beam_runners.PipelineOptions(beam_runners.local_args(given)).get_all_options()
    assert options["flink_master"] == "flink.example:8081" and options["environment_type"] == "EXTERNAL"
    assert options["flink_job_server_jar"] == str(jar)


def test_a_flink_session_cluster_gets_a_harness_process_per_taskmanager(tmp_path, monkeypatch):
    jar = tmp_path / "flink-job-server.jar"
    jar.write_bytes(b"PK")
    monkeypatch.setenv(beam_runners.FLINK_JOB_SERVER_ENV, str(jar))
    options = beam_runners.PipelineOptions(beam_runners.local_args(
        ["--runner=FlinkRunner", "--flink_master=localhost:8081"])).get_all_options()
    assert options["environment_type"] == "PROCESS" and int(options["environment_cache_millis"]) > 0
    command = json.loads(options["environment_config"])["command"]
    assert os.access(command, os.X_OK) and command.endswith("pipeline/flink_worker.py")


def test_flink_without_a_job_server_is_refused_by_name(tmp_path, monkeypatch):
    monkeypatch.delenv(beam_runners.FLINK_JOB_SERVER_ENV, raising=False)
    with pytest.raises(ValueError, match="IMDB_FLINK_JOB_SERVER_JAR.*--flink_job_server_jar"):
        beam_runners.local_args(["--runner=FlinkRunner"])
    with pytest.raises(ValueError, match=f"no file {tmp_path}/missing.jar"):
        beam_runners.local_args(["--runner=FlinkRunner", f"--flink_job_server_jar={tmp_path}/missing.jar"])
