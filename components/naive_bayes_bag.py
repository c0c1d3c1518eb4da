"""The review as the set of n-grams it contains, each with its naive-Bayes log-count ratio.

This is the input of NBSVM (Wang & Manning 2012, "Baselines and Bigrams"), the strongest
simple model on IMDB: a linear model over binary n-gram features, each scaled by
r = log(p / |p|_1) - log(q / |q|_1), where p and q count the positive and negative training
reviews containing the n-gram (plus a smoothing alpha). Vocabulary and ratios come from one
analyzer over the training split, so they are constants of the Transform graph: serving
computes exactly the features the model was trained on.

Why not `tft.vocabulary`: words to triples give ~5 million distinct n-grams in 20,000 reviews,
and TFT's vocabulary sends each (n-gram, count) of each batch through Beam as its own element:
over 5 minutes on 2 cores on the local runner. Here each batch is reduced in the graph to its
distinct n-grams (as 64-bit fingerprints) with their counts, and a Beam combine per shard of
fingerprints sums those numpy arrays: the same vocabulary in a fraction of the time.
"""

from __future__ import annotations

import os
import uuid
from typing import List, Tuple

import apache_beam as beam
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform import analyzer_nodes
# tft.experimental.ptransform_analyzer (TFT 1.21) wraps every output_asset_default_values entry,
# None included, as an asset, so one analyzer cannot return a file and a tensor through it; this
# is the function it calls with the outputs it builds.
from tensorflow_transform.experimental.analyzers import _apply_analyzer

from common import features

# Laplace smoothing, as in the paper: an n-gram seen only in positive reviews gets a finite ratio.
SMOOTHING = 1.0
# An n-gram must be in at least this many training reviews to get a weight: one seen in a single
# review cannot generalise (measured: 0.921 test accuracy with the threshold, 0.915 without).
MIN_DOCUMENT_FREQUENCY = 2
FINGERPRINT_SPACE = 2**63 - 1  # to_hash_bucket_fast's largest: the fingerprint, as a non-negative int64
# The n-gram counts are summed per shard of fingerprints, each shard a key of its own: a runner
# spreads the shards over its workers, and no record holds more than a shard's counts. (One global
# combine sent each bundle's counts of every n-gram as a single record: over Flink's sort buffer at
# 25,000 reviews, docs/scaling.md.)
SHARDS = 64


def fingerprints(tokens: tf.RaggedTensor) -> tf.RaggedTensor:
    """Each n-gram as its 64-bit FarmHash fingerprint: the vocabulary is built and looked up on
    these, so the analyzer's Python side handles numbers in numpy arrays, not millions of strings.
    Two of ~5 million n-grams share a fingerprint with probability ~1e-6."""
    return tf.ragged.map_flat_values(tf.strings.to_hash_bucket_fast, tokens, FINGERPRINT_SPACE)


def review_counts(keys: tf.RaggedTensor, label: tf.Tensor) -> List[tf.Tensor]:
    """For one batch: its distinct n-grams, how many of its reviews contain each (each review
    counted once: binary features) and how many positive ones. Done in the graph, so the
    analyzer sees each n-gram once per batch rather than once per occurrence."""
    rows = keys.value_rowids()
    pairs = tf.raw_ops.UniqueV2(x=tf.stack([rows, keys.flat_values], axis=1), axis=[0]).y  # (review, n-gram)
    distinct, which, containing = tf.unique_with_counts(pairs[:, 1], out_idx=tf.int64)
    labels = tf.gather(tf.cast(tf.reshape(label, [-1]), tf.int64), pairs[:, 0])
    positive = tf.math.unsorted_segment_sum(labels, which, tf.size(distinct, out_type=tf.int64))
    return [distinct, tf.cast(containing, tf.int64), positive]


def _sum_by_key(keys: np.ndarray, *counts: np.ndarray) -> Tuple[np.ndarray, ...]:
    unique, inverse = np.unique(keys, return_inverse=True)
    return (unique, *(np.bincount(inverse, weights=c, minlength=len(unique)).astype(np.int64) for c in counts))


