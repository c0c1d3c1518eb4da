"""What an open-source Kubeflow Pipelines 2.17 server refuses, rule by rule, from its own source.

Where KFP's Go code cannot run, these rules stand in for it: `./imdb compile` without KFP's source
and Go refuses a spec before writing it. Elsewhere KFP's code itself judges the specs (kubeflow/kfp_go:
check.sh in CI, the local cluster's API server in tests/test_container_image.py), and
tests/test_backend_rules.py holds these rules to its verdicts (kfpcheck), case by case. Each rule
names its file of kubeflow/pipelines (tag 2.17.0, commit 4a3592cb2dd0); every message is the
backend's own. Only refusals are modelled: a spec passing them may still fail on a cluster for
reasons no spec shows (images, credentials, quotas).
"""

from __future__ import annotations

import re
from typing import Any, Dict, Mapping, Optional

import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

SCHEMA_VERSION = "2.1.0"  # backend/src/apiserver/template/template.go: SCHEMA_VERSION_2_1_0
PIPELINE_ROOT_SCHEMES = ("gs://", "s3://", "minio://", "mem://")  # backend/src/v2/objectstore/config.go
# backend/src/apiserver/template/v2_template.go, NewV2SpecTemplate
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


class Refused(ValueError):
    """The KFP backend would refuse this spec; the message is the one it gives."""


def load_upload(text: str) -> "Uploaded":
    """What the API server does with an uploaded file (v2_template.go, NewV2SpecTemplate): the
    document with a pipelineInfo is the PipelineSpec, parsed strictly (protojson.Unmarshal rejects
    unknown fields); one with platforms.kubernetes is the platform spec."""
    spec: Optional[pipeline_spec_pb2.PipelineSpec] = None
    platform: Optional[pipeline_spec_pb2.PlatformSpec] = None
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as error:
        raise Refused(f"unable to decode yaml document: {error}") from None
    for document in documents:
        if isinstance(document, dict) and "pipelineInfo" in document:  # isPipelineSpec
            if spec is not None:
                raise Refused("multiple pipeline specs provided")
            spec = _parse(document, pipeline_spec_pb2.PipelineSpec(), "invalid v2 pipeline spec")
            if spec.schema_version != SCHEMA_VERSION:
                raise Refused("KFP only supports schema version 2.1.0, but the pipeline spec has "
                              f"version {spec.schema_version}")
            if not spec.pipeline_info.name:
                raise Refused("invalid v2 pipeline spec: name is empty")
            if not _NAME.search(spec.pipeline_info.name):  # Go's MatchString: a match anywhere
                raise Refused("invalid v2 pipeline spec: name should consist of lower case alphanumeric "
                              "characters, '-' or '.', and must start and end with an alphanumeric character")
            if not spec.HasField("root"):
                raise Refused("invalid v2 pipeline spec: root component is empty")
        elif isinstance(document, dict) and "kubernetes" in (document.get("platforms") or {}):
            if platform is not None:
                raise Refused("multiple platform specs provided")
            platform = _parse(document, pipeline_spec_pb2.PlatformSpec(), "cannot unmarshal platform specific configs")
    if spec is None:
        raise Refused("no pipeline spec is provided")
    return Uploaded(spec, platform)


def _parse(document: dict, message, refusal: str):
    """protojson.Unmarshal: strict, an unknown field is an error."""
    try:
        return json_format.ParseDict(document, message)
    except json_format.ParseError as error:
        raise Refused(f"{refusal}: {error}") from None


class Uploaded:
    """An accepted upload: what run creation then checks and compiles."""

    def __init__(self, spec: pipeline_spec_pb2.PipelineSpec, platform: Optional[pipeline_spec_pb2.PlatformSpec]):
        self.spec = spec
        self.platform = platform

    def check_run(self, parameters: Mapping[str, Any], pipeline_root: Optional[str] = None) -> None:
        """Run creation: the parameters, then the Argo compilation of every component."""
        check_run_parameters(self.spec, parameters)
        check_compiles(self.spec)
        check_pipeline_root(pipeline_root or self.spec.default_pipeline_root)


_TYPES = pipeline_spec_pb2.ParameterType.ParameterTypeEnum
_ALL_UPSTREAM_TASKS_COMPLETED = pipeline_spec_pb2.PipelineTaskSpec.TriggerPolicy.TriggerStrategy.Value(
    "ALL_UPSTREAM_TASKS_COMPLETED")


