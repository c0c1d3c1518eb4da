#!/usr/bin/env python
"""A Beam SDK harness for a Flink TaskManager: the command of the PROCESS environment that
pipeline/beam_runners.py names for a Flink session cluster.

Not LOOPBACK (harnesses in the submitting process): Beam's Flink runner numbers a TaskManager's
workers from 1 in every TaskManager JVM, so two TaskManagers start harnesses under the same id, and
Beam's worker pool, which keys its harnesses by id, stops one TaskManager's when the other's stage
ends ("Stream is already completed"). A process per harness has no shared pool. The TaskManager
starts it as Beam's container contract says (sdks/python/container/boot.go): a worker id and the
provision service, which names the control endpoint. Nothing else is taken from it: the pipeline's
code is this checkout's, the harness' settings Beam's defaults, as in Beam's own process workers
(worker_pool_main.py).
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the project's packages

import grpc  # noqa: E402
from apache_beam.portability.api import beam_provision_api_pb2, beam_provision_api_pb2_grpc  # noqa: E402
from apache_beam.runners.worker.sdk_worker import SdkHarness  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--id", required=True)
    p.add_argument("--provision_endpoint", required=True)
    args, _ = p.parse_known_args()
    with grpc.insecure_channel(args.provision_endpoint) as channel:
        info = beam_provision_api_pb2_grpc.ProvisionServiceStub(channel).GetProvisionInfo(
            beam_provision_api_pb2.GetProvisionInfoRequest(), metadata=[("worker_id", args.id)]).info
    SdkHarness(info.control_endpoint.url, worker_id=args.id).run()


if __name__ == "__main__":
    main()
