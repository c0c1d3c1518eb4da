"""Compiles the pipeline for Kubeflow Pipelines v2 with TFX's KubeflowV2DagRunner.

The pipeline is `create_pipeline`, the same as the local run; only paths and platform settings
differ. TFX writes a PipelineJob (Vertex's wrapper); an open-source KFP v2 server takes the
PipelineSpec inside it, plus a Kubernetes platform spec, as a two-document YAML file. Both are
written, each to a temporary name first, then renamed.

Components reach their code by dotted path inside the image (no module file on a remote file
system, which fails at compile time).
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from typing import List

import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx import v1 as tfx

from kubeflow import serving_manifests
from kubeflow.platform import KubeflowSettings
from pipeline import configs
from pipeline.pipeline import create_pipeline


@dataclasses.dataclass(frozen=True)
class CompiledPipeline:
    pipeline_yaml: str  # for an open-source KFP v2 server: PipelineSpec + platform spec
    pipeline_job_json: str  # TFX's PipelineJob, for Vertex AI Pipelines
    serving_yaml: str  # Deployment + Service of TF Serving on the Pusher's destination


def _write_atomically(path: str, text: str) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as out:
        out.write(text)
    os.replace(tmp, path)


def pipeline_spec_from_job(job: dict, pipeline_root: str) -> pipeline_spec_pb2.PipelineSpec:
    """The PipelineSpec inside TFX's PipelineJob, parsed strictly (unknown fields fail)."""
    spec = pipeline_spec_pb2.PipelineSpec()
    json_format.ParseDict(job["pipelineSpec"], spec, ignore_unknown_fields=False)
    spec.default_pipeline_root = pipeline_root  # where a KFP server puts artifacts by default
    return spec


def compile_pipeline(settings: configs.PipelineSettings, kubeflow: KubeflowSettings, output_dir: str,
                     pipeline_name: str = configs.PIPELINE_NAME) -> CompiledPipeline:
    pipeline = create_pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=kubeflow.pipeline_root,
        serving_model_dir=kubeflow.pusher_destination,
        beam_pipeline_args=list(kubeflow.beam_args),
        trainer_resources=kubeflow.trainer_resources(),
        **settings.as_kwargs())
    os.makedirs(output_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output_dir) as scratch:
        runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
            config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
                default_image=kubeflow.image, display_name=pipeline_name),
            output_dir=scratch, output_filename="pipeline_job.json")
        runner.run(pipeline, write_out=True)
        with open(os.path.join(scratch, "pipeline_job.json")) as f:
            job = json.load(f)

    spec = pipeline_spec_from_job(job, kubeflow.pipeline_root)
    executors: List[str] = sorted(  # the ones that run a container (resolvers do not)
        name for name, executor in spec.deployment_spec["executors"].items() if "container" in executor)
    platform = kubeflow.platform_spec(executors)
    documents = [json_format.MessageToDict(spec)]
    if platform.platforms:
        documents.append(json_format.MessageToDict(platform))

    compiled = CompiledPipeline(
        pipeline_yaml=os.path.join(output_dir, f"{pipeline_name}.yaml"),
        pipeline_job_json=os.path.join(output_dir, f"{pipeline_name}.pipeline_job.json"),
        serving_yaml=os.path.join(output_dir, f"{kubeflow.model_name}-serving.yaml"))
    _write_atomically(compiled.pipeline_yaml, yaml.safe_dump_all(documents, sort_keys=True))
    _write_atomically(compiled.pipeline_job_json, json.dumps(job, indent=1, sort_keys=True))
    _write_atomically(compiled.serving_yaml, yaml.safe_dump_all(serving_manifests.manifests(kubeflow), sort_keys=False))
    return compiled
