#!/bin/sh
# The one install recipe: the Dockerfile and the local set-up both run it, so the image and a
# developer's environment cannot drift apart.
#
#   env/install.sh VENV_DIR             system packages (when root with apt), then the locked
#                                       Python dependencies into a new virtual environment
#   env/install.sh --no-system VENV_DIR the same without touching system packages (plain hosts)
#
# Python dependencies come only from requirements.lock (every package pinned).
set -eu

system=1
if [ "${1:-}" = "--no-system" ]; then system=0; shift; fi
venv=${1:?usage: env/install.sh [--no-system] VENV_DIR}
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
