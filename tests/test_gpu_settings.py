"""Settings that make the same models fast on GPUs, checked on the CPU.

- cuDNN: Keras runs an LSTM on cuDNN's kernel only under its own conditions (keras/src/backend/
  tensorflow/rnn.py: tanh and sigmoid, no unrolling, a bias, no recurrent dropout, right-padded
  masks). Every BiLSTM variant, as built for a GPU, meets them; Transform pads at the end.
- Mixed precision: float16 keeps the loss finite and the predictions close to float32 with the same
  weights. Its 11-bit significand (about 5e-4 per operation) grows to about 1e-3 over an embedding
  mean or a 12-step LSTM, so predictions are compared to 5e-3."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest
from keras.src.backend.tensorflow.rnn import _do_lstm_arguments_support_cudnn

from common import features
from components.model import models
from components.model.hparams import TrainingConfig
from pipeline import configs

VOCAB_SIZE, SEQUENCE_LENGTH = 40, 12


@pytest.mark.parametrize("variant", ["one_hot", "embedding", "glove", "nb_bilstm"])
def test_every_bilstm_meets_the_cudnn_kernels_conditions_on_a_gpu(variant, monkeypatch):
    monkeypatch.setattr(models, "gpus_present", lambda: True)  # build what a GPU node builds
    config = dataclasses.replace(configs.VARIANT_DEFAULTS[variant].training, embedding_dim=8, lstm_units=4)
    matrix = np.ones((VOCAB_SIZE, 5), dtype="float32") if config.bilstm == "glove" else None
    model = (models.build_blended(config, VOCAB_SIZE, VOCAB_SIZE, SEQUENCE_LENGTH, matrix) if variant == "nb_bilstm"
             else models.build_model(config, VOCAB_SIZE, SEQUENCE_LENGTH, matrix))
    lstms = [lstm for layer in model.layers if isinstance(layer, keras.layers.Bidirectional)
             for lstm in (layer.forward_layer, layer.backward_layer)]
    assert len(lstms) == 2
    for lstm in lstms:
        assert _do_lstm_arguments_support_cudnn(lstm.activation, lstm.recurrent_activation, lstm.unroll,
                                                lstm.use_bias), lstm.name
        assert lstm.recurrent_dropout == 0 and lstm.use_cudnn in ("auto", True), lstm.name


def test_transform_pads_at_the_end_as_cudnn_masks_require(transform_output):
    _, transformed = transform_output
    for row in transformed:
        ids = list(row[features.TOKEN_IDS])
        first_padding = ids.index(features.PADDING_ID) if features.PADDING_ID in ids else len(ids)
        assert all(i == features.PADDING_ID for i in ids[first_padding:]), ids


@pytest.mark.parametrize("variant", ["ngram_bag", "embedding", "one_hot"])
def test_mixed_precision_keeps_the_loss_finite_and_the_predictions_close(variant):
    rng = np.random.default_rng(1)
    ids = rng.integers(0, VOCAB_SIZE, size=(16, SEQUENCE_LENGTH))
    labels = rng.integers(0, 2, size=(16, 1)).astype("float32")
    config = TrainingConfig(variant=variant, embedding_dim=8, lstm_units=4)
    full = models.build_model(config, VOCAB_SIZE, SEQUENCE_LENGTH)
    mixed = models.build_model(TrainingConfig(**{**config.to_custom_config(), "mixed_precision": True}),
                               VOCAB_SIZE, SEQUENCE_LENGTH)
    assert any(layer.compute_dtype == "float16" for layer in mixed.layers)
    assert mixed.get_layer("probability").compute_dtype == "float32"
    mixed.set_weights(full.get_weights())
    np.testing.assert_allclose(mixed.predict(ids, verbose=0), full.predict(ids, verbose=0), atol=5e-3)
    history = mixed.fit(ids, labels, epochs=2, batch_size=8, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert mixed.predict(ids, verbose=0).dtype == np.float32
