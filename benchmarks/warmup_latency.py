"""First-request latency after a version switch, with and without the model's warm-up requests.

    ./imdb exec python -m benchmarks.warmup_latency --model-dir outputs/serving_model/imdb_sentiment

Serves the newest version under --model-dir with the project's server (REST on loopback), then
pushes copies of it as new versions the way the Pusher does, alternately with and without
`assets.extra/` (the warm-up requests), and times the first request to each and the median of the
next 20. Writes docs/serving.md's warm-up section (between its markers) and docs/warmup_benchmark.json.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

import requests

from benchmarks import report
from common import console, serving_contract, warmup

MARK_BEGIN, MARK_END = "<!-- warm-up benchmark: begin -->", "<!-- warm-up benchmark: end -->"
REVIEW = "A wonderful, moving film; the cast is superb, the ending earned. " * 4


def _switch_and_time(server, base: str, model: str, with_warmup: bool, session: requests.Session) -> dict:
    from components import atomic_pusher

    with tempfile.TemporaryDirectory() as scratch:
        copy = os.path.join(scratch, "model")
        shutil.copytree(model, copy)
        if not with_warmup:
            shutil.rmtree(os.path.join(copy, warmup.ASSETS_EXTRA), ignore_errors=True)
        elif not os.path.exists(warmup.path(copy)):  # exported before warm-up requests were written
            warmup.write(copy)
        published = time.perf_counter()
        _, version = atomic_pusher.publish_version(copy, base)
    version = int(version)
    while server.store.served_versions != [version]:
        time.sleep(0.005)
    available = time.perf_counter() - published
    url = f"{server.rest_url}/v1/models/{server.options.model_name}/versions/{version}:predict"
    timings = []
    for _ in range(21):
        started = time.perf_counter()
        response = session.post(url, json={"instances": [REVIEW]}, timeout=60)
        timings.append(time.perf_counter() - started)
        response.raise_for_status()
    return {"with_warmup": with_warmup, "version": version, "push_to_available_s": available,
            "first_request_ms": timings[0] * 1000, "next_20_median_ms": statistics.median(timings[1:]) * 1000}


def render(result: dict) -> str:
    def summary(rows, key):
        return statistics.median(r[key] for r in rows)

    lines = [MARK_BEGIN, "", f"Measured {result['date']} on {result['cores']} cores, command "
             f"`{result['command']}`, {result['rounds']} version switches each way, alternating:", "",
             "| pushed version | first request (median) | first request (max) | later requests (median) "
             "| push to AVAILABLE (median) |", "|---|---|---|---|---|"]
    for flag, label in ((True, "with warm-up requests (as exported)"), (False, "without (assets.extra removed)")):
        rows = [r for r in result["switches"] if r["with_warmup"] is flag]
        lines.append(f"| {label} | {summary(rows, 'first_request_ms'):.1f} ms "
                     f"| {max(r['first_request_ms'] for r in rows):.1f} ms "
                     f"| {summary(rows, 'next_20_median_ms'):.1f} ms | {summary(rows, 'push_to_available_s'):.2f} s |")
    return "\n".join(lines + ["", MARK_END])


def main(argv=None) -> int:
    p = report.parser(__doc__, model_dir=True)
    p.add_argument("--rounds", type=int, default=5, help="version switches with and without warm-up (default %(default)s)")
    p.add_argument("--doc", default="docs/serving.md")
    args = p.parse_args(argv)
    from serving.local_server import LocalModelServer
    from serving.options import ServerOptions
    from serving.model_store import version_dirs

    versions = version_dirs(args.model_dir)
    if not versions:
        return console.error(f"no model version under {args.model_dir}; run ./imdb run first", 2)
    model = versions[max(versions)]
    result = {"date": datetime.date.today().isoformat(), "cores": os.cpu_count(), "model": model,
              "rounds": args.rounds, "switches": [],
              "command": "./imdb exec python -m benchmarks.warmup_latency " + " ".join(argv or sys.argv[1:])}
    with tempfile.TemporaryDirectory() as scratch:
        base = os.path.join(scratch, serving_contract.MODEL_NAME)
        shutil.copytree(model, os.path.join(base, "1"))
        options = ServerOptions(serving_contract.MODEL_NAME, base, rest_port=0, grpc_port=0, poll_seconds=0.1)
        with LocalModelServer(options) as server, requests.Session() as session:
            for round_ in range(args.rounds):
                for with_warmup in (round_ % 2 == 0, round_ % 2 == 1):
                    row = _switch_and_time(server, base, model, with_warmup, session)
                    print(json.dumps(row), flush=True)
                    result["switches"].append(row)
    report.publish("docs/warmup_benchmark.json", result, args.doc, (MARK_BEGIN, MARK_END), "## Warm-up requests",
                   render(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
