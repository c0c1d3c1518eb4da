"""Kubeflow platform settings: the container images, where artifacts go, and the Trainer's GPUs.

Only the Trainer asks for accelerators: its resources go into the pipeline spec (TFX copies the
node's platform_config), its scheduling onto GPU nodes into the Kubernetes platform spec (kfp-kubernetes).
"""

from __future__ import annotations

import dataclasses
import posixpath
from typing import Dict, List, Optional, Tuple

from google.protobuf import json_format
from kfp.kubernetes import kubernetes_executor_config_pb2 as k8s_pb
from kfp.pipeline_spec import pipeline_spec_pb2

from common import serving_contract

TRAINER_NODE = "Trainer"
TRAINER_EXECUTOR = f"{TRAINER_NODE}_executor"  # TFX names each executor "<node id>_executor"
# TFX's default_image key for every component not named (kubeflow/v2/pipeline_builder.py, DEFAULT_IMAGE_PATH_KEY).
DEFAULT_IMAGE_KEY = "default_image_path"

# In a pod, Beam's FnApiRunner with one worker process per core, named as local runs name it
# (pipeline/beam_runners.py): Beam 2.77's DirectRunner would first fetch Prism from GitHub in every pod.
DEFAULT_BEAM_ARGS: Tuple[str, ...] = ("--runner=FnApiRunner", "--direct_running_mode=multi_processing",
                                      "--direct_num_workers=0")

ResourceSpec = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec

# Where the image (Dockerfile) holds the curated schema that ImportSchemaGen reads in its pod.
IMAGE_SCHEMA_FILE = "/src/components/schema/schema.pbtxt"  # the Dockerfile copies the source to /src

# What KFP's launcher accepts as a pipeline root (backend/src/v2/objectstore/config.go) and the image's
# TensorFlow 2.21 can use (gs://, not s3://): others are refused at compile time, not in a failed pod.
SUPPORTED_SCHEME = "gs://"


def check_object_store_path(what: str, path: str) -> None:
    if not path.startswith(SUPPORTED_SCHEME) or len(path) <= len(SUPPORTED_SCHEME):
        raise ValueError(
            f"{what} {path!r} must be a gs:// path: Kubeflow's launcher accepts only object-store "
            "pipeline roots (gs://, s3://, minio://), and of those the image's TensorFlow has a file "
            "system for gs:// only")


@dataclasses.dataclass(frozen=True)
class KubeflowSettings:
    """What differs between clusters; the pipeline itself is the same as the local one."""

    image: str  # the CPU image: every component but the Trainer (and the Trainer without GPUs)
    pipeline_root: str  # gs://...
    gpu_image: Optional[str] = None  # the GPU image (Dockerfile, --build-arg VARIANT=gpu): the Trainer's
    serving_model_dir: Optional[str] = None  # default: <pipeline_root>/serving_model/<model name>
    model_name: str = serving_contract.MODEL_NAME
    beam_args: Tuple[str, ...] = DEFAULT_BEAM_ARGS
    gpus: int = 1
    gpu_resource: str = "nvidia.com/gpu"  # the extended resource the device plugin exposes
    gpu_node_selector: Tuple[Tuple[str, str], ...] = (("nvidia.com/gpu.present", "true"),)
    gpu_tolerations: Tuple[str, ...] = ("nvidia.com/gpu",)  # taint keys tolerated (Exists, NoSchedule)
    trainer_cpu: float = 4.0
    trainer_memory_gib: float = 16.0
    schema_file: str = IMAGE_SCHEMA_FILE  # as the pods see it

    def __post_init__(self):
        if not self.image:
            raise ValueError("image must name the container image the components run in")
        check_object_store_path("pipeline_root", self.pipeline_root)
        check_object_store_path("serving directory", self.pusher_destination)
        if self.gpus < 0:
            raise ValueError(f"gpus must not be negative, not {self.gpus}")
        if self.gpus and not self.gpu_image:
            raise ValueError(
                f"--gpus {self.gpus} needs --gpu-image: the CPU image has no CUDA libraries, so the Trainer "
                "would train on the GPU node's CPU. Build the GPU image (docs/kubeflow.md) or pass --gpus 0")

    def images(self) -> Dict[str, str]:
        """TFX's default_image map: the GPU image for the Trainer when it has GPUs, else the CPU image."""
        return {DEFAULT_IMAGE_KEY: self.image, **({TRAINER_NODE: self.gpu_image} if self.gpus else {})}

    @property
    def pusher_destination(self) -> str:
        """<serving dir>/<model name>: the base path TF Serving is given."""
        return self.serving_model_dir or posixpath.join(self.pipeline_root, "serving_model", self.model_name)

    def trainer_resources(self) -> ResourceSpec:
        """CPU, memory and GPUs of the Trainer's container, in the legacy and current fields."""
        accelerator = ResourceSpec.AcceleratorConfig(type=self.gpu_resource, count=self.gpus,
                                                     resource_type=self.gpu_resource, resource_count=str(self.gpus))
        return ResourceSpec(
            cpu_limit=self.trainer_cpu, memory_limit=self.trainer_memory_gib,
            resource_cpu_limit=f"{self.trainer_cpu:g}", resource_memory_limit=f"{self.trainer_memory_gib:g}G",
            accelerator=accelerator if self.gpus else None)

    def platform_spec(self, executors: List[str]) -> pipeline_spec_pb2.PlatformSpec:
        """The Kubernetes platform spec: GPU-node scheduling for the Trainer's executor only."""
        spec = pipeline_spec_pb2.PlatformSpec()
        if TRAINER_EXECUTOR in executors and self.gpus:
            scheduling = k8s_pb.KubernetesExecutorConfig(tolerations=[
                k8s_pb.Toleration(key=key, operator="Exists", effect="NoSchedule") for key in self.gpu_tolerations])
            scheduling.node_selector.labels.update(dict(self.gpu_node_selector))
            as_dict = json_format.MessageToDict(scheduling)
            if as_dict:
                spec.platforms["kubernetes"].deployment_spec.executors[TRAINER_EXECUTOR].update(as_dict)
        return spec
