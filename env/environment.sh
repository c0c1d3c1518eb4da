# Sourced by ./imdb: picks the Python environment for this host, builds it once, runs commands in it.
#
# TFX 1.21's wheels (ml-metadata, tensorflow-data-validation) need glibc >= 2.39 and Python
# 3.10-3.13. A host that has both gets a plain virtual environment; an older host (Debian 12)
# gets a Debian 13 userland made with debootstrap, entered with bubblewrap, with the host's own
# directories (all but the operating system's: /usr, /var, /etc, ...; the checkout and the working
# folder wherever they are) bind-mounted at the same paths. Both are cached outside the clone, keyed
# by the lock file, and rebuilt only when it (or this recipe) changes.

IMDB_CACHE=${IMDB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/imdb-sentiment}
IMDB_SUITE=trixie
_repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

_say() { printf '[env] %s\n' "$*" >&2; }

_key() { cat "$@" | sha256sum | cut -c1-12; }

# Key of the Python environment: what goes into it.
_venv_key() {
    _key "$_repo/requirements-test.lock" "$_repo/env/uv.lock" "$_repo/env/install.sh" "$_repo/env/system-packages.txt" \
        "$_repo/env/build-packages.txt"
}

# Key of the userland: the suite, its system packages and the tools the tests use in it.
_root_key() {
    printf '%s\n' "$IMDB_SUITE" | cat - "$_repo/env/system-packages.txt" "$_repo/env/build-packages.txt" \
        "$_repo/env/userland-tools.txt" \
        | sha256sum | cut -c1-12
}

_package_list() { cat "$@" | grep -v '^#' | paste -sd, -; }

# Prints "venv" or "userland": what this host needs.
env_mode() {
    if [ -n "${IMDB_ENV:-}" ]; then echo "$IMDB_ENV"; return; fi
    local glibc py
    glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')
    py=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo 0.0)
    if _version_at_least "${glibc:-0.0}" 2.39 && _version_at_least "$py" 3.10 \
            && ! _version_at_least "$py" 3.14; then
        echo venv
    else
        echo userland
    fi
}

_version_at_least() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

# Runs "$@" while holding the cache's lock, so two commands never build the same thing at once.
_locked() {
    mkdir -p "$IMDB_CACHE"
    (
        flock 9
        "$@"
    ) 9>"$IMDB_CACHE/.lock"
}

# The same for the tools fetched beside the environment (a lock of their own: they are fetched
# while the environment is being built).
_locked_tools() {
    mkdir -p "$IMDB_CACHE"
    (
        flock 9
        "$@"
    ) 9>"$IMDB_CACHE/.tools-lock"
}

# Removes the entries NAME-* of DIR other than NAME-KEEP that no command has used for
# IMDB_CACHE_KEEP_DAYS days (default 14): another checkout or branch sharing the cache, keyed by its
# own lock file, keeps its environment while it is in use (each use touches NAME-KEY/.last-used).
_prune() {
    local dir=$1 name=$2 keep=$3 old
    for old in "$dir/$name"-*; do
        [ -e "$old" ] && [ "$old" != "$dir/$name-$keep" ] || continue
        [ -z "$(find "$old" -maxdepth 1 -name .last-used -mtime -"${IMDB_CACHE_KEEP_DAYS:-14}" 2>/dev/null)" ] || continue
        [ -n "$(find "$old" -maxdepth 0 -mtime -1 2>/dev/null)" ] && continue  # being built
        _say "removing $old, unused for ${IMDB_CACHE_KEEP_DAYS:-14} days"
        rm -rf "$old"
    done
    return 0
}

_build_venv() {
    local dir=$IMDB_CACHE/venv-$(_venv_key)
    [ -f "$dir/.complete" ] && return 0
    _say "building the virtual environment in $dir (one time, a few minutes)"
    rm -rf "$dir"
    # Every step checks its own status: callers run this in an `||` list, where `set -e` is off,
    # so a failed install must not go on to be marked complete (and prune the working one).
    _logged "$_repo/env/install.sh" --no-system --test "$dir" || return 1
    touch "$dir/.complete"
    _prune "$IMDB_CACHE" venv "$(_venv_key)"
}

