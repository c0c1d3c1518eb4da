"""The compiled Kubeflow pipeline, run by KFP 2.17's own driver and launcher (kubeflow/local_stack.py).

One stack for the module: Cloud Storage's API (fake-gcs-server behind gcpfront), GKE's metadata
server, ML Metadata's gRPC service over the real library, the Kubernetes API calls KFP makes; each
run compiled into its Argo Workflow by KFP's own compiler and every pod run with the real binaries.
A run takes its parameters as `./imdb submit --param` sets them; what it left is read back from ML
Metadata with MLMD's own client. The failing runs (a worse candidate, a broken drop) run on the
local Kubernetes cluster with KFP's API server and Argo's controller (tests/test_container_image.py).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

import background_builds
import kfp_metadata
import served_models
import synthetic_imdb
from common import serving_contract
from components.model.hparams import TrainingConfig
from kubeflow_specs import TASKS, compile_pipeline
from pipeline import configs
from serving.launch import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BUCKET = "gs://imdb-ci"
ROOT = f"{BUCKET}/tfx"
SERVING_DIR = f"{BUCKET}/serving/{serving_contract.MODEL_NAME}"
PER_CLASS = 100


class LocalStack:
    """`python -m kubeflow.local_stack up`, and commands run inside its namespace with nsenter."""

    def __init__(self, out, uploads):
        self.state = str(out / "state")
        ready = out / "ready"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kubeflow.local_stack", "up", "--state", self.state, "--ready-file", str(ready),
             *(f"--upload={local}={uri}" for local, uri in uploads.items())],
            stdout=open(out / "stack.log", "w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while not ready.exists():
            assert self.process.poll() is None, (out / "stack.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the stack did not come up in 180 s"
            time.sleep(0.5)
        self.pid = ready.read_text()

    def inside(self, *command) -> list:
        return ["nsenter", "-t", self.pid, "-n", "-m", "--", *command]

    def python(self, code: str) -> str:
        result = subprocess.run(self.inside(sys.executable, "-c", code), capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    def run(self, pipeline_yaml: str, *params: str) -> dict:
        report = os.path.join(self.state, f"report-{time.monotonic_ns()}.json")
        result = subprocess.run(self.inside(
            sys.executable, "-m", "kubeflow.local_stack", "run-in", pipeline_yaml, "--state", self.state,
            "--report", report, *(f"--param={p}" for p in params)), capture_output=True, text=True, timeout=3600)
        with open(report) as f:
            return {**json.load(f), "output": result.stdout + result.stderr}

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A compiled pipeline and a running stack whose bucket holds three data drops and a served model."""
    background_builds.wait_for("IMDB_KFP_BUILD_DONE", "IMDB_KFP_BUILD_LOG", "building KFP's driver and launcher")
    out = tmp_path_factory.mktemp("kfp")
    data = out / "data"
    synthetic_imdb.write_folder(str(data / "good"), per_class=PER_CLASS, label_noise=0.1)
    settings = configs.PipelineSettings(
        data_path=f"{BUCKET}/data/good", min_accuracy=0.7, max_tokens=100, sequence_length=48, ngrams=1,
        sample_fraction=1.0, training=TrainingConfig(variant="ngram_bag", optimizer="adam", learning_rate=0.01,
                                                     epochs=5, batch_size=16, embedding_dim=16))
    compiled, _ = compile_pipeline(out / "compiled", settings, pipeline_root=ROOT, serving_model_dir=SERVING_DIR, gpus=0)
    # What users get today: a model that learned nothing (it scores reviews by their length).
    served = out / "served"
    first_version = served_models.publish(served_models.export_stand_in(str(out / "stand_in")), str(served))
    stack = LocalStack(out, {data: f"{BUCKET}/data", served: SERVING_DIR})
    yield stack, compiled.pipeline_yaml, str(first_version)
    stack.stop()


def _versions(stack) -> list:
    return json.loads(stack.python(
        "import json, tensorflow as tf\n"
        f"print(json.dumps(sorted(n.strip('/') for n in tf.io.gfile.listdir({SERVING_DIR!r}) if n.strip('/').isdigit())))"
    ).strip().splitlines()[-1])


def _metadata(stack, run_id: str) -> dict:
    return kfp_metadata.run_tasks(os.path.join(stack.state, "metadata.sqlite"), run_id)


@pytest.fixture(scope="module")
def first_run(world):
    stack, pipeline_yaml, _ = world
    return stack.run(pipeline_yaml)


