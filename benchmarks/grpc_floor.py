"""What grpcio's thread-pool server costs with nothing behind it: the floor under Predict.

    IMDB_GHZ=... ./imdb exec python -m benchmarks.grpc_floor --model-dir M [--seconds 10]

Starts the project's server on the model at M and drives ModelService.GetModelStatus (no model
call, no batching: a status read) with ghz at 1 and 32 connections. docs/serving.md quotes it.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile

from benchmarks import serving_load
from common import serving_contract
from serving import launch

METHOD = "tensorflow.serving.ModelService.GetModelStatus"


def main(argv=None) -> int:
    from tensorflow_serving.apis import get_model_status_pb2

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", required=True, help="the model's base path")
    p.add_argument("--seconds", type=int, default=10)
    args = p.parse_args(argv)
    ghz = serving_load.executable("ghz", os.environ.get("IMDB_GHZ", ""))
    with tempfile.TemporaryDirectory() as scratch:
        protoset, request_file = os.path.join(scratch, "status.protoset"), os.path.join(scratch, "status.bin")
        serving_load.write_protoset(protoset, METHOD, get_model_status_pb2,
                                    "GetModelStatusRequest", "GetModelStatusResponse")
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = serving_contract.MODEL_NAME
        with open(request_file, "wb") as f:
            f.write(request.SerializeToString())
        with launch.start(args.model_dir) as served:
            for connections in (1, 32):
                report = serving_load.ghz_report(ghz, served.grpc, protoset, request_file, connections, args.seconds,
                                                 METHOD)
                percentiles = {p["percentage"]: p["latency"] / 1e6 for p in report["latencyDistribution"]}
                print(json.dumps({"method": "GetModelStatus", "connections": connections,
                                  "requests_per_second": round(report["rps"]), "p50_ms": round(percentiles[50], 2),
                                  "p99_ms": round(percentiles[99], 2),
                                  "status_codes": report.get("statusCodeDistribution")}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