def check_run_parameters(spec: pipeline_spec_pb2.PipelineSpec, parameters: Mapping[str, Any]) -> None:
    """v2_template.go, validatePipelineJobInputs: required, typed, and nothing extra."""
    declared = spec.root.input_definitions.parameters
    for name, definition in declared.items():
        if name not in parameters:
            if not definition.is_optional and not definition.HasField("default_value"):
                raise Refused(f"parameter {name} is not optional, yet has neither default value nor user provided value")
            continue
        value = parameters[name]
        kind = definition.parameter_type
        if kind == _TYPES.PARAMETER_TYPE_ENUM_UNSPECIFIED:
            raise Refused(f"input parameter {name} has unspecified type")
        if kind in (_TYPES.NUMBER_DOUBLE, _TYPES.NUMBER_INTEGER):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise Refused(f"input parameter {name} requires type double or integer, but the parameter "
                              "value is not of number value type")
        elif kind == _TYPES.STRING and not isinstance(value, str):
            raise Refused(f"input parameter {name} requires type string, but the input parameter is not of "
                          "string value type")
        elif kind == _TYPES.BOOLEAN and not isinstance(value, bool):
            raise Refused(f"input parameter {name} requires type bool, but the input parameter is not of "
                          "bool value type")
    extra = sorted(set(parameters) - set(declared))
    if extra:
        raise Refused(f"parameter(s) provided are not required by pipeline: {', '.join(extra)}")


def check_compiles(spec: pipeline_spec_pb2.PipelineSpec) -> None:
    """backend/src/v2/compiler/visitor.go (Accept/dfs), argocompiler/dag.go, argo.go: every component
    reached from the root is a DAG, a container or an importer (resolvers are "not implemented")."""
    if not spec.pipeline_info.name:
        raise Refused("pipelineInfo.name is empty")  # argo.go, Compile
    executors = spec.deployment_spec.fields["executors"].struct_value.fields \
        if "executors" in spec.deployment_spec.fields else {}
    visited = set()

    def visit(name: str, component: pipeline_spec_pb2.ComponentSpec) -> None:
        if name in visited:
            return
        visited.add(name)
        fail = lambda message: Refused(f"error processing component name={name!r}: {message}")  # noqa: E731
        label = component.executor_label
        if label:
            if label not in executors:
                raise fail(f"executor(label={label!r}) not found in deployment config")
            executor = executors[label].struct_value.fields
            if "container" in executor or "importer" in executor:
                return
            raise fail(f"executor(label={label!r}): non-container and non-importer executor not implemented")
        if not component.HasField("dag"):
            raise fail("unknown component implementation")
        non_exit = 0
        for task_name in sorted(component.dag.tasks):
            task = component.dag.tasks[task_name]
            ref = task.component_ref.name
            if not ref:
                raise fail(f"component ref name is empty for task name={task.task_info.name!r}")
            if ref not in spec.components:
                raise fail(f"cannot find component ref name={ref!r}")
            for dependency in task.dependent_tasks:  # dag.go, addImplicitDependencies
                if dependency not in component.dag.tasks:
                    raise Refused(f"compiling DAG {name!r}: unknown producer task {dependency!r} in DAG")
            non_exit += task.trigger_policy.strategy != _ALL_UPSTREAM_TASKS_COMPLETED  # exit tasks
            visit(ref, spec.components[ref])
        if non_exit == 0:
            raise Refused(f"DAG {name} must contain one or more non-exit tasks")  # dag.go

    visit("root", spec.root)


_BUCKET = re.compile(r"(^[a-z][a-z0-9]+:///?)([^/?]+)(/[^?]*)?(\?.+)?$")  # config.go: bucketPattern


def check_pipeline_root(root: str) -> None:
    """backend/src/v2/objectstore/config.go, ParseBucketPathToConfig: object stores only. The root
    DAG's driver parses the run's pipeline root this way before any task starts."""
    match = _BUCKET.match(root or "")
    if match is None:
        raise Refused(f"parse bucket config failed: unrecognized pipeline root format: {root!r}")
    if match.group(1) not in PIPELINE_ROOT_SCHEMES:
        raise Refused(f"parse bucket config failed: unsupported Cloud bucket: {root!r}")


def container_executors(spec: pipeline_spec_pb2.PipelineSpec) -> Dict[str, Dict[str, Any]]:
    executors = json_format.MessageToDict(spec.deployment_spec).get("executors", {})
    return {label: e["container"] for label, e in executors.items() if "container" in e}
