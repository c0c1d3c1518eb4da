"""The compiled Kubeflow pipeline, run task by task the way KFP 2.17's driver and launcher run it.

kubeflow.local_executor follows the backend's rules (each cites its source file); a gs:// bucket
is a local directory. Three runs of one compiled pipeline, with run parameters as `./imdb submit
--param` would set them:
1. good data, while a model that learned nothing is served: every task succeeds, the candidate is
   better than the served model, passes the serving canary and is pushed; `./imdb serve` answers
   for it over REST and gRPC;
2. a drop whose training labels carry no signal, with the accuracy floor at 0: the Evaluator
   compares the candidate with the served model (the baseline), refuses it, nothing is pushed;
3. a drop without test/neg: ImdbExampleGen's task fails with the layout error, nothing after it runs.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

import served_models
import synthetic_imdb
from common import serving_contract
from components.model.hparams import TrainingConfig
from kubeflow import key_values, local_executor
from kubeflow_specs import compile_pipeline
from pipeline import configs, pipeline

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BUCKET = "gs://imdb-ci"
SERVING_DIR = f"{BUCKET}/serving/{serving_contract.MODEL_NAME}"
PER_CLASS = 100
ALL_TASKS = {"ImdbExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator", "Transform", "Trainer",
             "ServedModelBaseline", "Evaluator", "ServingCanary", "Pusher"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A compiled pipeline and a bucket directory holding three data drops."""
    out = tmp_path_factory.mktemp("kfp")
    buckets = out / "buckets"
    data = buckets / "imdb-ci" / "data"
    synthetic_imdb.write_folder(str(data / "good"), per_class=PER_CLASS, label_noise=0.1)
    synthetic_imdb.write_folder(str(data / "no-signal"), per_class=PER_CLASS, seed=1, train_label_noise=0.5)
    broken = synthetic_imdb.write_folder(str(data / "broken"), per_class=10)
    shutil.rmtree(os.path.join(broken, "test", "neg"))
    settings = configs.PipelineSettings(
        data_path=f"{BUCKET}/data/good", min_accuracy=0.7, max_tokens=100, sequence_length=48, ngrams=1,
        sample_fraction=1.0, training=TrainingConfig(variant="ngram_bag", optimizer="adam", learning_rate=0.01,
                                                     epochs=5, batch_size=16, embedding_dim=16))
    # The task commands run in this environment, where the schema is the checkout's, not the image's.
    compiled, _ = compile_pipeline(out / "compiled", settings, pipeline_root=f"{BUCKET}/tfx",
                                   serving_model_dir=SERVING_DIR, gpus=0, beam_args=(),
                                   schema_file=pipeline.SCHEMA_FILE)
    # What users get today: a model that learned nothing (it scores reviews by their length).
    served = served_models.export_stand_in(str(out / "stand_in"))
    served_models.publish(served, os.path.join(str(buckets), SERVING_DIR[len("gs://"):]))
    return compiled.pipeline_yaml, str(buckets)


def _run(world, *params):
    pipeline_yaml, buckets = world
    run = local_executor.LocalRun(pipeline_yaml, buckets, key_values.run_parameters(params))
    ok = run.run()
    return ok, run


def _versions(buckets):
    base = os.path.join(buckets, SERVING_DIR[len("gs://"):])
    return sorted(n for n in os.listdir(base) if n.isdigit()) if os.path.isdir(base) else []


def _artifact(run, task, output):
    [artifact] = run.results[task].outputs[output]
    return artifact


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def first_run(world):
    return _run(world)


def test_every_task_runs_and_a_better_model_is_pushed(first_run, world):
    ok, run = first_run
    assert ok, {n: r.state for n, r in run.results.items()}
    assert {n: r.state for n, r in run.results.items()} == {n: "SUCCEEDED" for n in ALL_TASKS}
    served_before = _versions(world[1])[0]
    assert _artifact(run, "ServedModelBaseline", "model")["metadata"]["baseline_version"] == served_before
    assert _artifact(run, "Evaluator", "blessing")["metadata"]["blessed"] == 1
    canary = _artifact(run, "ServingCanary", "blessing")["metadata"]
    assert canary["blessed"] == 1, canary
    assert canary["reason"].startswith("loaded, 64 test reviews answered over REST and gRPC as evaluated")
    assert len(_versions(world[1])) == 2
    assert _artifact(run, "Pusher", "pushed_model")["metadata"]["pushed_version"] == _versions(world[1])[1]
    for result in run.results.values():  # the launcher's log artifact holds each task's output
        assert result.outputs["executor-logs"][0]["uri"].startswith(f"{BUCKET}/tfx/")
        assert os.path.getsize(result.log_path) > 0


def test_serve_answers_for_the_pushed_model(first_run, world):
    base = os.path.join(world[1], SERVING_DIR[len("gs://"):])
    rest, grpc = _free_port(), _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "serving.cli", "serve", "--local", "--model-dir", base,
         "--rest-port", str(rest), "--grpc-port", str(grpc)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        for line in server.stdout:
            if "Ctrl-C stops" in line or time.monotonic() > deadline:
                break
        rng = random.Random(7)
        reviews = [synthetic_imdb.review_text(rng, positive=i % 2 == 0) for i in range(10)]
        answers = {}
        for protocol, port in (("rest", rest), ("grpc", grpc)):
            answer = subprocess.run(
                [sys.executable, "-m", "serving.cli", "predict", "--protocol", protocol, "--json",
                 "--server", f"127.0.0.1:{port}", *reviews], capture_output=True, text=True, timeout=120)
            assert answer.returncode == 0, answer.stderr[-2000:]
            answers[protocol] = [json.loads(line)["probability"] for line in answer.stdout.splitlines()]
        assert answers["rest"] == pytest.approx(answers["grpc"], abs=1e-6)
        # The model learned the data: on fresh reviews, every positive one scores above every negative.
        positive, negative = answers["rest"][0::2], answers["rest"][1::2]
        assert min(positive) > 0.5 > max(negative), answers["rest"]
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)


def test_a_worse_candidate_is_not_pushed(first_run, world):
    ok, run = _run(world, f"data={BUCKET}/data/no-signal", "min_accuracy=0")
    assert ok, {n: r.state for n, r in run.results.items()}
    baseline = _artifact(run, "ServedModelBaseline", "model")
    assert baseline["metadata"]["baseline_found"] == 1
    assert baseline["metadata"]["baseline_version"] == _versions(world[1])[-1]  # the first run's push
    assert _artifact(run, "Evaluator", "blessing")["metadata"]["blessed"] == 0
    assert _artifact(run, "ServingCanary", "blessing")["metadata"]["tried"] == 0
    assert _artifact(run, "Pusher", "pushed_model")["metadata"]["pushed"] == 0
    assert len(_versions(world[1])) == 2


def test_a_missing_class_folder_fails_example_gen_with_the_layout_error(first_run, world):
    ok, run = _run(world, f"data={BUCKET}/data/broken")
    assert not ok
    assert run.results["ImdbExampleGen"].state == "FAILED"
    assert {r.state for n, r in run.results.items() if n != "ImdbExampleGen"} <= {"SKIPPED", "SUCCEEDED"}
    assert run.results["Pusher"].state == "SKIPPED"
    with open(run.results["ImdbExampleGen"].log_path) as log:
        text = log.read()
    assert "IMDB class folder" in text and "test/neg' is missing" in text
