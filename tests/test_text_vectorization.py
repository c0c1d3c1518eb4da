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


def test_bag_and_words_is_the_bag_and_the_words_ids_from_one_vocabulary(
        transform_output, naive_bayes_transform_output, blended_transform_output):
    """nb_bilstm's encoding: its word ids are the sequence encoding's (TextVectorization's, checked
    above) though made from the bag's word vocabulary, ties included; its bag is the nb_ngrams encoding's
    of the same sizes; on training rows and on the serving path (TRICKY_REVIEWS: unseen, empty, long)."""
    def layer(output):
        return tft.TFTransformOutput(output[0]).transform_features_layer()

    reviews = tf.constant([[t] for t in TRICKY_REVIEWS + CORPUS])
    blended, words, bag = (layer(o)({features.TEXT: reviews})
                           for o in (blended_transform_output, transform_output, naive_bayes_transform_output))
    np.testing.assert_array_equal(blended[features.WORD_IDS].numpy(), words[features.TOKEN_IDS].numpy())
    assert blended[features.WORD_IDS].shape == (len(TRICKY_REVIEWS) + len(CORPUS), CORPUS_SEQUENCE_LENGTH)
    for name in (features.TOKEN_IDS, features.TOKEN_WEIGHTS):
        assert blended[name].to_list() == bag[name].to_list()
    rows = [row[features.WORD_IDS].tolist() for row in blended_transform_output[1]]
    assert rows == [row[features.TOKEN_IDS].tolist() for row in transform_output[1]]


@pytest.mark.parametrize("config, message", [
    ({"encoding": features.BAG_AND_WORDS_ENCODING}, "lacks word_max_tokens, word_sequence_length"),
    ({"encoding": features.BAG_AND_WORDS_ENCODING, "word_max_tokens": 2, "word_sequence_length": 10},
     "word_max_tokens must exceed 2, not 2"),
    ({"encoding": features.NAIVE_BAYES_BAG_ENCODING, "word_max_tokens": 100, "word_sequence_length": 10},
     "word_max_tokens and word_sequence_length are for the bag_and_words encoding"),
])
def test_word_sizes_belong_to_the_bag_and_words_encoding(config, message):
    from components import text_vectorization

    sizes = {"max_tokens": 100, "sequence_length": 10, "ngrams": 2}
    with pytest.raises(ValueError, match=message):
        text_vectorization.preprocessing_fn({features.TEXT: tf.constant([["a"]])}, {**sizes, **config})
