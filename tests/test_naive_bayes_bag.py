"""The naive_bayes_bag encoding (components/naive_bayes_bag.py) against NBSVM computed by hand, in plain
Python from the paper's definitions (binary n-gram features, each class's document frequencies,
Laplace smoothing, log-count ratio) on the corpus and labels Transform analyzed: the Transform graph
agrees id for id and ratio for ratio, and the serving path (text only) gives what training got."""

from __future__ import annotations

import collections
import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from benchmarks.linear_peers import standardize
from common import features
from components import naive_bayes_bag
from corpus import CORPUS, CORPUS_SEQUENCE_LENGTH, TRICKY_REVIEWS

TOP_K = 200 - features.RESERVED_IDS  # the fixture's max_tokens


def ngrams(text: str, n: int = 2) -> list:
    words = standardize(text).split()
    return words + [" ".join(words[i:i + n]) for i in range(len(words) - n + 1)]


def fingerprint(token: str) -> int:
    return int(tf.strings.to_hash_bucket_fast([token], naive_bayes_bag.FINGERPRINT_SPACE).numpy()[0])


@pytest.fixture(scope="module")
def expected():
    """NBSVM's vocabulary and ratios for CORPUS with labels i % 2 (the fixture's), by hand."""
    containing, positive = collections.Counter(), collections.Counter()
    for i, text in enumerate(CORPUS):
        distinct = set(ngrams(text))
        containing.update(distinct)
        if i % 2:
            positive.update(distinct)
    kept = [t for t, n in containing.items() if n >= naive_bayes_bag.MIN_DOCUMENT_FREQUENCY]
    kept.sort(key=lambda t: (-containing[t], fingerprint(t)))
    p = [1 + positive[t] for t in kept]
    q = [1 + containing[t] - positive[t] for t in kept]
    ratio = {t: math.log(pi / sum(p)) - math.log(qi / sum(q)) for t, pi, qi in zip(kept, p, q)}
    return {"vocabulary": kept, "ratio": ratio, "id": {t: i + features.RESERVED_IDS for i, t in enumerate(kept)}}


def encode_by_hand(text: str, expected: dict):
    """The review's distinct known n-grams, most frequent (lowest id) first, then truncated; no padding."""
    ids = sorted({expected["id"][t] for t in ngrams(text) if t in expected["id"]})[:CORPUS_SEQUENCE_LENGTH]
    by_id = {i: t for t, i in expected["id"].items()}
    return ids, [expected["ratio"][by_id[i]] for i in ids]


def key(text: str, words: list) -> int:
    """An n-gram's key: its words' 1-based ids in the word vocabulary, packed WORD_BITS each."""
    packed = 0
    for word in text.split(" "):
        packed = (packed << naive_bayes_bag.WORD_BITS) | (words.index(word) + 1)
    return packed


def test_vocabulary_is_the_frequent_ngrams_by_document_frequency(naive_bayes_transform_output, expected):
    output = tft.TFTransformOutput(naive_bayes_transform_output[0])
    words = [w.decode() for w in output.vocabulary_by_name(features.WORD_VOCABULARY_NAME)]
    lines = [line.decode().split(" ") for line in output.vocabulary_by_name(features.VOCABULARY_NAME)]
    assert [int(k) for k, _ in lines] == [key(t, words) for t in expected["vocabulary"]]
    # Each n-gram's index and its ratio in float32, packed in one int64 (index high, ratio's bits low).
    ratios = np.float32([expected["ratio"][t] for t in expected["vocabulary"]])
    assert [int(v) for _, v in lines] == naive_bayes_bag.pack(ratios).tolist()
    assert [int(v) >> 32 for _, v in lines] == list(range(len(lines)))
    assert 0 < len(lines) < TOP_K  # the threshold, not top_k, decided its length here
    assert "great" in expected["vocabulary"] and "the movie" in expected["vocabulary"]
    assert sorted(words) == sorted({w for text in CORPUS for w in standardize(text).split()})


def test_training_rows_carry_distinct_ids_and_their_ratios(naive_bayes_transform_output, expected):
    _, transformed = naive_bayes_transform_output
    for text, row in zip(CORPUS, transformed):
        ids, weights = encode_by_hand(text, expected)
        # Ragged features, which TFT's instance dicts name by their values' column.
        np.testing.assert_array_equal(row[f"{features.TOKEN_IDS}$ragged_values"], ids, err_msg=text)
        np.testing.assert_allclose(row[f"{features.TOKEN_WEIGHTS}$ragged_values"], weights, rtol=1e-5, atol=1e-6,
                                   err_msg=text)


