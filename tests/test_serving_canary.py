"""The serving canary on LocalDagRunner: a model whose serving signature is broken is not pushed. Real
ImdbExampleGen, ServingCanary and Pusher; the Evaluator's blessing and the candidate imported, a
stand-in (tests/served_models.py) whose `serving_default` is sound, wrong or missing."""

from __future__ import annotations

import os
import re

import pytest
from tfx import v1 as tfx

import served_models
from example_gen_runs import run_pipeline
from components import atomic_pusher, serving_canary
from components.imdb_example_gen import ImdbExampleGen
from pipeline import run_summary

pytestmark = pytest.mark.e2e
MODEL_NAME = "imdb_sentiment"


def _run(data: str, serving: str, workdir) -> run_summary.RunSummary:
    """The canary and the Pusher on a stand-in candidate whose `serving_default` is SERVING."""
    model_uri = str(workdir / "candidate")  # a Model artifact's folder, Format-Serving inside
    served_models.export_stand_in(os.path.join(model_uri, "Format-Serving"), serving)
    example_gen = ImdbExampleGen(input_base=data, eval_fraction=0.2, sample_fraction=1.0)
    model = tfx.dsl.Importer(source_uri=model_uri, artifact_type=tfx.types.standard_artifacts.Model,
                             reimport=True).with_id("CandidateModel")
    blessing = tfx.dsl.Importer(  # what the Evaluator writes for a model it blesses
        source_uri=str(workdir), artifact_type=tfx.types.standard_artifacts.ModelBlessing,
        custom_properties={"blessed": 1}, reimport=True).with_id("Evaluator")
    canary = serving_canary.ServingCanary(
        model=model.outputs["result"], model_blessing=blessing.outputs["result"],
        examples=example_gen.outputs["examples"], model_name=MODEL_NAME, num_reviews=16).with_id("ServingCanary")
    pusher = atomic_pusher.AtomicPusher(
        model=model.outputs["result"], model_blessing=blessing.outputs["result"],
        infra_blessing=canary.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(filesystem=tfx.proto.PushDestination.Filesystem(
            base_directory=str(workdir / "serving" / MODEL_NAME)))).with_id("Pusher")
    run_pipeline("canary", str(workdir), [example_gen, model, blessing, canary, pusher])
    return run_summary.summarize(str(workdir / "metadata.db"))


@pytest.mark.parametrize("serving, reason", [
    ("wrong", r"REST answers differ from the evaluated signature \(from_examples\): test review \d+ got 0\.000000, "
              r"the Evaluator's signature 0\.\d+"),
    ("missing", r'REST predict failed: 400: Serving signature name: "serving_default" not found'),
], ids=["wrong-answers", "missing-signature"])
def test_a_broken_serving_signature_is_not_pushed(imdb_folder, tmp_path, serving, reason):
    summary = _run(imdb_folder, serving, tmp_path)
    assert re.fullmatch(f"failed: {reason}.*", summary.serving_canary), summary.serving_canary
    assert f"serving canary: {summary.serving_canary}" in summary.render()
    assert summary.pushed_to is None
    assert not os.path.exists(tmp_path / "serving" / MODEL_NAME)


def test_a_sound_model_passes_and_is_pushed(imdb_folder, tmp_path):
    summary = _run(imdb_folder, "sound", tmp_path)
    assert summary.serving_canary.startswith("passed: loaded, 16 test reviews answered over REST and gRPC")
    assert summary.pushed_to == str(tmp_path / "serving" / MODEL_NAME / os.path.basename(summary.pushed_to))
    assert os.path.exists(os.path.join(summary.pushed_to, "saved_model.pb"))
