"""The exported model's raw-text and tf.Example signatures give the same numbers."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from commands import python_json
from common import features, serving_contract
from components.model import signatures, trainer
from corpus import CORPUS, TRICKY_REVIEWS
from pipeline import configs
from served_models import probabilities


# Model -> its encoding's Transform fixture; TRICKY_REVIEWS (the empty one too) go through each.
ENCODED_MODELS = {"embedding": "transform_output", "ngram_bag": "bigram_transform_output",
                  "nb_ngrams": "naive_bayes_transform_output", "nb_bilstm": "blended_transform_output"}


def model_inputs(transformed_rows, model) -> dict:
    """The transformed features the model reads, stacked (ragged ones as TFT's instance dicts name
    their values): what the Trainer's dataset feeds it."""
    return {t.name: tf.ragged.constant([row[f"{t.name}$ragged_values"] for row in transformed_rows], t.dtype, 1)
            if t.ragged else np.stack([row[t.name] for row in transformed_rows]) for t in model.inputs}


@pytest.fixture(scope="module", params=sorted(ENCODED_MODELS))
def exported(request, tmp_path_factory):
    output_dir, transformed = request.getfixturevalue(ENCODED_MODELS[request.param])
    tft_output = tft.TFTransformOutput(output_dir)
    config = dataclasses.replace(configs.VARIANT_DEFAULTS[request.param].training, embedding_dim=8, lstm_units=4)
    model = trainer.build_for_transform(config, tft_output)
    labels = np.array([[i % 2] for i in range(len(CORPUS))], dtype="float32")
    model.fit(tf.data.Dataset.from_tensor_slices((model_inputs(transformed, model), labels)).batch(32), epochs=2,
              verbose=0)
    export_dir = str(tmp_path_factory.mktemp("export") / "model")
    signatures.export(model, tft_output, export_dir)
    return model, tft_output, tf.saved_model.load(export_dir), export_dir


def test_both_signatures_agree(exported):
    _, _, loaded, export_dir = exported
    from_text = probabilities(export_dir, TRICKY_REVIEWS)
    examples = tf.constant([tf.train.Example(features=tf.train.Features(feature={
        features.TEXT: tf.train.Feature(bytes_list=tf.train.BytesList(value=[t.encode()])),
        features.LABEL: tf.train.Feature(int64_list=tf.train.Int64List(value=[1])),
    })).SerializeToString() for t in TRICKY_REVIEWS])
    from_examples = loaded.signatures[serving_contract.EXAMPLES_SIGNATURE](
        **{serving_contract.EXAMPLES_INPUT: examples})[serving_contract.PROBABILITY_OUTPUT]
    assert from_text.shape == (len(TRICKY_REVIEWS),)
    np.testing.assert_allclose(from_text, from_examples.numpy(), rtol=0, atol=1e-6)
    assert np.isfinite(from_text).all()  # a sigmoid's output is in [0, 1] whatever the model did


def test_exported_model_equals_the_trained_one(exported):
    model, tft_output, _, export_dir = exported
    transformed = tft_output.transform_features_layer()({features.TEXT: tf.constant([[t] for t in CORPUS])})
    expected = model.predict({t.name: transformed[t.name] for t in model.inputs}, verbose=0).ravel()
    np.testing.assert_allclose(probabilities(export_dir, CORPUS), expected, atol=1e-5)


def test_the_export_holds_the_model_weights_and_nothing_else(exported):
    """No optimizer state in the SavedModel (the trained model's Adam/RMSprop slots and step
    counter): its variables are the model's weights, value for value; the Transform graph adds none."""
    model, _, _, export_dir = exported
    assert model.optimizer.variables  # the trained model has optimizer state to leave out
    reader = tf.train.load_checkpoint(os.path.join(export_dir, "variables", "variables"))
    saved = sorted((reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
                    if name.endswith("/.ATTRIBUTES/VARIABLE_VALUE")), key=lambda a: (a.shape, a.sum()))
    weights = sorted((w.numpy() for w in model.weights), key=lambda a: (a.shape, a.sum()))
    assert [a.shape for a in saved] == [w.shape for w in weights]
    for got, want in zip(saved, weights, strict=True):
        np.testing.assert_array_equal(got, want)


# In a fresh interpreter importing TensorFlow alone: only the ops a plain build (tensorflow_model_server) has.
OPS_NOT_IN_CORE = r"""
import json, sys
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.framework import op_def_registry
import tensorflow  # noqa: F401  (registers the core ops)
model = saved_model_pb2.SavedModel()
model.ParseFromString(open(sys.argv[1], "rb").read())
ops = set()
for graph in model.meta_graphs:
    ops.update(node.op for node in graph.graph_def.node)
    for function in graph.graph_def.library.function:
        ops.update(node.op for node in function.node_def)
functions = {f.signature.name for g in model.meta_graphs for f in g.graph_def.library.function}
ops -= functions  # calls of the library's own functions
print(json.dumps({"ops": sorted(ops), "missing": sorted(op for op in ops if op_def_registry.get(op) is None)}))
"""


def test_the_export_uses_only_core_tensorflow_ops(exported):
    """What TF Serving needs: tensorflow_model_server links no Python op libraries."""
    found = python_json("-c", OPS_NOT_IN_CORE, os.path.join(exported[3], "saved_model.pb"))
    assert {"StringLower", "StaticRegexReplace", "StringSplitV2"} <= set(found["ops"])  # the text ops are in
    assert found["missing"] == []
