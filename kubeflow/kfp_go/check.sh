#!/usr/bin/env bash
# Judges `./imdb compile`'s output with Kubeflow Pipelines 2.17's own backend code (cmd/kfpcheck):
# every compile variant (CPU, GPUs) must be accepted at upload and run creation, and two specs
# KFP is known to refuse (schema 2.0.0; a resolver executor) must be refused, or the check
# itself is broken.
#
#   kubeflow/kfp_go/check.sh [OUT_DIR]
#
# kfpcheck (cmd/kfpcheck) is built by build.sh against KFP's source tree, KFP_SRC (default
# ../shared/kfp/pipelines-2.17.0 beside the checkout); without it the check fails, it never skips.
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

# shellcheck source=../../env/environment.sh
source "$repo/env/environment.sh"
tools=$(kfp_tools) || { say "FAILED: KFP's code could not be built (see $IMDB_CACHE/kfp-tools.log)"; exit 1; }

say "KFP's backend code judges the compiled pipelines, with the defaults and with every parameter set:"
for params in '' '{"min_accuracy": 0.9, "max_accuracy_drop": 0.01, "epochs": 3, "data": "gs://kfp-check/data/drop-2"}'; do
    "$tools/kfpcheck" -params "$params" "$out/cpu/imdb-sentiment.yaml" "$out/gpu/imdb-sentiment.yaml" \
        | tee -a "$out/accepted.jsonl" || { say "FAILED: KFP refuses a compiled pipeline"; exit 1; }
done
for refused in schema-2.0.0 resolver; do
    if "$tools/kfpcheck" "$out/$refused.yaml" | tee -a "$out/refused.jsonl"; then
        say "FAILED: the check accepted $refused.yaml, which KFP refuses"; exit 1
    fi
done
say "passed: both variants accepted, both known-bad specs refused"
