"""The review as the set of n-grams it contains, each with its naive-Bayes log-count ratio.

The input of NBSVM (Wang & Manning 2012, "Baselines and Bigrams"), the strongest simple model on
IMDB: binary n-gram features, each scaled by r = log(p / |p|_1) - log(q / |q|_1), p and q counting the
positive and negative training reviews containing it (plus a smoothing alpha). Vocabulary and ratios
are constants of the Transform graph, so serving computes exactly the features the model trained on.

Not `tft.vocabulary`: it sends each (n-gram, count) of each batch through Beam as its own element,
and words to triples give ~5 million n-grams in 20,000 reviews (over 5 minutes on 2 cores). Here the
graph reduces each batch to its distinct n-grams (fingerprints of their text) with counts, summed as
numpy arrays by a Beam combine per shard of fingerprints. An n-gram's key packs its words' ids into an
int64; only the analysis builds n-gram strings (to order the vocabulary): transform and serving use keys.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import uuid
from typing import List, Tuple

import apache_beam as beam
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam

from common import features

# Laplace smoothing, as in the paper: an n-gram seen only in positive reviews gets a finite ratio.
SMOOTHING = 1.0
# An n-gram must be in at least this many training reviews to get a weight: one seen in a single
# review cannot generalise (measured: 0.921 test accuracy with the threshold, 0.915 without).
MIN_DOCUMENT_FREQUENCY = 2
FINGERPRINT_SPACE = 2**63 - 1  # to_hash_bucket_fast's largest: the fingerprint, as a non-negative int64
# The counts are summed per shard of fingerprints, each a key: a runner spreads the shards over its
# workers, and no record holds more than a shard's counts (one global combine's records outgrew
# Flink's sort buffer at 25,000 reviews, docs/scaling.md).
SHARDS = 64
WORD_BITS = 21  # word ids 1 .. 2**21 - 1 (0: unknown); a triple's key then fits an int64
MAX_WORDS = 2**WORD_BITS - 1
NOT_COUNTED = 2**62  # above every packed entry (pack)
EMPTY = "-1 0\n"  # the vocabulary file of no n-gram: a key none has (TF cannot load an empty table file)


def fingerprints(tokens: tf.RaggedTensor) -> tf.RaggedTensor:
    """Each n-gram as its 64-bit FarmHash fingerprint, so the analyzer's Python side handles numpy
    numbers, not millions of strings. Two of ~5 million n-grams collide with probability ~1e-6."""
    return tf.ragged.map_flat_values(tf.strings.to_hash_bucket_fast, tokens, FINGERPRINT_SPACE)


def word_ids(words: tf.RaggedTensor) -> tf.RaggedTensor:
    """Each word's 1-based id among the training split's MAX_WORDS most frequent (IMDB has ~100,000); else 0."""
    vocabulary = tft.vocabulary(words, top_k=MAX_WORDS, vocab_filename=features.WORD_VOCABULARY_NAME)
    return tft.apply_vocabulary(words, vocabulary, default_value=-1) + 1


def _flat_ngrams(values: tf.Tensor, rows: tf.Tensor, ngrams: int, join, known) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Every n-gram of 1..NGRAMS consecutive words of a batch, from its words' flat VALUES and ROWS:
    JOIN makes an n-gram of its words, KNOWN says which words count. Returns the n-grams, their rows,
    and whether each is whole (one review's, every word known), from the words' shifted copies."""
    size = tf.size(rows, out_type=tf.int64)
    values_out, rows_out, whole_out = [values], [rows], [known(values)]
    for n in range(2, ngrams + 1):
        count = tf.maximum(size - n + 1, 0)
        parts = [values[i:i + count] for i in range(n)]
        whole = tf.equal(rows[:count], rows[n - 1:n - 1 + count])
        for part in parts:
            whole = tf.logical_and(whole, known(part))
        values_out.append(join(parts))
        rows_out.append(rows[:count])
        whole_out.append(whole)
    return tf.concat(values_out, 0), tf.concat(rows_out, 0), tf.concat(whole_out, 0)


def _pack_words(parts: List[tf.Tensor]) -> tf.Tensor:
    return functools.reduce(lambda key, part: key * (1 << WORD_BITS) + part, parts)  # a shift and an or


