"""The pipeline's Beam components on a Flink session cluster, end to end: `./imdb run ... --
--runner=FlinkRunner --flink_master=localhost:PORT`.

The cluster is pipeline/flink_cluster.py's (what `./imdb flink up` starts): a JobManager and two
TaskManagers, each its own JVM, each starting its own SDK harness (pipeline/flink_worker.py). Beam's
Flink job server (fetched by ./imdb from Maven Central, env/flink-job-server/pom.xml) submits
ExampleGen's, StatisticsGen's, Transform's and the Evaluator's Beam pipelines to it as Flink jobs, and
the model is pushed as on the default runner.
"""

from __future__ import annotations

import json
import os
import re
import urllib.request

import pytest

import background_builds
import synthetic_imdb
from commands import pipeline_run
from common import features
from pipeline import beam_runners, flink_cluster
from serving import launch

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PER_CLASS = 100
TRAIN_PARTS = 2  # the training reviews as two splits, as past ~400,000 of them on Flink (docs/scaling.md)
MIN_ACCURACY = 0.8
# The components that run Beam pipelines (TFX's Beam executors).
BEAM_COMPONENTS = ("ImdbExampleGen", "StatisticsGen", "Transform", "ApplyTransform", "Evaluator")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    assert os.environ.get(beam_runners.FLINK_JOB_SERVER_ENV), \
        "./imdb test fetches Beam's Flink job server and names it in IMDB_FLINK_JOB_SERVER_JAR"
    background_builds.wait_for("IMDB_FLINK_FETCH_DONE", "IMDB_FLINK_FETCH_LOG", "fetching the Flink job server")
    folder, jar = str(tmp_path_factory.mktemp("flink-cluster")), os.environ[beam_runners.FLINK_JOB_SERVER_ENV]
    with flink_cluster.Cluster(folder, jar, launch.free_port(), launch.free_port()) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def flink_run(cluster, tmp_path_factory):
    data = synthetic_imdb.write_folder(str(tmp_path_factory.mktemp("data")), per_class=PER_CLASS, label_noise=0.1)
    _, summary, log = pipeline_run(data, str(tmp_path_factory.mktemp("flink") / "outputs"), "--sample-fraction", "1",
                                   "--train-parts", str(TRAIN_PARTS), "--epochs", "4", "--min-accuracy", str(MIN_ACCURACY), "--", "--runner=FlinkRunner",
                                   f"--flink_master=localhost:{cluster.rest_port}",
                                   f"--parallelism={cluster.taskmanagers * flink_cluster.SLOTS}", timeout=1800)
    return summary, log


def test_the_pipeline_runs_on_flink_to_a_pushed_model(flink_run):
    summary, _ = flink_run
    splits = summary["examples_per_split"]
    assert splits[features.TEST_SPLIT] == 2 * PER_CLASS
    train = [splits[name] for name in features.train_splits(TRAIN_PARTS)]
    assert sum(train) + splits[features.EVAL_SPLIT] == 2 * PER_CLASS and min(train) > 0.3 * PER_CLASS
    assert summary["test_accuracy"] >= MIN_ACCURACY and summary["blessed"] is True
    assert re.search(r"/\d+$", summary["pushed_to"]) and os.path.isfile(os.path.join(summary["pushed_to"], "saved_model.pb"))


def test_each_beam_component_ran_its_pipeline_on_the_cluster(flink_run, cluster):
    _, log = flink_run
    jar = os.environ[beam_runners.FLINK_JOB_SERVER_ENV]
    # One job server (JVM) for the run's Beam pipelines (beam_runners.SharedJobServerFlinkRunner), at the
    # cluster. Beam logs "Really starting service ... with cmd: ('java', '-jar', JAR, '--flink-master', URL, ...".
    starts = re.findall(rf"starting service .*java.*{re.escape(jar)}.*--flink-master', '(\S+)'", log, re.IGNORECASE)
    assert starts == [f"http://localhost:{cluster.rest_port}"], log[:3000]
    # One Flink job per Beam pipeline, each finished on the cluster; none ran on the in-process runner
    # (whose logger would have written lines) or tried Prism.
    assert len(re.findall(r"Job state changed to DONE", log)) >= len(BEAM_COMPONENTS), log[-3000:]
    assert not re.search(r"apache_beam\.runners\.(portability\.fn_api_runner|portability\.prism)", log)
    with urllib.request.urlopen(f"http://localhost:{cluster.rest_port}/jobs/overview", timeout=10) as response:
        states = [job["state"] for job in json.load(response)["jobs"]]
    assert len(states) >= len(BEAM_COMPONENTS) and set(states) == {"FINISHED"}, states


def test_the_jobs_tasks_ran_on_both_taskmanagers(flink_run, cluster):
    """Each TaskManager is its own JVM with its own log; each received tasks of the run's jobs."""
    for role in cluster.roles()[1:]:
        with open(cluster.log(role)) as log:
            received = len(re.findall(r"Received task ", log.read()))
        assert received > 0, f"{role} ran no task; see {cluster.log(role)}"


def test_the_cluster_keeps_its_files_in_its_folder_and_removes_them_when_stopped(flink_run, cluster):
    """The jobs' jars (blob caches) went to the cluster's working directory, not /tmp, and stopping the
    cluster removes it. Last in the module: it stops the module's cluster."""
    blobs = [os.path.join(cluster.work_dir, f"tm_{role}", "blobStorage") for role in cluster.roles()[1:]]
    for folder in blobs:
        assert any(name.startswith("job_") for name in os.listdir(folder)), os.listdir(folder)
    cluster.stop()
    assert not os.path.exists(cluster.work_dir)
    assert os.path.exists(cluster.log("jobmanager"))  # the logs stay
