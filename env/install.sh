#!/bin/sh
# The one install recipe: the Dockerfile and the local set-up both run it, so the image and a
# developer's environment cannot drift apart.
#
#   env/install.sh VENV_DIR             system packages (when root with apt: env/system-packages.txt
#                                       and env/build-packages.txt), then the locked
#                                       Python dependencies of what runs (requirements.lock)
#   env/install.sh --test VENV_DIR      those and the tests' (requirements-test.lock): the local
#                                       environment and CI
#   env/install.sh --no-system ...      without touching system packages (plain hosts)
#   env/install.sh --gpu VENV_DIR       also the CUDA libraries TensorFlow uses on a GPU
#                                       (requirements-gpu.lock; the GPU image)
#
# Every Python package comes from a lock file, pinned and checked against its hashes: uv (itself
# pinned with its hashes in env/uv.lock, installed by pip) installs them with --require-hashes.
set -eu

system=1
gpu=0
lock=requirements.lock
while [ $# -gt 1 ]; do
    case "$1" in
        --no-system) system=0 ;;
        --gpu) gpu=1 ;;
        --test) lock=requirements-test.lock ;;
        *) echo "usage: env/install.sh [--no-system] [--test] [--gpu] VENV_DIR" >&2; exit 2 ;;
    esac
    shift
done
venv=${1:?usage: env/install.sh [--no-system] [--test] [--gpu] VENV_DIR}
here=$(cd "$(dirname "$0")" && pwd)

if [ "$system" = 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    packages=$(cat "$here/system-packages.txt" "$here/build-packages.txt" | grep -v '^#' | tr '\n' ' ')
    # shellcheck disable=SC2086
    if ! dpkg-query -W $packages >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $packages
        rm -rf /var/lib/apt/lists/*
    fi
fi

python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --no-cache-dir --progress-bar off --require-hashes -r "$here/uv.lock"
# --system-certs: uv trusts the system's certificate store, as pip and TensorFlow do (uv's own
# built-in roots would refuse a network whose proxy's authority the system was told to trust).
# --compile-bytecode: uv writes no .pyc by default, and nothing writes them later where the venv is
# read-only (the image's user 1000) or PYTHONDONTWRITEBYTECODE is set (these machines): every process
# would then compile TensorFlow, TFX and Beam from source, 37 s instead of 15 s to import them here.
# SOURCE_DATE_EPOCH makes them checked-hash .pyc (py_compile's default when it is set): valid by the
# source's content, not its mtime, which an image's layers round to the second (half the files).
uv() { SOURCE_DATE_EPOCH=315532800 "$venv/bin/uv" pip install --quiet --system-certs --compile-bytecode \
    --python "$venv/bin/python" --require-hashes "$@"; }
uv -r "$here/../$lock"
if [ "$gpu" = 1 ]; then
    # --no-deps: the CUDA wheels' own dependencies are each other, all pinned in the lock.
    uv --no-deps -r "$here/../requirements-gpu.lock"
fi
