"""Compiled Kubeflow pipelines for tests: the real `./imdb compile` path on gs:// locations."""

from __future__ import annotations

import yaml

from components.model.hparams import TrainingConfig
from kubeflow import kubeflow_v2_runner
from kubeflow.deployment import KubeflowSettings
from pipeline import configs

IMAGE = "registry.example.com/imdb-sentiment-tfx:1.0"
GPU_IMAGE = "registry.example.com/imdb-sentiment-tfx:1.0-gpu"
ROOT = "gs://bucket/tfx"
DATA = "gs://bucket/data/aclImdb_v1.tar.gz"


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