def ngram_keys(ids: tf.RaggedTensor, ngrams: int) -> Tuple[tf.Tensor, tf.Tensor]:
    """The key of each n-gram of 1..NGRAMS words of the batch (its words' ids packed into one
    int64: a word, a pair, a triple never share a key) and its review; -1 for an n-gram with an
    unknown word. Flat, in no order within a review: unique_known_ids does not depend on it."""
    keys, rows, whole = _flat_ngrams(ids.flat_values, ids.value_rowids(), ngrams, _pack_words, lambda i: i > 0)
    return tf.where(whole, keys, -1), rows


def ngram_fingerprints(words: tf.RaggedTensor, ngrams: int) -> tf.Tensor:
    """Each n-gram's fingerprint of its text, in ngram_keys' order: what the analysis orders the vocabulary by."""
    text, _, _ = _flat_ngrams(words.flat_values, words.value_rowids(), ngrams,
                              lambda parts: tf.strings.join(parts, " "), lambda w: tf.ones_like(w, tf.bool))
    return fingerprints(text)


def review_counts(rows: tf.Tensor, fingerprints: tf.Tensor, keys: tf.Tensor, label: tf.Tensor) -> List[tf.Tensor]:
    """For one batch: its distinct n-grams (fingerprints), how many of its reviews (and positive
    ones) contain each, and each one's key; so the analyzer sees each n-gram once per batch."""
    triples = tf.raw_ops.UniqueV2(x=tf.stack([rows, fingerprints, keys], axis=1), axis=[0]).y
    distinct, which, containing = tf.unique_with_counts(triples[:, 1], out_idx=tf.int64)
    count = tf.size(distinct, out_type=tf.int64)
    labels = tf.gather(tf.cast(tf.reshape(label, [-1]), tf.int64), triples[:, 0])
    positive = tf.math.unsorted_segment_sum(labels, which, count)
    return [distinct, tf.cast(containing, tf.int64), positive, tf.math.unsorted_segment_max(triples[:, 2], which, count)]


def _sum_by_key(fingerprints: np.ndarray, containing: np.ndarray, positive: np.ndarray,
                keys: np.ndarray) -> Tuple[np.ndarray, ...]:
    unique, first, inverse = np.unique(fingerprints, return_index=True, return_inverse=True)
    sums = (np.bincount(inverse, weights=c, minlength=len(unique)).astype(np.int64) for c in (containing, positive))
    return (unique, *sums, keys[first])


def _most_frequent(fingerprints: np.ndarray, containing: np.ndarray, positive: np.ndarray, keys: np.ndarray,
                   top_k: int) -> Tuple[np.ndarray, ...]:
    """The top_k n-grams by document frequency (ties by fingerprint), with their counts and keys, those
    in fewer than MIN_DOCUMENT_FREQUENCY reviews left out."""
    frequent = containing >= MIN_DOCUMENT_FREQUENCY
    columns = [c[frequent] for c in (fingerprints, containing, positive, keys)]
    order = np.lexsort((columns[0], -columns[1]))[:top_k]
    return tuple(c[order] for c in columns)


def vocabulary_and_ratios(fingerprints: np.ndarray, containing: np.ndarray, positive: np.ndarray,
                          keys: np.ndarray, top_k: int) -> Tuple[np.ndarray, np.ndarray]:
    """The vocabulary's keys (_most_frequent's order) and each n-gram's log-count ratio."""
    _, containing, positive, keys = _most_frequent(fingerprints, containing, positive, keys, top_k)
    return keys, log_count_ratios(positive, containing - positive).astype(np.float32)


def log_count_ratios(in_positive: np.ndarray, in_negative: np.ndarray) -> np.ndarray:
    """NBSVM's r = log(p / |p|_1) - log(q / |q|_1), from how many positive and negative reviews
    contain each n-gram; the one definition the pipeline and the benchmarks' peers share."""
    p = SMOOTHING + np.asarray(in_positive, dtype=np.float64)
    q = SMOOTHING + np.asarray(in_negative, dtype=np.float64)
    return np.log(p / p.sum()) - np.log(q / q.sum())


EMPTY_COUNTS = tuple(np.zeros(0, dtype=np.int64) for _ in range(4))


