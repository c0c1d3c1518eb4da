"""The pipeline's Beam components on Flink: `./imdb run ... -- --runner=FlinkRunner`, end to end.

Beam's Flink job server (fetched by ./imdb from Maven Central, env/flink-job-server/pom.xml) runs
an embedded Flink cluster; ExampleGen, StatisticsGen, Transform and the Evaluator submit their Beam
pipelines to it through Beam's portable API, and the model is pushed as on the default runner.
"""

from __future__ import annotations

import os
import re

import pytest

import background_builds
import synthetic_imdb
from commands import pipeline_run
from common import features
from pipeline import beam_runners

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PER_CLASS = 100
MIN_ACCURACY = 0.8
# The components that run Beam pipelines (TFX's Beam executors).
BEAM_COMPONENTS = ("ImdbExampleGen", "StatisticsGen", "Transform", "Evaluator")


@pytest.fixture(scope="module")
def flink_run(tmp_path_factory):
    assert os.environ.get(beam_runners.FLINK_JOB_SERVER_ENV), \
        "./imdb test fetches Beam's Flink job server and names it in IMDB_FLINK_JOB_SERVER_JAR"
    background_builds.wait_for("IMDB_FLINK_FETCH_DONE", "IMDB_FLINK_FETCH_LOG", "fetching the Flink job server")
    data = synthetic_imdb.write_folder(str(tmp_path_factory.mktemp("data")), per_class=PER_CLASS, label_noise=0.1)
    _, summary, log = pipeline_run(data, str(tmp_path_factory.mktemp("flink") / "outputs"), "--sample-fraction", "1",
                                   "--epochs", "4", "--min-accuracy", str(MIN_ACCURACY), "--", "--runner=FlinkRunner",
                                   timeout=1800)
    return summary, log


def test_the_pipeline_runs_on_flink_to_a_pushed_model(flink_run):
    summary, _ = flink_run
    splits = summary["examples_per_split"]
    assert splits[features.TEST_SPLIT] == 2 * PER_CLASS
    assert splits[features.TRAIN_SPLIT] + splits[features.EVAL_SPLIT] == 2 * PER_CLASS
    assert summary["test_accuracy"] >= MIN_ACCURACY and summary["blessed"] is True
    assert re.search(r"/\d+$", summary["pushed_to"]) and os.path.isfile(os.path.join(summary["pushed_to"], "saved_model.pb"))


def test_each_beam_component_ran_its_pipeline_on_flink(flink_run):
    _, log = flink_run
    jar = os.environ[beam_runners.FLINK_JOB_SERVER_ENV]
    # One job server (JVM) for the run's Beam pipelines (beam_runners.SharedJobServerFlinkRunner).
    # Beam logs "Really starting service ... with cmd: ('java', '-jar', JAR, '--flink-master', '[local]', ...".
    starts = re.findall(rf"starting service .*java.*{re.escape(jar)}.*--flink-master.*\[local\]", log, re.IGNORECASE)
    assert len(starts) == 1, log[:3000]
    # One Flink job per Beam pipeline, each finished; none ran on the in-process runner (whose
    # logger would have written lines) or tried Prism.
    assert len(re.findall(r"Job state changed to DONE", log)) >= len(BEAM_COMPONENTS), log[-3000:]
    assert not re.search(r"apache_beam\.runners\.(portability\.fn_api_runner|portability\.prism)", log)