# Runs "$@" with its output in the cache's install.log, shown only if it fails.
_logged() { _logged_to "$IMDB_CACHE/install.log" "$@"; }

_logged_to() {
    local log=$1; shift
    if ! "$@" >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        _say "set-up failed; the whole log is $log"
        return 1
    fi
}

_userland_root() { echo "$IMDB_CACHE/$IMDB_SUITE-$(_root_key)"; }

_build_userland() {
    local root key started
    root=$(_userland_root)
    key=$(_venv_key)
    if [ ! -f "$root/.complete" ]; then
        [ "$(id -u)" = 0 ] || { _say "building the Debian 13 userland needs root (debootstrap)"; return 1; }
        _host_tool debootstrap debootstrap || return 1
        _say "building the Debian 13 userland in $root (one time, about a minute)"
        started=$SECONDS
        rm -rf "$root"
        debootstrap --variant=minbase \
            --include="$(_package_list "$_repo/env/system-packages.txt" "$_repo/env/build-packages.txt" \
                "$_repo/env/userland-tools.txt")" \
            "$IMDB_SUITE" "$root" ${IMDB_DEBIAN_MIRROR:+"$IMDB_DEBIAN_MIRROR"} >"$IMDB_CACHE/debootstrap.log" 2>&1 \
            || { _say "debootstrap failed; see $IMDB_CACHE/debootstrap.log"; return 1; }
        touch "$root/.complete"
        _say "userland ready in $((SECONDS - started)) s"
        _prune "$IMDB_CACHE" "$IMDB_SUITE" "$(_root_key)"
    fi
    if [ ! -f "$root/env/venv-$key/.complete" ]; then
        _say "installing the locked Python dependencies into the userland (one time, a few minutes)"
        started=$SECONDS
        rm -rf "$root/env/venv-$key"
        _logged _in_userland "$root" "$_SYSTEM_PATH" "$_repo/env/install.sh" --test "/env/venv-$key" || return 1
        touch "$root/env/venv-$key/.complete"
        _prune "$root/env" venv "$key"
        _say "Python environment ready in $((SECONDS - started)) s"
    fi
}

