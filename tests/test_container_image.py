"""The Dockerfile builds the image every component runs in, and the pipeline imports inside it.

Built with podman (no Docker engine here) from a base imported from a Debian 13 debootstrap root,
the way kubeflow/image_build.py builds both images (the GPU one's result: docs/images.md; in CI
its CUDA libraries are checked by tests/test_gpu_libraries.py). Slow (a few minutes).
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from kubeflow import image_build

pytestmark = pytest.mark.slow
IMAGE = "localhost/imdb-sentiment-tfx:test"


@pytest.fixture
def podman(tmp_path):
    if shutil.which("podman") is None or os.geteuid() != 0:
        pytest.skip("needs podman and root (the Debian 13 userland of ./imdb has both)")
    storage = tmp_path / "containers"
    base = image_build.podman_command(str(storage))
    yield base
    subprocess.run(base + ["image", "unmount", "--all"], capture_output=True)
    shutil.rmtree(storage, ignore_errors=True)  # vfs keeps whole copies: gigabytes


def test_dockerfile_builds_and_the_pipeline_imports_inside(podman):
    root = os.environ.get("IMDB_USERLAND_ROOT")
    if not root or not os.path.isdir(root):
        pytest.skip("IMDB_USERLAND_ROOT (the debootstrap root ./imdb made) is not available")
    image_build.import_base(podman, root)
    build = image_build.build(podman, IMAGE, "cpu")
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]

    filesystem = image_build.mount(podman, IMAGE)
    assert os.path.isfile(os.path.join(filesystem, "opt/venv/bin/python"))
    assert not os.path.exists(os.path.join(filesystem, "src/tests"))  # .dockerignore keeps tests out
    site_packages = os.path.join(filesystem, "opt/venv/lib/python3.13/site-packages")
    assert not os.path.exists(os.path.join(site_packages, "nvidia"))
    # What runs only: requirements.lock, without the tests' tools (requirements-test.lock).
    assert not [p for p in ("pytest", "_pytest", "playwright") if os.path.exists(os.path.join(site_packages, p))]
    inside = image_build.run_inside(filesystem, image_build.IMPORT_CHECK)
    assert inside.returncode == 0, inside.stderr[-3000:]
    assert "image ok 1.21.0 2.21.0" in inside.stdout
