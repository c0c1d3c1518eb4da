"""Runs a compiled pipeline here the way Kubeflow Pipelines 2.17 runs it in a cluster.

`kfp.local` cannot run TFX containers, and no cluster is reachable from these machines, so this
does what KFP's driver and launcher do for each task, rule for rule, with the task's container
command run as a local process (inside the project's environment, which is what the image holds):

    ./imdb exec python -m kubeflow.local_executor outputs/kubeflow/imdb-sentiment.yaml \\
        --bucket-dir /tmp/buckets [--param min_accuracy=0.9 ...]

Each rule names the file of kubeflow/pipelines (tag 2.17.0) it follows. The one deviation: an
object store is a local directory. `gs://BUCKET/PATH` is `<bucket dir>/BUCKET/PATH`, as gcsfuse
shows a bucket under /gcs/ in a pod, and the ExecutorInput a task receives names those local
paths (a pod's TensorFlow would write to gs:// itself); artifacts are recorded with their gs://
URIs, as KFP's metadata store records them.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
from typing import Any, Dict, List, Mapping, Optional

from google.protobuf import json_format

from kubeflow import backend_rules, key_values

LOGS_OUTPUT = "executor-logs"  # v2/driver/driver.go, provisionOutputs
_SCHEME = "gs://"


@dataclasses.dataclass
class TaskResult:
    name: str
    state: str  # SUCCEEDED | CACHED | FAILED | SKIPPED
    seconds: float = 0.0
    outputs: Dict[str, List[dict]] = dataclasses.field(default_factory=dict)  # recorded artifacts
    log_path: Optional[str] = None
    exit_code: Optional[int] = None


class LocalRun:
    """One run of a compiled pipeline: parameters resolved, then each task in dependency order."""

    def __init__(self, pipeline_yaml: str, bucket_dir: str, parameters: Mapping[str, Any],
                 run_id: Optional[str] = None, echo=print):
        with open(pipeline_yaml) as f:
            uploaded = backend_rules.load_upload(f.read())  # apiserver/template/v2_template.go
        uploaded.check_run(parameters)  # run creation: parameters, Argo compilation, root
        self.spec = uploaded.spec
        self.bucket_dir = os.path.abspath(bucket_dir)
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.echo = echo
        # argocompiler/argo.go, Compile: declared defaults fill the parameters not given.
        self.parameters = {name: json_format.MessageToDict(definition.default_value)
                           for name, definition in self.spec.root.input_definitions.parameters.items()
                           if definition.HasField("default_value")}
        self.parameters.update(parameters)
        # v2/metadata/client.go, GetPipeline: the run's root is <pipeline root>/<pipeline>/<run id>.
        self.run_root = _output_uri(self.spec.default_pipeline_root,
                                    [self.spec.pipeline_info.name, self.run_id])
        self.executors = backend_rules.container_executors(self.spec)
        self.results: Dict[str, TaskResult] = {}
        self.cache_dir = os.path.join(self.bucket_dir, ".kfp-local-cache", self.spec.pipeline_info.name)

    # --- the object store as a directory ---------------------------------------------------------
    def local(self, text: str) -> str:
        """TEXT with every gs:// URI turned into its path under the bucket directory."""
        return text.replace(_SCHEME, self.bucket_dir + "/")

    def remote(self, text: str) -> str:
        return text.replace(self.bucket_dir + "/", _SCHEME)

    # --- the run ---------------------------------------------------------------------------------
    def run(self) -> bool:
        """Runs every task; True when all succeeded. As Argo does, a failed task ends the run."""
        self.echo(f"run {self.run_id} of {self.spec.pipeline_info.name}: artifacts under {self.run_root}")
        for name in backend_rules.task_order(self.spec):
            if any(r.state == "FAILED" for r in self.results.values()):
                self.results[name] = TaskResult(name, "SKIPPED")
                continue
            result = self.run_task(name)
            self.results[name] = result
            detail = f" (exit {result.exit_code}; log: {result.log_path})" if result.state == "FAILED" else ""
            self.echo(f"  {name:<20} {result.state:<9} {result.seconds:6.1f} s{detail}")
            if result.state == "FAILED":
                self.echo(_tail(result.log_path))
        return all(r.state in ("SUCCEEDED", "CACHED") for r in self.results.values())

    def run_task(self, name: str) -> TaskResult:
        task = self.spec.root.dag.tasks[name]
        component = self.spec.components[task.component_ref.name]
        container = self.executors[component.executor_label]
        started = time.monotonic()
        inputs = self.resolve_inputs(task, component)
        outputs = self.provision_outputs(name, component)
        executor_input = {"inputs": inputs, "outputs": outputs}
        fingerprint = None
        if task.caching_options.enable_cache:  # v2/driver/cache.go, getFingerPrintsAndID
            fingerprint = _cache_key(inputs, outputs, container)
            cached = self.cached_outputs(fingerprint)
            if cached is not None:
                return TaskResult(name, "CACHED", time.monotonic() - started, cached)
        result = self.execute(name, container, executor_input)
        result.seconds = time.monotonic() - started
        if fingerprint and result.state == "SUCCEEDED":
            self.store_cache(fingerprint, result.outputs)
        return result

    def resolve_inputs(self, task, component) -> dict:
        """v2/driver/resolve.go, resolveInputs: parameters and artifacts of one task."""
        values: Dict[str, Any] = {}
        for key, spec in task.inputs.parameters.items():
            kind = spec.WhichOneof("kind")
            if kind == "component_input_parameter":  # resolveInputParameter
                values[key] = self.parameters[spec.component_input_parameter]
            elif kind == "runtime_value" and spec.runtime_value.HasField("constant"):
                values[key] = json_format.MessageToDict(spec.runtime_value.constant)
            else:  # resolve.go: "param runtime value spec of type %T not implemented"
                raise backend_rules.Refused(f"input parameter {key} of task {task.task_info.name}: "
                                            f"{kind} is not supported by this executor")
        # launcher_v2.go, addDefaultParams: component defaults for parameters not given.
        for key, definition in component.input_definitions.parameters.items():
            if key not in values and definition.HasField("default_value"):
                values[key] = json_format.MessageToDict(definition.default_value)
        artifacts = {}
        for key, spec in task.inputs.artifacts.items():
            producer = spec.task_output_artifact.producer_task
            artifacts[key] = {"artifacts": self.results[producer].outputs[spec.task_output_artifact.output_artifact_key]}
        return {"parameterValues": values, "artifacts": artifacts}

    def provision_outputs(self, task_name: str, component) -> dict:
        """v2/driver/driver.go, provisionOutputs (log publishing on, KFP's default)."""
        task_root = _output_uri(self.run_root, [task_name, uuid.uuid4().hex])
        definitions = json_format.MessageToDict(component.output_definitions).get("artifacts", {})
        definitions[LOGS_OUTPUT] = {"artifactType": {"schemaTitle": "system.Artifact"}}
        artifacts = {
            name: {"artifacts": [{"name": name, "uri": _output_uri(task_root, [name]),
                                  "type": spec["artifactType"], "metadata": spec.get("metadata", {})}]}
            for name, spec in definitions.items()}
        return {"artifacts": artifacts, "outputFile": f"{task_root}/output_metadata.json"}

    def execute(self, name: str, container: dict, executor_input: dict) -> TaskResult:
        """v2/component/launcher_v2.go, executeV2 and execute."""
        local_input = json.loads(self.local(json.dumps(executor_input)))
        for artifacts in local_input["outputs"]["artifacts"].values():  # prepareOutputFolders
            for artifact in artifacts["artifacts"]:
                os.makedirs(os.path.dirname(artifact["uri"]), exist_ok=True)
        output_file = local_input["outputs"]["outputFile"]
        os.makedirs(os.path.dirname(output_file), exist_ok=True)
        command = [_fill(arg, local_input) for arg in container.get("command", []) + container.get("args", [])]
        log_path = local_input["outputs"]["artifacts"][LOGS_OUTPUT]["artifacts"][0]["uri"]  # getLogWriter
        with open(log_path, "wb") as log:
            exit_code = subprocess.call(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        result = TaskResult(name, "SUCCEEDED" if exit_code == 0 else "FAILED", log_path=log_path, exit_code=exit_code)
        executor_output = {}
        if exit_code == 0 and os.path.exists(output_file):  # getExecutorOutputFile
            with open(output_file) as f:
                executor_output = json.loads(self.remote(f.read()))
        # uploadOutputArtifacts + mergeRuntimeArtifacts: the executor's uri and metadata win,
        # except for the launcher's own log artifact; each recorded artifact gets a unique name,
        # as KFP's metadata store gives it one.
        for key, artifacts in executor_input["outputs"]["artifacts"].items():
            artifact = dict(artifacts["artifacts"][0])
            reported = executor_output.get("artifacts", {}).get(key, {}).get("artifacts", [])
            if reported and key != LOGS_OUTPUT:
                artifact["uri"] = reported[0].get("uri") or artifact["uri"]
                artifact["metadata"] = {**artifact.get("metadata", {}), **reported[0].get("metadata", {})}
            artifact["name"] = f"{self.run_id}/{name}/{key}"
            result.outputs[key] = [artifact]
        return result

    # --- KFP's cache, kept in the bucket directory -----------------------------------------------
    def cached_outputs(self, fingerprint: str) -> Optional[Dict[str, List[dict]]]:
        path = os.path.join(self.cache_dir, f"{fingerprint}.json")
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return json.load(f)

    def store_cache(self, fingerprint: str, outputs: Dict[str, List[dict]]) -> None:
        os.makedirs(self.cache_dir, exist_ok=True)
        tmp = os.path.join(self.cache_dir, f".{fingerprint}.{os.getpid()}")
        with open(tmp, "w") as f:
            json.dump(outputs, f)
        os.replace(tmp, os.path.join(self.cache_dir, f"{fingerprint}.json"))

    def summary(self) -> dict:
        return {"run_id": self.run_id, "run_root": self.run_root, "parameters": self.parameters,
                "tasks": {n: dataclasses.asdict(r) for n, r in self.results.items()}}


def _output_uri(root: str, parts: List[str]) -> str:
    """v2/metadata/client.go, GenerateOutputURI (the query string dropped)."""
    return f"{root.split('?')[0].rstrip('/')}/{'/'.join(parts)}"


def _cache_key(inputs: dict, outputs: dict, container: dict) -> str:
    """v2/cacheutils/cache.go, GenerateCacheKey: parameter values, input artifact *names*, output
    specs without URIs, command and arguments, image. Nothing reads the data behind an input."""
    key = {
        "inputArtifactNames": {k: [a["name"] for a in v["artifacts"]] for k, v in inputs["artifacts"].items()},
        "inputParameterValues": inputs["parameterValues"],
        "outputArtifactsSpec": {k: {f: a[f] for f in ("name", "type", "metadata")}
                                for k, v in outputs["artifacts"].items() for a in v["artifacts"][:1]},
        "containerSpec": {"image": container.get("image"),
                          "cmdArgs": container.get("command", []) + container.get("args", [])},
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def _fill(arg: str, executor_input: dict) -> str:
    """launcher_v2.go, compileCmdAndArgs/getPlaceholders: the placeholders TFX's commands use."""
    arg = arg.replace("{{$}}", json.dumps(executor_input))
    for name, value in executor_input["inputs"]["parameterValues"].items():
        text = value if isinstance(value, str) else json.dumps(value)
        arg = arg.replace(f"{{{{$.inputs.parameters['{name}']}}}}", text)
    for side in ("inputs", "outputs"):
        for name, artifacts in executor_input[side]["artifacts"].items():
            uri = artifacts["artifacts"][0]["uri"]
            arg = arg.replace(f"{{{{$.{side}.artifacts['{name}'].uri}}}}", uri)
            arg = arg.replace(f"{{{{$.{side}.artifacts['{name}'].path}}}}", uri)
    return arg


def _tail(path: Optional[str], lines: int = 25) -> str:
    if not path or not os.path.exists(path):
        return ""
    with open(path, errors="replace") as f:
        return "".join(f.readlines()[-lines:])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m kubeflow.local_executor", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("pipeline", help="the YAML ./imdb compile wrote")
    p.add_argument("--bucket-dir", required=True, help="the directory that stands for gs://")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--run-id")
    p.add_argument("--summary", help="write the run's outcome as JSON here")
    args = p.parse_args(argv)
    try:
        run = LocalRun(args.pipeline, args.bucket_dir, key_values.run_parameters(args.param), args.run_id)
    except (OSError, ValueError) as error:  # backend_rules.Refused is a ValueError
        print(f"error: {error}", file=sys.stderr)
        return 2
    ok = run.run()
    if args.summary:
        with open(args.summary + ".tmp", "w") as f:
            json.dump(run.summary(), f, indent=1)
        os.replace(args.summary + ".tmp", args.summary)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
