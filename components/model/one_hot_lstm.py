"""The notebook's one-hot BiLSTM, computed without building one-hot vectors.

An LSTM first multiplies each input by its input kernel W (vocabulary x 4*units). For a one-hot
input that product is one row of W, so looking the row up (an Embedding whose table is W) gives
the same pre-activations while skipping vocabulary x 4*units multiply-adds per token (8000 x 128
in the notebook's configuration). The recurrence is the standard LSTM cell, so the model computes
exactly the function of one_hot -> Bidirectional(LSTM), weight for weight (tests/test_models.py).
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


def bidirectional(token_ids, vocab_size: int, units: int):
    """Forward and backward final states, concatenated, as Bidirectional(LSTM(units)) returns them."""
    directions = []
    for direction in ("forward", "backward"):
        projected = keras.layers.Embedding(
            vocab_size, 4 * units, embeddings_initializer="glorot_uniform",
            name=f"{direction}_input_kernel")(token_ids)
        directions.append(keras.layers.RNN(
            ProjectedInputLSTMCell(units), go_backwards=direction == "backward",
            name=f"{direction}_lstm")(projected))
    return keras.layers.Concatenate(name="bilstm")(directions)

