"""The model server's memory across a long run: resident memory after warm-up and after 100,000 requests.

    ./imdb exec python -m benchmarks.server_memory --model-dir outputs/serving_model/imdb_sentiment

Starts `./imdb serve --local` in a process of its own, reads its resident memory (VmRSS) after
2,000 warm-up requests and again after --requests more (single reviews, one request in 50 with the
most rows a request may hold, REST and gRPC alternately, 8 client threads). Goal: within 10% of
the memory after warm-up. Writes docs/serving.md (between its markers) and docs/server_memory.json.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import os
import sys
import time

from benchmarks import peak_memory, report
from benchmarks.serving_load import reviews
from serving import launch
from serving.limits import RequestLimits

MARK_BEGIN, MARK_END = "<!-- server memory: begin -->", "<!-- server memory: end -->"


def rss_mib(pid: int) -> float:
    return peak_memory.status_mib("VmRSS", pid)


def _send(targets, count: int, worker: int) -> int:
    """COUNT requests, one in 50 with the most rows a request may hold; the errors."""
    from serving.client import SentimentClient

    texts = reviews(64)
    clients = [SentimentClient(t, p) for p, t in targets]
    errors = 0
    for i in range(count):
        client = clients[(i + worker) % len(clients)]
        batch = [texts[(i + j) % 64] for j in range(RequestLimits.max_rows)] if i % 50 == 0 else [texts[i % 64]]
        try:
            client.predict(batch)
        except Exception:
            errors += 1
    for client in clients:
        client.close()
    return errors


def load(targets, total: int, threads: int = 8) -> int:
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return sum(pool.map(lambda worker: _send(targets, total // threads, worker), range(threads)))


def main(argv=None) -> int:
    p = report.parser(__doc__, model_dir=True)
    p.add_argument("--requests", type=int, default=100_000)
    p.add_argument("--doc", default="docs/serving.md")
    args = p.parse_args(argv)
    with launch.start(args.model_dir) as served:
        targets = [("rest", served.rest), ("grpc", served.grpc)]
        started_rss = rss_mib(served.process.pid)
        load(targets, 2000)
        warm = rss_mib(served.process.pid)
        started = time.perf_counter()
        errors = load(targets, args.requests)
        seconds = time.perf_counter() - started
        after = rss_mib(served.process.pid)
    result = {"date": datetime.date.today().isoformat(), "cores": os.cpu_count(), "requests": args.requests,
              "errors": errors, "seconds": seconds, "rss_mib_loaded": started_rss, "rss_mib_after_warmup": warm,
              "rss_mib_after_run": after, "growth": after / warm - 1,
              "command": "./imdb exec python -m benchmarks.server_memory " + " ".join(argv or sys.argv[1:])}
    section = "\n".join([
        MARK_BEGIN, "",
        f"Measured {result['date']} on {result['cores']} cores, command `{result['command']}`: "
        f"{args.requests:,} requests ({errors} errors) in {seconds:.0f} s, one in 50 holding "
        f"{RequestLimits.max_rows:,} reviews, REST and gRPC alternately.", "",
        "| server resident memory | MiB |", "|---|---|",
        f"| model loaded | {started_rss:,.0f} |",
        f"| after 2,000 warm-up requests | {warm:,.0f} |",
        f"| after {args.requests:,} more | {after:,.0f} ({100 * result['growth']:+.1f}%) |", "", MARK_END])
    report.publish("docs/server_memory.json", result, args.doc, (MARK_BEGIN, MARK_END), "## Memory under load", section)
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
