"""Small real SavedModels with the pipeline's signatures, published the way the Pusher does."""

from __future__ import annotations

import grpc
import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
from tensorflow_serving.apis import prediction_service_pb2_grpc

from common import features, serving_contract
from components import atomic_pusher
from components.model import signatures, trainer
from components.model.hparams import TrainingConfig
from corpus import CORPUS
from serving.client import SentimentClient


def export_model(transform_output, export_dir: str, seed: int, epochs: int) -> str:
    """A tiny ngram_bag model on Transform's real output; different seeds give different models."""
    output_dir, transformed = transform_output
    tft_output = tft.TFTransformOutput(output_dir)
    keras.utils.set_random_seed(seed)
    model = trainer.build_for_transform(TrainingConfig(variant="ngram_bag", embedding_dim=8, seed=seed), tft_output)
    ids = np.stack([row[features.TOKEN_IDS] for row in transformed])
    labels = np.array([[i % 2] for i in range(len(CORPUS))], dtype="float32")
    if epochs:
        model.fit(ids, labels, epochs=epochs, verbose=0)
    signatures.export(model, tft_output, export_dir)
    return export_dir


def probabilities(model_dir: str, reviews) -> np.ndarray:
    """What MODEL_DIR's serving signature answers for REVIEWS, in process."""
    signature = tf.saved_model.load(model_dir).signatures[serving_contract.SERVING_SIGNATURE]
    answer = signature(**{serving_contract.REVIEWS_INPUT: tf.constant(reviews)})
    return answer[serving_contract.PROBABILITY_OUTPUT].numpy()


def publish(model_dir: str, base_path: str) -> int:
    _, version = atomic_pusher.publish_version(model_dir, base_path)
    return int(version)


def assert_answers(server, reviews, expected) -> None:
    """SERVER answers REVIEWS with EXPECTED over REST and over gRPC, through the project's client."""
    for protocol, target in (("rest", server.rest_url), ("grpc", server.grpc_target)):
        with SentimentClient(target, protocol, serving_contract.MODEL_NAME) as client:
            np.testing.assert_allclose(client.predict(reviews), expected, rtol=0, atol=1e-6)


def grpc_refusal(target: str, request) -> grpc.RpcError:
    """The error the server at TARGET answers a PredictRequest with."""
    with grpc.insecure_channel(target) as channel:
        with pytest.raises(grpc.RpcError) as raised:
            prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=60)
    return raised.value


def _length_score(text: tf.Tensor) -> tf.Tensor:
    return tf.sigmoid(tf.cast(tf.strings.length(text), tf.float32) / 200.0 - 2.0)


class _StandIn(tf.Module):
    """The pipeline's two signatures over a model that learned nothing: longer reviews score higher."""

    def __init__(self, serving: str):
        super().__init__()
        self.serving = serving

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def from_examples(self, examples):
        parsed = tf.io.parse_example(examples, {features.TEXT: tf.io.FixedLenFeature([], tf.string)})
        return {serving_contract.PROBABILITY_OUTPUT: _length_score(parsed[features.TEXT])}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def reviews(self, reviews):
        if self.serving == "wrong":  # e.g. exported from another model than the one evaluated
            return {serving_contract.PROBABILITY_OUTPUT: tf.zeros(tf.shape(reviews))}
        return {serving_contract.PROBABILITY_OUTPUT: _length_score(reviews)}


def export_stand_in(export_dir: str, serving: str = "sound") -> str:
    """A SavedModel of a model that learned nothing, whose `serving_default` is sound, "wrong" or
    "missing"; its `from_examples` (what the Evaluator judges) is always sound."""
    module = _StandIn(serving)
    exported = {serving_contract.EXAMPLES_SIGNATURE: module.from_examples.get_concrete_function()}
    if serving != "missing":
        exported[serving_contract.SERVING_SIGNATURE] = module.reviews.get_concrete_function()
    tf.saved_model.save(module, export_dir, signatures=exported)
    return export_dir
