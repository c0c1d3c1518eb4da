"""The default model's serving graphs of several commits, side by side (issues 29 and 32).

    ./imdb exec python -m benchmarks.ngram_features --data ../shared/data/aclImdb_labeled.tar.gz \\
        --run "n-gram strings=outputs/strings" --run "keys from word ids=outputs/keys" --run ragged=outputs/ragged

Each --run LABEL=DIR is the output folder of a `./imdb run --full` of the same data with one
commit's Transform and model; the first is the baseline. On all 25,000 test reviews it compares
each graph's features (token ids and weights, padding left out) and the pushed models' predictions
and accuracy with the baseline's; then it times each pushed model's `serving_default` in this
process, alternating the runs for --rounds rounds, at batch 32 and 1, on the median-length and the
99th-percentile test review, and writes the table (median and range) into docs/serving.md.
"""

from __future__ import annotations

import datetime
import glob
import itertools
import os
import shlex
import statistics
import sys
import time

import numpy as np

from benchmarks import report
from common import features, serving_contract
from components.imdb_example_gen import layout

BEGIN, END = "<!-- ngram-features:begin -->", "<!-- ngram-features:end -->"


def _run(label_and_dir: str) -> tuple:
    from serving.model_store import version_dirs

    label, separator, output_dir = label_and_dir.partition("=")
    if not separator or not label or not output_dir:
        raise SystemExit(f"error: --run takes LABEL=DIR, not {label_and_dir!r}")
    base = serving_contract.local_base_path(output_dir)
    if not os.path.isdir(base) or not version_dirs(base):
        raise SystemExit(f"error: no pushed model under {base}: run `./imdb run --full --output-dir {output_dir}` first")
    pattern = os.path.join(output_dir, "pipelines", "*", "Transform", "transform_graph", "*")
    transforms = sorted(glob.glob(pattern), key=os.path.getmtime)  # the newest is taken
    if not transforms:
        raise SystemExit(f"error: nothing matches {pattern}: run `./imdb run --full --output-dir ...` first")
    return label, {"transform": transforms[-1], "model": version_dirs(base)[max(version_dirs(base))]}


