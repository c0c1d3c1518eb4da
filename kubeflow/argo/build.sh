#!/usr/bin/env bash
# Builds, into OUT_DIR, Argo Workflows' workflow-controller and argoexec (the executor its pods run)
# from github.com/argoproj/argo-workflows/v4 at the version go.mod pins, and copies beside them,
# into OUT_DIR/manifests, what cluster.sh's install applies from the same module's manifests/.
#
#   kubeflow/argo/build.sh OUT_DIR
#
# The module's zip lacks workflow/executor/osspecific/signal_linux.go: upstream it is a symlink to
# signal_darwin.go, and Go module zips drop symlinks, so argoexec does not build for Linux from it
# ("undefined: Setpgid"). The build therefore uses a copy of the module (checked against go.sum
# when it was downloaded) with that one file added, through a go.mod copy that replaces the module
# by it; `go build -overlay` refuses files under GOMODCACHE.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:?usage: build.sh OUT_DIR}
command -v go >/dev/null || { echo "error: building Argo's programs needs Go on PATH" >&2; exit 2; }
mkdir -p "$out" && out=$(cd "$out" && pwd)
cd "$here"
export GOFLAGS=-mod=readonly CGO_ENABLED=0
p=github.com/argoproj/argo-workflows/v4
version=$(go list -m -f '{{.Version}}' $p)  # v4.0.5
module=$(go mod download -json $p@"$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
[ -d "$module" ] || { echo "error: go mod download gave no folder for $p@$version" >&2; exit 1; }
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
cp -r "$module" "$work/argo-workflows" && chmod -R u+w "$work/argo-workflows"
cp "$work/argo-workflows/workflow/executor/osspecific/signal_darwin.go" \
    "$work/argo-workflows/workflow/executor/osspecific/signal_linux.go"  # no build tag: _linux selects it
cp go.mod go.sum "$work/"
go mod edit -modfile "$work/go.mod" -replace "$p=$work/argo-workflows"
# What `argoexec version` prints (upstream's Makefile sets these; there is no git commit here).
ld="-s -w -X $p.version=$version -X $p.gitTag=$version -X $p.gitCommit=$version-module -X $p.gitTreeState=clean"
go build -modfile "$work/go.mod" -trimpath -ldflags "$ld" -o "$out/" $p/cmd/argoexec $p/cmd/workflow-controller
# The CRDs (manifests/base/crds/minimal: the full ones exceed client-side apply's annotation
# limit), the controller's ServiceAccount, ConfigMap and namespaced RBAC (namespace-install), and
# the executor's Role (quick-start's emissary one: create/patch workflowtaskresults, the documented
# minimum, docs/workflow-rbac.md) bound to the namespace's default ServiceAccount.
m=$module/manifests
mkdir -p "$out/manifests/crds" "$out/manifests/rbac"
cp "$m"/base/crds/minimal/argoproj.io_*.yaml "$out/manifests/crds/"
cp "$m"/base/workflow-controller/workflow-controller-{sa,configmap}.yaml \
    "$m"/namespace-install/workflow-controller-rbac/workflow-controller-role{,binding}.yaml \
    "$m"/quick-start/base/executor/emissary/executor-role.yaml \
    "$m"/quick-start/base/executor-default-rolebinding.yaml "$out/manifests/rbac/"
chmod -R u+w "$out/manifests"
