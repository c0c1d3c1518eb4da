#!/usr/bin/env bash
# Judges `./imdb compile`'s output with Kubeflow Pipelines 2.17's own backend code (main.go):
# every compile variant (CPU, GPUs) must be accepted at upload and run creation, and two specs
# KFP is known to refuse (schema 2.0.0; a resolver executor) must be refused, or the check
# itself is broken.
#
#   kubeflow/kfp_backend_check/check.sh [OUT_DIR]
#
# go.mod pins github.com/kubeflow/pipelines (and its nested api/ and kubernetes_platform/
# modules) to the 2.17.0 commit; they come from the Go module proxy, or from a checkout of that
# tag named by KFP_SRC. When neither can provide them, the check says so and exits 0: the
# Python rules (kubeflow/backend_rules.py) still judge every spec in the tests.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${1:-$(mktemp -d)}
mkdir -p "$out"
say() { printf '[kfp-check] %s\n' "$*"; }

compile() {  # NAME [compile options...]
    local name=$1; shift
    "$repo/imdb" compile --image registry.example.com/imdb-sentiment-tfx:check \
        --gpu-image registry.example.com/imdb-sentiment-tfx:check-gpu \
        --pipeline-root gs://kfp-check/tfx --data gs://kfp-check/data/aclImdb_v1.tar.gz \
        --output-dir "$out/$name" "$@" >"$out/$name.log" 2>&1 || { cat "$out/$name.log"; exit 1; }
}
say "compiling the CPU and GPU variants into $out"
compile cpu --gpus 0
compile gpu --gpus 2 --gpu-node-selector cloud.google.com/gke-accelerator=nvidia-l4
"$repo/imdb" exec python - "$out" <<'PY'
import sys, yaml
out = sys.argv[1]
spec, platform = yaml.safe_load_all(open(f"{out}/gpu/imdb-sentiment.yaml"))
old = dict(spec, schemaVersion="2.0.0")
yaml.safe_dump_all([old, platform], open(f"{out}/schema-2.0.0.yaml", "w"))
spec["deploymentSpec"]["executors"]["Pusher_executor"] = {"resolver": {"outputArtifactQueries": {}}}
yaml.safe_dump_all([spec, platform], open(f"{out}/resolver.yaml", "w"))
PY

if ! command -v go >/dev/null 2>&1; then
    say "SKIPPED: no Go toolchain on PATH"; exit 0
fi
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
cp "$here/main.go" "$here/go.mod" "$build/"
if [ -n "${KFP_SRC:-}" ]; then
    say "building against the kubeflow/pipelines checkout $KFP_SRC"
    (cd "$build" && go mod edit -replace "github.com/kubeflow/pipelines=$KFP_SRC" \
        -replace "github.com/kubeflow/pipelines/api=$KFP_SRC/api" \
        -replace "github.com/kubeflow/pipelines/kubernetes_platform=$KFP_SRC/kubernetes_platform")
fi
if ! (cd "$build" && GOFLAGS=-mod=mod GONOSUMDB=github.com/kubeflow/pipelines go build -o kfpcheck .) \
        >"$out/build.log" 2>&1; then
    if grep -q "module version is not available\|403 Forbidden" "$out/build.log"; then
        say "SKIPPED: the Go module proxy does not serve KFP's backend module here:"
        grep -m1 "403\|not available" "$out/build.log" | sed 's/^/[kfp-check]   /'
        exit 0
    fi
    cat "$out/build.log"; exit 1
fi

say "KFP's backend code judges the compiled pipelines, with the defaults and with every parameter set:"
for params in '' '{"min_accuracy": 0.9, "max_accuracy_drop": 0.01, "epochs": 3, "data": "gs://kfp-check/data/drop-2"}'; do
    "$build/kfpcheck" -params "$params" "$out/cpu/imdb-sentiment.yaml" "$out/gpu/imdb-sentiment.yaml" \
        | tee -a "$out/accepted.jsonl" || { say "FAILED: KFP refuses a compiled pipeline"; exit 1; }
done
for refused in schema-2.0.0 resolver; do
    if "$build/kfpcheck" "$out/$refused.yaml" | tee -a "$out/refused.jsonl"; then
        say "FAILED: the check accepted $refused.yaml, which KFP refuses"; exit 1
    fi
done
say "passed: both variants accepted, both known-bad specs refused"