def _features(transform_dir: str, texts: list) -> list:
    """Each review's (token ids, weights), padding left out: padded and ragged rows compare."""
    import tensorflow as tf
    import tensorflow_transform as tft

    layer = tft.TFTransformOutput(transform_dir).transform_features_layer()
    rows = []
    for start in range(0, len(texts), 500):
        out = layer({features.TEXT: tf.constant([[t] for t in texts[start:start + 500]])})
        ids, weights = out[features.TOKEN_IDS], out[features.TOKEN_WEIGHTS]
        if not isinstance(ids, tf.RaggedTensor):
            present = tf.not_equal(ids, features.PADDING_ID)
            ids, weights = tf.ragged.boolean_mask(ids, present), tf.ragged.boolean_mask(weights, present)
        rows += [(np.array(i), np.array(w)) for i, w in zip(ids.to_list(), weights.to_list())]
    return rows


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

    reviews = list(layout.read_archive_subsets(args.data, ["test"]))
    texts = [r.content.decode("utf-8", errors="replace") for r in reviews]
    labels = np.array([r.label for r in reviews])
    runs = dict(_run(run) for run in args.run)
    baseline = next(iter(runs))
    result = {"date": datetime.date.today().isoformat(), "cores": os.cpu_count(), "reviews": len(texts),
              "command": "./imdb exec python -m benchmarks.ngram_features " + shlex.join(sys.argv[1:]), "runs": runs}

    print(f"features of {len(texts):,} test reviews, {len(runs)} Transform graphs ...", flush=True)
    rows = {k: _features(run["transform"], texts) for k, run in runs.items()}
    result["identical_ids"] = {k: sum(np.array_equal(a[0], b[0]) for a, b in zip(rows[baseline], rows[k])) for k in runs}
    result["max_weight_difference"] = {k: max(float(np.abs(a[1] - b[1]).max(initial=0)) if len(a[1]) == len(b[1]) else
                                              float("inf") for a, b in zip(rows[baseline], rows[k])) for k in runs}
    result["values_per_review"] = {k: float(np.mean([len(i) for i, _ in rows[k]])) for k in runs}

    signatures = {k: tf.saved_model.load(run["model"]).signatures[serving_contract.SERVING_SIGNATURE]
                  for k, run in runs.items()}
    predictions = {k: _predictions(s, texts) for k, s in signatures.items()}
    result["accuracy"] = {k: float(np.mean((p > 0.5) == labels)) for k, p in predictions.items()}
    result["max_prediction_difference"] = {k: float(np.abs(predictions[baseline] - p).max()) for k, p in predictions.items()}
    result["same_decisions"] = {k: int(((predictions[baseline] > 0.5) == (p > 0.5)).sum()) for k, p in predictions.items()}

    by_length = sorted(texts, key=len)
    cases = {"median review": by_length[len(texts) // 2], "long review (99th percentile)": by_length[int(len(texts) * .99)]}
    result["cases"] = {name: len(text) for name, text in cases.items()}
    rates = {}
    for round_number in range(args.rounds):
        print(f"throughput round {round_number + 1}/{args.rounds} ...", flush=True)
        # alternating: the same conditions for all
        for (name, text), batch, (k, signature) in itertools.product(cases.items(), (32, 1), signatures.items()):
            rates.setdefault(f"{name}|{batch}|{k}", []).append(_rate(signature, [text] * batch, args.seconds))
    result["reviews_per_second"] = rates
    # The fixed cost of calling a graph from Python, whatever it computes: what no graph change
    # can remove from a batch-1 call.
    nothing = tf.function(lambda reviews: tf.size(reviews))
    result["empty_call_microseconds"] = [1e6 / _rate(lambda reviews: nothing(reviews), ["x"], args.seconds)
                                         for _ in range(args.rounds)]
    return result


def render(result: dict) -> str:
    rates, runs = result["reviews_per_second"], list(result["runs"])
    baseline = runs[0]
    rows = []
    for name, length in result["cases"].items():
        for batch in (32, 1):
            measured = [rates[f"{name}|{batch}|{k}"] for k in runs]  # the baseline's first
            cells = [f"{statistics.median(v):,.0f} ({min(v):,.0f}-{max(v):,.0f})" for v in measured]
            gains = [f"{statistics.median(v) / statistics.median(measured[0]):.2f}x" for v in measured[1:]]
            rows.append(f"| {name} ({length:,} characters) | {batch} | {' | '.join(cells)} | {' | '.join(gains)} |")
    empty = statistics.median(result["empty_call_microseconds"])
    baseline_call = 1e6 / statistics.median(rates[f"{next(iter(result['cases']))}|1|{baseline}"])
    agreement = [f"{k}: identical token ids for {result['identical_ids'][k]:,} reviews (weights differ by at most "
                 f"{result['max_weight_difference'][k]:.1e}), predictions by at most "
                 f"{result['max_prediction_difference'][k]:.1e}, {result['same_decisions'][k]:,} decisions the same"
                 for k in runs[1:]]
    return "\n".join([
        BEGIN, f"Measured {result['date']} on {result['cores']} CPU cores, the graphs in one process, alternating, "
        f"{len(rates[next(iter(rates))])} rounds; `{result['command']}`. Reviews/s, median and range over the rounds.",
        "",
        f"| review | batch | {' | '.join(runs)} | {' | '.join(f'{k} / {baseline}' for k in runs[1:])} |",
        "| --- | --- |" + " --- |" * (2 * len(runs) - 1),
        *rows, "",
        f"On all {result['reviews']:,} test reviews, against {baseline}: {'; '.join(agreement)}. Test accuracy "
        + ", ".join(f"{result['accuracy'][k]:.4f} ({k})" for k in runs) + ". Token ids per review (padding left "
        "out), mean: " + ", ".join(f"{result['values_per_review'][k]:.1f} ({k})" for k in runs) + ".", "",
        f"A call of a tf.function that computes nothing costs {empty:.0f} microseconds here (median of the rounds): "
        f"{empty / baseline_call:.0%} of the {baseline} graph's batch-1 call on the median review ({baseline_call:.0f} "
        f"microseconds). Twice its speed in process would leave the graph itself {baseline_call / 2 - empty:.0f} "
        f"microseconds of its {baseline_call - empty:.0f}.",
        END])


def main(argv=None) -> int:
    p = report.parser(__doc__)
    p.add_argument("--data", required=True, help="the aclImdb archive or folder both runs read")
    p.add_argument("--run", action="append", required=True, metavar="LABEL=DIR",
                   help="a labelled output folder of a `./imdb run --full`; the first is the baseline (at least two)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--seconds", type=float, default=3.0, help="of calls per measurement")
    p.add_argument("--doc", default="docs/serving.md")
    p.add_argument("--results", default="docs/ngram_features.json")
    args = p.parse_args(argv)
    if len(args.run) < 2:
        p.error("give at least two --run LABEL=DIR: a baseline and what is compared with it")
    result = measure(args)
    report.publish(args.results, result, args.doc, (BEGIN, END),
                   "## The default model's serving graph: n-gram keys from word ids", render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
