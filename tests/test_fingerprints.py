"""Each component's cache key holds a hash of exactly its own code (pipeline/fingerprints.py)."""

from __future__ import annotations

import shutil

import pytest

from pipeline import fingerprints


@pytest.fixture
def checkout(tmp_path):
    for entry in ("components", "schema", "serving"):
        shutil.copytree(fingerprints.REPO / entry, tmp_path / entry)
    return tmp_path


def _changed_by(checkout, edited: str) -> set:
    before = fingerprints.all_fingerprints(checkout)
    with open(checkout / edited, "a") as f:
        f.write("\n# an edit\n")
    after = fingerprints.all_fingerprints(checkout)
    return {node for node in before if before[node] != after[node]}


@pytest.mark.parametrize("edited, reruns", [
    ("components/imdb_example_gen/layout.py", {"ImdbExampleGen"}),  # the split rule
    ("components/text_vectorization.py", {"Transform"}),
    ("components/model/models.py", {"Trainer"}),
    ("schema/schema.pbtxt", {"ImportSchemaGen"}),
    ("components/anomaly_gate.py", {"ExampleValidator"}),
    ("components/accuracy_gate.py", {"Evaluator"}),
    ("components/atomic_pusher.py", {"Pusher"}),
    ("components/serving_canary.py", {"ServingCanary"}),
    ("serving/rest_api.py", {"ServingCanary"}),  # the canary runs the model server
    ("components/model/warmup.py", {"Trainer", "ServingCanary"}),  # written by one, replayed by the other
    ("components/features.py", {"ImdbExampleGen", "Transform", "Trainer", "Evaluator", "ServingCanary"}),
])
def test_an_edit_changes_only_the_key_of_the_component_that_runs_it(checkout, edited, reruns):
    assert _changed_by(checkout, edited) == reruns


def test_the_pipeline_gives_each_component_its_fingerprint():
    from tfx.dsl.compiler import compiler

    from components.model.hparams import TrainingConfig
    from pipeline.pipeline import create_pipeline

    pipeline = create_pipeline("p", "/tmp/unused-root", "/tmp/unused-data", "/tmp/unused-serving",
                               "m", TrainingConfig(variant="embedding"), min_accuracy=0.5,
                               max_tokens=100, sequence_length=20, ngrams=1, eval_fraction=0.2, sample_fraction=1.0)
    expected = fingerprints.all_fingerprints()
    found = {}
    for node in compiler.Compiler().compile(pipeline).nodes:
        node = node.pipeline_node
        values = {k: v.field_value.string_value for k, v in node.parameters.parameters.items()}
        text = " ".join(values.values())
        found[node.node_info.id] = values.get(fingerprints.CODE_FINGERPRINT_KEY) or next(
            (fp for fp in expected.values() if fp in text), None)  # inside custom_config
    for node, fp in expected.items():
        assert found[node] == fp, node
