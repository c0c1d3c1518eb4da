#!/usr/bin/env bash
# Builds, into OUT_DIR, the programs of the single-node cluster of `./imdb kfp-local up`
# (cluster.sh): Kubernetes' kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
# kube-proxy and kubectl from the k8s.io/kubernetes module, etcd from go.etcd.io/etcd/server/v3, the
# pods' sandbox process (cmd/pause), each at the version go.mod pins, and the cluster's DNS, CoreDNS,
# at the version coredns/go.mod pins (the Go module proxy, checksum database).
#
#   kubeflow/cluster/build.sh OUT_DIR
#
# k8s.io/kubernetes is a module whose go.mod replaces its 31 k8s.io/* staging modules by folders of
# its own repository; go.mod here pins each to the published v0.x of the same release instead.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:?usage: build.sh OUT_DIR}; mkdir -p "$out" && out=$(cd "$out" && pwd)
command -v go >/dev/null || { echo "error: building the cluster's programs needs Go on PATH" >&2; exit 2; }
cd "$here"
export GOFLAGS=-mod=readonly CGO_ENABLED=0
version=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)  # v1.34.4
minor=${version#v1.}; minor=${minor%%.*}
# What kubectl version and the API server's /version report (Kubernetes' hack/lib/version.sh sets these).
pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$version"
mkdir -p "$out"
go build -trimpath -ldflags "$ldflags" -o "$out/" k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler \
    k8s.io/kubernetes/cmd/kube-proxy k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kubectl
go build -trimpath -ldflags "-s -w" -o "$out/" ./cmd/etcd ./cmd/pause
(cd coredns && go build -trimpath -ldflags "-s -w" -o "$out/coredns" .)
