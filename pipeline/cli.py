"""`./imdb run`: runs the pipeline locally and prints what it did.

    ./imdb run --data ../shared/data/aclImdb_labeled.tar.gz            half the reviews, the default model
    ./imdb run --data PATH --full                                      all 50,000 reviews
    ./imdb run --data PATH --variant embedding                         a notebook BiLSTM
    ./imdb run --data PATH -- --direct_running_mode=multi_processing   Beam options after --
    ./imdb run --data PATH -- --runner=FlinkRunner                     Beam's parts on an embedded Flink
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TF's C++ start-up chatter goes nowhere useful

from common import atomic_files, console, serving_contract  # noqa: E402
from components.model import hparams  # noqa: E402
from pipeline import configs  # noqa: E402
from pipeline import output_dir as output_dir_lib  # noqa: E402


def add_pipeline_options(p: argparse.ArgumentParser) -> None:
    """The options of the pipeline itself, shared by every runner (local, Kubeflow)."""
    data = p.add_argument_group("data")
    data.add_argument("--data", help="aclImdb folder, or its .tar.gz (default: $IMDB_DATA; "
                      "else the official archive, downloaded once into the cache)")
    size = data.add_mutually_exclusive_group()
    size.add_argument("--full", action="store_true", help="use all 50,000 reviews")
    size.add_argument("--sample-fraction", type=float, default=None,
                      help=f"share of every split to use (default {configs.DEFAULT_SAMPLE_FRACTION})")
    data.add_argument("--eval-fraction", type=float, default=configs.DEFAULT_EVAL_FRACTION,
                      help=f"share of aclImdb/train held out as the eval split (default {configs.DEFAULT_EVAL_FRACTION})")

    text = p.add_argument_group("text vectorization (defaults: the variant's, pipeline/configs.py)")
    text.add_argument("--max-tokens", type=int, help="vocabulary size, padding and OOV ids included")
    text.add_argument("--sequence-length", type=int, help="tokens kept per review")
    text.add_argument("--ngrams", type=int, help="2: words and word pairs, as TextVectorization(ngrams=2)")

    model = p.add_argument_group("model (defaults: the variant's, pipeline/configs.py)")
    model.add_argument("--variant", choices=hparams.VARIANTS, default=configs.DEFAULT_VARIANT,
                       help=f"default {configs.DEFAULT_VARIANT} (NBSVM-style); ngram_bag averages n-gram embeddings; "
                            "one_hot, embedding and glove are the notebook's BiLSTMs")
    model.add_argument("--epochs", type=int, default=None,
                       help="most epochs to train (BiLSTMs: 5 on a sample, 10 with --full)")
    model.add_argument("--batch-size", type=int)
    model.add_argument("--embedding-dim", type=int)
    model.add_argument("--optimizer", choices=hparams.OPTIMIZERS)
    model.add_argument("--learning-rate", type=float)
    model.add_argument("--early-stopping-patience", type=int,
                       help="stop this many epochs after the best validation loss (0: never)")
    model.add_argument("--glove-path", help="glove.6B.<d>d.txt or glove.6B.zip "
                       "(default: the packaged GloVe 6B 50d vectors)")
    model.add_argument("--glove-dim", type=int, default=100, help="member of glove.6B.zip to use")
    model.add_argument("--fine-tune-epochs", type=int,
                       help="glove: epochs with the vectors trainable after the frozen ones (default 0, frozen)")
    model.add_argument("--fine-tune-learning-rate", type=float,
                       help="glove: learning rate while fine-tuning (default 0.0003)")
    model.add_argument("--mixed-precision", action="store_true",
                       help="float16 compute, float32 weights, output and loss (GPUs with tensor cores)")

    gate = p.add_argument_group("evaluation gate")
    gate.add_argument("--min-accuracy", type=float, default=None,
                      help=f"test accuracy needed to push (default {configs.DEFAULT_MIN_ACCURACY_SAMPLE} "
                           f"on a sample, {configs.DEFAULT_MIN_ACCURACY_FULL} with --full)")
    gate.add_argument("--max-accuracy-drop", type=float, default=0.0,
                      help="how much worse than the model being served is still pushed (default 0)")
    gate.add_argument("--allow-anomalies", action="store_true",
                      help="proceed when the data breaks the curated schema (schema/schema.pbtxt); "
                           "the anomalies are listed in the summary")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="./imdb run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_pipeline_options(p)
    run = p.add_argument_group("run")
    run.add_argument("--output-dir", default=os.environ.get("IMDB_OUTPUT_DIR", "outputs"),
                     help="artifacts, metadata, pushed models and logs (default ./outputs)")
    run.add_argument("--pipeline-name", default=configs.PIPELINE_NAME)
    run.add_argument("--model-name", default=serving_contract.MODEL_NAME)
    run.add_argument("--no-cache", action="store_true", help="run every component again")
    run.add_argument("--verbose", action="store_true", help="show TensorFlow, TFX and Beam logs on the console")
    p.add_argument("beam_args", nargs="*", metavar="-- BEAM_OPTION",
                   help="options passed to Beam, e.g. --direct_num_workers=2")
    return p


def settings_from(args: argparse.Namespace, data_path: str, full_by_default: bool = False) -> configs.PipelineSettings:
    if args.sample_fraction is not None:
        sample = args.sample_fraction
    else:
        sample = 1.0 if (args.full or full_by_default) else configs.DEFAULT_SAMPLE_FRACTION
    full = sample >= 1.0
    defaults = configs.VARIANT_DEFAULTS[args.variant]
    chosen = {name: value for name, value in (
        ("epochs", args.epochs if args.epochs is not None else (
            defaults.training.epochs if full else defaults.sample_epochs)),
        ("batch_size", args.batch_size), ("embedding_dim", args.embedding_dim),
        ("optimizer", args.optimizer), ("learning_rate", args.learning_rate),
        ("early_stopping_patience", args.early_stopping_patience),
        ("glove_path", os.path.abspath(args.glove_path) if args.glove_path else None),
        ("glove_dim", args.glove_dim), ("fine_tune_epochs", args.fine_tune_epochs),
        ("fine_tune_learning_rate", args.fine_tune_learning_rate), ("mixed_precision", args.mixed_precision or None)) if value is not None}
    training = dataclasses.replace(defaults.training, **chosen)
    min_accuracy = args.min_accuracy if args.min_accuracy is not None else (
        configs.DEFAULT_MIN_ACCURACY_FULL if full else configs.DEFAULT_MIN_ACCURACY_SAMPLE)
    return configs.PipelineSettings(
        data_path=data_path, training=training, min_accuracy=min_accuracy,
        max_accuracy_drop=args.max_accuracy_drop,
        max_tokens=_given(args.max_tokens, defaults.max_tokens),
        sequence_length=_given(args.sequence_length, defaults.sequence_length),
        ngrams=_given(args.ngrams, defaults.ngrams), eval_fraction=args.eval_fraction,
        sample_fraction=sample, allow_anomalies=args.allow_anomalies)


def _given(value, default):
    return default if value is None else value


_errors = None  # during a run, the terminal's stderr (console.stderr_to_log); else sys.stderr


def _error(message: str) -> None:
    print(message, file=_errors or sys.stderr)


def _log_to_file(log_dir: str, verbose: bool) -> str:
    os.makedirs(log_dir, exist_ok=True)
    path = os.path.join(log_dir, time.strftime("run-%Y%m%d-%H%M%S.log"))
    console.route_logging(path, shown=sys.stderr if verbose else None)
    return path


def main(argv=None) -> int:
    global _errors
    args = parser().parse_args(argv)
    started = time.monotonic()
    output_dir = os.path.abspath(args.output_dir)
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        _error(f"error: --output-dir {output_dir!r} is not a folder")
        return 2
    # Before TensorFlow is imported: it adds a console handler of its own if logging is unset.
    log_path = _log_to_file(os.path.join(output_dir, "logs"), args.verbose)
    # TensorFlow's start-up lines and library warnings go to the log only (--verbose: everywhere).
    with console.stderr_to_log(log_path, enabled=not args.verbose) as _errors:
        try:
            return _run(args, output_dir, log_path, started)
        finally:
            _errors = None


def _run(args, output_dir: str, log_path: str, started: float) -> int:
    from pipeline import data_source

    try:
        data_path = data_source.resolve(args.data)
    except data_source.DataUnavailable as error:
        _error(f"error: {error}")
        return 2
    from components.imdb_example_gen import layout
    from components.model import glove
    from pipeline import beam_runners, local_runner

    try:
        settings = settings_from(args, data_path)
        settings.validate()
        if settings.training.variant == "glove" and settings.training.glove_path:
            glove.check_file(settings.training.glove_path, settings.training.glove_dim)
        source = layout.locate(data_path)  # fail fast, before any TFX or Beam work
        beam_runners.local_args(args.beam_args)  # the runner named can run here
    except (layout.DataLayoutError, ValueError) as error:
        _error(f"error: {error}")
        return 2
    counts = ", ".join(f"{s}/{p} {n:,}" for (s, p), n in sorted(source.counts.items()))
    ignored = f"; {source.ignored:,} members outside the layout ignored" if source.ignored else ""
    print(f"data: {data_path} ({source.kind}; {counts}{ignored})")
    words = "words and word pairs" if settings.ngrams == 2 else ("words" if settings.ngrams == 1 else
                                                                 f"up to {settings.ngrams}-grams")
    print(f"sample: {settings.sample_fraction:g} of each split; text: {words}, vocabulary {settings.max_tokens:,}, "
          f"{settings.sequence_length} tokens; model: {settings.training.variant}, up to "
          f"{settings.training.epochs} epochs; gate: test accuracy >= {settings.min_accuracy}")

    paths = local_runner.LocalPaths(output_dir, args.pipeline_name, args.model_name)
    try:
        with output_dir_lib.RunLock(output_dir):
            return _run_holding_the_lock(args, paths, settings, log_path, started)
    except output_dir_lib.OutputDirBusy as error:
        _error(f"error: {error}")
        return 2
    except Exception as error:  # the log has the traceback; the console gets the cause
        logging.exception("pipeline failed")
        if output_dir_lib.no_space_left(error):
            _error(f"error: no space left on device under {output_dir} ({output_dir_lib.free_space(output_dir)} "
                   "free). Free some space and run again: finished steps are reused.")
        else:
            _error(f"error: the pipeline failed: {error}\n(full log: {log_path})")
        return 1


def _run_holding_the_lock(args, paths, settings, log_path: str, started: float) -> int:
    from components import anomaly_gate
    from pipeline import local_runner

    for path in output_dir_lib.remove_staging_copies([paths.serving_model_dir]):
        print(f"removed {path}: a copy left by an interrupted push")
    print(f"logs: {log_path}")
    if settings.allow_anomalies:
        print("anomalies allowed: the run proceeds even if the data breaks the curated schema")
    try:
        summary = local_runner.run(paths, settings, args.beam_args, enable_cache=not args.no_cache)
    except anomaly_gate.DataAnomalies as error:
        logging.exception("data anomalies")
        _error(f"error: {error}\n(full log: {log_path})")
        return 1
    print(summary.render(time.monotonic() - started))
    summary_path = os.path.join(paths.output_dir, "last_run_summary.json")
    atomic_files.write_text(summary_path, summary.to_json())
    _write_report(summary, paths.output_dir, os.path.splitext(os.path.basename(log_path))[0], log_path)
    return 0


def _write_report(summary, output_dir: str, run: str, log_path: str) -> None:
    """The run's page; a run whose model was pushed is not failed for want of its report."""
    from pipeline import run_report

    try:
        page = run_report.write(run_report.gather(run, summary), os.path.join(output_dir, "reports"))
    except Exception as error:
        logging.exception("run report")
        print(f"  report: not written ({error}; full log: {log_path})")
        return
    print(f"  report: {page}")


if __name__ == "__main__":
    sys.exit(main())
