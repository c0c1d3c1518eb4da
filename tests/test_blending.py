"""nb_bilstm: the bag and the BiLSTM in one model, each branch fitted alone, the blend on the eval split."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from common import features
from components.model import blending, fitting, models
from components.model.hparams import TrainingConfig

BAG_VOCAB, WORD_VOCAB, WORD_LENGTH, REVIEWS = 40, 30, 12, 96
CONFIG = TrainingConfig(
    variant="nb_bilstm", epochs=3, batch_size=16, embedding_dim=8, lstm_units=4, optimizer="adam",
    learning_rate=0.02, bilstm_input="embedding", word_max_tokens=WORD_VOCAB, word_sequence_length=WORD_LENGTH,
    bag=TrainingConfig(variant="nb_ngrams", optimizer="adam", epochs=4, batch_size=32, learning_rate=0.05, dropout=0.0))


def _reviews(seed: int):
    """Positive reviews draw their n-grams and words from the lower half of the ids, negative ones
    from the upper half, with overlap: both branches can learn it, neither perfectly."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=(REVIEWS, 1)).astype("float32")

    def draw(vocab, size, label):
        middle = (features.RESERVED_IDS + vocab) // 2
        return (rng.integers(features.RESERVED_IDS, middle + 6, size=size) if label
                else rng.integers(middle - 6, vocab, size=size))

    ids = tf.ragged.constant([draw(BAG_VOCAB, rng.integers(0, 10), label) for label in labels], dtype=tf.int64)
    ratios = tf.ragged.map_flat_values(lambda v: tf.constant(rng.uniform(0.5, 1.5, size=v.shape), tf.float32), ids)
    words = np.stack([draw(WORD_VOCAB, WORD_LENGTH, label) for label in labels]).astype("int64")
    words[:3, -4:] = features.PADDING_ID
    return {features.TOKEN_IDS: ids, features.TOKEN_WEIGHTS: ratios, features.WORD_IDS: words}, labels


def _passes(seed: int, batch_size: int) -> fitting.Passes:
    inputs, labels = _reviews(seed)
    data = tf.data.Dataset.from_tensor_slices((inputs, labels)).ragged_batch(batch_size)
    return fitting.Passes(data.repeat(), -(-REVIEWS // batch_size))


def test_fit_logistic_is_maximum_likelihood():
    """Coefficients drawn from a known logistic model come back, and the gradient of the penalized
    log-likelihood vanishes at what is returned (Newton's method converged)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20_000, 2)) * [3.0, 1.0]
    y = rng.random(20_000) < 1 / (1 + np.exp(-(x @ [0.7, 1.5] - 0.4)))
    weights, bias = blending.fit_logistic(x, y)
    np.testing.assert_allclose(weights, [0.7, 1.5], atol=0.06)
    assert bias == pytest.approx(-0.4, abs=0.06)
    p = 1 / (1 + np.exp(-(x @ weights + bias)))
    np.testing.assert_allclose(x.T @ (p - y) + 1.0 * weights, 0, atol=1e-6)
    np.testing.assert_allclose(np.sum(p - y), 0, atol=1e-6)


def test_each_branch_trains_alone_then_the_blend_is_fitted_on_the_eval_split():
    """blending.fit: the bag trains with its own settings (its epochs, not the BiLSTM's), the BiLSTM
    with the variant's; the blend's weights are the logistic regression of the eval split's labels on
    the two branches' logits, and the whole model then computes sigmoid(blend of the logits)."""
    model = models.build_blended(CONFIG, BAG_VOCAB, WORD_VOCAB, WORD_LENGTH)
    bag_before = model.get_layer(models.BAG_LOGIT).get_weights()[0].copy()
    strategy = tf.distribute.get_strategy()
    fitted, record = blending.fit(model, CONFIG, lambda batch: (_passes(1, batch), _passes(2, batch)), strategy,
                                  lambda branch: keras.callbacks.Callback())

    assert len(fitted.history["loss"]) == CONFIG.epochs and len(record["bag"]["loss"]) == CONFIG.bag.epochs
    assert not np.array_equal(model.get_layer(models.BAG_LOGIT).get_weights()[0], bag_before)

    evaluation, labels = _reviews(2)
    _, _, logits_model = models.blend_branches(model, CONFIG)
    logits = logits_model.predict(evaluation, verbose=0)
    weights, bias = blending.fit_logistic(logits, labels)
    np.testing.assert_allclose(record["blend"]["weights"], weights, rtol=1e-5)
    assert record["blend"]["bias"] == pytest.approx(bias, rel=1e-5, abs=1e-6)
    kernel, kept_bias = model.get_layer(models.BLEND).get_weights()
    np.testing.assert_allclose(kernel.ravel(), weights, rtol=1e-5)
    np.testing.assert_allclose(model.predict(evaluation, verbose=0).ravel(),
                               1 / (1 + np.exp(-(logits @ weights + kept_bias[0]))), rtol=1e-5, atol=1e-6)
    accuracy = record["blend"]["eval_accuracy"]
    assert accuracy["bag"] == pytest.approx(np.mean((logits[:, 0] > 0) == (labels.ravel() > 0.5)))
    assert accuracy["blend"] >= 0.75  # the synthetic classes are learnable by both branches


@pytest.mark.parametrize("settings, message", [
    (dict(variant="nb_bilstm"), "bag is needed by the nb_bilstm variant"),
    (dict(variant="embedding", word_max_tokens=10), "word_max_tokens is only for the nb_bilstm variant"),
    (dict(bag=dataclasses.replace(CONFIG.bag, refit_on_train_and_eval=True)), "without refit"),
    (dict(bag=dataclasses.replace(CONFIG.bag, variant="ngram_bag")), "an nb_ngrams configuration"),
    (dict(refit_on_train_and_eval=True), "the blend is fitted on the eval split"),
    (dict(bilstm_input="nb_ngrams"), "bilstm_input must be one of one_hot, embedding, glove"),
    (dict(fine_tune_epochs=2), "pretrained vectors \\(a glove BiLSTM\\), not nb_bilstm reading embedding"),
])
def test_blended_settings_are_refused_when_inconsistent(settings, message):
    base = {} if settings.get("variant") else dataclasses.asdict(CONFIG) | {"bag": CONFIG.bag}
    with pytest.raises(ValueError, match=message):
        TrainingConfig(**{**base, **settings})


def test_the_blended_config_survives_the_trainers_custom_config():
    assert TrainingConfig.from_custom_config(CONFIG.to_custom_config()) == CONFIG
    with pytest.raises(ValueError, match="build_blended"):
        models.build_model(CONFIG, BAG_VOCAB, None)
