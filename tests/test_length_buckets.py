"""Length buckets (fitting.in_length_buckets): the training stream's reviews regrouped by length, each
batch padded only to its bucket's bound, no review changed, lost or paired with another's label."""

from __future__ import annotations

import collections

import numpy as np
import pytest
import tensorflow as tf

from common import features
from components.model import fitting

LENGTH, WIDTH, BATCH = 20, 6, 4


def _reviews(count: int, rng) -> tuple:
    """Reviews of 1 to LENGTH tokens padded at the end, as Transform writes them, and one empty; each
    review's first token is its own, so a batch's row names the review; a label each."""
    ids = np.zeros((count, LENGTH), np.int64)
    for row, length in enumerate(rng.integers(1, LENGTH + 1, size=count)):
        ids[row, :length] = rng.integers(features.RESERVED_IDS, 50, size=length)
        ids[row, 0] = 100 + row
    ids[0], ids[1, 1:] = 0, 7  # an empty review and one of the full length
    return ids, rng.integers(0, 2, size=(count, 1)).astype(np.float32)


def test_batches_hold_the_same_reviews_padded_to_their_bucket():
    ids, labels = _reviews(40, np.random.default_rng(0))
    batched = tf.data.Dataset.from_tensor_slices(({features.TOKEN_IDS: ids}, labels)).batch(BATCH).repeat()
    seen = collections.Counter()
    for x, y in fitting.in_length_buckets(batched, features.TOKEN_IDS, WIDTH, BATCH).take(3 * 40 // BATCH):
        rows = x[features.TOKEN_IDS].numpy()
        assert rows.shape[0] == BATCH
        steps = rows.shape[1]
        assert steps in (6, 12, 18, 20)  # multiples of WIDTH, the last bucket ending at LENGTH
        lengths = np.count_nonzero(rows, axis=1)
        assert lengths.max() > steps - WIDTH or steps == WIDTH  # each review in its own bucket, not a wider one
        for row, label in zip(rows, y.numpy(), strict=True):
            review = row[0] - 100 if row[0] else 0
            np.testing.assert_array_equal(row, ids[review][:steps])  # padded as before, to fewer steps
            assert not ids[review][steps:].any()  # nothing of the review cut off
            assert label == labels[review]
            seen[review] += 1
    # Three passes' worth of batches: every review came through, none more than a pass too often
    # (a bucket may still hold some when the count is reached).
    assert set(seen) == set(range(len(ids))) and max(seen.values()) - min(seen.values()) <= 2


def test_other_dense_features_ride_along_with_their_review():
    ids, labels = _reviews(12, np.random.default_rng(1))
    tag = np.arange(12, dtype=np.int64)
    batched = tf.data.Dataset.from_tensor_slices(({features.TOKEN_IDS: ids, "tag": tag}, labels)).batch(BATCH).repeat()
    for x, _ in fitting.in_length_buckets(batched, features.TOKEN_IDS, WIDTH, BATCH).take(6):
        for row, i in zip(x[features.TOKEN_IDS].numpy(), x["tag"].numpy(), strict=True):
            np.testing.assert_array_equal(row[:np.count_nonzero(ids[i])], ids[i][:np.count_nonzero(ids[i])])


def test_a_sequence_of_no_fixed_length_is_refused_by_name():
    batched = tf.data.Dataset.from_tensor_slices(({"words": tf.ragged.constant([[3], [4, 5]])}, [[0.0], [1.0]]))
    with pytest.raises(ValueError, match="words"):
        fitting.in_length_buckets(batched.batch(2), "words", WIDTH, BATCH)
