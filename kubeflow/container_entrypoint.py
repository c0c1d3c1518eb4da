"""The command of every Kubeflow task: TFX's executor entrypoint, made to survive KFP's launcher.

KFP 2.17's driver gives every task one output more than its component declares:
`executor-logs`, of type `system.Artifact` (backend/src/v2/driver/driver.go, provisionOutputs,
while log publishing is on, the default). The launcher itself tees the task's stdout and stderr
into it and uploads it (backend/src/v2/component/launcher_v2.go, getLogWriter and
uploadOutputArtifacts). TFX's entrypoint turns every output into a TFX artifact class named by
its type and fails on that one ("Could not import system.Artifact"). Here the outputs typed by a
KFP system schema are removed from the ExecutorInput, then TFX's entrypoint runs unchanged, so
the logs still reach their artifact and TFX sees only what the component declared.

    python -m kubeflow.container_entrypoint --executor_class_path ... \\
        --json_serialized_invocation_args '{{$}}' [BEAM ARGS...]
"""

from __future__ import annotations

import json
import runpy
import sys
from typing import List

INVOCATION_FLAG = "--json_serialized_invocation_args"
TFX_ENTRYPOINT = "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"
SYSTEM_SCHEMA_PREFIX = "system."  # KFP's own artifact types; TFX's carry an instanceSchema


def launcher_outputs(executor_input: dict) -> List[str]:
    """Names of the outputs KFP's launcher added, recognised by their system.* type."""
    outputs = executor_input.get("outputs", {}).get("artifacts", {})
    return sorted(name for name, artifacts in outputs.items()
                  if any(a.get("type", {}).get("schemaTitle", "").startswith(SYSTEM_SCHEMA_PREFIX)
                         for a in artifacts.get("artifacts", [])))


def without_launcher_outputs(invocation: str) -> str:
    executor_input = json.loads(invocation)
    for name in launcher_outputs(executor_input):
        del executor_input["outputs"]["artifacts"][name]
    return json.dumps(executor_input)


def rewrite_argv(argv: List[str]) -> List[str]:
    """ARGV with the ExecutorInput (either flag form) stripped of the launcher's outputs."""
    rewritten = list(argv)
    for i, arg in enumerate(rewritten):
        if arg == INVOCATION_FLAG and i + 1 < len(rewritten):
            rewritten[i + 1] = without_launcher_outputs(rewritten[i + 1])
            break
        if arg.startswith(INVOCATION_FLAG + "="):
            rewritten[i] = f"{INVOCATION_FLAG}={without_launcher_outputs(arg.split('=', 1)[1])}"
            break
    else:
        raise SystemExit(f"error: {INVOCATION_FLAG} is missing from the task's arguments")
    return rewritten


def main() -> None:
    sys.argv = [TFX_ENTRYPOINT] + rewrite_argv(sys.argv[1:])
    runpy.run_module(TFX_ENTRYPOINT, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
