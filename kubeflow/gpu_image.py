"""What the GPU image must hold, checked without a GPU: TensorFlow built for CUDA, and the CUDA
libraries it loads present, loadable and at the versions it was built for.

    python -m kubeflow.gpu_image [--libraries SITE_PACKAGES_DIR]

Without a GPU nothing can be run on one, but everything TensorFlow needs before it talks to the
driver can be: `tf.sysconfig.get_build_info()` says which CUDA and cuDNN it was built with, and
each library answers its own version through a call that needs no driver (cudaRuntimeGetVersion,
cublasGetProperty, cudnnGetVersion). A library missing, unloadable or of another major/minor
release than the build's would make TensorFlow fall back to the CPU on a GPU node, silently.
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import os
import sysconfig
from typing import Dict, List, Optional

from common import console

# The shared libraries TensorFlow 2.21 dlopens for the GPU (tsl/platform/default/dso_loader.cc), where
# its CUDA wheels put them under site-packages, each after its dependencies (loaded RTLD_GLOBAL).
LIBRARIES = {
    "libcudart.so.12": "nvidia/cuda_runtime/lib",
    "libnvJitLink.so.12": "nvidia/nvjitlink/lib",  # needed by cuSPARSE and cuSOLVER
    "libcublasLt.so.12": "nvidia/cublas/lib",
    "libcublas.so.12": "nvidia/cublas/lib",
    "libcufft.so.11": "nvidia/cufft/lib",
    "libcusparse.so.12": "nvidia/cusparse/lib",
    "libcusolver.so.11": "nvidia/cusolver/lib",
    "libcudnn.so.9": "nvidia/cudnn/lib",
    "libnccl.so.2": "nvidia/nccl/lib",
}


class GpuImageError(RuntimeError):
    pass


def build_info() -> Dict[str, str]:
    import tensorflow as tf

    if not tf.test.is_built_with_cuda():
        raise GpuImageError("this TensorFlow is not built with CUDA")
    info = tf.sysconfig.get_build_info()
    return {"cuda_version": info["cuda_version"], "cudnn_version": info["cudnn_version"],
            "compute_capabilities": ",".join(info.get("cuda_compute_capabilities", []))}


def _load_all(site_packages: str) -> Dict[str, ctypes.CDLL]:
    loaded, missing = {}, []
    for name, folder in LIBRARIES.items():
        path = os.path.join(site_packages, folder, name)
        if not os.path.exists(path):
            missing.append(path)
            continue
        try:
            loaded[name] = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
        except OSError as error:
            raise GpuImageError(f"{path} does not load: {error}") from error
    if missing:
        raise GpuImageError("missing: " + ", ".join(missing))
    return loaded


def library_versions(site_packages: str) -> Dict[str, str]:
    """The versions the CUDA runtime, cuBLAS and cuDNN report (no GPU or driver needed)."""
    libraries = _load_all(site_packages)
    runtime = ctypes.c_int()
    if libraries["libcudart.so.12"].cudaRuntimeGetVersion(ctypes.byref(runtime)) != 0:
        raise GpuImageError("cudaRuntimeGetVersion failed")
    cublas = []
    for kind in range(3):  # MAJOR_VERSION, MINOR_VERSION, PATCH_LEVEL
        value = ctypes.c_int()
        if libraries["libcublas.so.12"].cublasGetProperty(kind, ctypes.byref(value)) != 0:
            raise GpuImageError("cublasGetProperty failed")
        cublas.append(value.value)
    cudnn_get_version = libraries["libcudnn.so.9"].cudnnGetVersion
    cudnn_get_version.restype = ctypes.c_size_t
    cudnn = cudnn_get_version()
    return {"cuda_runtime": f"{runtime.value // 1000}.{runtime.value % 1000 // 10}",
            "cublas": ".".join(map(str, cublas)),
            "cudnn": f"{cudnn // 10000}.{cudnn % 10000 // 100}.{cudnn % 100}"}


def check(site_packages: str) -> List[str]:
    """Runs every check; returns the report lines, raises GpuImageError on the first failure."""
    built = build_info()
    found = library_versions(site_packages)
    cuda_major_minor = ".".join(built["cuda_version"].split(".")[:2])
    if found["cuda_runtime"] != cuda_major_minor:
        raise GpuImageError(f"CUDA runtime {found['cuda_runtime']}, TensorFlow was built with {built['cuda_version']}")
    if found["cublas"].split(".")[:2] != cuda_major_minor.split("."):
        raise GpuImageError(f"cuBLAS {found['cublas']} is not of CUDA {cuda_major_minor}")
    if found["cudnn"].split(".")[0] != built["cudnn_version"].split(".")[0]:
        raise GpuImageError(f"cuDNN {found['cudnn']}, TensorFlow was built with cuDNN {built['cudnn_version']}")
    return [f"TensorFlow built with CUDA {built['cuda_version']}, cuDNN {built['cudnn_version']} "
            f"(compute capabilities {built['compute_capabilities']})",
            f"loaded from {site_packages}: {', '.join(LIBRARIES)}",
            f"CUDA runtime {found['cuda_runtime']}, cuBLAS {found['cublas']}, cuDNN {found['cudnn']}: as built"]


def default_site_packages() -> str:
    return sysconfig.get_paths()["purelib"]


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--libraries", default=default_site_packages(),
                   help="the site-packages holding TensorFlow's CUDA wheels (default: this environment's)")
    args = p.parse_args(argv)
    if not glob.glob(os.path.join(args.libraries, "nvidia", "*")):
        return console.error(f"no CUDA wheels (nvidia/*) under {args.libraries}: not a GPU image", 1)
    try:
        for line in check(args.libraries):
            print(line)
    except GpuImageError as error:
        return console.error(error, 1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