def shard_counts(batch, shards: int):
    """A batch of review_counts split by fingerprint into SHARDS parts: (shard, counts) each."""
    columns = [np.asarray(a, dtype=np.int64).reshape(-1) for a in batch]
    shard = columns[0] % shards  # fingerprints are uniform hashes: even shards
    order = np.argsort(shard, kind="stable")
    bounds = np.searchsorted(shard[order], np.arange(shards + 1))
    for s in range(shards):
        rows = order[bounds[s]:bounds[s + 1]]
        if len(rows):
            yield s, tuple(c[rows] for c in columns)


class _ShardCounts(beam.CombineFn):
    """Sums one shard's per-batch counts (numpy arrays); outputs its top_k n-grams, with counts."""

    REDUCE_AT = 500_000  # unsummed rows held before summing by key, at least

    def __init__(self, top_k: int):
        self.top_k = top_k

    def create_accumulator(self):
        return []

    def add_input(self, accumulator, counts):
        accumulator.append(counts)
        return self._maybe_reduce(accumulator)

    def merge_accumulators(self, accumulators):
        return self._maybe_reduce([part for accumulator in accumulators for part in accumulator])

    def _maybe_reduce(self, parts, force: bool = False):
        """Summed once the unsummed rows outnumber both REDUCE_AT and the largest (summed) part, so each
        row is summed a logarithmic number of times (at a fixed count: batches x distinct n-grams)."""
        if len(parts) < 2:
            return parts
        rows = [len(part[0]) for part in parts]
        if force or sum(rows) - max(rows) > max(self.REDUCE_AT, max(rows)):
            return [_sum_by_key(*(np.concatenate(column) for column in zip(*parts)))]
        return parts

    def compact(self, accumulator):
        """Summed before a runner ships it: unsummed, a shard's record held up to ~2 x REDUCE_AT rows (32 MB),
        over the sort buffer of a Flink TaskManager's combiner at 500,000 reviews ("Record too large")."""
        return self._maybe_reduce(accumulator, force=True)

    def extract_output(self, accumulator):
        parts = self.compact(accumulator)
        return _most_frequent(*(parts[0] if parts else EMPTY_COUNTS), self.top_k)


def vocabulary_from_candidates(candidates, top_k: int) -> Tuple[np.ndarray, np.ndarray]:
    """The global top_k (among the shards' top_k: each shard holds its own n-grams), and the ratios."""
    columns = [np.concatenate(column) for column in zip(*candidates)] if candidates else EMPTY_COUNTS
    return vocabulary_and_ratios(*columns, top_k)


class NaiveBayesVocabulary(tft_beam.experimental.PTransformAnalyzer):
    """Batches of review_counts -> the vocabulary file, a line per n-gram, most frequent first: its
    key and its packed index and ratio (pack). The analyzer's Beam side."""

    def __init__(self, top_k: int):
        super().__init__()
        self.top_k = top_k

    def _write(self, keys_and_ratios) -> bytes:
        keys, ratios = keys_and_ratios
        folder = os.path.join(self.base_temp_dir, uuid.uuid4().hex)
        tf.io.gfile.makedirs(folder)
        path = os.path.join(folder, features.VOCABULARY_NAME)  # the asset keeps this name
        with tf.io.gfile.GFile(path, "w") as out:
            out.write("".join(f"{key} {value}\n" for key, value in zip(keys.tolist(), pack(ratios).tolist())) or EMPTY)
        return path.encode()

    def expand(self, batches):
        candidates = (batches
                      | "ShardByFingerprint" >> beam.FlatMap(shard_counts, SHARDS)
                      | "CountPerShard" >> beam.CombinePerKey(_ShardCounts(self.top_k))
                      | "Candidates" >> beam.Values())
        # One element, the candidates a side input: a runner carries each shard's as its own element.
        return (batches.pipeline
                | "Once" >> beam.Create([None])
                | "TopK" >> beam.Map(lambda _, parts, top_k: vocabulary_from_candidates(parts, top_k),
                                     beam.pvalue.AsList(candidates), self.top_k)
                | "Write" >> beam.Map(self._write))


