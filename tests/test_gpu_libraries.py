"""The GPU image's CUDA libraries, checked without a GPU (kubeflow/gpu_image.py): requirements-gpu.lock
installed as env/install.sh --gpu does (pip, --no-deps) into a scratch folder beside this environment's
TensorFlow, then the image's own check on it: TensorFlow built with CUDA, and the CUDA libraries it
loads present, loadable and at its build's versions. (kubeflow/build_images.sh builds the whole image.)"""

from __future__ import annotations

import importlib.metadata
import pathlib
import subprocess
import sys

import pytest

from commands import python
from kubeflow import gpu_image

pytestmark = pytest.mark.slow
LOCK = pathlib.Path(__file__).resolve().parent.parent / "requirements-gpu.lock"


@pytest.fixture(scope="module")
def gpu_libraries(tmp_path_factory) -> str:
    target = tmp_path_factory.mktemp("gpu-site-packages")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-cache-dir", "--progress-bar", "off",
                    "--no-deps", "--target", str(target), "-r", str(LOCK)], check=True, timeout=1200)
    return str(target)


def test_every_cuda_wheel_tensorflow_asks_for_is_pinned():
    wanted = {r.split(";")[0].split("<")[0].split(">")[0].strip()
              for r in importlib.metadata.requires("tensorflow") if 'extra == "and-cuda"' in r}
    pinned = {line.split("==")[0] for line in LOCK.read_text().splitlines() if "==" in line}
    assert wanted and wanted == pinned


def _check(libraries: str) -> subprocess.CompletedProcess:
    """The image's own check, in a process of its own (the libraries stay out of this one)."""
    return python("-m", "kubeflow.gpu_image", "--libraries", libraries)


def test_the_locked_libraries_load_at_the_versions_tensorflow_was_built_with(gpu_libraries):
    result = _check(gpu_libraries)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("TensorFlow built with CUDA 12.5")
    assert lines[-1] == "CUDA runtime 12.5, cuBLAS 12.5.3, cuDNN 9.3.0: as built"


def test_the_check_fails_when_a_library_is_missing(gpu_libraries, tmp_path):
    (tmp_path / "nvidia").mkdir()
    for package in pathlib.Path(gpu_libraries, "nvidia").iterdir():
        if package.name != "cudnn":
            (tmp_path / "nvidia" / package.name).symlink_to(package)
    result = _check(str(tmp_path))
    assert result.returncode == 1 and "missing: " in result.stderr and "libcudnn.so.9" in result.stderr


def test_the_cpu_environment_is_not_taken_for_a_gpu_image():
    result = _check(gpu_image.default_site_packages())
    assert result.returncode == 1 and "no CUDA wheels" in result.stderr
