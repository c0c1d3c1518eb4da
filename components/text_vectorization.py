"""Transform's preprocessing_fn: what Keras `TextVectorization` does, as a TFT graph.

It reproduces `TextVectorization(standardize="lower_and_strip_punctuation", split="whitespace",
max_tokens=N, output_sequence_length=L, ngrams=G)`, except that IMDB's `<br />` line breaks count as
white space (Keras makes them the token "br"). The vocabulary is computed by Beam over the training
split and the same graph is embedded in the exported model, so serving cannot tokenize differently.
Three encodings: `sequence`, TextVectorization's ids in order (the notebook's models and ngram_bag);
`naive_bayes_bag`, each distinct n-gram once with its naive-Bayes weight (naive_bayes_bag.py); and
`bag_and_words`, that bag and the words' TextVectorization ids beside it, from the bag's own word
vocabulary (nb_bilstm's two branches).
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import tensorflow as tf
import tensorflow_transform as tft

from common import features
from components import naive_bayes_bag

# Keras' `lower_and_strip_punctuation` strips exactly these characters (keras DEFAULT_STRIP_REGEX).
KERAS_STRIP_PUNCTUATION = r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']'
HTML_LINE_BREAK = r"<br\s*/?>"

MAX_TOKENS_KEY = "max_tokens"
SEQUENCE_LENGTH_KEY = "sequence_length"
NGRAMS_KEY = "ngrams"
ENCODING_KEY = "encoding"
# bag_and_words only: the words' vocabulary (padding and OOV ids included) and length, as the sequence's.
WORD_MAX_TOKENS_KEY = "word_max_tokens"
WORD_SEQUENCE_LENGTH_KEY = "word_sequence_length"


def standardize(text: tf.Tensor) -> tf.Tensor:
    """Line breaks to spaces, then Keras' lowercasing (ASCII only, as Keras) and punctuation strip."""
    text = tf.strings.regex_replace(text, HTML_LINE_BREAK, " ")
    text = tf.strings.lower(text)
    return tf.strings.regex_replace(text, KERAS_STRIP_PUNCTUATION, "")


def tokenize(text: tf.Tensor, ngrams: int = 1) -> tf.RaggedTensor:
    """A batch of reviews (any shape, one string per review) to ragged tokens; with ngrams=G, its words,
    then word pairs, ... up to G-grams, joined by a space: TextVectorization's order, which truncation keeps."""
    words = tf.strings.split(standardize(tf.reshape(text, [-1])))
    if ngrams == 1:
        return words
    return tf.strings.ngrams(words, ngram_width=tuple(range(1, ngrams + 1)), separator=" ")


def token_ids(tokens: tf.RaggedTensor, vocabulary: tf.Tensor, sequence_length: int) -> tf.Tensor:
    """Keras' ids: 0 pads, 1 is out of vocabulary, vocabulary entry i is i + 2; then pad/truncate."""
    return _keras_ids(tft.apply_vocabulary(tokens, vocabulary, default_value=-1), sequence_length)


def word_sequence(ids: tf.RaggedTensor, max_tokens: int, sequence_length: int) -> tf.Tensor:
    """naive_bayes_bag.word_ids (1-based ranks by frequency, 0 unknown) as token_ids would give the words:
    tft.vocabulary's top_k keeps the first k of the same ranking, so rank r <= max_tokens - 2 is entry r - 1."""
    known = tf.logical_and(ids > 0, ids <= max_tokens - features.RESERVED_IDS)
    entries = tf.ragged.map_flat_values(lambda i, k: tf.where(k, i - 1, tf.constant(-1, tf.int64)), ids, known)
    return _keras_ids(entries, sequence_length)


def _keras_ids(entries: tf.RaggedTensor, sequence_length: int) -> tf.Tensor:
    """Vocabulary entries (-1: none) as Keras' ids, padded or truncated to SEQUENCE_LENGTH."""
    ids = tf.ragged.map_flat_values(
        lambda i: tf.where(i < 0, tf.constant(features.OOV_ID, tf.int64), i + features.RESERVED_IDS), entries)
    return ids.to_tensor(default_value=features.PADDING_ID, shape=[None, sequence_length])


