"""`./imdb run`: runs the pipeline locally and prints what it did.

    ./imdb run --data ../shared/data/aclImdb_labeled.tar.gz            half the reviews, the default model
    ./imdb run --data PATH --full                                      all 50,000 reviews
    ./imdb run --data PATH --variant embedding                         a notebook BiLSTM
    ./imdb run --data PATH -- --direct_running_mode=multi_processing   Beam options after --
    ./imdb run --data PATH -- --runner=FlinkRunner                     Beam's parts on an embedded Flink
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TF's C++ start-up chatter goes nowhere useful

from common import atomic_files, console, paths, serving_contract  # noqa: E402
from pipeline import configs, options  # noqa: E402
from pipeline import output_dir as output_dir_lib  # noqa: E402


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="./imdb run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    options.add_pipeline_options(p)
    run = p.add_argument_group("run")
    run.add_argument("--output-dir", default=paths.output_dir(),
                     help="artifacts, metadata, pushed models and logs (default %(default)s; $IMDB_OUTPUT_DIR sets it)")
    run.add_argument("--pipeline-name", default=configs.PIPELINE_NAME)
    run.add_argument("--model-name", default=serving_contract.MODEL_NAME)
    run.add_argument("--no-cache", action="store_true", help="run every component again")
    run.add_argument("--verbose", action="store_true", help="show TensorFlow, TFX and Beam logs on the console")
    p.add_argument("beam_args", nargs="*", metavar="-- BEAM_OPTION",
                   help="options passed to Beam, e.g. --direct_num_workers=2")
    return p


_errors = None  # during a run, the terminal's stderr (console.stderr_to_log); else sys.stderr


def main(argv=None) -> int:
    global _errors
    args = parser().parse_args(argv)
    started = time.monotonic()
    output_dir = paths.absolute(args.output_dir)
    if paths.is_remote(output_dir) or os.path.exists(output_dir) and not os.path.isdir(output_dir):
        return console.error(f"--output-dir {output_dir!r} is not a local folder", 2, _errors)
    log_path = os.path.join(output_dir, "logs", time.strftime("run-%Y%m%d-%H%M%S.log"))
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    # Before TensorFlow is imported: it adds a console handler of its own if logging is unset.
    console.route_logging(log_path, shown=sys.stderr if args.verbose else None)
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
        return console.error(error, 2, _errors)
    from components.imdb_example_gen import layout
    from components.model import glove
    from pipeline import beam_runners, local_runner

    try:
        settings = options.settings_from(args, data_path)
        settings.validate()
        if settings.training.variant == "glove" and settings.training.glove_path:
            glove.check_file(settings.training.glove_path, settings.training.glove_dim)
        source = layout.locate(data_path)  # fail fast, before any TFX or Beam work
        beam_runners.local_args(args.beam_args)  # the runner named can run here
    except (layout.DataLayoutError, ValueError) as error:
        return console.error(error, 2, _errors)
    counts = ", ".join(f"{s}/{p} {n:,}" for (s, p), n in sorted(source.counts.items()))
    ignored = f"; {source.ignored:,} members outside the layout ignored" if source.ignored else ""
    print(f"data: {data_path} ({source.kind}; {counts}{ignored})")
    words = {1: "words", 2: "words and word pairs"}.get(settings.ngrams, f"up to {settings.ngrams}-grams")
    print(f"sample: {settings.sample_fraction:g} of each split; text: {words}, vocabulary {settings.max_tokens:,}, "
          f"{settings.sequence_length} tokens; model: {settings.training.variant}, up to "
          f"{settings.training.epochs} epochs; gate: test accuracy >= {settings.min_accuracy}")

    paths = local_runner.LocalPaths(output_dir, args.pipeline_name, args.model_name)
    try:
        with output_dir_lib.RunLock(output_dir):
            return _run_holding_the_lock(args, paths, settings, log_path, started)
    except output_dir_lib.OutputDirBusy as error:
        return console.error(error, 2, _errors)
    except Exception as error:  # the log has the traceback; the console gets the cause
        logging.exception("pipeline failed")
        if output_dir_lib.no_space_left(error):
            return console.error(f"no space left on device under {output_dir} ({output_dir_lib.free_space(output_dir)} "
                                 "free). Free some space and run again: finished steps are reused.", 1, _errors)
        return console.error(f"the pipeline failed: {error}\n(full log: {log_path})", 1, _errors)


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
        return console.error(f"{error}\n(full log: {log_path})", 1, _errors)
    print(summary.render(time.monotonic() - started))
    atomic_files.write_text(os.path.join(paths.output_dir, "last_run_summary.json"), summary.to_json())
    # The run's page; a run whose model was pushed is not failed for want of its report.
    run = os.path.splitext(os.path.basename(log_path))[0]
    try:
        from pipeline import run_report

        page = run_report.write(run_report.gather(run, summary), os.path.join(paths.output_dir, "reports"))
    except Exception as error:
        logging.exception("run report")
        print(f"  report: not written ({error}; full log: {log_path})")
    else:
        print(f"  report: {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
