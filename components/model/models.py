"""The notebook's three models, one BiLSTM behind three kinds of token input, and two n-gram bags.

`ngram_bag` averages learned embeddings of the review's unigrams and bigrams (fastText's
recipe): on IMDB, word pairs such as "not good" carry what an LSTM spends most of its time
learning, at a hundredth of the cost per step. `nb_ngrams`, the default, is NBSVM as a Keras
model: one learned weight per n-gram (words to triples), applied to the naive-Bayes log-count
ratio Transform attached to it. The ratios are a strong prior (alone they make a naive-Bayes
classifier), so a few epochs of Adam reach what takes the embedding models many.

Model code uses `import keras` (Keras 3), never `tf.keras`: tensorflow-transform sets
TF_USE_LEGACY_KERAS=1 on import, which makes `tf.keras` mean tf_keras or Keras 3 depending on
import order.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from common import features
from components.model import one_hot_lstm
from components.model.hparams import TrainingConfig

GLOVE_LAYER = "glove_embedding"

@keras.saving.register_keras_serializable(package="imdb")
class OneHot(keras.layers.Layer):
    """Token ids to one-hot vectors, the notebook's `tf.one_hot(inputs, depth=max_tokens)`."""

    def __init__(self, depth: int, **kwargs):
        super().__init__(**kwargs)
        self.depth = depth

    def call(self, token_ids):
        return keras.ops.one_hot(keras.ops.cast(token_ids, "int32"), self.depth)

    def get_config(self):
        return {**super().get_config(), "depth": self.depth}


@keras.saving.register_keras_serializable(package="imdb")
class MeanOfTokens(keras.layers.Layer):
    """The mean of a review's token embeddings, padding left out; zeros for an empty review.

    GlobalAveragePooling1D with a mask divides by the number of tokens, which is 0 for an empty
    review: its probability would be NaN, and one such review in training makes every weight NaN.
    """

    def call(self, embedded, token_ids):
        present = keras.ops.cast(keras.ops.not_equal(token_ids, features.PADDING_ID), embedded.dtype)
        total = keras.ops.sum(embedded * keras.ops.expand_dims(present, -1), axis=1)
        return total / keras.ops.maximum(keras.ops.sum(present, axis=1, keepdims=True), 1.0)


@contextlib.contextmanager
def _dtype_policy(config: TrainingConfig):
    """mixed_float16 while the layers are made, if asked: float16 compute on GPUs' tensor cores,
    float32 weights; the output layer stays float32 (see _head), so loss and probabilities do."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16" if config.mixed_precision else "float32")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def gpus_present() -> bool:
    return bool(tf.config.list_logical_devices("GPU"))


def build_model(config: TrainingConfig, vocab_size: int, sequence_length: int,
                glove_matrix: Optional[np.ndarray] = None) -> keras.Model:
    """Builds and compiles one variant; vocab_size counts the padding and OOV ids."""
    with _dtype_policy(config):
        return _build(config, vocab_size, sequence_length, glove_matrix)


def _build(config: TrainingConfig, vocab_size: int, sequence_length: int,
           glove_matrix: Optional[np.ndarray]) -> keras.Model:
    """The one_hot variant computes the notebook's one_hot -> BiLSTM by row lookups on a CPU
    (components/model/one_hot_lstm.py: 15x faster there), and as written (notebook_one_hot_model)
    on GPUs, where Keras' LSTM runs cuDNN's kernel; the two are the same function, weight for weight.
    """
    token_ids = keras.Input(shape=(sequence_length,), dtype="int64", name=features.TOKEN_IDS)
    if config.variant == "one_hot":
        if gpus_present():
            return notebook_one_hot_model(config, vocab_size, sequence_length)
        return _head(token_ids, one_hot_lstm.bidirectional(token_ids, vocab_size, config.lstm_units), config)
    if config.variant == "nb_ngrams":
        return _naive_bayes_linear(token_ids, sequence_length, vocab_size, config)
    if config.variant == "ngram_bag":
        x = keras.layers.Embedding(vocab_size, config.embedding_dim, name="embedding")(token_ids)
        return _head(token_ids, MeanOfTokens(name="mean_of_ngrams")(x, token_ids), config)
    if config.variant == "embedding":
        x = keras.layers.Embedding(vocab_size, config.embedding_dim, name="embedding")(token_ids)
    else:
        if glove_matrix is None or glove_matrix.shape[0] != vocab_size:
            raise ValueError("the glove variant needs a GloVe matrix with one row per token id")
        x = keras.layers.Embedding(
            vocab_size, glove_matrix.shape[1],
            embeddings_initializer=keras.initializers.Constant(glove_matrix),
            trainable=False, mask_zero=True, name=GLOVE_LAYER)(token_ids)
    return _head(token_ids, _bilstm(x, config), config)


def unfreeze_pretrained(model: keras.Model, config: TrainingConfig) -> None:
    """Makes the GloVe vectors trainable and recompiles at config.fine_tune_learning_rate (a new
    optimizer: its state for the frozen phase had no slots for the vectors)."""
    model.get_layer(GLOVE_LAYER).trainable = True
    _compiled(model, dataclasses.replace(config, learning_rate=config.fine_tune_learning_rate))


def notebook_one_hot_model(config: TrainingConfig, vocab_size: int, sequence_length: int) -> keras.Model:
    """The notebook's one-hot model as written there: one-hot vectors into the BiLSTM."""
    token_ids = keras.Input(shape=(sequence_length,), dtype="int64", name=features.TOKEN_IDS)
    return _head(token_ids, _bilstm(OneHot(vocab_size, name="one_hot")(token_ids), config), config)