def test_every_task_runs_through_kfps_driver_and_launcher_and_a_better_model_is_pushed(first_run, world):
    stack, _, served_before = world
    assert first_run["exit_code"] == 0, first_run["output"][-5000:]
    assert first_run["phase"] == "Succeeded" and first_run["unknown_kubernetes_calls"] == []
    assert first_run["gcpfront_refused"] == []
    pods = {n["name"].rsplit(".", 1)[-1]: n for n in first_run["nodes"] if n["type"] == "Pod"}
    # The Argo walk ran the root driver, then for each task its driver and its launcher pod.
    assert {"root-driver", "executor"} | {f"{t}-driver" for t in TASKS} <= set(pods)
    assert sum(n["name"].endswith(".executor") and n["phase"] == "Succeeded" for n in first_run["nodes"]) == 10
    for node in first_run["nodes"]:  # each pod ran the Beam runner it was given (no Prism fetched)
        if node["type"] == "Pod":
            with open(node["log"], errors="replace") as f:
                assert "prism" not in f.read().lower(), node["name"]

    tasks = _metadata(stack, first_run["run_id"])
    assert {t: r["state"] for t, r in tasks.items()} == {t: "COMPLETE" for t in TASKS}
    run_root = f"{ROOT}/{configs.PIPELINE_NAME}/{first_run['run_id']}/"
    for task, record in tasks.items():
        for name, artifact in record["outputs"].items():
            assert artifact["uri"].startswith(run_root), (task, name, artifact["uri"])
        assert "executor-logs" in record["outputs"], task
    assert tasks["ServedModelBaseline"]["outputs"]["model"]["baseline_version"] == served_before
    assert tasks["Evaluator"]["outputs"]["blessing"]["blessed"] == 1
    canary = tasks["ServingCanary"]["outputs"]["blessing"]
    assert canary["blessed"] == 1, canary
    versions = _versions(stack)
    assert len(versions) == 2 and versions[0] == served_before
    assert tasks["Pusher"]["outputs"]["pushed_model"]["pushed_version"] == versions[1]


def test_serve_answers_from_the_bucket_for_the_pushed_model(first_run, world):
    stack = world[0]
    rest, grpc = free_port(), free_port()
    server = subprocess.Popen(stack.inside(
        sys.executable, "-m", "serving.cli", "serve", "--local", "--model-dir", SERVING_DIR,
        "--rest-port", str(rest), "--grpc-port", str(grpc)), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        rng = random.Random(7)
        reviews = [synthetic_imdb.review_text(rng, positive=i % 2 == 0) for i in range(10)]
        answers = {}
        deadline = time.monotonic() + 180
        for protocol, port in (("rest", rest), ("grpc", grpc)):
            while True:
                answer = subprocess.run(stack.inside(
                    sys.executable, "-m", "serving.cli", "predict", "--protocol", protocol, "--json",
                    "--server", f"127.0.0.1:{port}", *reviews), capture_output=True, text=True, timeout=120)
                if answer.returncode == 0 or time.monotonic() > deadline or server.poll() is not None:
                    break
                time.sleep(2)
            assert answer.returncode == 0, answer.stderr[-2000:]
            answers[protocol] = [json.loads(line)["probability"] for line in answer.stdout.splitlines()]
        assert answers["rest"] == pytest.approx(answers["grpc"], abs=1e-6)
        # The pushed model learned the data: every positive review scores above every negative one.
        positive, negative = answers["rest"][0::2], answers["rest"][1::2]
        assert min(positive) > 0.5 > max(negative), answers["rest"]
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)


def _race(stack, source: str, mode: str) -> dict:
    script = os.path.join(os.path.dirname(__file__), "publish_race.py")
    base = f"{BUCKET}/race-{mode}/{serving_contract.MODEL_NAME}"
    return json.loads(stack.python(f"import runpy, sys; sys.argv = ['x', {source!r}, {base!r}, {mode!r}]; "
                                   f"runpy.run_path({script!r}, run_name='__main__')").strip().splitlines()[-1])


def test_a_push_to_cloud_storage_is_never_seen_half_written(world):
    """A reader polling the destination as TF Serving does, during a slowed copy: whenever it finds
    saved_model.pb, every file is there and the version answers as the source model."""
    stack, _, served_before = world
    source = f"{SERVING_DIR}/{served_before}"
    race = _race(stack, source, "ordered")
    complete = race["source_files"]
    assert len(race["seen"]) >= 3, race["seen"]  # the reader saw the folder fill, copy by copy
    for files in race["seen"]:
        assert "saved_model.pb" not in files or files == complete, files
    assert race["loads"] and all(load.get("same_answers") for load in race["loads"]), race["loads"]
    # TFX's own Pusher's copy, watched the same way, exposes a SavedModel without its variables.
    tfx = _race(stack, source, "tfx")
    assert any("saved_model.pb" in files and files != complete for files in tfx["seen"]), tfx["seen"]
