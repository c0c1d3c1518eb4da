"""The whole pipeline on LocalDagRunner with Beam: real components, a small data set it writes."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest

import synthetic_imdb
from commands import python
from common import features
from pipeline import configs, fingerprints, local_runner
from served_models import probabilities

pytestmark = pytest.mark.e2e

COMPONENTS = ["ImdbExampleGen", "ServedModelBaseline", "StatisticsGen", "ImportSchemaGen",
              "ExampleValidator", "Transform", "ApplyTransform", "Trainer", "Evaluator", "ServingCanary", "Pusher"]
UPSTREAM_OF_THE_MODEL = ["ImdbExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator",
                         "Transform", "ApplyTransform", "Trainer"]
PER_CLASS = 100
LABEL_NOISE = 0.1  # 10% of test reviews contradict their label: no model exceeds 0.9
MIN_ACCURACY = 0.75  # the gate of the first run: a model that learned nothing (0.5) is not pushed


@pytest.fixture(scope="module")
def noisy_data(tmp_path_factory) -> str:
    return synthetic_imdb.write_folder(
        str(tmp_path_factory.mktemp("data")), per_class=PER_CLASS, label_noise=LABEL_NOISE)


# nb_bilstm, whose Trainer fits the n-gram bag (its own epochs), the GloVe BiLSTM (frozen, then fine-tuned),
# then their blend: the n-gram and word encodings and both kinds of model in one short run.
DEFAULTS = configs.VARIANT_DEFAULTS["nb_bilstm"].training
TRAINING = dataclasses.replace(DEFAULTS, epochs=2, fine_tune_epochs=1, batch_size=16, lstm_units=8, word_max_tokens=100,
                               word_sequence_length=48, bag=dataclasses.replace(DEFAULTS.bag, epochs=4, batch_size=32))
# The BiLSTM branch in length buckets, in the one test that needs it: each bucket's shape is one more
# XLA compile per fit, some 30 s per Trainer run here, which the other tests' runs need not pay.
BUCKETED = dataclasses.replace(TRAINING, bucket_width=16)


def _run(tmp_path, data: str, min_accuracy: float, training=TRAINING):
    """The pipeline on LocalDagRunner, into TMP_PATH/outputs: its summary."""
    settings = configs.PipelineSettings(
        data_path=data, min_accuracy=min_accuracy, max_tokens=5000, sequence_length=128, ngrams=3,
        sample_fraction=1.0, training=training)
    return local_runner.run(local_runner.LocalPaths(str(tmp_path / "outputs")), settings, show_progress=False)


def _states(summary) -> dict:
    return {c.name: c.state for c in summary.components}


def test_pipeline_pushes_a_servable_model_and_reruns_from_cache(noisy_data, tmp_path):
    paths = local_runner.LocalPaths(str(tmp_path / "outputs"))
    first = _run(tmp_path, noisy_data, MIN_ACCURACY, BUCKETED)

    assert _states(first) == {name: "ran" for name in COMPONENTS}
    assert first.examples_per_split[features.TEST_SPLIT] == 2 * PER_CLASS
    assert first.examples_per_split[features.TRAIN_SPLIT] + first.examples_per_split[features.EVAL_SPLIT] == 2 * PER_CLASS
    assert first.test_accuracy >= MIN_ACCURACY  # learned; the figure itself is re-computed below from the model
    assert first.blessed is True
    assert first.trained_on == "/job:localhost/replica:0/task:0/device:CPU:0 (OneDeviceStrategy, 1 replica, global batch 16)"
    assert f"trained on: {first.trained_on}" in first.render()
    assert re.fullmatch(re.escape(paths.serving_model_dir) + r"/\d+", first.pushed_to)
    assert not [n for n in os.listdir(paths.serving_model_dir) if not n.isdigit()]  # no staging left
    with open(os.path.join(first.model_run, "history.json")) as f:
        history = json.load(f)
    assert history["config"]["bucket_width"] == BUCKETED.bucket_width  # the Trainer read the bucketed setting
    assert len(history["loss"]) == TRAINING.epochs + TRAINING.fine_tune_epochs  # the BiLSTM's, then the bag's
    assert len(history["bag"]["loss"]) == TRAINING.bag.epochs and history["fine_tune_from_epoch"] == TRAINING.epochs + 1
    assert set(history["blend"]["eval_accuracy"]) == {"bag", "bilstm", "blend"} and len(history["blend"]["weights"]) == 2

    # The pushed model on the raw test reviews, as a client sends them: the Evaluator's accuracy.
    reviews, labels = synthetic_imdb.read_test_split(noisy_data)
    served = probabilities(first.pushed_to, reviews + [""])
    assert served.shape == (len(reviews) + 1,) and np.isfinite(served[-1])  # an empty review too
    accuracy = np.mean((served[:-1] > 0.5) == np.array(labels))
    assert accuracy == pytest.approx(first.test_accuracy, abs=1e-6)

    second = _run(tmp_path, noisy_data, MIN_ACCURACY, BUCKETED)
    states = _states(second)
    assert all(states[name] == "cached" for name in UPSTREAM_OF_THE_MODEL), states
    assert second.test_accuracy == pytest.approx(first.test_accuracy)


def _edited(checkout, edited: str):
    with open(checkout / edited, "a") as f:
        f.write("\n# an edit\n")
    return checkout


def test_an_edit_re_runs_exactly_the_components_whose_code_changed(noisy_data, tmp_path, checkout, monkeypatch):
    _run(tmp_path, noisy_data, min_accuracy=0.0)

    monkeypatch.setattr(fingerprints, "REPO", _edited(checkout, "components/model/models.py"))
    states = _states(_run(tmp_path, noisy_data, min_accuracy=0.0))
    assert {n: states[n] for n in ("ImdbExampleGen", "Transform", "ApplyTransform", "Trainer")} == {
        "ImdbExampleGen": "cached", "Transform": "cached", "ApplyTransform": "cached", "Trainer": "ran"}
    # Which edit changes which component's key, for every module: tests/test_fingerprints.py; that a
    # changed upstream output re-runs what reads it is TFX's own cache rule.


def test_unreachable_threshold_pushes_nothing(noisy_data, tmp_path):
    summary = _run(tmp_path, noisy_data, min_accuracy=0.95)
    assert summary.test_accuracy is not None and summary.test_accuracy < 0.95  # the gate refused it
    assert summary.blessed is False
    assert summary.pushed_to is None
    serving_model_dir = local_runner.LocalPaths(str(tmp_path / "outputs")).serving_model_dir
    assert not os.path.exists(serving_model_dir) or not os.listdir(serving_model_dir)


def _kill_a_push_mid_copy(serving_dir, tmp_path):
    """Runs the Pusher's publish_version on a model of 3,000 files and SIGKILLs it mid-copy."""
    source = tmp_path / "many_files_model"
    (source / "assets").mkdir(parents=True)
    for i in range(3000):
        (source / "assets" / f"{i}.txt").write_text("x" * 100)
    (source / "saved_model.pb").write_bytes(b"model")
    serving_dir.mkdir(parents=True, exist_ok=True)
    push = subprocess.Popen([sys.executable, "-c", "import sys; from components import atomic_pusher; "
                             "atomic_pusher.publish_version(sys.argv[1], sys.argv[2])", str(source), str(serving_dir)])
    deadline = time.monotonic() + 300
    while push.poll() is None and time.monotonic() < deadline:
        staging = [serving_dir / n for n in os.listdir(serving_dir) if n.startswith(".incomplete-")]
        if staging and os.path.isdir(staging[0] / "assets") and len(os.listdir(staging[0] / "assets")) > 100:
            push.kill()
            break
        time.sleep(0.01)
    assert push.wait(timeout=60) == -9, "the push ended before it could be killed mid-copy"
    assert not [n for n in os.listdir(serving_dir) if n.isdigit()]  # nothing servable was left
    return staging[0]


def test_a_run_killed_half_way_completes_when_started_again(noisy_data, tmp_path):
    command = ["-m", "pipeline.cli", "--data", noisy_data, "--output-dir", str(tmp_path / "outputs"),
               "--sample-fraction", "1", "--epochs", "1", "--max-tokens", "100", "--sequence-length", "48",
               "--min-accuracy", "0"]
    first = subprocess.Popen([sys.executable, *command], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in first.stdout:
        # ExampleGen and the statistics are done, Transform or the Trainer under way: kill.
        if re.search(r"\] (Transform|Trainer) ", line):
            first.kill()
            break
    first.wait(timeout=60)
    assert first.returncode != 0
    # A push killed half-way (the Pusher's own copy, killed with SIGKILL) leaves a staging copy,
    # which the next start removes.
    staging = _kill_a_push_mid_copy(tmp_path / "outputs" / "serving_model" / "imdb_sentiment", tmp_path)

    second = python(*command, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"removed {staging}: a copy left by an interrupted push" in second.stdout
    assert not staging.exists()
    assert re.search(r"ImdbExampleGen from cache", second.stdout)
    assert "Run summary" in second.stdout
    assert re.search(r"pushed to: \S+/serving_model/imdb_sentiment/\d+", second.stdout)

