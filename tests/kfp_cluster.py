"""The single-node Kubernetes cluster of `./imdb kfp-local up` (kubeflow/cluster/cluster.sh), started
by a test: its programs, Argo Workflows' and Kubeflow Pipelines', from the builds ./imdb test runs
beside the tests (IMDB_CLUSTER_TOOLS, IMDB_ARGO_TOOLS, IMDB_KFP_TOOLS)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from typing import Iterator, List

from tests import background_builds

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLUSTER_SH = os.path.join(REPO, "kubeflow", "cluster", "cluster.sh")
UP_SECONDS = 300


def _built(name: str, program: str, what: str) -> str:
    """The folder $IMDB_<NAME>_TOOLS once ./imdb test's background build of it has ended."""
    background_builds.wait_for(f"IMDB_{name}_BUILD_DONE", f"IMDB_{name}_BUILD_LOG", f"building {what}")
    folder = os.environ.get(f"IMDB_{name}_TOOLS")
    assert folder and os.path.isfile(os.path.join(folder, program)), \
        f"IMDB_{name}_TOOLS names no built {what}: run the tests through ./imdb test"
    return folder


KFP_API = "http://10.200.0.1:8888"  # the API server, on the node (cluster.sh's NODE_IP)


class Cluster:
    def __init__(self, state: str, tools_dir: str):
        self.state, self.tools = state, tools_dir

    def kubectl(self, *args: str, stdin: str = None, check: bool = True,
                timeout: float = 120) -> subprocess.CompletedProcess:
        done = subprocess.run([CLUSTER_SH, "kubectl", self.state, *args], input=stdin, capture_output=True,
                              text=True, timeout=timeout, env={**os.environ, "TOOLS": self.tools})
        assert not check or done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr[-2000:]}"
        return done

    def apply(self, manifest: dict) -> None:
        self.kubectl("apply", "-f", "-", stdin=json.dumps(manifest))

    def inside(self, *command: str) -> List[str]:
        """COMMAND in the cluster's network namespace, where the node's services and pods are."""
        return ["nsenter", f"--net={self.state}/netns", "--", *command]

    def logs(self, name: str) -> str:
        return "\n".join(open(os.path.join(self.state, "logs", f)).read()[-3000:]
                         for f in sorted(os.listdir(os.path.join(self.state, "logs"))) if name in f)


@contextlib.contextmanager
def running(state: str, images: List[str], argo: bool = False, kfp: bool = False,
            gcs_seed: str = None) -> Iterator[Cluster]:
    """cluster.sh serve (with Argo Workflows if ARGO, and Kubeflow Pipelines with Cloud Storage
    holding GCS_SEED if KFP) until the cluster is ready; stopped (SIGTERM, as Ctrl-C would) afterwards."""
    tools_dir = _built("CLUSTER", "kube-apiserver", "the cluster's programs")
    argo_args = ["--argo", _built("ARGO", "argoexec", "Argo Workflows")] if argo or kfp else []
    if kfp:
        argo_args += ["--kfp", _built("KFP", "apiserver", "Kubeflow Pipelines' programs"),
                      *(["--gcs-seed", gcs_seed] if gcs_seed else [])]
    log = open(os.path.join(os.path.dirname(state), "serve.log"), "w")
    serve = subprocess.Popen([CLUSTER_SH, "serve", state, tools_dir, *argo_args, *images], stdout=log,
                             stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + UP_SECONDS
        while not os.path.exists(os.path.join(state, "ready")):
            assert serve.poll() is None, f"cluster.sh serve exited {serve.returncode}: {open(log.name).read()[-3000:]}"
            assert time.monotonic() < deadline, f"the cluster was not ready in {UP_SECONDS} s: {open(log.name).read()}"
            time.sleep(1)
        yield Cluster(state, tools_dir)
    finally:
        serve.send_signal(signal.SIGTERM)
        try:
            serve.wait(timeout=90)
        finally:
            serve.kill()
            log.close()
    assert serve.returncode == 0, open(log.name).read()[-8000:]
