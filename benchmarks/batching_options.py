"""The server's batching options under load: where one process' REST latency tail comes from.

    ./imdb exec python -m benchmarks.batching_options --model-dir M [--seconds 15]

For each set of `./imdb serve` options below, starts the server and measures with wrk and ghz (the
functions of benchmarks/serving_load.py) at 32 connections: single-review REST, 32-review REST and
single-review gRPC requests. Prints one line per point (docs/serving.md quotes them). Needs
IMDB_GHZ (the ghz binary; `./imdb benchmark-serving` builds it).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile

from benchmarks import serving_load
from common import serving_contract
from serving import launch

OPTION_SETS = ([], ["--num-batch-threads", "1"], ["--max-batch-size", "8"], ["--no-batching"])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", required=True, help="the model's base path")
    p.add_argument("--seconds", type=int, default=15)
    args = p.parse_args(argv)
    ghz, wrk = serving_load.executable("ghz", os.environ.get("IMDB_GHZ", "")), serving_load.executable("wrk")
    with tempfile.TemporaryDirectory() as scratch:
        bodies, script, protoset = serving_load.request_files(scratch, serving_load.reviews(32))
        for options in OPTION_SETS:
            with launch.start(args.model_dir, options) as served:
                url = f"http://{served.rest}/v1/models/{serving_contract.MODEL_NAME}:predict"
                serving_load.rest_point(wrk, url, bodies[1][0], script, 8, 3)  # warm-up
                points = {
                    "REST, 1 review": serving_load.rest_point(wrk, url, bodies[1][0], script, 32, args.seconds),
                    "REST, 32 reviews": serving_load.rest_point(wrk, url, bodies[32][0], script, 32, args.seconds),
                    "gRPC, 1 review": serving_load.grpc_point(ghz, served.grpc, protoset, bodies[1][1], 32,
                                                              args.seconds),
                }
            for name, point in points.items():
                shown = {k: round(v, 1) for k, v in point.items() if isinstance(v, (int, float))}
                print(json.dumps({"options": " ".join(options) or "defaults", "point": name,
                                  "connections": 32, **shown}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
