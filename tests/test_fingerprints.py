"""Each component's cache key holds a hash of the code it runs, found from its imports
(pipeline/fingerprints.py)."""

from __future__ import annotations

import pytest

from commands import python_json
from pipeline import fingerprints


def _changed_by(checkout, edited: str, text: str = "\n# an edit\n") -> set:
    before = fingerprints.all_fingerprints(checkout)
    with open(checkout / edited, "a") as f:
        f.write(text)
    after = fingerprints.all_fingerprints(checkout)
    return {node for node in before if before[node] != after[node]}


@pytest.mark.parametrize("edited, reruns", [
    ("components/imdb_example_gen/layout.py", {"ImdbExampleGen"}),  # the split rule
    ("components/text_vectorization.py", {"Transform"}),
    ("components/naive_bayes_bag.py", {"Transform"}),  # reached through text_vectorization
    ("components/model/models.py", {"Trainer"}),
    ("components/schema/schema.pbtxt", {"ImportSchemaGen"}),
    ("components/anomaly_gate.py", {"ExampleValidator"}),
    ("components/accuracy_gate.py", {"Evaluator"}),
    ("components/atomic_pusher.py", {"Pusher"}),
    ("components/serving_canary.py", {"ServingCanary"}),
    ("serving/rest_api.py", {"ServingCanary"}),  # the canary runs the model server
    ("serving/errors.py", {"ServingCanary"}),  # reached only through other serving modules
    # Imported by the signatures, the Evaluator's gate and the canary: missing from the hand-kept
    # list this module replaced, so an edit there re-used stale results.
    ("common/serving_contract.py", {"Trainer", "Evaluator", "ServingCanary"}),
    ("common/warmup.py", {"Trainer", "ServingCanary"}),  # written by one, replayed by the other
    ("common/features.py", {"ImdbExampleGen", "Transform", "Trainer", "Evaluator", "ServingCanary"}),
])
def test_an_edit_changes_only_the_keys_of_the_components_that_import_it(checkout, edited, reruns):
    assert _changed_by(checkout, edited) == reruns


def test_a_new_import_is_followed(checkout):
    (checkout / "components" / "new_helper.py").write_text("X = 1\n")
    _changed_by(checkout, "components/atomic_pusher.py", "\nfrom components import new_helper  # noqa\n")
    assert _changed_by(checkout, "components/new_helper.py") == {"Pusher"}


# Each entry's imports in a process of its own, forked from one that has loaded the libraries they
# share (and no project module): one TensorFlow start-up for all, not one each (121 s -> 24 s).
_LOADED_BY_EACH_ENTRY = """
import json, multiprocessing, sys
import apache_beam, keras, tensorflow, tensorflow_model_analysis, tensorflow_transform, tfx.v1

def project_files():
    return [m.__file__ for n, m in sys.modules.items() if n.split('.')[0] in PACKAGES and getattr(m, '__file__', None)]

def loaded(entries):
    for m in entries:
        __import__(m)
    return project_files()

assert not project_files()
with multiprocessing.get_context("fork").Pool(1, maxtasksperchild=1) as pool:
    print(json.dumps(dict(zip(ENTRIES, pool.map(loaded, ENTRIES.values(), chunksize=1)))))
"""


def test_every_project_module_an_entry_loads_is_in_its_key():
    """The import graph read from the source holds at least what Python really loads."""
    code = (f"PACKAGES = {sorted(fingerprints.PROJECT_PACKAGES)!r}\nENTRIES = {dict(fingerprints.ENTRY_MODULES)!r}\n"
            + _LOADED_BY_EACH_ENTRY)
    loaded = python_json("-c", code, cwd=fingerprints.REPO)
    assert loaded.keys() == fingerprints.ENTRY_MODULES.keys()
    for node, files in loaded.items():
        keyed = {str(p) for p in fingerprints.code_files(node)}
        assert files and set(files) <= keyed, (node, sorted(set(files) - keyed))


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
