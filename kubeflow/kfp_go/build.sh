#!/usr/bin/env bash
# Builds, into OUT_DIR, the Go programs of the local Kubeflow stack:
#   driver, launcher-v2   KFP 2.17's own, built in KFP's module from its source tree (KFP_SRC),
#                         with its own go.mod and go.sum, static (each is an image of its own on
#                         the local cluster, FROM scratch)
#   apiserver, persistence   KFP's API server and persistence agent, the same way, with the API
#                         server's config.json (apiserver-config/) beside them
#   kfpcheck, gcpfront    this module's (cmd/), kfpcheck against KFP's packages from KFP_SRC
#   fake-gcs-server       the Cloud Storage API server, from the Go module proxy (checksum database)
#
#   KFP_SRC=/path/to/pipelines-2.17.0 kubeflow/kfp_go/build.sh OUT_DIR
#
# KFP_SRC defaults to ../shared/kfp/pipelines-2.17.0 beside the checkout. The Go module proxy
# refuses github.com/kubeflow/pipelines, so without a source tree nothing is built: an error, never
# a skip.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:?usage: build.sh OUT_DIR}
src=${KFP_SRC:-$here/../../../shared/kfp/pipelines-2.17.0}
FAKE_GCS_SERVER=github.com/fsouza/fake-gcs-server@v1.56.1
if [ ! -f "$src/go.mod" ] || ! grep -q '^module github.com/kubeflow/pipelines$' "$src/go.mod"; then
    echo "error: KFP_SRC=$src is not a kubeflow/pipelines source tree (its go.mod); the Go module proxy" \
         "does not serve github.com/kubeflow/pipelines, so KFP's code needs a checkout of release 2.17.0" >&2
    exit 2
fi
src=$(cd "$src" && pwd)
command -v go >/dev/null || { echo "error: building KFP's driver and launcher needs Go on PATH" >&2; exit 2; }
mkdir -p "$out"
modfile=$(mktemp -d)
trap 'rm -rf "$modfile"' EXIT
# This module's go.mod with the replacements; its go.sum beside it (go reads go.sum next to -modfile).
cp "$here/go.mod" "$here/go.sum" "$modfile/"
(cd "$here" && go mod edit -modfile="$modfile/go.mod" -replace "github.com/kubeflow/pipelines=$src" \
    -replace "github.com/kubeflow/pipelines/api=$src/api" \
    -replace "github.com/kubeflow/pipelines/kubernetes_platform=$src/kubernetes_platform")
# All but the API server without cgo, as the cluster's and Argo's builds (the API server's storage
# package needs go-sqlite3's cgo types). Go caches a package per cgo setting and per -trimpath, and
# so everything that imports it (net, hence grpc and client-go): one setting for all, go vet's
# included: the shared dependencies compile twice (the API server's, the rest's), not three times.
export GOFLAGS=-mod=readonly
(cd "$src" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/" ./backend/src/v2/cmd/driver \
    ./backend/src/v2/cmd/launcher-v2 ./backend/src/agent/persistence \
    && go build -trimpath -ldflags "-s -w" -o "$out/" ./backend/src/apiserver)
mkdir -p "$out/apiserver-config" && cp "$src/backend/src/apiserver/config/config.json" "$out/apiserver-config/"
(cd "$here" && export CGO_ENABLED=0 && go vet -trimpath -modfile="$modfile/go.mod" ./... && go build -trimpath -ldflags "-s -w" -modfile="$modfile/go.mod" -o "$out/" ./cmd/...)
GOFLAGS=-mod=mod GOBIN=$out CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" "$FAKE_GCS_SERVER"
