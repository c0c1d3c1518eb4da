"""The notebook's BiLSTM as a CPU runs it fastest: every step's input projection at once.

An LSTM multiplies each step's input by its input kernel W (input width x 4*units) inside the
recurrence. No such product depends on the state, so here they are done before it, for all steps in
one layer: for one-hot inputs a row lookup (an Embedding whose table is W), for embedded tokens one
Dense over the time axis. The loop keeps the recurrent product and the gates, which XLA fuses
(models._compiled). The cell is the standard LSTM cell and masks pass through: each model computes
exactly Keras' Bidirectional(LSTM), weight for weight (tests/test_models.py).
"""

from __future__ import annotations

import keras
from keras import ops


def _unit_forget_bias(units: int):
    """Keras LSTM's default bias: zeros, with ones for the forget gate (gate order i, f, c, o)."""
    def initializer(shape, dtype=None):
        return ops.concatenate([ops.zeros((units,)), ops.ones((units,)), ops.zeros((2 * units,))])
    return initializer


@keras.saving.register_keras_serializable(package="imdb")
class ProjectedInputLSTMCell(keras.layers.Layer):
    """An LSTM cell whose inputs arrive already multiplied by the input kernel."""

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = [units, units]
        self.output_size = units

    def build(self, input_shape):
        if input_shape[-1] != 4 * self.units:
            raise ValueError(f"inputs must be 4 * units = {4 * self.units} wide, not {input_shape[-1]}")
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, 4 * self.units), initializer="orthogonal", name="recurrent_kernel")
        self.bias = self.add_weight(shape=(4 * self.units,), initializer=_unit_forget_bias(self.units), name="bias")

    def call(self, inputs, states, training=False):
        h, c = states
        z = inputs + ops.matmul(h, self.recurrent_kernel) + self.bias
        i, f, g, o = ops.split(z, 4, axis=-1)
        c = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
        h = ops.sigmoid(o) * ops.tanh(c)
        return h, [h, c]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def over_token_ids(token_ids, vocab_size: int, units: int, mask_padding: bool = False):
    """The BiLSTM over one-hot vectors of the ids, by row lookups; padding skipped if MASK_PADDING."""
    return _bidirectional(token_ids, units, lambda name: keras.layers.Embedding(
        vocab_size, 4 * units, embeddings_initializer="glorot_uniform", mask_zero=mask_padding, name=name))


def over_vectors(vectors, units: int):
    """The BiLSTM over embedded tokens; the embedding's mask (GloVe's) reaches the recurrence."""
    return _bidirectional(vectors, units, lambda name: keras.layers.Dense(4 * units, use_bias=False, name=name))


def _bidirectional(inputs, units: int, input_kernel):
    """Forward and backward final states, concatenated, as Bidirectional(LSTM(units)) returns them."""
    directions = []
    for direction in ("forward", "backward"):
        projected = input_kernel(f"{direction}_input_kernel")(inputs)
        directions.append(keras.layers.RNN(
            ProjectedInputLSTMCell(units), go_backwards=direction == "backward",
            name=f"{direction}_lstm")(projected))
    return keras.layers.Concatenate(name="bilstm")(directions)