def _bilstm(x, config: TrainingConfig):
    return keras.layers.Bidirectional(keras.layers.LSTM(config.lstm_units), name="bilstm")(x)


@keras.saving.register_keras_serializable(package="imdb")
class NaiveBayesScore(keras.layers.Layer):
    """NBSVM's score: the sum over a review's n-grams of (learned weight x naive-Bayes ratio),
    plus a bias. Padding has ratio 0, so it adds nothing, and an empty review scores the bias.
    No scale on top: a learned scale lets the scores grow without bound once the training set is
    separated, and validation loss then rises after the second epoch (measured)."""

    def build(self, input_shape):
        self.bias = self.add_weight(shape=(1,), initializer="zeros", name="bias")

    def call(self, learned, ratios):
        return keras.ops.sum(keras.ops.squeeze(learned, -1) * ratios, axis=1, keepdims=True) + self.bias


def _naive_bayes_linear(token_ids, sequence_length: int, vocab_size: int, config: TrainingConfig) -> keras.Model:
    """NBSVM's linear model: the weights start at zero (the score is learned, not the ratios'
    naive-Bayes sum), and Dropout(config.dropout) drops whole n-grams while training."""
    ratios = keras.Input(shape=(sequence_length,), dtype="float32", name=features.TOKEN_WEIGHTS)
    learned = keras.layers.Embedding(vocab_size, 1, embeddings_initializer="zeros", name="ngram_weights")(token_ids)
    dropped = keras.layers.Dropout(config.dropout)(ratios)
    score = NaiveBayesScore(name="score")(learned, dropped)
    probability = keras.layers.Activation("sigmoid", name="probability", dtype="float32")(score)
    return _compiled(keras.Model({features.TOKEN_IDS: token_ids, features.TOKEN_WEIGHTS: ratios},
                                 probability, name=config.variant), config)


def _head(token_ids, sequence_features, config: TrainingConfig) -> keras.Model:
    """Dropout, the sigmoid unit, the configured optimizer and the notebook's loss."""
    x = keras.layers.Dropout(config.dropout)(sequence_features)
    probability = keras.layers.Dense(1, activation="sigmoid", name="probability", dtype="float32")(x)
    return _compiled(keras.Model(token_ids, probability, name=config.variant), config)


def _compiled(model: keras.Model, config: TrainingConfig) -> keras.Model:
    optimizers = {"rmsprop": keras.optimizers.RMSprop, "adam": keras.optimizers.Adam}
    model.compile(
        optimizer=optimizers[config.optimizer](learning_rate=config.learning_rate),
        loss="binary_crossentropy",
        metrics=["accuracy"])
    return model
