#!/usr/bin/env bash
# What only the host can check: how ./imdb's environment wrapper (env/environment.sh) treats
# mounts and signals. `./imdb test` runs it before the Python tests (which run inside).
#   1. a tmpfs mounted below a host directory is seen, and written, from inside;
#   2. killing ./imdb (SIGKILL or SIGTERM), or Ctrl-C at its terminal, takes down what it started
#      inside; the wrapper's pid, which `serve --pid-file` writes, is passed in as IMDB_HOST_PID.
set -euo pipefail
cd "$(dirname "$0")/../.."
source env/environment.sh

if [ "$(env_mode)" != userland ]; then
    echo "host checks: skipped (this host runs the environment without a wrapper: $(env_mode))"
    exit 0
fi
[ "$(id -u)" = 0 ] || { echo "host checks: skipped (mounting a tmpfs needs root)"; exit 0; }

scratch=$(mktemp -d /tmp/imdb-host-check.XXXXXX)
cleanup() { umount "$scratch/mnt" 2>/dev/null || true; rm -rf "$scratch"; }
trap cleanup EXIT
fail() { echo "host check FAILED: $*" >&2; exit 1; }

# Host pids of the processes whose command line is exactly "$*".
running() {
    local pid
    for pid in /proc/[0-9]*; do
        [ "$(tr '\0' ' ' 2>/dev/null < "$pid/cmdline")" = "$* " ] && echo "${pid#/proc/}"
    done
    return 0
}

mkdir "$scratch/mnt"
mount -t tmpfs -o size=1m imdb-check "$scratch/mnt"
echo "from the host $$" > "$scratch/mnt/token"
inside=$(./imdb exec cat "$scratch/mnt/token")
[ "$inside" = "from the host $$" ] || fail "a tmpfs below /tmp is not seen inside (read '$inside')"
./imdb exec sh -c "echo from inside > '$scratch/mnt/written'"
[ "$(cat "$scratch/mnt/written")" = "from inside" ] || fail "a file written inside did not reach the host's tmpfs"
echo "host check passed: a tmpfs mounted below a host directory is read and written from inside"

for signal in KILL TERM; do
    marker=$((RANDOM + 100000))
    ./imdb exec sh -c 'echo "$IMDB_HOST_PID" > "$0"; exec sleep "$1"' "$scratch/host-pid" "$marker" &
    wrapper=$!
    for _ in $(seq 100); do [ -n "$(running sleep "$marker")" ] && break; sleep 0.1; done
    [ -n "$(running sleep "$marker")" ] || fail "the command never started inside"
    # What `serve --pid-file` writes: the process to signal from outside is the wrapper.
    [ "$(cat "$scratch/host-pid")" = "$wrapper" ] || fail "IMDB_HOST_PID inside is not the wrapper's pid $wrapper"
    kill -s "$signal" "$wrapper"
    wait "$wrapper" 2>/dev/null || true
    for _ in $(seq 50); do [ -z "$(running sleep "$marker")" ] && break; sleep 0.1; done
    left=$(running sleep "$marker")
    [ -z "$left" ] || { kill -9 $left; fail "SIG$signal of ./imdb left its command running (pid $left)"; }
    echo "host check passed: SIG$signal of ./imdb takes down what it started"
done

# Ctrl-C at a terminal: the terminal's SIGINT must reach what ./imdb started (a pseudo-terminal here).
marker=$((RANDOM + 100000))
python3 - "$marker" <<'PY' || fail "Ctrl-C at the terminal left ./imdb's command running"
import os, pty, signal, sys, time
marker = sys.argv[1]
def running():
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if open(f"/proc/{pid}/cmdline", "rb").read() == f"sleep\0{marker}\0".encode():
                found.append(pid)
        except OSError:
            pass
    return found
child, terminal = pty.fork()
if child == 0:
    # As a user's interactive shell leaves it: a suite started in the background inherits SIGINT ignored.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.execvp("./imdb", ["./imdb", "exec", "sleep", marker])
deadline = time.monotonic() + 30
while not running() and time.monotonic() < deadline:
    time.sleep(0.1)
assert running(), "the command never started"
os.write(terminal, b"\x03")
deadline = time.monotonic() + 10
while running() and time.monotonic() < deadline:
    time.sleep(0.1)
sys.exit(1 if running() else 0)
PY
echo "host check passed: Ctrl-C at the terminal takes down what ./imdb started"

# A checkout under /var (where CI systems keep their workspaces) is seen inside at its own path.
var=$(mktemp -d /var/tmp/imdb-var-check.XXXXXX)
trap 'cleanup; rm -rf "$var"' EXIT
cp -r imdb env requirements*.lock "$var/"  # what the environment's key is made of
inside=$(cd "$var" && ./imdb exec sh -c 'pwd; cat env/install.sh | head -c 20' 2>&1) ||
    fail "./imdb in a checkout under /var failed: $inside"
[ "$(printf '%s\n' "$inside" | head -1)" = "$var" ] || fail "a checkout under /var is not seen inside: $inside"
echo "host check passed: a checkout under /var is seen inside at its own path"

# Environments of other lock files sharing the cache are kept while in use, removed once unused.
cache=$(mktemp -d)
mkdir -p "$cache/venv-keep" "$cache/venv-used" "$cache/venv-stale"
touch "$cache/venv-used/.last-used"
touch -d '30 days ago' "$cache/venv-stale/.last-used" "$cache/venv-stale"
(IMDB_CACHE=$cache; _prune "$cache" venv keep) 2>/dev/null
[ -d "$cache/venv-keep" ] && [ -d "$cache/venv-used" ] && [ ! -e "$cache/venv-stale" ] \
    || { ls "$cache"; fail "pruning removed an environment in use or kept a stale one"; }
rm -rf "$cache"
echo "host check passed: another checkout's environment in use is kept, a stale one removed"
