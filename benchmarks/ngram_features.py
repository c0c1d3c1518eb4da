"""The default model's serving graph before and after n-gram keys from word ids (issue 29), side by side.

    ./imdb exec python -m benchmarks.ngram_features --data ../shared/data/aclImdb_labeled.tar.gz \\
        --before outputs/ngram-before --after outputs/ngram-after

BEFORE and AFTER are the output folders of two `./imdb run --full` runs of the same data, one with
each Transform. On all 25,000 test reviews it compares the two Transform graphs' features (token ids
and weights: identical or not) and the two pushed models' predictions and accuracy; then it times
each pushed model's `serving_default` in this process, alternating the two for --rounds rounds, at
batch 32 and batch 1, on the median-length test review and on a long one (the 99th percentile),
and writes the table (median and range over the rounds) into docs/serving.md.
"""

from __future__ import annotations

import argparse
import datetime
import glob
import json
import os
import statistics
import sys
import time

import numpy as np

from common import atomic_files, features, serving_contract
from components.imdb_example_gen import layout

BEGIN, END = "<!-- ngram-features:begin -->", "<!-- ngram-features:end -->"


def _latest(pattern: str) -> str:
    found = sorted(glob.glob(pattern), key=os.path.getmtime)
    if not found:
        raise SystemExit(f"error: nothing matches {pattern}: run `./imdb run --full --output-dir ...` first")
    return found[-1]


def _run(output_dir: str) -> dict:
    from serving.model_store import version_dirs

    base = serving_contract.local_base_path(output_dir)
    return {"transform": _latest(os.path.join(output_dir, "pipelines", "*", "Transform", "transform_graph", "*")),
            "model": version_dirs(base)[max(version_dirs(base))]}


def _features(transform_dir: str, texts: list) -> tuple:
    import tensorflow as tf
    import tensorflow_transform as tft

    layer = tft.TFTransformOutput(transform_dir).transform_features_layer()
    ids, weights = [], []
    for start in range(0, len(texts), 500):
        out = layer({features.TEXT: tf.constant([[t] for t in texts[start:start + 500]])})
        ids.append(out[features.TOKEN_IDS].numpy())
        weights.append(out[features.TOKEN_WEIGHTS].numpy())
    return np.concatenate(ids), np.concatenate(weights)


def _predictions(signature, texts: list) -> np.ndarray:
    import tensorflow as tf

    return np.concatenate([signature(reviews=tf.constant(texts[s:s + 500]))[serving_contract.PROBABILITY_OUTPUT].numpy()
                           for s in range(0, len(texts), 500)])


def _rate(signature, batch: list, seconds: float) -> float:
    """Reviews per second over SECONDS of back-to-back calls with BATCH."""
    import tensorflow as tf

    tensor = tf.constant(batch)
    signature(reviews=tensor)
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        signature(reviews=tensor)
        done += len(batch)
    return done / (time.perf_counter() - started)


