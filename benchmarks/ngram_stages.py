"""Where a batch-32 call of the default model's serving graph goes, stage by stage (issue 29).

    ./imdb exec python -m benchmarks.ngram_stages --data ../shared/data/aclImdb_labeled.tar.gz \\
        --output-dir OUTPUT

OUTPUT is a `./imdb run --full` output folder; its newest Transform graph gives the vocabularies.
Each stage's graph (standardize, then + split, + word lookup, ...) is timed alone on 32 copies of
the median test review, cumulatively, alternating for --rounds rounds; then two other ways of
finding each review's distinct known n-grams, on the same batch's packed entries. Prints medians
in microseconds per call (the call's fixed cost included in every line).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import tensorflow as tf

from benchmarks.ngram_features import _latest
from common import features
from components import naive_bayes_bag as nb
from components import text_vectorization
from components.imdb_example_gen import layout

STAGES = ("standardize", "+ split", "+ word lookup", "+ n-gram keys", "+ packed lookup", "+ binary count", "+ model")


def _word_table(transform_dir: str) -> tf.lookup.StaticHashTable:
    """The word vocabulary as tft.apply_vocabulary looks it up (line number = id); the n-gram
    lookup is the Transform's own (naive_bayes_bag._packed_lookup)."""
    return tf.lookup.StaticHashTable(tf.lookup.TextFileInitializer(
        os.path.join(transform_dir, "transform_fn", "assets", nb.WORD_VOCABULARY_NAME), tf.string,
        tf.lookup.TextFileIndex.WHOLE_LINE, tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER), -1)


def _upto(stage: int, texts, words_table, ngram_file: str, weights, sequence_length: int):
    """The serving graph's first STAGE + 1 stages, and nothing after them (table lookups are
    stateful: a tf.function runs them even when their result is unused)."""
    out = text_vectorization.standardize(texts)
    steps = [lambda text: tf.strings.split(text),
             lambda words: (words, tf.ragged.map_flat_values(words_table.lookup, words) + 1),
             lambda w_ids: (w_ids[0], *nb.ngram_keys(w_ids[1], 3)),
             lambda w_keys: (w_keys[0], nb._packed_lookup(w_keys[1], ngram_file)[0], w_keys[2]),
             lambda w_packed: nb.unique_known_ids(w_packed[2], w_packed[1], w_packed[0].nrows()),
             lambda known: _score(*known, weights, sequence_length)]
    for step in steps[:stage]:
        out = step(out)
    return [t[:1] for t in tf.nest.flatten(out, expand_composites=True)]  # each one's computed


def _score(index, ratios, weights, sequence_length: int):
    index, ratios = index[:, :sequence_length], ratios[:, :sequence_length]
    return tf.math.unsorted_segment_sum(tf.gather(weights, index.flat_values) * ratios.flat_values,
                                        index.value_rowids(), index.nrows())


def _distinct_by(method: str, rows, packed):
    known = packed >= 0
    ratio_bits, index = nb._halves(tf.boolean_mask(packed, known))
    combined = tf.bitwise.left_shift(tf.boolean_mask(rows, known), 32) | tf.cast(index, tf.int64)
    if method == "hash unique (unordered)":
        return tf.unique(combined).y[:1]
    if method == "hash unique, then sort":
        return tf.sort(tf.unique(combined).y)[:1]
    ordered = tf.sort(combined)  # "sort all, drop repeats"
    return tf.boolean_mask(ordered, tf.concat([[True], ordered[1:] != ordered[:-1]], 0))[:1]


def _microseconds(fn, args, seconds: float) -> float:
    calls, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        fn(*args)
        calls += 1
    return 1e6 * (time.perf_counter() - started) / calls


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--output-dir", required=True)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--seconds", type=float, default=1.5)
    p.add_argument("--sequence-length", type=int, default=1024)
    args = p.parse_args(argv)
    transform_dir = _latest(os.path.join(args.output_dir, "pipelines", "*", "Transform", "transform_graph", "*"))
    words_table = _word_table(transform_dir)
    ngram_file = os.path.join(transform_dir, "transform_fn", "assets", features.VOCABULARY_NAME)
    weights = tf.Variable(tf.random.normal([int(nb._packed_lookup(tf.constant([0], tf.int64), ngram_file)[1])
                                            + features.RESERVED_IDS]))
    texts = [r.content.decode("utf-8", "replace") for r in layout.read_archive_subsets(args.data, ["test"])]
    batch = tf.constant([sorted(texts, key=len)[len(texts) // 2]] * 32)
    calls = {name: (tf.function(lambda t, s=s: _upto(s, t, words_table, ngram_file, weights, args.sequence_length)),
                    (batch,)) for s, name in enumerate(STAGES)}
    ids = tf.ragged.map_flat_values(words_table.lookup, tf.strings.split(text_vectorization.standardize(batch))) + 1
    keys, rows = nb.ngram_keys(ids, 3)
    packed = nb._packed_lookup(keys, ngram_file)[0]
    calls["binary count alone"] = (tf.function(lambda r, k: nb.unique_known_ids(r, k, ids.nrows())[0].flat_values[:1]),
                                   (rows, packed))
    for method in ("hash unique (unordered)", "hash unique, then sort", "sort all, drop repeats"):
        calls[method] = (tf.function(lambda r, k, m=method: _distinct_by(m, r, k)), (rows, packed))
    times = {name: [] for name in calls}
    for _ in range(args.rounds):
        for name, (fn, fn_args) in calls.items():
            fn(*fn_args)
            times[name].append(_microseconds(fn, fn_args, args.seconds))
    print(f"batch of 32 median reviews: {int(tf.size(packed))} n-grams, {int(tf.reduce_sum(tf.cast(packed >= 0, tf.int32)))} known")
    for name, values in times.items():
        print(f"{name:26s} {statistics.median(values):7.0f} µs per call")
    return 0


if __name__ == "__main__":
    sys.exit(main())
