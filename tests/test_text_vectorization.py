"""Transform's text vectorization against Keras TextVectorization, the notebook's layer."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from common import features
from corpus import CORPUS, CORPUS_MAX_TOKENS, CORPUS_SEQUENCE_LENGTH, TRICKY_REVIEWS


def keras_input(texts):
    """Keras sees the text with the one documented difference applied: <br /> is white space."""
    return tf.constant([t.replace("<br />", " ").replace("<br/>", " ") for t in texts])


def keras_layer(**kwargs):
    return keras.layers.TextVectorization(standardize="lower_and_strip_punctuation", split="whitespace",
                                          output_sequence_length=CORPUS_SEQUENCE_LENGTH, **kwargs)


@pytest.mark.parametrize("transform, ngrams", [("transform_output", None), ("bigram_transform_output", 2)])
def test_vocabulary_and_ids_match_keras_on_tricky_text(request, transform, ngrams):
    """Vocabulary (ties included) as TextVectorization.adapt, then ids: words (then word pairs)."""
    tft_output = tft.TFTransformOutput(request.getfixturevalue(transform)[0])
    vocabulary = [t.decode() for t in tft_output.vocabulary_by_name(features.VOCABULARY_NAME)]
    adapted = keras_layer(max_tokens=CORPUS_MAX_TOKENS, ngrams=ngrams)
    adapted.adapt(keras_input(CORPUS))
    assert adapted.get_vocabulary() == ["", "[UNK]"] + vocabulary
    assert len(vocabulary) == CORPUS_MAX_TOKENS - features.RESERVED_IDS
    assert any(" " in token for token in vocabulary) == (ngrams == 2)  # word pairs made it in
    ours = tft_output.transform_features_layer()(
        {features.TEXT: tf.constant([[t] for t in TRICKY_REVIEWS])})[features.TOKEN_IDS].numpy()
    expected = keras_layer(vocabulary=vocabulary, ngrams=ngrams)(keras_input(TRICKY_REVIEWS)).numpy()
    np.testing.assert_array_equal(ours, expected)
    assert ours.shape == (len(TRICKY_REVIEWS), CORPUS_SEQUENCE_LENGTH)
    assert (ours[TRICKY_REVIEWS.index("")] == features.PADDING_ID).all()
    assert (ours[TRICKY_REVIEWS.index("word " * 50)] != features.PADDING_ID).all()  # truncated, not padded
    assert features.OOV_ID in ours[-1]  # "unknownzzz"


def test_line_breaks_are_white_space_not_the_token_br(transform_output):
    output_dir, _ = transform_output
    layer = tft.TFTransformOutput(output_dir).transform_features_layer()
    with_breaks = layer({features.TEXT: tf.constant([["great<br /><br />film"]])})[features.TOKEN_IDS]
    with_space = layer({features.TEXT: tf.constant([["great film"]])})[features.TOKEN_IDS]
    np.testing.assert_array_equal(with_breaks.numpy(), with_space.numpy())


def test_transformed_rows_carry_ids_and_label(transform_output):
    _, transformed = transform_output
    assert len(transformed) == len(CORPUS)
    assert [int(np.ravel(row[features.LABEL])[0]) for row in transformed] == [i % 2 for i in range(len(CORPUS))]
    assert all(len(row[features.TOKEN_IDS]) == CORPUS_SEQUENCE_LENGTH for row in transformed)