# Host directories that are not the operating system's: mounted at the same paths inside.
_host_dirs() {
    local d
    for d in /*/; do
        d=${d%/}
        case "$d" in
            /bin|/boot|/dev|/etc|/lib|/lib32|/lib64|/libx32|/proc|/run|/sbin|/sys|/usr|/var|/lost+found|/old_root) ;;
            *) [ -d "$d" ] && ! [ -L "$d" ] && echo "$d" ;;
        esac
    done
}

_SYSTEM_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# Installs the host package PACKAGE when its command COMMAND is missing (Debian hosts, as root).
_host_tool() {
    local command=$1 package=$2
    command -v "$command" >/dev/null 2>&1 && return 0
    [ "$(id -u)" = 0 ] || { _say "$command is missing: install Debian's $package (needs root)"; return 1; }
    _say "installing $package"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null; } \
        || { _say "could not install $package"; return 1; }
}

# Runs "$@" in the userland ROOT with bubblewrap, from the current directory, with PATH set to
# the userland's own (the host's PATH can name host interpreters, e.g. pyenv shims).
#   - the host's own directories are bound at the same paths, recursively: a file system mounted
#     below one of them (a tmpfs under /tmp, say) is seen inside too;
#   - a PID namespace whose processes all die with the wrapper (--die-with-parent): killing
#     ./imdb, even with SIGKILL, takes down everything it started; Ctrl-C reaches them directly.
_in_userland() {
    local root=$1 path=$2; shift 2
    local f d
    _host_tool bwrap bubblewrap || return 1
    local args=(--bind "$root" / --dev-bind /dev /dev --proc /proc --bind /sys /sys
                --unshare-pid --die-with-parent)
    [ "$(id -u)" = 0 ] || args+=(--unshare-user --uid 0 --gid 0)
    for d in $(_host_dirs); do args+=(--bind "$d" "$d"); done
    # The host's name resolution, and its CA bundle for hosts whose TLS is intercepted: bound
    # read-only, each call its own, never written into the shared root.
    for f in /etc/resolv.conf /etc/hosts /etc/ssl/certs/ca-certificates.crt; do
        [ -f "$f" ] && args+=(--ro-bind "$(readlink -f "$f")" "$f")
    done
    # The checkout and the working folder, wherever they are (a CI workspace under /var, say).
    for d in "$_repo" "$PWD"; do
        case "$d" in /var/*|/usr/*|/run/*|/etc/*|/boot/*) args+=(--bind "$d" "$d") ;; esac
    done
    args+=(--chdir "$PWD")
    # IMDB_HOST_PID: this wrapper's process id. Inside, process ids are the namespace's own, so a
    # command that tells the outside which process to signal (`serve --pid-file`) names this one:
    # signalling it takes down everything inside.
    bwrap "${args[@]}" /usr/bin/env -u VIRTUAL_ENV -u PYTHONHOME PATH="$path" IMDB_HOST_PID=$$ "$@"
}

# ghz, the gRPC load generator of `./imdb benchmark-serving` (benchmarks/serving_load.py): a Go
# program, built once with the host's Go from the Go module proxy (the newest version it serves)
# into the cache, which the userland sees at the same path. Prints its path.
GHZ_MODULE=github.com/bojand/ghz/cmd/ghz
GHZ_VERSION=v0.93.0
ghz_path() {
    local dir=$IMDB_CACHE/tools/ghz-$GHZ_VERSION
    if [ ! -x "$dir/ghz" ]; then
        command -v go >/dev/null 2>&1 || { _say "building ghz needs Go on the host"; return 1; }
        _say "building ghz $GHZ_VERSION from the Go module proxy into $dir (one time)"
        rm -rf "$dir.partial" && mkdir -p "$dir.partial"
        GOBIN=$dir.partial GOFLAGS=-mod=mod _logged go install "$GHZ_MODULE@$GHZ_VERSION" || return 1
        rm -rf "$dir" && mv "$dir.partial" "$dir"
    fi
    echo "$dir/ghz"
}

# Beam's Flink job server (env/flink-job-server/pom.xml): a launcher jar and its dependencies,
# fetched from Maven Central once with the host's Maven into the cache (which the userland sees at
# the same path), keyed by the pom. The userland's Java (env/userland-tools.txt) runs it. Prints
# the jar's path.
# Where the jar is, fetched or not (the fetch builds it under $dir.partial, then renames).
flink_job_server_dir() {
    echo "$IMDB_CACHE/tools/flink-job-server-$(_key "$_repo/env/flink-job-server/pom.xml")"
}

flink_job_server_jar() {
    local pom=$_repo/env/flink-job-server/pom.xml dir
    dir=$(flink_job_server_dir)
    if [ ! -f "$dir/target/flink-job-server.jar" ]; then
        _host_tool mvn maven || return 1
        _say "fetching Beam's Flink job server from Maven Central into $dir (one time)"
        rm -rf "$dir.partial" && mkdir -p "$dir.partial" && cp "$pom" "$dir.partial/"
        # Eight downloads at a time: the dependencies are 160 jars.
        (cd "$dir.partial" && _logged_to "$IMDB_CACHE/flink-job-server.log" \
            mvn -q -B -Daether.connector.basic.threads=8 package) || return 1
        rm -rf "$dir" && mv "$dir.partial" "$dir"
        _prune "$IMDB_CACHE/tools" flink-job-server "$(_key "$pom")"
    fi
    echo "$dir/target/flink-job-server.jar"
}

# Kubeflow Pipelines' programs, built from KFP's source tree (KFP_SRC, default ../shared/kfp/pipelines-2.17.0
# beside the checkout), and this project's Go programs beside them (kubeflow/kfp_go/build.sh), built
# once into the cache, keyed by their sources, KFP's version and Go's. Prints the folder.
kfp_tools_dir() {
    local src=${KFP_SRC:-$_repo/../shared/kfp/pipelines-2.17.0} key
    key=$( { cat "$src/VERSION" "$src/go.sum" 2>/dev/null; go version 2>/dev/null;
             find "$_repo/kubeflow/kfp_go" -type f | LC_ALL=C sort | xargs cat; } | sha256sum | cut -c1-12)
    echo "$IMDB_CACHE/tools/kfp-$key"
}

kfp_tools() {
    KFP_SRC=${KFP_SRC:-$_repo/../shared/kfp/pipelines-2.17.0} _go_tools "$(kfp_tools_dir)" kfp gcpfront \
        "Kubeflow Pipelines' programs" "$_repo/kubeflow/kfp_go/build.sh"
}

# The single-node Kubernetes cluster's programs (kubeflow/cluster/build.sh: Kubernetes, kube-proxy
# and etcd from the Go module proxy), built once into the cache, keyed by what the build reads and Go's
# version. Prints the folder.
cluster_tools_dir() { _go_module_dir cluster; }

# The cache folder of the Go module kubeflow/NAME: keyed by its sources, build.sh and Go's version.
_go_module_dir() {
    local key
    key=$( { go version 2>/dev/null; cd "$_repo/kubeflow/$1" && find . -name '*.go' -o -name 'go.*' \
             -o -name build.sh | LC_ALL=C sort | xargs cat; } | sha256sum | cut -c1-12)
    echo "$IMDB_CACHE/tools/$1-$key"
}

cluster_tools() {
    _go_tools "$(cluster_tools_dir)" cluster coredns "Kubernetes, etcd and CoreDNS" "$_repo/kubeflow/cluster/build.sh"
}

# Argo Workflows' controller and executor and the manifests its install applies (kubeflow/argo/build.sh,
# from the Go module proxy), built once into the cache like the cluster's. Prints the folder.
argo_tools_dir() { _go_module_dir argo; }

argo_tools() {
    _go_tools "$(argo_tools_dir)" argo argoexec "Argo Workflows" "$_repo/kubeflow/argo/build.sh"
}

# Builds DIR once with BUILD_SH (given DIR.partial, renamed when it succeeds; LAST, the program it
# builds last, marks a finished build), logged to $IMDB_CACHE/NAME-tools.log, under a lock of its
# own: it runs while the environment is built and Flink fetched. Prints DIR.
_go_tools() {
    local dir=$1 name=$2 last=$3 what=$4 build=$5
    command -v go >/dev/null 2>&1 || { _say "building $what needs Go on the host"; return 1; }
    mkdir -p "$IMDB_CACHE"
    (
        flock 9
        if [ ! -x "$dir/$last" ]; then
            _say "building $what into $dir (one time, ~6 min cold)"
            rm -rf "$dir.partial"
            _logged_to "$IMDB_CACHE/$name-tools.log" "$build" "$dir.partial" || exit 1
            rm -rf "$dir" && mv "$dir.partial" "$dir"
        fi
    ) 9>"$IMDB_CACHE/.$name-lock" || return 1
    echo "$dir"
}

# wrk, the REST load generator: in the userland from env/userland-tools.txt; on a plain host, Debian's package.
wrk_ready() {
    [ "$(env_mode)" = venv ] && { _host_tool wrk wrk || return 1; }
    return 0
}

# Makes sure the environment exists (building what is missing), then prints its kind.
env_ensure() {
    local mode
    mode=$(env_mode)
    case "$mode" in
        venv) _locked _build_venv ;;
        userland) _locked _build_userland ;;
        *) _say "IMDB_ENV must be venv or userland, not '$mode'"; return 2 ;;
    esac
}

# Runs "$@" inside the environment, with the checkout importable.
env_exec() {
    env_ensure || return
    local key
    key=$(_venv_key)
    export PYTHONPATH="$_repo${PYTHONPATH:+:$PYTHONPATH}"
    case "$(env_mode)" in
        venv)
            touch "$IMDB_CACHE/venv-$key/.last-used" 2>/dev/null || true
            PATH="$IMDB_CACHE/venv-$key/bin:$PATH" "$@" ;;
        userland)
            # The userland's own path, e.g. for a test that builds a container image from it.
            export IMDB_USERLAND_ROOT
            IMDB_USERLAND_ROOT=$(_userland_root)
            touch "$IMDB_USERLAND_ROOT/.last-used" "$IMDB_USERLAND_ROOT/env/venv-$key/.last-used" 2>/dev/null || true
            _in_userland "$IMDB_USERLAND_ROOT" "/env/venv-$key/bin:$_SYSTEM_PATH" "$@" ;;
    esac
}
