#!/bin/sh
# The one install recipe: the Dockerfile and the local set-up both run it, so the image and a
# developer's environment cannot drift apart.
#
#   env/install.sh VENV_DIR             system packages (when root with apt), then the locked
#                                       Python dependencies into a new virtual environment
#   env/install.sh --no-system VENV_DIR the same without touching system packages (plain hosts)
#   env/install.sh --gpu VENV_DIR       also the CUDA libraries TensorFlow uses on a GPU
#                                       (requirements-gpu.lock; the GPU image)
#
# Python dependencies come only from the lock files (every package pinned).
set -eu

system=1
gpu=0
while [ $# -gt 1 ]; do
    case "$1" in
        --no-system) system=0 ;;
        --gpu) gpu=1 ;;
        *) echo "usage: env/install.sh [--no-system] [--gpu] VENV_DIR" >&2; exit 2 ;;
    esac
    shift
done
venv=${1:?usage: env/install.sh [--no-system] [--gpu] VENV_DIR}
here=$(cd "$(dirname "$0")" && pwd)

if [ "$system" = 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    packages=$(grep -v '^#' "$here/system-packages.txt" | tr '\n' ' ')
    # shellcheck disable=SC2086
    if ! dpkg-query -W $packages >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $packages
        rm -rf /var/lib/apt/lists/*
    fi
fi

python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --no-cache-dir --progress-bar off \
    -r "$here/../requirements.lock"
if [ "$gpu" = 1 ]; then
    # --no-deps: the CUDA wheels' own dependencies are each other, all pinned in the lock.
    "$venv/bin/python" -m pip install --quiet --no-cache-dir --progress-bar off --no-deps \
        -r "$here/../requirements-gpu.lock"
fi
