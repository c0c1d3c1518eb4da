"""What the pushed SavedModel costs with and without the optimizer's state, same weights, same run.

    ./imdb exec python -m benchmarks.export_size --transform-dir OUTPUT/pipelines/<pipeline>/Transform

Builds the default model on a Transform output, trains it a few steps (so the optimizer has its
state, as after the Trainer), and exports it twice: as the compiled model itself (how
signatures.export saved it before: the optimizer came along) and through signatures.export (the
weights only). For each: bytes on disk, `tf.saved_model.load` seconds (median of three fresh
processes) and the resident memory of `./imdb serve --local` once it serves. Writes the table
into docs/serving.md (between its markers) and docs/export_size.json.
"""

from __future__ import annotations

import datetime
import os
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

from benchmarks import epoch_times, report  # noqa: E402
from benchmarks.server_memory import rss_mib  # noqa: E402
from common import serving_contract, warmup  # noqa: E402
from serving import launch  # noqa: E402
from components.model import signatures, trainer  # noqa: E402
from pipeline import configs  # noqa: E402

MARK_BEGIN, MARK_END = "<!-- export size: begin -->", "<!-- export size: end -->"
VERSION = "1"


def _load_seconds(export_dir: str, times: int = 3) -> float:
    code = ("import time, tensorflow as tf; t = time.perf_counter(); tf.saved_model.load(%r); "
            "print(time.perf_counter() - t)" % export_dir)
    runs = [float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                                 env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}).stdout.split()[-1])
            for _ in range(times)]
    return statistics.median(runs)


def _exports(transform_dir: str, scratch: str) -> dict:
    """{label: base path holding version VERSION}, the same trained weights in both."""
    tft_output, files = epoch_times.transform_output(transform_dir)
    config = configs.VARIANT_DEFAULTS[configs.DEFAULT_VARIANT].training
    model = trainer.build_for_transform(config, tft_output)
    model.fit(epoch_times.dataset(files, tft_output.transformed_feature_spec(), config.batch_size, cache=False).take(8),
              verbose=0)
    bases = {"with the optimizer's state (before)": os.path.join(scratch, "compiled"),
             "weights only (signatures.export)": os.path.join(scratch, "weights_only")}
    compiled, weights_only = (os.path.join(base, VERSION) for base in bases.values())
    module = signatures.SentimentExport(model, tft_output)
    tf.saved_model.save(module, compiled, signatures={
        serving_contract.SERVING_SIGNATURE: module.serve_reviews,
        serving_contract.EXAMPLES_SIGNATURE: module.serve_examples})
    warmup.write(compiled)
    signatures.export(model, tft_output, weights_only)
    return bases


def main(argv=None) -> int:
    p = report.parser(__doc__)
    p.add_argument("--transform-dir", required=True, help="a Transform component's output folder (default model's encoding)")
    p.add_argument("--doc", default="docs/serving.md")
    args = p.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for label, base in _exports(args.transform_dir, scratch).items():
            version = os.path.join(base, VERSION)
            row = {"export": label, "variables_mb": report.tree_bytes(os.path.join(version, "variables")) / 1e6,
                   "total_mb": report.tree_bytes(version) / 1e6, "load_seconds": _load_seconds(version)}
            with launch.start(base) as served:
                time.sleep(1)
                rows.append({**row, "server_rss_mib": rss_mib(served.process.pid)})
            print(rows[-1], flush=True)
    result = {"date": datetime.date.today().isoformat(), "cores": os.cpu_count(), "variant": configs.DEFAULT_VARIANT,
              "command": "./imdb exec python -m benchmarks.export_size " + " ".join(argv or sys.argv[1:]),
              "rows": rows}
    section = "\n".join([
        MARK_BEGIN, "",
        f"Measured {result['date']} on {result['cores']} cores, the default `{result['variant']}` model, same "
        f"weights exported both ways, command `{result['command']}`:", "",
        "| SavedModel | variables MB | whole export MB | tf.saved_model.load s (median of 3) | server resident MiB |",
        "|---|---|---|---|---|",
        *(f"| {r['export']} | {r['variables_mb']:.1f} | {r['total_mb']:.1f} | {r['load_seconds']:.2f} | "
          f"{r['server_rss_mib']:,.0f} |" for r in rows), "", MARK_END])
    report.publish("docs/export_size.json", result, args.doc, (MARK_BEGIN, MARK_END), "## What a push carries", section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