def measure(args) -> dict:
    import tensorflow as tf

    reviews = [r for r in layout.read_archive_subsets(args.data, ["test"])]
    texts = [r.content.decode("utf-8", errors="replace") for r in reviews]
    labels = np.array([r.label for r in reviews])
    runs = {label: _run(folder) for label, folder in (("before", args.before), ("after", args.after))}
    result = {"date": datetime.date.today().isoformat(), "cores": os.cpu_count(), "reviews": len(texts),
              "command": "./imdb exec python -m benchmarks.ngram_features " + " ".join(sys.argv[1:]), "runs": runs}

    print(f"features of {len(texts):,} test reviews, both Transform graphs ...", flush=True)
    (ids_b, w_b), (ids_a, w_a) = (_features(runs[k]["transform"], texts) for k in ("before", "after"))
    result["identical_ids"] = int((ids_b == ids_a).all(axis=1).sum())
    result["max_weight_difference"] = float(np.abs(w_b - w_a).max())

    signatures = {k: tf.saved_model.load(runs[k]["model"]).signatures[serving_contract.SERVING_SIGNATURE]
                  for k in runs}
    predictions = {k: _predictions(s, texts) for k, s in signatures.items()}
    result["accuracy"] = {k: float(np.mean((p > 0.5) == labels)) for k, p in predictions.items()}
    result["max_prediction_difference"] = float(np.abs(predictions["before"] - predictions["after"]).max())
    result["same_decisions"] = int(((predictions["before"] > 0.5) == (predictions["after"] > 0.5)).sum())

    by_length = sorted(texts, key=len)
    cases = {"median review": by_length[len(texts) // 2], "long review (99th percentile)": by_length[int(len(texts) * .99)]}
    result["cases"] = {name: len(text) for name, text in cases.items()}
    rates = {}
    for round_number in range(args.rounds):
        print(f"throughput round {round_number + 1}/{args.rounds} ...", flush=True)
        for name, text in cases.items():
            for batch in (32, 1):
                for k, signature in signatures.items():  # alternating: the same conditions for both
                    rates.setdefault(f"{name}|{batch}|{k}", []).append(_rate(signature, [text] * batch, args.seconds))
    result["reviews_per_second"] = rates
    # The fixed cost of calling a graph from Python, whatever it computes: what no graph change
    # can remove from a batch-1 call.
    nothing = tf.function(lambda reviews: tf.size(reviews))
    result["empty_call_microseconds"] = [1e6 / _rate(lambda reviews: nothing(reviews), ["x"], args.seconds)
                                         for _ in range(args.rounds)]
    return result


def render(result: dict) -> str:
    rates = result["reviews_per_second"]
    rows = []
    for name, length in result["cases"].items():
        for batch in (32, 1):
            before, after = rates[f"{name}|{batch}|before"], rates[f"{name}|{batch}|after"]
            rows.append(f"| {name} ({length:,} characters) | {batch} | {statistics.median(before):,.0f} "
                        f"({min(before):,.0f}-{max(before):,.0f}) | {statistics.median(after):,.0f} "
                        f"({min(after):,.0f}-{max(after):,.0f}) | {statistics.median(after) / statistics.median(before):.2f}x |")
    acc = result["accuracy"]
    empty = statistics.median(result["empty_call_microseconds"])
    before_call = 1e6 / statistics.median(rates[f"{next(iter(result['cases']))}|1|before"])
    return "\n".join([
        BEGIN,
        f"Measured {result['date']} on {result['cores']} CPU cores, both graphs in one process, alternating, "
        f"{len(rates[next(iter(rates))])} rounds; `{result['command']}`.",
        "",
        "| review | batch | before: n-gram strings (reviews/s, median and range) | after: keys from word ids | speed-up |",
        "| --- | --- | --- | --- | --- |",
        *rows,
        "",
        f"On all {result['reviews']:,} test reviews: the two Transform graphs give identical token ids for "
        f"{result['identical_ids']:,} reviews (weights differ by at most {result['max_weight_difference']:.1e}); "
        f"the two pushed models' predictions differ by at most {result['max_prediction_difference']:.1e}, "
        f"{result['same_decisions']:,} decisions the same; test accuracy {acc['before']:.4f} before, "
        f"{acc['after']:.4f} after.",
        "",
        f"A call of a tf.function that computes nothing costs {empty:.0f} microseconds here (median of the rounds): "
        f"{empty / before_call:.0%} of the previous graph's batch-1 call on the median review ({before_call:.0f} "
        f"microseconds). Twice its speed in process would leave the graph itself {before_call / 2 - empty:.0f} "
        f"microseconds of the previous {before_call - empty:.0f}.",
        END])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="the aclImdb archive or folder both runs read")
    p.add_argument("--before", required=True, help="output folder of the run with the previous Transform")
    p.add_argument("--after", required=True, help="output folder of the run with this checkout's Transform")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--seconds", type=float, default=3.0, help="of calls per measurement")
    p.add_argument("--doc", default="docs/serving.md")
    p.add_argument("--results", default="docs/ngram_features.json")
    args = p.parse_args(argv)
    result = measure(args)
    atomic_files.write_text(args.results, json.dumps(result, indent=1))
    atomic_files.replace_section(args.doc, BEGIN, END, render(result),
                                 "## The default model's serving graph: n-gram keys from word ids")
    print(render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
