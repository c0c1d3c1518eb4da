"""`./imdb benchmark`: one variant on all 50,000 reviews, the pipeline beside plain Keras.

    ./imdb benchmark --data ../shared/data/aclImdb_labeled.tar.gz                  the tuned default
    ./imdb benchmark --data ... --variant embedding                               a notebook model
    ./imdb benchmark --data ... --variant one_hot --epochs 4 --keras-epochs 2     what time allows

Runs the pipeline (every component, no cache), then the same model trained the notebook's way
(benchmarks/notebook_keras.py) in a process of its own, then the linear models a user might pick
instead (benchmarks/linear_peers.py) on the pipeline's own splits, on the same machine, and writes
docs/benchmarks/<label>.json: the Evaluator's test accuracy, validation curves per epoch, seconds
per epoch, examples per second, peak memory, wall time per component, and the ratios between the
two. docs/benchmarks.md's tables and plot are then rebuilt from every results file there.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks import peak_memory, report  # noqa: E402
from common import atomic_files, console, paths  # noqa: E402
from pipeline import options  # noqa: E402

# The notebook's reported test accuracies (the course notebook, full IMDB test set).
NOTEBOOK_TEST_ACCURACY = {"one_hot": 0.855, "embedding": 0.857, "glove": 0.858}
PREPROCESSING_COMPONENTS = ("ImdbExampleGen", "Transform", "ApplyTransform")


def parser() -> argparse.ArgumentParser:
    p = report.parser(__doc__, prog="./imdb benchmark")
    options.add_pipeline_options(p, full_by_default=True)
    bench = p.add_argument_group("benchmark")
    bench.add_argument("--label", help="name of the results file (default: the variant)")
    bench.add_argument("--keras-epochs", type=int, help="epochs of the plain-Keras run (default: as the pipeline)")
    bench.add_argument("--skip-keras", action="store_true", help="no plain-Keras run")
    bench.add_argument("--skip-peers", action="store_true",
                       help="no linear peers (scikit-learn TF-IDF + LR and NBSVM, benchmarks/linear_peers.py)")
    bench.add_argument("--work-dir", default=paths.output_dir("benchmarks"), help="pipeline artifacts (default %(default)s)")
    bench.add_argument("--results-dir", default=report.RESULTS_DIR, help="results files (default %(default)s)")
    p.add_argument("beam_args", nargs="*", metavar="-- BEAM_OPTION")
    return p


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "")
    memory_kb = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(memory_kb / 2**20, 1),
            "gpu": "none", "python": platform.python_version(), "os": platform.platform()}


def run_pipeline(args, settings, label: str) -> dict:
    from pipeline import local_runner, run_summary

    local = local_runner.LocalPaths(paths.absolute(os.path.join(args.work_dir, label)),
                                    pipeline_name=f"benchmark-{label.replace('_', '-')}",
                                    model_name=f"benchmark_{label}")
    started = time.perf_counter()
    summary = local_runner.run(local, settings, args.beam_args, enable_cache=False)
    wall = time.perf_counter() - started
    print(summary.render(wall), flush=True)
    history = run_summary.read_history(summary.model_run)
    seconds = {c.name: c.seconds for c in summary.components}
    epoch_seconds = history.pop("epoch_seconds")
    return {
        "examples_uri": summary.examples, "examples": summary.examples_per_split,
        "test_accuracy": summary.test_accuracy, "blessed": summary.blessed, "best_epoch": history.pop("best_epoch"),
        **({"fine_tune_from_epoch": history.pop("fine_tune_from_epoch")} if "fine_tune_from_epoch" in history else {}),
        "history": {k: v for k, v in history.items() if k != "config"}, "epoch_seconds": epoch_seconds,
        "train_examples_per_second": summary.examples_per_split["train"] / statistics.median(epoch_seconds),
        "seconds": {"components": seconds, "preprocessing": sum(seconds[c] for c in PREPROCESSING_COMPONENTS),
                    "total": wall},
        "peak_memory_mb": peak_memory.peak_resident_mb(),
    }


def run_keras(settings, epochs: int) -> dict:
    """The notebook's way, in a child process so that its memory and threads are its own."""
    training = dataclasses.replace(settings.training, epochs=epochs)
    with tempfile.TemporaryDirectory() as scratch:
        out = os.path.join(scratch, "keras.json")
        subprocess.run(
            [sys.executable, "-m", "benchmarks.notebook_keras", "--data", settings.data_path,
             "--config", json.dumps(training.to_custom_config()), "--max-tokens", str(settings.max_tokens),
             "--sequence-length", str(settings.sequence_length), "--ngrams", str(settings.ngrams),
             "--out", out], check=True)
        with open(out) as f:
            return json.load(f)


def ratios(pipeline: dict, keras: dict) -> dict:
    return {"trainer_vs_keras_examples_per_second":
            pipeline["train_examples_per_second"] / keras["train_examples_per_second"],
            "preprocessing_vs_notebook": pipeline["seconds"]["preprocessing"] / keras["seconds"]["preprocessing"],
            "test_accuracy_difference": pipeline["test_accuracy"] - keras["test_accuracy"]}


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    from pipeline import data_source

    try:
        data_path = data_source.resolve(args.data)
        settings = options.settings_from(args, data_path)
        settings.validate()
    except (data_source.DataUnavailable, ValueError) as error:
        return console.error(error, 2)
    label = args.label or settings.training.variant
    result = {
        "label": label, "date": datetime.date.today().isoformat(),
        "command": "./imdb benchmark " + shlex.join(argv if argv is not None else sys.argv[1:]), "machine": machine(),
        "settings": {**settings.as_kwargs(), "training": settings.training.to_custom_config()},
        "notebook_test_accuracy": NOTEBOOK_TEST_ACCURACY.get(settings.training.variant),
    }
    print(f"[benchmark {label}] pipeline on {data_path}: {settings.training.variant}, "
          f"up to {settings.training.epochs} epochs", flush=True)
    result["pipeline"] = run_pipeline(args, settings, label)
    if not args.skip_keras:
        epochs = args.keras_epochs or settings.training.epochs
        print(f"[benchmark {label}] the notebook's way (plain Keras), up to {epochs} epochs", flush=True)
        result["keras"] = run_keras(settings, epochs)
        result["ratios"] = ratios(result["pipeline"], result["keras"])
    if not args.skip_peers:
        from benchmarks import linear_peers

        print(f"[benchmark {label}] linear peers on the pipeline's own splits", flush=True)
        result["peers"] = linear_peers.run(result["pipeline"]["examples_uri"],
                                           progress=lambda line: print(line, flush=True))

    os.makedirs(args.results_dir, exist_ok=True)
    path = os.path.join(args.results_dir, f"{label}.json")
    atomic_files.write_text(path, json.dumps(result, indent=1))
    print(f"[benchmark {label}] results: {path}")
    print(f"[benchmark {label}] report: {report.write(args.results_dir)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
