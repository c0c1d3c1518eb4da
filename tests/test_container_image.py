"""The Dockerfile builds the image every component runs in, the pipeline imports inside it, and it
runs as a pod on a Kubernetes node: the single-node cluster of `./imdb kfp-local up`
(kubeflow/cluster/, built from the registries), which loads it as that command does.

Built with podman (no Docker engine here) from a base imported from a Debian 13 debootstrap root,
the way kubeflow/image_build.py builds both images (the GPU one's result: docs/images.md; in CI
its CUDA libraries are checked by tests/test_gpu_libraries.py). Slow (a few minutes), and the
module runs last (tests/conftest.py): the cluster's programs are built while the other tests run.
"""

from __future__ import annotations

import glob
import ipaddress
import json
import os
import shutil
import subprocess
import time
from typing import List, NamedTuple

import pytest

from kubeflow import image_build
from tests import kfp_cluster

pytestmark = pytest.mark.slow
IMAGE = "localhost/imdb-sentiment-tfx:test"


class Built(NamedTuple):
    podman: List[str]  # the command, over the storage that holds IMAGE
    archive: str  # IMAGE as a docker-archive, what the cluster's containerd imports


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Built:
    if shutil.which("podman") is None or os.geteuid() != 0:
        pytest.skip("needs podman and root (the Debian 13 userland of ./imdb has both)")
    root = os.environ.get("IMDB_USERLAND_ROOT")
    if not root or not os.path.isdir(root):
        pytest.skip("IMDB_USERLAND_ROOT (the debootstrap root ./imdb made) is not available")
    storage = tmp_path_factory.mktemp("containers")
    base = image_build.podman_command(str(storage))
    image_build.import_base(base, root)
    build = image_build.build(base, IMAGE, "cpu")
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    # Saved for the cluster before anything mounts it: a check run inside changes its files.
    yield Built(base, image_build.save(base, IMAGE, str(storage)))
    subprocess.run(base + ["image", "unmount", "--all"], capture_output=True)
    shutil.rmtree(storage, ignore_errors=True)  # vfs keeps whole copies: gigabytes


def test_dockerfile_builds_and_the_pipeline_imports_inside(built):
    filesystem = image_build.mount(built.podman, IMAGE)
    assert os.path.isfile(os.path.join(filesystem, "opt/venv/bin/python"))
    assert not os.path.exists(os.path.join(filesystem, "src/tests"))  # .dockerignore keeps tests out
    site_packages = os.path.join(filesystem, "opt/venv/lib/python3.13/site-packages")
    assert not os.path.exists(os.path.join(site_packages, "nvidia"))
    # What runs only: requirements.lock, without the tests' tools (requirements-test.lock).
    assert not [p for p in ("pytest", "_pytest", "playwright") if os.path.exists(os.path.join(site_packages, p))]
    inside = image_build.run_inside(filesystem, image_build.IMPORT_CHECK)
    assert inside.returncode == 0, inside.stderr[-3000:]
    assert "image ok 1.21.0 2.21.0" in inside.stdout


def _pod(name: str, command: list) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"restartPolicy": "Never",
                     "containers": [{"name": "main", "image": IMAGE, "imagePullPolicy": "Never", "command": command,
                                     "resources": {"requests": {"cpu": "100m", "memory": "256Mi"},
                                                   "limits": {"memory": "2Gi"}}}]}}


def _finished(cluster: kfp_cluster.Cluster, name: str, timeout: float = 240) -> dict:
    """The pod once it has ended (Succeeded or Failed), with its log."""
    deadline = time.monotonic() + timeout
    while True:
        pod = json.loads(cluster.kubectl("get", f"pod/{name}", "-o", "json").stdout)
        if pod["status"].get("phase") in ("Succeeded", "Failed"):
            pod["log"] = cluster.kubectl("logs", f"pod/{name}").stdout
            return pod
        assert time.monotonic() < deadline, (pod["status"], cluster.logs("kubelet"))
        time.sleep(2)


def test_the_image_runs_as_a_pod_on_the_local_cluster(built, tmp_path):
    state = str(tmp_path / "cluster")
    with kfp_cluster.running(state, [built.archive]) as cluster:
        [node] = json.loads(cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"]
        assert node["metadata"]["name"] == "imdb-node"
        assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.34.4"
        assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")

        cluster.apply(_pod("image-check", ["python", "-c", image_build.IMPORT_CHECK]))
        pod = _finished(cluster, "image-check")
        assert pod["status"]["phase"] == "Succeeded", pod["log"]
        assert "image ok 1.21.0 2.21.0" in pod["log"]
        assert ipaddress.ip_address(pod["status"]["podIP"]) in ipaddress.ip_network("10.244.0.0/24")
        assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0

        # A failing command is a failed pod with its exit code: what Argo and KFP read.
        cluster.apply(_pod("fails", ["python", "-c", "raise SystemExit(3)"]))
        failed = _finished(cluster, "fails")
        assert failed["status"]["phase"] == "Failed"
        assert failed["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 3

    # Stopped: nothing of it is left running or mounted, and kubelet's cgroups are gone.
    assert state not in open("/proc/mounts").read()
    assert not subprocess.run(["pgrep", "-f", state], capture_output=True).stdout
    cgroups = subprocess.run([kfp_cluster.CLUSTER_SH, "cgroup-root", state], capture_output=True, text=True,
                             check=True).stdout.strip()
    assert cgroups.startswith("imdb-kfp-") and not glob.glob(f"/sys/fs/cgroup/*/{cgroups}")
