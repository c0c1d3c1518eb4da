"""Latency and throughput of the served model over REST and gRPC, beside the in-process call.

    ./imdb exec python -m benchmarks.serving_latency --model-dir outputs/serving_model/imdb_sentiment

Starts `./imdb serve --local` in a process of its own on free loopback ports, then measures, on
the same machine in the same run: p50/p99 latency of single-review requests (one client), the
throughput at 1, 8 and 32 concurrent clients (each sending single-review requests; the server
batches them), and the errors in a 10,000-request run at 32 clients, for both protocols; and the
in-process signature call at batch 1 (latency) and batch 32 (throughput). Clients run in
several processes so the load generator's GIL is not the bottleneck. Writes
docs/serving_benchmark.json and docs/serving_benchmark.md.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import json
import os
import random
import sys
import time

import numpy as np

from common import atomic_files, paths, serving_contract
from serving import launch

WORDS = ("the film movie story acting plot characters great good bad boring wonderful terrible "
         "performance director scenes script funny beautiful worst best music ending not really "
         "very loved hated watch again never enjoyed waste time brilliant dull cast").split()


def reviews(count: int = 64, words: int = 230) -> list:
    """Reviews of the IMDB average length (about 230 words), deterministic."""
    rng = random.Random(0)
    return [" ".join(rng.choice(WORDS) for _ in range(words)) + "." for _ in range(count)]


def _percentiles(seconds) -> dict:
    ms = np.array(seconds) * 1000
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)), "n": len(ms)}


def in_process(model_dir: str, batch_latency_calls: int, throughput_seconds: float) -> dict:
    import tensorflow as tf

    from serving.model_store import version_dirs

    path = version_dirs(model_dir)[max(version_dirs(model_dir))]
    fn = tf.saved_model.load(path).signatures[serving_contract.SERVING_SIGNATURE]
    texts = reviews()
    for _ in range(20):
        fn(reviews=tf.constant(texts[:1]))
        fn(reviews=tf.constant(texts[:32]))
    latencies = []
    for i in range(batch_latency_calls):
        started = time.perf_counter()
        fn(reviews=tf.constant([texts[i % len(texts)]]))
        latencies.append(time.perf_counter() - started)
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < throughput_seconds:
        fn(reviews=tf.constant(texts[:32]))
        done += 32
    return {"batch1": _percentiles(latencies), "batch32_reviews_per_second": done / (time.perf_counter() - started)}


def _split(total: int, parts: int) -> list:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _client_worker(protocol: str, target: str, threads: int, requests: int, per_request: int) -> dict:
    """One load-generating process: THREADS clients sharing REQUESTS requests of PER_REQUEST reviews."""
    from serving.client import SentimentClient

    texts = reviews()

    def one_client(seed, count):
        latencies, errors = [], []
        with SentimentClient(target, protocol) as client:
            for i in range(count):
                started = time.perf_counter()
                try:
                    first = (seed + i) % len(texts)
                    client.predict((texts + texts)[first:first + per_request])
                    latencies.append(time.perf_counter() - started)
                except Exception as error:
                    errors.append(repr(error)[:200])
        return latencies, errors

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        parts = list(pool.map(one_client, range(threads), _split(requests, threads)))
    return {"latencies": [x for p in parts for x in p[0]], "errors": [x for p in parts for x in p[1]]}


def load(protocol: str, target: str, clients: int, total_requests: int, per_request: int = 1) -> dict:
    processes = min(clients, 4)
    threads = _split(clients, processes)
    requests = [sum(_split(total_requests, clients)[sum(threads[:i]):sum(threads[:i + 1])]) for i in range(processes)]
    started = time.perf_counter()
    with concurrent.futures.ProcessPoolExecutor(processes) as pool:
        parts = list(pool.map(_client_worker, [protocol] * processes, [target] * processes, threads,
                              requests, [per_request] * processes))
    wall = time.perf_counter() - started
    latencies = [x for p in parts for x in p["latencies"]]
    errors = [x for p in parts for x in p["errors"]]
    requests = len(latencies) + len(errors)
    return {"clients": clients, "reviews_per_request": per_request, "requests": requests, "errors": len(errors),
            "error_examples": errors[:3], "requests_per_second": requests / wall,
            "reviews_per_second": requests * per_request / wall,
            **_percentiles(latencies)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", default=serving_contract.local_base_path(paths.output_dir()),
                   help="the model's base path (default %(default)s)")
    p.add_argument("--requests", type=int, default=2000, help="requests per throughput point (default %(default)s)")
    p.add_argument("--long-run", type=int, default=10_000, help="requests of the error-count run at 32 clients")
    p.add_argument("--out", default="docs/serving_benchmark")
    args = p.parse_args(argv)
    from serving.model_store import version_dirs

    if not version_dirs(args.model_dir):
        print(f"error: no model version under {args.model_dir}; run ./imdb run first", file=sys.stderr)
        return 2
    result = {"date": datetime.date.today().isoformat(),
              "command": "./imdb exec python -m benchmarks.serving_latency " + " ".join(argv or sys.argv[1:]),
              "model_dir": args.model_dir, "cores": os.cpu_count()}
    print("in-process signature calls ...", flush=True)
    result["in_process"] = in_process(args.model_dir, 500, 10)
    served = launch.start(args.model_dir)
    try:
        targets = {"rest": served.rest, "grpc": served.grpc}
        for protocol, target in targets.items():
            print(f"{protocol}: warm-up, latency, throughput at 1/8/32 clients ...", flush=True)
            load(protocol, target, 4, 200)
            entry = {"latency_1_client": load(protocol, target, 1, 500)}
            entry["throughput"] = [load(protocol, target, c, args.requests) for c in (1, 8, 32)]
            entry["batched_requests"] = load(protocol, target, 8, args.requests // 8, per_request=32)
            entry["long_run_32_clients"] = load(protocol, target, 32, args.long_run)
            result[protocol] = entry
    finally:
        served.stop()
    write(result, args.out)
    print(open(args.out + ".md").read())
    return 0


def write(result: dict, out: str) -> None:
    base = result["in_process"]
    lines = [
        "# Serving benchmark", "",
        f"Measured {result['date']} on {result['cores']} CPU cores, no GPU; server and clients on the same "
        f"machine (loopback). Command: `{result['command']}`. Model: `{result['model_dir']}` (newest version).", "",
        "| | p50 latency, batch 1 | p99 | throughput at 1 / 8 / 32 clients (reviews/s) "
        "| 32 clients vs in-process batch 32 | 8 clients sending 32 reviews per request (reviews/s) "
        "| errors in the long run |",
        "|---|---|---|---|---|---|---|",
        f"| in-process signature call | {base['batch1']['p50_ms']:.2f} ms | {base['batch1']['p99_ms']:.2f} ms "
        f"| batch 32: {base['batch32_reviews_per_second']:.0f} | 1.00x "
        f"| {base['batch32_reviews_per_second']:.0f} (1.00x) | n/a |",
    ]
    for protocol in ("rest", "grpc"):
        e = result[protocol]
        t = e["throughput"]
        lines.append(
            f"| {protocol.upper()} (this project's server) | {e['latency_1_client']['p50_ms']:.2f} ms "
            f"| {e['latency_1_client']['p99_ms']:.2f} ms | {' / '.join('%.0f' % x['requests_per_second'] for x in t)} "
            f"| {t[-1]['requests_per_second'] / base['batch32_reviews_per_second']:.2f}x "
            f"| {e['batched_requests']['reviews_per_second']:.0f} "
            f"({e['batched_requests']['reviews_per_second'] / base['batch32_reviews_per_second']:.2f}x) "
            f"| {e['long_run_32_clients']['errors']} of {e['long_run_32_clients']['requests']:,} |")
    atomic_files.write_text(out + ".json", json.dumps(result, indent=1))
    atomic_files.write_text(out + ".md", "\n".join(lines) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