def unique_known_ids(rows: tf.Tensor, packed: tf.Tensor, nrows: tf.Tensor) -> Tuple[tf.RaggedTensor, tf.RaggedTensor]:
    """Per review (ROWS: each n-gram's), the distinct vocabulary indices it contains and their ratios,
    most frequent first (a review longer than the sequence loses its rarest n-grams); unknown n-grams
    (packed -1) are dropped. A binary count's sparse output holds each distinct value once, by review then
    value (packed entries sort as their indices do): 1.3x-1.5x an argsort and dedupe (docs/serving.md)."""
    unknown = tf.constant(NOT_COUNTED, tf.int64)  # at maxlength: the count leaves it out
    counted = tf.sparse.bincount(
        tf.SparseTensor(tf.stack([rows, tf.zeros_like(rows)], 1), tf.where(packed >= 0, packed, unknown),
                        tf.stack([tf.maximum(nrows, 1), 1])),  # the kernel refuses a batch of none
        axis=-1, maxlength=NOT_COUNTED, binary_output=True)
    rows, (ratio_bits, index) = counted.indices[:, 0], _halves(counted.indices[:, 1])  # pack's inverse
    return (tf.RaggedTensor.from_value_rowids(tf.cast(index, tf.int64), rows, nrows=nrows, validate=False),
            tf.RaggedTensor.from_value_rowids(tf.bitcast(ratio_bits, tf.float32), rows, nrows=nrows,
                                              validate=False))


def _packed_lookup(keys: tf.Tensor, vocabulary_file: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
    """apply_vocabulary's lookup_fn: each key's packed index and ratio (-1 if not in the vocabulary),
    from a table made once, when the model loads (lifted out of the traced function, as TFT's are)."""
    with contextlib.ExitStack() as scope:
        if tf.inside_function() and not tf.is_symbolic_tensor(vocabulary_file):
            scope.enter_context(tf.init_scope())
        table = tf.lookup.StaticHashTable(tf.lookup.TextFileInitializer(
            vocabulary_file, tf.int64, 0, tf.int64, 1, delimiter=" "), default_value=-1)
    return table.lookup(keys), table.size()


def pack(ratios: np.ndarray) -> np.ndarray:
    """Each entry's index (the high 32 bits) and float32 ratio's bits (the low 32): one lookup gets
    both, and packed values sort as their indices do."""
    index = np.arange(len(ratios), dtype=np.int64) << 32
    return index | np.asarray(ratios, dtype=np.float32).view(np.uint32).astype(np.int64)


def _halves(values: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
    """An int64's low and high 32 bits as two int32s, by a bitcast (on a little-endian host, checked here)."""
    if sys.byteorder != "little":
        raise RuntimeError("the n-gram features' packing assumes a little-endian host")
    halves = tf.bitcast(values, tf.int32)
    return halves[:, 0], halves[:, 1]


def encode(words: tf.RaggedTensor, ids: tf.RaggedTensor, label: tf.Tensor, max_tokens: int, sequence_length: int,
           ngrams: int) -> dict:
    """TOKEN_IDS: the review's distinct known n-grams as Keras ids (entry i is i + 2), at most SEQUENCE_LENGTH;
    TOKEN_WEIGHTS: their ratios. Ragged: padded, a review (median ~290 n-grams) took 12 KB, mostly zeros.
    IDS: the words' word_ids, which the caller may use too (text_vectorization's bag_and_words)."""
    top_k = max_tokens - features.RESERVED_IDS
    keys, rows = ngram_keys(ids, ngrams)
    # What the analysis counts: the known n-grams, by the fingerprint of their text (the vocabulary's order).
    known = keys >= 0
    counts = review_counts(*(tf.boolean_mask(t, known) for t in (rows, ngram_fingerprints(words, ngrams), keys)),
                           label)
    [vocabulary_file] = tft.experimental.ptransform_analyzer(
        counts, NaiveBayesVocabulary(top_k), output_dtypes=[tf.string], output_shapes=[[]],
        output_asset_default_values=[EMPTY.encode()], name="naive_bayes_vocabulary")
    packed = tft.apply_vocabulary(keys, vocabulary_file, lookup_fn=_packed_lookup)
    ids, weights = unique_known_ids(rows, packed, words.nrows())
    return {features.TOKEN_IDS: (ids + features.RESERVED_IDS)[:, :sequence_length],
            features.TOKEN_WEIGHTS: weights[:, :sequence_length]}
