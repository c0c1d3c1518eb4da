"""The exported model's two signatures: `serving_default` takes raw review strings (what TF Serving
clients send), `from_examples` serialized tf.Examples (what the Evaluator, TFMA, feeds). Both call the
same TFT layer and Keras model, so they cannot disagree.
"""

from __future__ import annotations

import keras
import tensorflow as tf
import tensorflow_transform as tft

from common import features, serving_contract
from common import warmup


class SentimentExport(tf.Module):
    """What is saved: the Transform graph, the trained model, and the two entry points."""

    def __init__(self, model: keras.Model, tft_output: tft.TFTransformOutput):
        super().__init__()
        self.model = model
        self.tft_layer = tft_output.transform_features_layer()
        self.input_names = [tensor.name for tensor in model.inputs]  # the transformed features it reads

    def _probability(self, reviews: tf.Tensor) -> dict:
        # The Transform graph expects the raw feature's parsed shape, [batch, 1].
        transformed = self.tft_layer({features.TEXT: tf.reshape(reviews, [-1, 1])})
        model_inputs = {name: transformed[name] for name in self.input_names}
        probability = self.model(model_inputs, training=False)
        return {serving_contract.PROBABILITY_OUTPUT: tf.reshape(probability, [-1])}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=serving_contract.REVIEWS_INPUT)])
    def serve_reviews(self, reviews):
        return self._probability(reviews)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=serving_contract.EXAMPLES_INPUT)])
    def serve_examples(self, examples):
        parsed = tf.io.parse_example(examples, {features.TEXT: tf.io.FixedLenFeature([], tf.string)})
        return self._probability(parsed[features.TEXT])


def without_optimizer(model: keras.Model) -> keras.Model:
    """The same layers and weights in a model never compiled: tf.saved_model.save would write a
    compiled model's optimizer state too (Adam: three times the variables every push copies and
    every server loads); keras.models.clone_model compiles the clone with the same optimizer."""
    return keras.Model(model.input, model.output, name=model.name)


def export(model: keras.Model, tft_output: tft.TFTransformOutput, export_dir: str) -> None:
    module = SentimentExport(without_optimizer(model), tft_output)
    tf.saved_model.save(module, export_dir, signatures={serving_contract.SERVING_SIGNATURE: module.serve_reviews,
                                                        serving_contract.EXAMPLES_SIGNATURE: module.serve_examples})
    warmup.write(export_dir)  # replayed by model servers before they serve this version
