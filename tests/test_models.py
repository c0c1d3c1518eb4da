"""The notebook models and nb_ngrams build and train; GloVe vectors load from each accepted source."""

from __future__ import annotations

import zipfile

import keras
import numpy as np
import pytest

from common import features
from components.model import glove, models
from components.model.hparams import BILSTM_VARIANTS, TrainingConfig

VOCAB_SIZE, SEQUENCE_LENGTH = 40, 12


@pytest.mark.parametrize("variant", ["one_hot", "embedding", "glove", "ngram_bag"])
def test_each_variant_builds_and_trains_a_step(variant):
    """Each sequence-reading variant trains, and scores an empty review (all padding) with a
    number: a mean over no tokens was once NaN, and one such review made every weight NaN."""
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(VOCAB_SIZE, 5)).astype("float32") if variant == "glove" else None
    model = models.build_model(TrainingConfig(variant=variant, embedding_dim=8, lstm_units=4),
                               VOCAB_SIZE, SEQUENCE_LENGTH, matrix)
    ids = rng.integers(0, VOCAB_SIZE, size=(8, SEQUENCE_LENGTH))
    ids[0] = features.PADDING_ID  # an empty review
    labels = rng.integers(0, 2, size=(8, 1)).astype("float32")
    assert model.jit_compile == (variant in BILSTM_VARIANTS and not models.gpus_present())  # XLA on a CPU
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(ids, labels, epochs=1, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    probabilities = model.predict(ids, verbose=0)
    assert probabilities.shape == (8, 1) and np.isfinite(probabilities).all()
    if variant == "glove":  # frozen: the embedding still holds the GloVe vectors
        np.testing.assert_array_equal(model.get_layer("glove_embedding").get_weights()[0], matrix)


def test_glove_fine_tuning_starts_from_the_best_frozen_epoch_and_trains_the_vectors():
    """fitting.fit_keeping_best: the history covers both phases, the vectors stay GloVe's through the
    frozen epochs and move while fine-tuning (validating on the training data, so fine-tuning keeps
    lowering the loss and is kept), and the weights kept are the best epoch's."""
    import tensorflow as tf

    from components.model import fitting

    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(VOCAB_SIZE, 5)).astype("float32")
    config = TrainingConfig(variant="glove", lstm_units=4, epochs=2, fine_tune_epochs=2, fine_tune_learning_rate=0.01)
    model = models.build_model(config, VOCAB_SIZE, SEQUENCE_LENGTH, matrix)
    labels = rng.integers(0, 2, size=(64, 1)).astype("float32")
    ids = np.where(labels == 1, rng.integers(2, VOCAB_SIZE // 2, size=(64, SEQUENCE_LENGTH)),
                   rng.integers(VOCAB_SIZE // 2, VOCAB_SIZE, size=(64, SEQUENCE_LENGTH)))
    data = tf.data.Dataset.from_tensor_slices((ids, labels)).batch(16)

    fitted = fitting.fit_keeping_best(
        model, config, data, data, inspect_frozen_best=lambda m: m.get_layer(models.GLOVE_LAYER).get_weights()[0])

    np.testing.assert_array_equal(fitted.frozen_best, matrix)  # the frozen epochs left GloVe's vectors alone
    assert fitted.frozen_epochs == 2 and len(fitted.epoch_seconds) == 4
    assert len(fitted.history["val_loss"]) == 4 and fitted.record()["fine_tune_from_epoch"] == 3
    assert fitted.best_epoch == 1 + int(np.argmin(fitted.history["val_loss"]))
    assert fitted.best_epoch > fitted.frozen_epochs
    assert not np.allclose(model.get_layer(models.GLOVE_LAYER).get_weights()[0], matrix)
    loss, _ = model.evaluate(data, verbose=0)
    assert loss == pytest.approx(fitted.history["val_loss"][fitted.best_epoch - 1], rel=1e-5)


@pytest.mark.parametrize("settings, message", [
    (dict(variant="transformer"), "one_hot, embedding, glove"),
    (dict(variant="embedding", fine_tune_epochs=1), "a glove BiLSTM"),
    (dict(variant="glove", fine_tune_epochs=-1), "0 or more"),
    (dict(variant="glove", fine_tune_epochs=1, refit_on_train_and_eval=True), "cannot be combined"),
    (dict(variant="glove", fine_tune_learning_rate=0), "fine_tune_learning_rate"),
])
def test_unknown_variants_and_bad_fine_tuning_settings_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        TrainingConfig(**settings)


def test_nb_ngrams_is_nbsvms_linear_score():
    """sigmoid(sum of learned weight x ratio + bias) over each ragged row: before training every
    review is 0.5; after, the score is exactly that sum, an empty review scores the bias, and a
    padded row (padding ratio 0) scores as its ragged row does."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    model = models.build_model(TrainingConfig(variant="nb_ngrams", optimizer="adam", learning_rate=0.05,
                                              dropout=0.0), VOCAB_SIZE, None)
    labels = rng.integers(0, 2, size=(64, 1)).astype("float32")
    # Positive reviews draw their n-grams from the lower half of the ids, negative ones mostly from
    # the upper half: a linear model over n-gram weights can learn it. Rows of 0 to 12 n-grams.
    middle = (features.RESERVED_IDS + VOCAB_SIZE) // 2
    rows = [list(rng.integers(features.RESERVED_IDS, middle + 4, size=rng.integers(0, SEQUENCE_LENGTH)) if label
                 else rng.integers(middle - 4, VOCAB_SIZE, size=rng.integers(0, SEQUENCE_LENGTH))) for label in labels]
    ids = tf.ragged.constant(rows, dtype=tf.int64)
    ratios = tf.ragged.map_flat_values(lambda v: tf.constant(rng.uniform(0.5, 1.5, size=v.shape), tf.float32), ids)
    inputs = {features.TOKEN_IDS: ids, features.TOKEN_WEIGHTS: ratios}
    np.testing.assert_allclose(model(inputs), 0.5)
    model.fit(tf.data.Dataset.from_tensor_slices((inputs, labels)).batch(16), epochs=30, verbose=0)
    predicted = model(inputs).numpy().ravel()
    assert ((predicted > 0.5) == labels.ravel()).mean() > 0.9

    learned = model.get_layer("score").ngram_weights.numpy()
    bias = model.get_layer("score").bias.numpy()[0]
    score = np.array([(learned[i] * r).sum() for i, r in zip(ids.to_list(), ratios.to_list())]) + bias
    np.testing.assert_allclose(predicted, 1 / (1 + np.exp(-score)), rtol=1e-4)
    assert [] in ids.to_list()  # an empty review among them, which scores the bias alone
    padded = {features.TOKEN_IDS: ids.to_tensor(features.PADDING_ID), features.TOKEN_WEIGHTS: ratios.to_tensor(0.0)}
    np.testing.assert_allclose(model(padded).numpy().ravel(), predicted, rtol=1e-6)


def _load_keras_bilstm_weights(fast: keras.Model, notebook: keras.Model) -> None:
    """Copies a model with Keras' Bidirectional(LSTM) into projected_lstm's formulation: each
    direction's input kernel into its projection, the rest into its cell; other layers by name."""
    bilstm = notebook.get_layer("bilstm")
    for direction, layer in (("forward", bilstm.forward_layer), ("backward", bilstm.backward_layer)):
        cell = layer.cell
        fast.get_layer(f"{direction}_input_kernel").set_weights([cell.kernel.numpy()])
        fast.get_layer(f"{direction}_lstm").set_weights([cell.recurrent_kernel.numpy(), cell.bias.numpy()])
    for name in ("embedding", models.GLOVE_LAYER, "probability"):
        if any(layer.name == name for layer in fast.layers):
            fast.get_layer(name).set_weights(notebook.get_layer(name).get_weights())


@pytest.mark.parametrize("variant", BILSTM_VARIANTS)
def test_a_cpus_bilstm_computes_the_gpus_keras_bilstm(variant, monkeypatch):
    """What a CPU builds (projected_lstm) and what a GPU node builds (Keras' LSTM, the notebook's
    model) give the same outputs to 1e-5 with the same weights, padding included (GloVe's mask)."""
    config = TrainingConfig(variant=variant, embedding_dim=8, lstm_units=6)
    rng = np.random.default_rng(1)
    matrix = rng.normal(size=(VOCAB_SIZE, 5)).astype("float32") if variant == "glove" else None
    fast = models.build_model(config, VOCAB_SIZE, SEQUENCE_LENGTH, matrix)
    monkeypatch.setattr(models, "gpus_present", lambda: True)
    notebook = models.build_model(config, VOCAB_SIZE, SEQUENCE_LENGTH, matrix)
    assert isinstance(notebook.get_layer("bilstm"), keras.layers.Bidirectional)
    assert not any(isinstance(layer, keras.layers.Bidirectional) for layer in fast.layers)
    _load_keras_bilstm_weights(fast, notebook)
    ids = rng.integers(features.RESERVED_IDS, VOCAB_SIZE, size=(16, SEQUENCE_LENGTH))
    ids[:4, -5:] = features.PADDING_ID
    ids[4] = features.PADDING_ID  # an empty review
    np.testing.assert_allclose(fast.predict(ids, verbose=0), notebook.predict(ids, verbose=0), atol=1e-5)
    assert fast.count_params() == notebook.count_params()


def test_one_hot_layer_is_tf_one_hot():
    layer = models.OneHot(5)
    np.testing.assert_array_equal(np.asarray(layer(np.array([[0, 3, 4]]))), np.eye(5)[[[0, 3, 4]]])


def test_packaged_glove_vectors():
    vocabulary = ["the", "movie", "unknownzzzword"]
    matrix = glove.embedding_matrix(vocabulary)
    assert matrix.shape == (len(vocabulary) + features.RESERVED_IDS, 50)
    assert not matrix[:features.RESERVED_IDS].any()  # padding and OOV rows
    assert matrix[2].any() and matrix[3].any()  # real words have real vectors
    assert not matrix[4].any()  # a word GloVe lacks gets zeros
    assert abs(np.linalg.norm(matrix[2]) - 4.0) < 1.5  # GloVe 6B 50d: |the| is about 4.2


GLOVE_TEXT = "the 0.1 0.2 0.3\nmovie -1 0 1\ngreat 2 2 2\n"


def test_glove_text_file_in_its_own_dimension(tmp_path):
    path = tmp_path / "glove.6B.3d.txt"
    path.write_text(GLOVE_TEXT)
    matrix = glove.embedding_matrix(["movie", "absent", "the"], str(path))
    np.testing.assert_allclose(matrix, [[0, 0, 0], [0, 0, 0], [-1, 0, 1], [0, 0, 0], [0.1, 0.2, 0.3]])


def test_glove_official_zip_picks_the_dimension(tmp_path):
    path = tmp_path / "glove.6B.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("glove.6B.3d.txt", GLOVE_TEXT)
        archive.writestr("glove.6B.2d.txt", "the 9 9\n")
    np.testing.assert_allclose(glove.embedding_matrix(["great"], str(path), zip_dim=3)[2], [2, 2, 2])
    np.testing.assert_allclose(glove.embedding_matrix(["the"], str(path), zip_dim=2)[2], [9, 9])
    with pytest.raises(glove.GloveError, match="no member ending in .100d.txt"):
        glove.embedding_matrix(["the"], str(path), zip_dim=100)


def test_glove_errors_name_the_file_and_line(tmp_path):
    with pytest.raises(glove.GloveError, match="does not exist"):
        glove.embedding_matrix(["the"], str(tmp_path / "missing.txt"))
    bad = tmp_path / "glove.6B.3d.txt"
    bad.write_text("the 1 2 3\nmovie 1 two 3\n")
    with pytest.raises(glove.GloveError, match=r"glove.6B.3d.txt' line 2"):
        glove.embedding_matrix(["movie"], str(bad))


@pytest.mark.parametrize("variant", BILSTM_VARIANTS)
@pytest.mark.parametrize("gpu", [False, True], ids=["cpu", "gpu"])
def test_a_bucketed_bilstm_scores_a_review_as_the_served_one_padded_to_the_full_length(variant, gpu, monkeypatch):
    """Trained in length buckets (bucket_width), a BiLSTM masks padding, so a review padded to its
    bucket (training) and to the whole sequence length (Transform's output, serving) scores the same,
    as built for a CPU and for a GPU node. Without bucketing the notebook's one-hot and embedding
    models read the padding, and the score changes: the check can tell the two apart."""
    monkeypatch.setattr(models, "gpus_present", lambda: gpu)
    rng = np.random.default_rng(2)
    matrix = rng.normal(size=(VOCAB_SIZE, 5)).astype("float32") if variant == "glove" else None
    ids = rng.integers(features.RESERVED_IDS, VOCAB_SIZE, size=(6, SEQUENCE_LENGTH))
    ids[:, 4:] = features.PADDING_ID  # reviews of 4 tokens
    ids[0] = features.PADDING_ID  # an empty review
    scores = {}
    for width in (0, 4):
        keras.utils.set_random_seed(3)
        model = models.build_model(TrainingConfig(variant=variant, embedding_dim=8, lstm_units=6, bucket_width=width),
                                   VOCAB_SIZE, None, matrix)
        scores[width] = [model.predict(ids[:, :steps], verbose=0) for steps in (SEQUENCE_LENGTH, 8, 4)]
    for bucketed in scores[4][1:]:
        np.testing.assert_allclose(bucketed, scores[4][0], atol=1e-6)
    if variant != "glove":  # the notebook's GloVe model masked already; the others did not
        assert not np.allclose(scores[0][0], scores[0][2], atol=1e-3)


@pytest.mark.parametrize("settings, message", [
    (dict(variant="nb_ngrams", bucket_width=50), "not nb_ngrams"),
    (dict(variant="ngram_bag", bucket_width=50), "not ngram_bag"),
    (dict(variant="embedding", bucket_width=-1), "0 or more"),
])
def test_bucketing_is_refused_where_there_is_no_bilstm(settings, message):
    with pytest.raises(ValueError, match=message):
        TrainingConfig(**settings)