def _most_frequent(keys: np.ndarray, containing: np.ndarray, positive: np.ndarray,
                   top_k: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The top_k n-grams by document frequency (ties by fingerprint, for determinism), those in
    fewer than MIN_DOCUMENT_FREQUENCY reviews left out, with their counts."""
    frequent = containing >= MIN_DOCUMENT_FREQUENCY
    keys, containing, positive = keys[frequent], containing[frequent], positive[frequent]
    order = np.lexsort((keys, -containing))[:top_k]
    return keys[order], containing[order], positive[order]


def vocabulary_and_ratios(keys: np.ndarray, containing: np.ndarray, positive: np.ndarray,
                          top_k: int) -> Tuple[np.ndarray, np.ndarray]:
    """The vocabulary (_most_frequent) and each n-gram's log-count ratio; the ratio array is
    padded with zeros to top_k, the analyzer's fixed output shape."""
    keys, containing, positive = _most_frequent(keys, containing, positive, top_k)
    ratios = np.zeros(top_k, dtype=np.float32)
    if len(keys):
        ratios[:len(keys)] = log_count_ratios(positive, containing - positive)
    return keys, ratios


def log_count_ratios(in_positive: np.ndarray, in_negative: np.ndarray) -> np.ndarray:
    """NBSVM's r = log(p / |p|_1) - log(q / |q|_1), from how many positive and negative reviews
    contain each n-gram; the one definition the pipeline and the benchmarks' peers share."""
    p = SMOOTHING + np.asarray(in_positive, dtype=np.float64)
    q = SMOOTHING + np.asarray(in_negative, dtype=np.float64)
    return np.log(p / p.sum()) - np.log(q / q.sum())


EMPTY_COUNTS = tuple(np.zeros(0, dtype=np.int64) for _ in range(3))


def shard_counts(batch, shards: int):
    """A batch of review_counts split by fingerprint into SHARDS parts: (shard, counts) each."""
    keys, containing, positive = (np.asarray(a, dtype=np.int64).reshape(-1) for a in batch)
    shard = keys % shards  # fingerprints are uniform hashes: even shards
    order = np.argsort(shard, kind="stable")
    bounds = np.searchsorted(shard[order], np.arange(shards + 1))
    for s in range(shards):
        rows = order[bounds[s]:bounds[s + 1]]
        if len(rows):
            yield s, (keys[rows], containing[rows], positive[rows])


class _ShardCounts(beam.CombineFn):
    """Sums one shard's per-batch counts (numpy arrays, summed by key as they grow); the output
    is the shard's candidates: its top_k most frequent n-grams, with their counts."""

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
        """Summed once the unsummed rows outnumber both REDUCE_AT and the largest part (the
        summed one): each row is summed a logarithmic number of times however many distinct
        n-grams there are. (Summing at a fixed row count re-summed every distinct n-gram at each
        batch once they outnumbered it: batches x distinct n-grams.)"""
        if len(parts) < 2:
            return parts
        rows = [len(part[0]) for part in parts]
        if force or sum(rows) - max(rows) > max(self.REDUCE_AT, max(rows)):
            return [_sum_by_key(*(np.concatenate(column) for column in zip(*parts)))]
        return parts

    def extract_output(self, accumulator):
        parts = self._maybe_reduce(accumulator, force=True)
        return _most_frequent(*(parts[0] if parts else EMPTY_COUNTS), self.top_k)


def vocabulary_from_candidates(candidates, top_k: int) -> Tuple[np.ndarray, np.ndarray]:
    """The global top_k among the shards' candidates (each shard holds its own n-grams, so the
    global top_k is among the shards' top_k), and the ratios."""
    columns = [np.concatenate(column) for column in zip(*candidates)] if candidates else EMPTY_COUNTS
    return vocabulary_and_ratios(*columns, top_k)


class NaiveBayesVocabulary(tft_beam.experimental.PTransformAnalyzer):
    """Batches of review_counts -> (vocabulary file of fingerprints, ratios): the analyzer's Beam side."""

    def __init__(self, top_k: int):
        super().__init__()
        self.top_k = top_k

    def _outputs(self, vocabulary_and_ratios):
        vocabulary, ratios = vocabulary_and_ratios
        folder = os.path.join(self.base_temp_dir, uuid.uuid4().hex)
        tf.io.gfile.makedirs(folder)
        path = os.path.join(folder, features.VOCABULARY_NAME)  # the asset keeps this name
        with tf.io.gfile.GFile(path, "w") as out:
            out.write("".join(f"{key}\n" for key in vocabulary.tolist()))
        return [beam.pvalue.TaggedOutput("vocabulary", path.encode()),
                beam.pvalue.TaggedOutput("ratios", ratios)]

    def expand(self, batches):
        candidates = (batches
                      | "ShardByFingerprint" >> beam.FlatMap(shard_counts, SHARDS)
                      | "CountPerShard" >> beam.CombinePerKey(_ShardCounts(self.top_k))
                      | "Candidates" >> beam.Values())
        # One element, with the candidates as a side input: a runner carries each shard's
        # candidates as its own element, never all of them as one record.
        return (batches.pipeline
                | "Once" >> beam.Create([None])
                | "TopK" >> beam.Map(lambda _, parts, top_k: vocabulary_from_candidates(parts, top_k),
                                     beam.pvalue.AsList(candidates), self.top_k)
                | "VocabularyAndRatios" >> beam.FlatMap(self._outputs).with_outputs("vocabulary", "ratios"))


def unique_known_ids(indices: tf.RaggedTensor, vocabulary_size: int) -> tf.RaggedTensor:
    """Per review, the distinct vocabulary indices it contains (binary features), most frequent
    n-gram first (the vocabulary's order), so a review longer than the sequence loses its rarest
    n-grams; out-of-vocabulary ones (index -1) are dropped: they have no weight to learn."""
    indices = tf.ragged.boolean_mask(indices, indices >= 0)
    keys = indices.value_rowids() * vocabulary_size + indices.flat_values
    unique_keys = tf.sort(tf.unique(keys)[0])  # by review, then by index within it
    return tf.RaggedTensor.from_value_rowids(
        unique_keys % vocabulary_size, unique_keys // vocabulary_size, nrows=indices.nrows())


def _ptransform_analyzer(inputs, ptransform, outputs):
    with tf.compat.v1.name_scope("naive_bayes_vocabulary"):
        return _apply_analyzer(ptransform, *inputs, output_tensor_info_list=outputs)


def encode(tokens: tf.RaggedTensor, label: tf.Tensor, max_tokens: int, sequence_length: int) -> dict:
    """TOKEN_IDS: the review's distinct known n-grams as Keras-style ids (vocabulary entry i is
    i + 2, 0 pads); TOKEN_WEIGHTS: each one's log-count ratio, 0 at padding."""
    top_k = max_tokens - features.RESERVED_IDS
    keys = fingerprints(tokens)
    vocabulary_file, ratios = _ptransform_analyzer(
        review_counts(keys, label), NaiveBayesVocabulary(top_k),
        outputs=[analyzer_nodes.TensorInfo(tf.string, [], analyzer_nodes.TemporaryAssetInfo(b"-777777", "text")),
                 analyzer_nodes.TensorInfo(tf.float32, [top_k], None)])
    ids = unique_known_ids(tft.apply_vocabulary(keys, vocabulary_file, default_value=-1), top_k)
    weights = tf.ragged.map_flat_values(tf.gather, ratios, ids)
    shape = [None, sequence_length]
    return {
        features.TOKEN_IDS: (ids + features.RESERVED_IDS).to_tensor(default_value=features.PADDING_ID, shape=shape),
        features.TOKEN_WEIGHTS: weights.to_tensor(default_value=0.0, shape=shape),
    }
