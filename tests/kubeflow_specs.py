"""Compiled Kubeflow pipelines for tests: the real `./imdb compile` path on gs:// locations, and
KFP 2.17's own backend code judging them (kfpcheck, kubeflow/kfp_go/cmd/kfpcheck)."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from typing import Iterator, NamedTuple

import yaml

import background_builds

from components.model.hparams import TrainingConfig
from kubeflow import kubeflow_v2_runner
from kubeflow.deployment import KubeflowSettings
from pipeline import configs

IMAGE = "registry.example.com/imdb-sentiment-tfx:1.0"
GPU_IMAGE = "registry.example.com/imdb-sentiment-tfx:1.0-gpu"
ROOT = "gs://bucket/tfx"
DATA = "gs://bucket/data/aclImdb_v1.tar.gz"
TASKS = {"ImdbExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator", "Transform", "ApplyTransform",
         "Trainer", "ServedModelBaseline", "Evaluator", "ServingCanary", "Pusher"}


def compile_pipeline(out_dir, settings: configs.PipelineSettings = None, **kubeflow):
    """(CompiledPipeline, [PipelineSpec dict, platform spec dict if any]) written under OUT_DIR."""
    settings = settings or configs.PipelineSettings.for_variant(
        DATA, TrainingConfig(variant="glove"), min_accuracy=0.85, sample_fraction=1.0)
    defaults = {"image": IMAGE, "pipeline_root": ROOT}
    if kubeflow.get("gpus", 1):
        defaults["gpu_image"] = GPU_IMAGE
    compiled = kubeflow_v2_runner.compile_pipeline(settings, KubeflowSettings(**{**defaults, **kubeflow}), str(out_dir))
    with open(compiled.pipeline_yaml) as f:
        documents = list(yaml.safe_load_all(f))
    return compiled, documents


def kfp_verdict(package: str, parameters: dict = None) -> dict:
    """What KFP's API server says of the pipeline file text PACKAGE and a run of it with PARAMETERS:
    kfpcheck's verdict, {"accepted", "stage" ("upload", "run", ...), "error"} (KFP's own message)."""
    background_builds.wait_for("IMDB_KFP_BUILD_DONE", "IMDB_KFP_BUILD_LOG", "building KFP's backend code")
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write(package)
        f.flush()
        tools = os.environ.get("IMDB_KFP_TOOLS")
        assert tools, "IMDB_KFP_TOOLS is not set: run the tests through ./imdb test, which builds kfpcheck"
        result = subprocess.run([os.path.join(tools, "kfpcheck"), "-params",
                                 json.dumps(parameters or {}), f.name], capture_output=True, text=True, timeout=120)
    assert result.returncode in (0, 1) and result.stdout, result.stderr[-2000:]
    return json.loads(result.stdout)


class Refusal(NamedTuple):
    case: str
    package: str  # the pipeline file's text
    parameters: dict  # the run's
    phrase: str  # in KFP's message
    stage: str  # who refuses it: the API server's "upload" or "run" creation, or the driver ("pipeline root")


def refusals(text: str) -> Iterator[Refusal]:
    """What KFP 2.17 refuses, made from the compiled pipeline file's TEXT."""
    spec, *platform = yaml.safe_load_all(text)
    dump = lambda edited: yaml.safe_dump_all([edited, *platform])  # noqa: E731
    yield Refusal("schema 2.0.0", text.replace("schemaVersion: 2.1.0", "schemaVersion: 2.0.0"), {},
                  "KFP only supports schema version 2.1.0", "upload")
    resolver = yaml.safe_load(yaml.safe_dump(spec))
    resolver["deploymentSpec"]["executors"]["Pusher_executor"] = {"resolver": {"outputArtifactQueries": {}}}
    yield Refusal("a resolver", dump(resolver), {}, "non-container and non-importer executor not implemented", "run")
    exits_only = yaml.safe_load(yaml.safe_dump(spec))
    for task in exits_only["root"]["dag"]["tasks"].values():
        task["triggerPolicy"] = {"strategy": "ALL_UPSTREAM_TASKS_COMPLETED"}
    yield Refusal("exit tasks only", dump(exits_only), {}, "DAG root must contain one or more non-exit tasks", "run")
    yield Refusal("a mistyped parameter", text, {"min_accuracy": "high"}, "min_accuracy requires type double or integer",
                  "run")
    yield Refusal("an undeclared parameter", text, {"learning_rate": 0.1}, "not required by pipeline: learning_rate",
                  "run")
    for root, phrase in (("/mnt/tfx/root", "unrecognized pipeline root format"),
                         ("file:///mnt/tfx/root", "unsupported Cloud bucket")):
        yield Refusal(f"pipeline root {root}", dump(dict(spec, defaultPipelineRoot=root)), {}, phrase, "pipeline root")
