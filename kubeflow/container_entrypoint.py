"""The command of every Kubeflow task: TFX's executor entrypoint, made to run under KFP 2.17's
driver and launcher, which give it an ExecutorInput TFX 1.21 does not read as they write it.

- KFP's driver gives every task one output more than its component declares, `executor-logs` of
  type `system.Artifact` (backend/src/v2/driver/driver.go, provisionOutputs), which the launcher tees
  the task's output into (component/launcher_v2.go, getLogWriter). TFX's entrypoint fails on it
  ("Could not import system.Artifact"): outputs of a KFP system type are removed here; the logs
  still reach their artifact.
- KFP's driver gives every input artifact an empty type (backend/src/v2/metadata/client.go:1144,
  `Schema: "", // TODO(Bobgy): figure out how to get schema`), from which TFX's entrypoint cannot find
  its class (kubeflow_v2_entrypoint_utils.py, _retrieve_class_path). Each gets the type its component
  declares, which the compiled command carries (--json_serialized_inputs_spec_args).
- KFP's launcher downloads a directory placeholder object (`dir/`, which TensorFlow's GCS file
  system writes for every makedirs) as a file `dir`, so nothing below it can be written and the next
  task fails (backend/src/v2/objectstore/object_store.go, DownloadBlob). After TFX's executor
  succeeds, the placeholders under its outputs are removed; on Cloud Storage a folder is its
  objects' common prefix, so every reader still sees it.

Then TFX's entrypoint runs unchanged:

    python -m kubeflow.container_entrypoint --executor_class_path ... \\
        --json_serialized_invocation_args '{{$}}' --json_serialized_inputs_spec_args '...' [BEAM ARGS...]
"""

from __future__ import annotations

import json
import runpy
import sys
from typing import List, Optional

INVOCATION_FLAG = "--json_serialized_invocation_args"
INPUTS_SPEC_FLAG = "--json_serialized_inputs_spec_args"
TFX_ENTRYPOINT = "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"
SYSTEM_SCHEMA_PREFIX = "system."  # KFP's own artifact types; TFX's carry an instanceSchema


def launcher_outputs(executor_input: dict) -> List[str]:
    """Names of the outputs KFP's launcher added, recognised by their system.* type."""
    outputs = executor_input.get("outputs", {}).get("artifacts", {})
    return sorted(name for name, artifacts in outputs.items()
                  if any(a.get("type", {}).get("schemaTitle", "").startswith(SYSTEM_SCHEMA_PREFIX)
                         for a in artifacts.get("artifacts", [])))


def adapt(executor_input: dict, inputs_spec: dict) -> dict:
    """EXECUTOR_INPUT as TFX reads it: the launcher's outputs removed, input types filled in."""
    for name in launcher_outputs(executor_input):
        del executor_input["outputs"]["artifacts"][name]
    declared = inputs_spec.get("artifacts", {})
    for name, artifacts in executor_input.get("inputs", {}).get("artifacts", {}).items():
        for artifact in artifacts.get("artifacts", []):
            kind = artifact.get("type") or {}
            if not (kind.get("schemaTitle") or kind.get("instanceSchema")):
                if name not in declared:
                    raise SystemExit(f"error: input artifact {name!r} has no type, and the component declares none")
                artifact["type"] = declared[name]["artifactType"]
    return executor_input


def _flag(argv: List[str], flag: str) -> Optional[int]:
    """The index of FLAG's value in ARGV (either form), or None."""
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            return i + 1
        if arg.startswith(flag + "="):
            return i
    return None


def _value(argv: List[str], i: int, flag: str) -> str:
    return argv[i].split("=", 1)[1] if argv[i].startswith(flag + "=") else argv[i]


def rewrite_argv(argv: List[str]) -> List[str]:
    """ARGV with the ExecutorInput (either flag form) adapted for TFX's entrypoint."""
    rewritten = list(argv)
    at = _flag(rewritten, INVOCATION_FLAG)
    if at is None:
        raise SystemExit(f"error: {INVOCATION_FLAG} is missing from the task's arguments")
    spec_at = _flag(rewritten, INPUTS_SPEC_FLAG)
    inputs_spec = json.loads(_value(rewritten, spec_at, INPUTS_SPEC_FLAG)) if spec_at is not None else {}
    adapted = json.dumps(adapt(json.loads(_value(rewritten, at, INVOCATION_FLAG)), inputs_spec))
    rewritten[at] = f"{INVOCATION_FLAG}={adapted}" if rewritten[at].startswith(INVOCATION_FLAG + "=") else adapted
    return rewritten


def remove_directory_placeholders(uris: List[str]) -> int:
    """Deletes the empty `.../` objects below each gs:// URI in URIS; returns how many."""
    from google.cloud import storage

    client, removed = None, 0
    for uri in uris:
        if not uri.startswith("gs://"):
            continue
        client = client or storage.Client()  # the pod's credentials, as TensorFlow's
        bucket, _, prefix = uri[len("gs://"):].partition("/")
        for blob in client.list_blobs(bucket, prefix=prefix.rstrip("/") + "/"):
            if blob.name.endswith("/") and blob.size == 0:
                blob.delete()
                removed += 1
    return removed


def main() -> None:
    argv = rewrite_argv(sys.argv[1:])
    executor_input = json.loads(_value(argv, _flag(argv, INVOCATION_FLAG), INVOCATION_FLAG))
    sys.argv = [TFX_ENTRYPOINT] + argv
    try:
        runpy.run_module(TFX_ENTRYPOINT, run_name="__main__", alter_sys=True)
    except SystemExit as done:  # absl's app.run ends with sys.exit
        if done.code not in (None, 0):
            raise
    outputs = [a["uri"] for artifacts in executor_input["outputs"]["artifacts"].values()
               for a in artifacts.get("artifacts", [])]
    print(f"removed {remove_directory_placeholders(outputs)} directory placeholder objects under the outputs")


if __name__ == "__main__":
    main()
