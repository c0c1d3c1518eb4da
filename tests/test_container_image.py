"""The Dockerfile builds the image every component runs in, the pipeline imports inside it, and it
runs as a pod on a Kubernetes node, and as Argo Workflows' steps there: the single-node cluster of
`./imdb kfp-local up` (kubeflow/cluster/ and kubeflow/argo/, built from the registries), which loads
it as that command does.

Built with podman (no Docker engine here) from a base imported from a Debian 13 debootstrap root,
the way kubeflow/image_build.py builds both images (the GPU one's result: docs/images.md; in CI
its CUDA libraries are checked by tests/test_gpu_libraries.py). Slow (a few minutes), and the
module runs last (tests/conftest.py): the cluster's and Argo's programs are built while the other
tests run.
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
    # Fails, never skips, where they are missing: run the tests through ./imdb test.
    assert shutil.which("podman") and os.geteuid() == 0, \
        "needs podman and root (the Debian 13 userland of ./imdb has both)"
    root = os.environ.get("IMDB_USERLAND_ROOT")
    assert root and os.path.isdir(root), "IMDB_USERLAND_ROOT (the debootstrap root ./imdb made) is not available"
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


@pytest.fixture(scope="module")
def cluster(built, tmp_path_factory) -> kfp_cluster.Cluster:
    """The cluster with Argo and the image loaded, for the module; checked afterwards to leave no
    process, mount or cgroup behind."""
    state = str(tmp_path_factory.mktemp("kfp-local") / "cluster")
    with kfp_cluster.running(state, [built.archive], argo=True) as running:
        yield running
    # Stopped: nothing of it is left running or mounted, and kubelet's cgroups are gone.
    assert state not in open("/proc/mounts").read()
    assert not subprocess.run(["pgrep", "-f", state], capture_output=True).stdout
    cgroups = subprocess.run([kfp_cluster.CLUSTER_SH, "cgroup-root", state], capture_output=True, text=True,
                             check=True).stdout.strip()
    assert cgroups.startswith("imdb-kfp-") and not glob.glob(f"/sys/fs/cgroup/*/{cgroups}")


def _container(command: list) -> dict:
    return {"image": IMAGE, "imagePullPolicy": "Never", "command": command,
            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "2Gi"}}}


def _pod(name: str, command: list) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "main", **_container(command)}]}}


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


def _log_saying(cluster: kfp_cluster.Cluster, line: str, *where: str, timeout: float = 30) -> str:
    """`kubectl logs WHERE` once it holds LINE: an ended container's log can reach kubelet's file a
    moment after its status (seen once in CI's neighbourhood, under load: an empty log of a pod
    that had Succeeded). Fails with the log as it was if LINE never comes."""
    deadline = time.monotonic() + timeout
    while True:
        log = cluster.kubectl("logs", *where).stdout
        if line in log.splitlines() or time.monotonic() > deadline:
            return log
        time.sleep(1)


def test_the_image_runs_as_a_pod_on_the_local_cluster(cluster):
    [node] = json.loads(cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    assert node["metadata"]["name"] == "imdb-node"
    assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.34.4"
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")

    cluster.apply(_pod("image-check", ["python", "-c", image_build.IMPORT_CHECK]))
    pod = _finished(cluster, "image-check")
    assert pod["status"]["phase"] == "Succeeded", pod["log"]
    assert "image ok 1.21.0 2.21.0" in _log_saying(cluster, "image ok 1.21.0 2.21.0", "pod/image-check").splitlines()
    assert ipaddress.ip_address(pod["status"]["podIP"]) in ipaddress.ip_network("10.244.0.0/24")
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0

    # A failing command is a failed pod with its exit code: what Argo and KFP read.
    cluster.apply(_pod("fails", ["python", "-c", "raise SystemExit(3)"]))
    failed = _finished(cluster, "fails")
    assert failed["status"]["phase"] == "Failed"
    assert failed["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 3


ARGO_NAMESPACE = "kubeflow"  # where cluster.sh installs Argo, as KFP's manifests do


def _workflow(name: str, templates: list, entrypoint: str) -> dict:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
            "metadata": {"name": name, "namespace": ARGO_NAMESPACE},
            "spec": {"entrypoint": entrypoint, "templates": templates}}


def _workflow_ended(cluster: kfp_cluster.Cluster, name: str, timeout: float = 300) -> dict:
    """The Workflow once Argo's controller has ended it, with its pods' main containers' logs by
    node name (the pods' workflows.argoproj.io/node-name annotation)."""
    deadline = time.monotonic() + timeout
    while True:
        workflow = json.loads(cluster.kubectl("get", "-n", ARGO_NAMESPACE, f"workflow/{name}", "-o", "json").stdout)
        if workflow.get("status", {}).get("phase") in ("Succeeded", "Failed", "Error"):
            break
        assert time.monotonic() < deadline, (workflow.get("status"), cluster.kubectl(
            "logs", "-n", ARGO_NAMESPACE, "deploy/workflow-controller", check=False).stdout[-3000:])
        time.sleep(2)
    pods = json.loads(cluster.kubectl("get", "pods", "-n", ARGO_NAMESPACE, "-o", "json",
                                      "-l", f"workflows.argoproj.io/workflow={name}").stdout)["items"]
    workflow["logs"] = {pod["metadata"]["annotations"]["workflows.argoproj.io/node-name"]:
                        cluster.kubectl("logs", "-n", ARGO_NAMESPACE, pod["metadata"]["name"], "-c", "main").stdout
                        for pod in pods}
    return workflow


def test_argo_runs_a_dag_of_the_image_passing_an_output_parameter(cluster):
    # check runs the image's import check and outputs what it printed; report gets that as its input.
    check = {"name": "check", "outputs": {"parameters": [{"name": "said", "valueFrom": {"path": "/tmp/said"}}]},
             "container": _container(["sh", "-c", 'python -c "$0" | tee /tmp/said', image_build.IMPORT_CHECK])}
    report = {"name": "report", "inputs": {"parameters": [{"name": "said"}]},
              "container": _container(["python", "-c", "import sys; print('check said:', sys.argv[1])",
                                       "{{inputs.parameters.said}}"])}
    dag = {"name": "main", "dag": {"tasks": [
        {"name": "check", "template": "check"},
        {"name": "report", "template": "report", "dependencies": ["check"],
         "arguments": {"parameters": [{"name": "said", "value": "{{tasks.check.outputs.parameters.said}}"}]}}]}}
    cluster.apply(_workflow("image-dag", [dag, check, report], "main"))
    workflow = _workflow_ended(cluster, "image-dag")
    assert workflow["status"]["phase"] == "Succeeded", (workflow["status"], workflow["logs"])
    nodes = {node["displayName"]: node for node in workflow["status"]["nodes"].values()}
    assert nodes["check"]["outputs"]["parameters"][0]["value"] == "image ok 1.21.0 2.21.0"
    # The main container's log: the step's output among the executor's own (argo=true) lines.
    assert "check said: image ok 1.21.0 2.21.0" in workflow["logs"]["image-dag.report"].splitlines()


def test_argo_fails_a_workflow_whose_step_exits_nonzero(cluster):
    fails = {"name": "fails", "container": _container(
        ["python", "-c", "print('failing on purpose'); raise SystemExit(3)"])}
    cluster.apply(_workflow("image-fails", [fails], "fails"))
    workflow = _workflow_ended(cluster, "image-fails")
    assert workflow["status"]["phase"] == "Failed", workflow["status"]
    [node] = [node for node in workflow["status"]["nodes"].values() if node["type"] == "Pod"]
    assert node["phase"] == "Failed" and "exit code 3" in node["message"], node
    assert "failing on purpose" in workflow["logs"]["image-fails"].splitlines()
