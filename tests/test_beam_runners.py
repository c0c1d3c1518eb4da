"""The Beam options a local run passes (pipeline/beam_runners.py)."""

from __future__ import annotations

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
    remote = beam_runners.PipelineOptions(["--flink_master=flink.example:8081"])
    runner = beam_runners.SharedJobServerFlinkRunner()
    assert runner.default_job_server(remote) is not runner.default_job_server(remote)


def test_a_flink_cluster_named_by_the_user_is_left_alone(monkeypatch):
    monkeypatch.delenv(beam_runners.FLINK_JOB_SERVER_ENV, raising=False)
    given = ["--runner=FlinkRunner", "--flink_master=flink.example:8081", "--environment_type=EXTERNAL"]
    args = beam_runners.local_args(given)
    assert not [a for a in args if a.startswith("--flink_job_server_jar") or a == "--environment_type=LOOPBACK"]


def test_flink_without_a_job_server_is_refused_by_name(tmp_path, monkeypatch):
    monkeypatch.delenv(beam_runners.FLINK_JOB_SERVER_ENV, raising=False)
    with pytest.raises(ValueError, match="IMDB_FLINK_JOB_SERVER_JAR.*--flink_job_server_jar"):
        beam_runners.local_args(["--runner=FlinkRunner"])
    with pytest.raises(ValueError, match=f"no file {tmp_path}/missing.jar"):
        beam_runners.local_args(["--runner=FlinkRunner", f"--flink_job_server_jar={tmp_path}/missing.jar"])
