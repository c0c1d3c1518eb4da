"""The notebook's three models, one BiLSTM behind three kinds of token input, two n-gram bags, and
`nb_bilstm`, nb_ngrams' bag and a BiLSTM blended in one model.

`ngram_bag` averages learned embeddings of unigrams and bigrams (fastText's recipe): pairs such as
"not good" carry what an LSTM spends most of its time learning, at a hundredth of the cost per step.
`nb_ngrams`, the default, is NBSVM in Keras: a learned weight per n-gram (words to triples) times the
naive-Bayes ratio Transform attached to it, a strong prior: a few epochs reach what others take many for.

Model code uses `import keras` (Keras 3), never `tf.keras`: tensorflow-transform sets
TF_USE_LEGACY_KERAS=1 on import, so `tf.keras` means tf_keras or Keras 3 depending on import order.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Optional, Tuple

import keras
import numpy as np
import tensorflow as tf

from common import features
from components.model import projected_lstm
from components.model.hparams import BILSTM_VARIANTS, BLENDED_VARIANT, TrainingConfig

GLOVE_LAYER = "glove_embedding"
BAG_LOGIT, BILSTM_LOGIT, BLEND = "score", "bilstm_logit", "blend"  # nb_ngrams' score; nb_bilstm's layers

@keras.saving.register_keras_serializable(package="imdb")
class OneHot(keras.layers.Layer):
    """Token ids to one-hot vectors, the notebook's `tf.one_hot(inputs, depth=max_tokens)`."""

    def __init__(self, depth: int, mask_zero: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.depth, self.mask_zero = depth, mask_zero

    def call(self, token_ids):
        return keras.ops.one_hot(keras.ops.cast(token_ids, "int32"), self.depth)

    def compute_mask(self, token_ids, mask=None):
        """Padding masked, as an Embedding(mask_zero=True) does, when training in length buckets."""
        return keras.ops.not_equal(token_ids, features.PADDING_ID) if self.mask_zero else None

    def get_config(self):
        return {**super().get_config(), "depth": self.depth, "mask_zero": self.mask_zero}


@keras.saving.register_keras_serializable(package="imdb")
class MeanOfTokens(keras.layers.Layer):
    """The mean of a review's token embeddings, padding left out; zeros for an empty review (a masked
    GlobalAveragePooling1D divides by 0 there, and one NaN probability in training makes every weight NaN)."""

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


def build_model(config: TrainingConfig, vocab_size: int, sequence_length: Optional[int],
                glove_matrix: Optional[np.ndarray] = None) -> keras.Model:
    """Builds and compiles one variant; vocab_size counts the padding and OOV ids; sequence_length
    is None for nb_ngrams, whose rows are ragged. On GPUs the BiLSTMs are built as the notebook
    wrote them, Keras' LSTM running cuDNN's kernel; on a CPU as projected_lstm computes them (the
    one-hot inputs' projection by row lookups: 15x faster there): the same function, weight for weight."""
    if config.variant == BLENDED_VARIANT:
        raise ValueError(f"{BLENDED_VARIANT} has two inputs' sizes: build_blended builds it")
    with _dtype_policy(config):
        if config.variant == "nb_ngrams":
            return _naive_bayes_linear(vocab_size, config)
        token_ids = keras.Input(shape=(_steps(config, sequence_length),), dtype="int64", name=features.TOKEN_IDS)
        if config.variant == "ngram_bag":
            x = keras.layers.Embedding(vocab_size, config.embedding_dim, name="embedding")(token_ids)
            return _head(token_ids, MeanOfTokens(name="mean_of_ngrams")(x, token_ids), config)
        return _head(token_ids, _bilstm(token_ids, config, vocab_size, glove_matrix), config)


def _steps(config: TrainingConfig, sequence_length: Optional[int]) -> Optional[int]:
    """A sequence input's length: any, when training batches are padded only to their length bucket."""
    return None if config.bucket_width else sequence_length


def _bilstm(token_ids, config: TrainingConfig, vocab_size: int, glove_matrix: Optional[np.ndarray] = None):
    """The notebook's BiLSTM over the token ids, by its input (config.bilstm): both directions' final states,
    padding skipped if config.masks_padding."""
    if config.bilstm == "one_hot":
        if not gpus_present():
            return projected_lstm.over_token_ids(token_ids, vocab_size, config.lstm_units, config.masks_padding)
        x = OneHot(vocab_size, config.masks_padding, name="one_hot")(token_ids)  # the notebook's input
    elif config.bilstm == "glove":
        if glove_matrix is None or glove_matrix.shape[0] != vocab_size:
            raise ValueError("a glove BiLSTM needs a GloVe matrix with one row per token id")
        x = keras.layers.Embedding(
            vocab_size, glove_matrix.shape[1], embeddings_initializer=keras.initializers.Constant(glove_matrix),
            trainable=False, mask_zero=True, name=GLOVE_LAYER)(token_ids)
    else:
        x = keras.layers.Embedding(vocab_size, config.embedding_dim, mask_zero=config.masks_padding,
                                   name="embedding")(token_ids)
    return (keras.layers.Bidirectional(keras.layers.LSTM(config.lstm_units), name="bilstm")(x) if gpus_present()
            else projected_lstm.over_vectors(x, config.lstm_units))


def build_blended(config: TrainingConfig, bag_vocab_size: int, word_vocab_size: int, word_length: int,
                  glove_matrix: Optional[np.ndarray] = None) -> keras.Model:
    """nb_bilstm: nb_ngrams' score and a notebook BiLSTM's logit, blended by a learned affine map
    (BLEND, a sum until blending.py fits it) into one probability: one model, one export. Compiled as a
    whole (a test can fit it so); the Trainer fits its branches one by one (blending.py)."""
    with _dtype_policy(config):
        inputs = _bag_inputs()
        inputs[features.WORD_IDS] = keras.Input(shape=(_steps(config, word_length),), dtype="int64",
                                                name=features.WORD_IDS)
        bag = NaiveBayesScore(bag_vocab_size, config.bag.dropout, name=BAG_LOGIT)(
            inputs[features.TOKEN_IDS], inputs[features.TOKEN_WEIGHTS])
        states = _bilstm(inputs[features.WORD_IDS], config, word_vocab_size, glove_matrix)
        bilstm = keras.layers.Dense(1, name=BILSTM_LOGIT, dtype="float32")(keras.layers.Dropout(config.dropout)(states))
        both = keras.layers.Concatenate(name="branch_logits", dtype="float32")([bag, bilstm])
        logit = keras.layers.Dense(1, kernel_initializer="ones", name=BLEND, dtype="float32")(both)
        probability = keras.layers.Activation("sigmoid", name="probability", dtype="float32")(logit)
        return _compiled(keras.Model(inputs, probability, name=config.variant), config, xla=False)  # ragged inputs


def blend_branches(model: keras.Model, config: TrainingConfig) -> Tuple[keras.Model, keras.Model, keras.Model]:
    """build_blended's bag and BiLSTM as models of their own (the same layers, so the same weights), each
    compiled as it trains alone: nb_ngrams' settings for the bag, the variant's for the BiLSTM; and the
    model of both branches' logits, which the blend is fitted on."""
    def alone(names, logit_layer, branch_config, xla):
        probability = keras.layers.Activation("sigmoid", dtype="float32")(model.get_layer(logit_layer).output)
        return _compiled(keras.Model({n: model.input[n] for n in names}, probability, name=logit_layer),
                         branch_config, xla=xla)

    bag = alone((features.TOKEN_IDS, features.TOKEN_WEIGHTS), BAG_LOGIT, config.bag, xla=False)
    bilstm = alone((features.WORD_IDS,), BILSTM_LOGIT, config, xla=not gpus_present())
    return bag, bilstm, keras.Model(model.input, model.get_layer("branch_logits").output)


def unfreeze_pretrained(model: keras.Model, config: TrainingConfig) -> None:
    """Makes the GloVe vectors trainable and recompiles at config.fine_tune_learning_rate (a new
    optimizer: its state for the frozen phase had no slots for the vectors)."""
    model.get_layer(GLOVE_LAYER).trainable = True
    _compiled(model, dataclasses.replace(config, learning_rate=config.fine_tune_learning_rate), xla=model.jit_compile)


@keras.saving.register_keras_serializable(package="imdb")
class NaiveBayesScore(keras.layers.Layer):
    """NBSVM's score: the sum over a review's n-grams of (learned weight, from zero, x naive-Bayes ratio)
    plus a bias; dropout drops whole n-grams' ratios. No scale on top: a learned one lets the scores grow
    without bound once the training set is separated, and validation loss rises after epoch 2 (measured).
    A dense row (Keras traces the default save signature with them) scores as its ragged one (ratio 0)."""

    def __init__(self, vocab_size: int, dropout: float, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.dropout = vocab_size, dropout
        self.seed_generator = keras.random.SeedGenerator()

    def build(self, *input_shapes):
        self.ngram_weights = self.add_weight(shape=(self.vocab_size,), initializer="zeros", name="ngram_weights")
        self.bias = self.add_weight(shape=(1,), initializer="zeros", name="bias")

    def call(self, token_ids, ratios, training=False):
        if not isinstance(token_ids, tf.RaggedTensor):
            token_ids, ratios = tf.RaggedTensor.from_tensor(token_ids), tf.RaggedTensor.from_tensor(ratios)
        values = ratios.flat_values
        if training and self.dropout:
            values = keras.random.dropout(values, self.dropout, seed=self.seed_generator)
        terms = tf.gather(self.ngram_weights, token_ids.flat_values) * values
        score = tf.math.unsorted_segment_sum(terms, token_ids.value_rowids(), token_ids.nrows())
        return tf.expand_dims(score, 1) + self.bias

    def compute_output_shape(self, *input_shapes):
        return (None, 1)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "dropout": self.dropout}


def _bag_inputs() -> dict:
    """Transform's ragged n-gram ids and ratios (components/naive_bayes_bag.py)."""
    return {name: keras.Input(shape=(None,), dtype=dtype, ragged=True, name=name)
            for name, dtype in ((features.TOKEN_IDS, "int64"), (features.TOKEN_WEIGHTS, "float32"))}


def _naive_bayes_linear(vocab_size: int, config: TrainingConfig) -> keras.Model:
    """NBSVM's linear model on the n-gram bag."""
    inputs = _bag_inputs()
    score = NaiveBayesScore(vocab_size, config.dropout, name=BAG_LOGIT)(*inputs.values())
    probability = keras.layers.Activation("sigmoid", name="probability", dtype="float32")(score)
    return _compiled(keras.Model(inputs, probability, name=config.variant), config)


def _head(token_ids, sequence_features, config: TrainingConfig) -> keras.Model:
    """Dropout, the sigmoid unit, the configured optimizer and the notebook's loss."""
    x = keras.layers.Dropout(config.dropout)(sequence_features)
    probability = keras.layers.Dense(1, activation="sigmoid", name="probability", dtype="float32")(x)
    return _compiled(keras.Model(token_ids, probability, name=config.variant), config)


def _compiled(model: keras.Model, config: TrainingConfig, xla: Optional[bool] = None) -> keras.Model:
    """XLA (by default for the BiLSTMs) on a CPU, which Keras does not ask for there: a BiLSTM's
    recurrence (projected_lstm, 600 steps of small matrices) costs mostly running each step's ops one by
    one, and XLA fuses them: 256 -> 62 ms a one-hot step at batch 32 (docs/benchmarks.md); Keras' own
    LSTM gained nothing (215 -> 235 ms). Never over ragged inputs, which XLA does not take."""
    optimizers = {"rmsprop": keras.optimizers.RMSprop, "adam": keras.optimizers.Adam}
    model.compile(
        optimizer=optimizers[config.optimizer](learning_rate=config.learning_rate),
        loss="binary_crossentropy",
        metrics=["accuracy"],
        jit_compile=(config.variant in BILSTM_VARIANTS if xla is None else xla) and not gpus_present())
    return model