def test_serving_path_needs_no_label_and_agrees(naive_bayes_transform_output, expected):
    """What the exported model's signatures call: text only. Reviews never seen in training
    (TRICKY_REVIEWS) included: empty, punctuation, all out of vocabulary."""
    output_dir, _ = naive_bayes_transform_output
    layer = tft.TFTransformOutput(output_dir).transform_features_layer()
    # A one-word review before another (no pair spans two reviews), unknown words between known ones.
    reviews = ["the movie was great", "the", "movie was", "dull dull dull plot", "", "qwertyuiop zzz",
               "great qwertyuiop movie the movie", " ".join(CORPUS)] + TRICKY_REVIEWS
    out = layer({features.TEXT: tf.constant([[t] for t in reviews])})
    for i, text in enumerate(reviews):
        ids, weights = encode_by_hand(text, expected)
        np.testing.assert_array_equal(out[features.TOKEN_IDS][i].numpy(), ids, err_msg=text)
        np.testing.assert_allclose(out[features.TOKEN_WEIGHTS][i].numpy(), weights, rtol=1e-5, atol=1e-6)
    assert out[features.TOKEN_IDS].row_lengths()[reviews.index("")] == 0
    assert out[features.TOKEN_IDS].row_lengths()[reviews.index(" ".join(CORPUS))] == CORPUS_SEQUENCE_LENGTH  # truncated
    assert out[features.TOKEN_WEIGHTS][0].numpy()[0] != 0  # "the" has a ratio


def test_ngram_keys_are_each_reviews_whole_ngrams_packed():
    """Keys of 1..3-grams by hand: within a review only, none for an n-gram with an unknown word (id 0)."""
    reviews = [[3, 5, 0, 7, 9], [4], [], [6, 2]]
    keys, rows = naive_bayes_bag.ngram_keys(tf.ragged.constant(reviews, dtype=tf.int64), 3)
    got = collections.Counter((int(r), int(k)) for r, k in zip(rows.numpy(), keys.numpy()) if k >= 0)
    grams = [(row, ids[start:start + n]) for row, ids in enumerate(reviews) for n in (1, 2, 3)
             for start in range(len(ids) - n + 1)]
    expected = collections.Counter(
        (row, sum(i << (naive_bayes_bag.WORD_BITS * (len(gram) - 1 - j)) for j, i in enumerate(gram)))
        for row, gram in grams if all(gram))
    assert got == expected
    assert (3 << naive_bayes_bag.WORD_BITS | 5) in {k for _, k in got} and len(got) == 10


def test_ratios_sign_follows_the_class():
    """An n-gram only in positive reviews gets a positive ratio, only in negative ones a negative one."""
    fingerprints = np.array([1, 2, 3], dtype=np.int64)
    containing = np.array([4, 4, 1])
    positive = np.array([4, 0, 1])
    vocabulary, ratios = naive_bayes_bag.vocabulary_and_ratios(fingerprints, containing, positive, fingerprints * 10,
                                                               top_k=5)
    assert vocabulary.tolist() == [10, 20]  # the keys; n-gram 3 is in one review only
    assert ratios[0] > 0 > ratios[1] and ratios[0] == pytest.approx(-ratios[1])
    assert ratios.shape == (2,)


def test_counts_do_not_depend_on_sharding_or_how_batches_are_grouped(monkeypatch):
    """Beam may split the batches into any bundles and merge them in any order; the vocabulary is
    what summing every batch and taking the top_k in one place gives, whatever the shards."""
    rng = np.random.default_rng(0)
    batches = []
    for _ in range(12):
        keys = np.unique(rng.integers(0, 50, size=30))
        containing = rng.integers(1, 5, size=len(keys))
        batches.append((keys, containing, rng.integers(0, 1, size=len(keys), endpoint=True) * containing, keys * 7 + 1))
    top_k = 25
    everything = naive_bayes_bag._sum_by_key(*(np.concatenate(column) for column in zip(*batches)))
    expected = naive_bayes_bag.vocabulary_and_ratios(*everything, top_k)
    assert len(expected[0]) == top_k < (everything[1] >= naive_bayes_bag.MIN_DOCUMENT_FREQUENCY).sum()

    def run(groups, shards):
        combine = naive_bayes_bag._ShardCounts(top_k)
        per_shard = {}
        for group in groups:  # a bundle: one accumulator per shard, merged with the others later
            bundle = {}
            for batch in group:
                for shard, counts in naive_bayes_bag.shard_counts(batch, shards):
                    bundle[shard] = combine.add_input(bundle.get(shard, combine.create_accumulator()), counts)
            for shard, accumulator in bundle.items():  # compacted, as a runner ships it: one summed part
                compacted = combine.compact(accumulator)
                assert len(compacted) == 1
                per_shard.setdefault(shard, []).append(compacted)
        candidates = [combine.extract_output(combine.merge_accumulators(a)) for a in per_shard.values()]
        return naive_bayes_bag.vocabulary_from_candidates(candidates, top_k)

    outcomes = [run([batches], 1), run([batches], 7)]
    monkeypatch.setattr(naive_bayes_bag._ShardCounts, "REDUCE_AT", 10)  # sum after nearly every batch
    outcomes += [run([batches[:5], batches[5:]], 3), run([[b] for b in reversed(batches)], 64)]
    for vocabulary, ratios in outcomes:
        np.testing.assert_array_equal(vocabulary, expected[0])
        np.testing.assert_allclose(ratios, expected[1])


def test_no_analysis_input_gives_an_empty_vocabulary():
    vocabulary, ratios = naive_bayes_bag.vocabulary_from_candidates([], top_k=4)
    assert vocabulary.tolist() == [] and ratios.tolist() == []
