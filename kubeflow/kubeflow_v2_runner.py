"""Compiles the pipeline for Kubeflow Pipelines v2 with TFX's KubeflowV2DagRunner.

The pipeline is `create_pipeline`, as in a local run. TFX writes a PipelineJob (Vertex's wrapper);
an open-source KFP v2 server takes the PipelineSpec inside it, plus a Kubernetes platform spec, as a
two-document YAML file, which kubeflow/backend_rules.py checks before it is written: schema 2.1.0,
typed run parameters, container executors only (no resolver), kubeflow.container_entrypoint as
every task's command, no cache where KFP's cache key cannot see the result (the served-model
baseline; ImdbExampleGen, whose key holds the data's path, not its content). Components reach their
code by dotted path inside the image (a module file on a remote file system fails at compile time).
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from typing import Dict

import yaml
from google.protobuf import json_format, struct_pb2
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx import v1 as tfx

from common import atomic_files
from kubeflow import backend_rules, serving_manifests
from kubeflow.deployment import KubeflowSettings
from pipeline import configs
from pipeline.pipeline import RUN_PARAMETERS, UNCACHED_NODES, RuntimeParameter, create_pipeline

ENTRYPOINT = ["python", "-m", "kubeflow.container_entrypoint"]
EXAMPLE_GEN_NODE = "ImdbExampleGen"
# UNCACHED_NODES, and on Kubeflow also ExampleGen, whose data KFP's cache key cannot see.
KFP_UNCACHED_TASKS = (*UNCACHED_NODES, EXAMPLE_GEN_NODE)


@dataclasses.dataclass(frozen=True)
class CompiledPipeline:
    pipeline_yaml: str  # for an open-source KFP v2 server: PipelineSpec + platform spec
    pipeline_job_json: str  # TFX's PipelineJob, for Vertex AI Pipelines
    serving_yaml: str  # Deployment + Service of TF Serving on the Pusher's destination


def run_parameters(settings: configs.PipelineSettings) -> Dict[str, RuntimeParameter]:
    """create_pipeline's arguments that each run may set, defaulting to SETTINGS."""
    defaults = {**settings.as_kwargs(), "epochs": settings.training.epochs}
    return {argument: RuntimeParameter(name=name, ptype=ptype, default=ptype(defaults[argument]))
            for argument, (name, ptype) in RUN_PARAMETERS.items()}


def set_parameter_defaults(spec: pipeline_spec_pb2.PipelineSpec, parameters: Dict[str, RuntimeParameter]) -> None:
    """Writes each run parameter's default into the root's input definitions. TFX puts them only in
    the PipelineJob's runtimeConfig, which a KFP server never sees: it would then require every
    parameter at run creation (apiserver/template/v2_template.go, validatePipelineJobInputs)."""
    for parameter in parameters.values():
        definition = spec.root.input_definitions.parameters[parameter.name]
        kind = "string_value" if parameter.ptype is str else "number_value"
        definition.default_value.CopyFrom(struct_pb2.Value(**{kind: parameter.default}))
        definition.is_optional = True


def compile_pipeline(settings: configs.PipelineSettings, kubeflow: KubeflowSettings, output_dir: str,
                     pipeline_name: str = configs.PIPELINE_NAME) -> CompiledPipeline:
    """Writes the pipeline for KFP, for Vertex and TF Serving's manifests; raises
    backend_rules.Refused (nothing written) if KFP would refuse the pipeline."""
    parameters = run_parameters(settings)
    pipeline = create_pipeline(
        pipeline_name=pipeline_name, pipeline_root=kubeflow.pipeline_root,
        serving_model_dir=kubeflow.pusher_destination, model_name=kubeflow.model_name,
        beam_pipeline_args=list(kubeflow.beam_args), trainer_resources=kubeflow.trainer_resources(),
        schema_file=kubeflow.schema_file,
        **{**settings.as_kwargs(), **parameters})
    os.makedirs(output_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output_dir) as scratch:
        runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
            config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
                default_image=kubeflow.images(), default_commands=ENTRYPOINT, display_name=pipeline_name,
                use_pipeline_spec_2_1=True),
            output_dir=scratch, output_filename="pipeline_job.json")
        runner.run(pipeline, write_out=True)
        with open(os.path.join(scratch, "pipeline_job.json")) as f:
            job = json.load(f)

    # The PipelineSpec inside TFX's PipelineJob, parsed strictly (unknown fields fail).
    spec = json_format.ParseDict(job["pipelineSpec"], pipeline_spec_pb2.PipelineSpec(), ignore_unknown_fields=False)
    spec.default_pipeline_root = kubeflow.pipeline_root  # where a KFP server puts artifacts by default
    set_parameter_defaults(spec, parameters)
    for task in KFP_UNCACHED_TASKS:
        spec.root.dag.tasks[task].caching_options.enable_cache = False
    platform = kubeflow.platform_spec(sorted(backend_rules.container_executors(spec)))
    documents = [json_format.MessageToDict(spec)]
    if platform.platforms:
        documents.append(json_format.MessageToDict(platform))
    pipeline_yaml = yaml.safe_dump_all(documents, sort_keys=True)
    backend_rules.load_upload(pipeline_yaml).check_run({})
    job["pipelineSpec"] = documents[0]  # Vertex runs the same spec

    compiled = CompiledPipeline(
        pipeline_yaml=os.path.join(output_dir, f"{pipeline_name}.yaml"),
        pipeline_job_json=os.path.join(output_dir, f"{pipeline_name}.pipeline_job.json"),
        serving_yaml=os.path.join(output_dir, f"{kubeflow.model_name}-serving.yaml"))
    atomic_files.write_text(compiled.pipeline_yaml, pipeline_yaml)
    atomic_files.write_text(compiled.pipeline_job_json, json.dumps(job, indent=1, sort_keys=True))
    atomic_files.write_text(compiled.serving_yaml, yaml.safe_dump_all(serving_manifests.manifests(kubeflow), sort_keys=False))
    return compiled