def check_sizes(max_tokens: int, sequence_length: int, ngrams: int = 1,
                encoding: str = features.SEQUENCE_ENCODING, word_sizes: Optional[Tuple[int, int]] = None) -> None:
    """WORD_SIZES: bag_and_words' (word_max_tokens, word_sequence_length), which it needs and no other has."""
    if encoding not in features.ENCODINGS:
        raise ValueError(f"{ENCODING_KEY} must be one of {', '.join(features.ENCODINGS)}, not {encoding!r}")
    if (word_sizes is not None) != (encoding == features.BAG_AND_WORDS_ENCODING):
        raise ValueError(f"{WORD_MAX_TOKENS_KEY} and {WORD_SEQUENCE_LENGTH_KEY} are for the "
                         f"{features.BAG_AND_WORDS_ENCODING} encoding, and it needs them ({ENCODING_KEY}: {encoding})")
    vocabularies = [(MAX_TOKENS_KEY, max_tokens)]
    lengths = [(SEQUENCE_LENGTH_KEY, sequence_length), (NGRAMS_KEY, ngrams)]
    if word_sizes is not None:
        vocabularies.append((WORD_MAX_TOKENS_KEY, word_sizes[0]))
        lengths.append((WORD_SEQUENCE_LENGTH_KEY, word_sizes[1]))
    for key, value in vocabularies:
        if value <= features.RESERVED_IDS:
            raise ValueError(f"{key} must exceed {features.RESERVED_IDS}, not {value}")
    for key, value in lengths:
        if value < 1:
            raise ValueError(f"{key} must be positive, not {value}")


def preprocessing_fn(inputs: Dict[str, Any], custom_config: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Raw review text to fixed-length token (or n-gram) ids (and weights); the label passes through."""
    custom_config = custom_config or {}
    sizes = (MAX_TOKENS_KEY, SEQUENCE_LENGTH_KEY, NGRAMS_KEY)
    word_keys = (WORD_MAX_TOKENS_KEY, WORD_SEQUENCE_LENGTH_KEY)
    if not (custom_config.get(ENCODING_KEY) == features.BAG_AND_WORDS_ENCODING
            or any(key in custom_config for key in word_keys)):
        word_keys = ()
    missing = [key for key in (*sizes, ENCODING_KEY, *word_keys) if key not in custom_config]
    if missing:  # the sizes are the run's settings (pipeline/configs.py), never guessed here
        raise ValueError(f"Transform's custom_config lacks {', '.join(missing)}")
    max_tokens, sequence_length, ngrams = (int(custom_config[key]) for key in sizes)
    encoding = custom_config[ENCODING_KEY]
    word_sizes = tuple(int(custom_config[key]) for key in word_keys) or None
    check_sizes(max_tokens, sequence_length, ngrams, encoding, word_sizes)

    if encoding in (features.NAIVE_BAYES_BAG_ENCODING, features.BAG_AND_WORDS_ENCODING):
        words = tokenize(inputs[features.TEXT])
        ids = naive_bayes_bag.word_ids(words)
        outputs = naive_bayes_bag.encode(words, ids, inputs[features.LABEL], max_tokens, sequence_length, ngrams)
        if word_sizes is not None:
            outputs[features.WORD_IDS] = word_sequence(ids, *word_sizes)
    else:
        tokens = tokenize(inputs[features.TEXT], ngrams)
        vocabulary = tft.vocabulary(
            tokens, top_k=max_tokens - features.RESERVED_IDS, vocab_filename=features.VOCABULARY_NAME)
        outputs = {features.TOKEN_IDS: token_ids(tokens, vocabulary, sequence_length)}
    if features.LABEL in inputs:
        outputs[features.LABEL] = tf.reshape(inputs[features.LABEL], [-1])
    return outputs
