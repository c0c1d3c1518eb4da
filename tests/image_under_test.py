"""The image tests/test_container_image.py runs: the Dockerfile's CPU variant, built by podman as
kubeflow/image_build.py builds it, into podman storage of its own, and saved there as the
docker-archive the local cluster's containerd imports.

`./imdb test` builds it in the background while the other tests run (python -m tests.image_under_test
STORAGE; the module that needs it runs last, tests/conftest.py): most of a build is copying and
writing gigabytes, which overlaps the tests' computing; in the module's own time it took six minutes.
"""

from __future__ import annotations

import os
import sys
from typing import List, NamedTuple

from kubeflow import image_build

TAG = "localhost/imdb-sentiment-tfx:test"
STORAGE_ENV = "IMDB_IMAGE_STORAGE"  # where ./imdb test builds it; with IMDB_IMAGE_BUILD_DONE and _LOG


class Built(NamedTuple):
    podman: List[str]  # the command, over the storage that holds TAG
    archive: str  # TAG as a docker-archive, what the cluster's containerd imports


def saved(storage: str) -> Built:
    """What a build into STORAGE left; fails if it left no archive."""
    podman = image_build.podman_command(storage)
    archive = image_build.archive_path(storage, TAG)
    assert os.path.isfile(archive), f"no image archive at {archive}: the build into {storage} did not finish"
    return Built(podman, archive)


def build(storage: str) -> Built:
    """TAG built into STORAGE and saved there before anything mounts it (a check run inside changes
    its files). Raises RuntimeError with the end of podman's output if the build fails."""
    root = os.environ.get("IMDB_USERLAND_ROOT")
    if not root or not os.path.isdir(root):
        raise RuntimeError("IMDB_USERLAND_ROOT (the debootstrap root ./imdb made) is not available: "
                           "run it through ./imdb exec or ./imdb test")
    podman = image_build.podman_command(storage)
    image_build.import_base(podman, root)
    result = image_build.build(podman, TAG, "cpu")
    if result.returncode != 0:
        raise RuntimeError(f"podman build {TAG} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    image_build.save(podman, TAG, storage)
    return saved(storage)


if __name__ == "__main__":
    print(build(sys.argv[1]).archive)
