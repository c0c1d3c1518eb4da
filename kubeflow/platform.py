"""Kubeflow platform settings: the container image, where artifacts go, and the Trainer's GPUs.

Only the Trainer asks for accelerators. Its resources go into the pipeline spec (TFX copies a
ResourceSpec given as the node's platform_config); its scheduling onto GPU nodes goes into the
Kubernetes platform spec, which TFX does not write, as the kfp-kubernetes extension defines it.
"""

from __future__ import annotations

import dataclasses
import posixpath
from typing import List, Optional, Tuple

from google.protobuf import json_format
from kfp.kubernetes import kubernetes_executor_config_pb2 as k8s_pb
from kfp.pipeline_spec import pipeline_spec_pb2

from pipeline import configs

TRAINER_EXECUTOR = "Trainer_executor"  # TFX names each executor "<node id>_executor"

# In a pod, Beam's DirectRunner uses one worker process per core.
DEFAULT_BEAM_ARGS: Tuple[str, ...] = ("--direct_running_mode=multi_processing", "--direct_num_workers=0")

ResourceSpec = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec


@dataclasses.dataclass(frozen=True)
class KubeflowSettings:
    """What differs between clusters; the pipeline itself is the same as the local one."""

    image: str
    pipeline_root: str  # gs://..., s3://... (MinIO), or a path on a volume every pod mounts
    serving_model_dir: Optional[str] = None  # default: <pipeline_root>/serving_model/<model name>
    model_name: str = configs.MODEL_NAME
    beam_args: Tuple[str, ...] = DEFAULT_BEAM_ARGS
    gpus: int = 1
    gpu_resource: str = "nvidia.com/gpu"  # the extended resource the device plugin exposes
    gpu_node_selector: Tuple[Tuple[str, str], ...] = (("nvidia.com/gpu.present", "true"),)
    gpu_tolerations: Tuple[str, ...] = ("nvidia.com/gpu",)  # taint keys tolerated (Exists, NoSchedule)
    trainer_cpu: float = 4.0
    trainer_memory_gib: float = 16.0
    volume_claim: Optional[str] = None  # a PVC mounted in every pod, when the root is a path
    volume_mount_path: Optional[str] = None

    def __post_init__(self):
        if not self.image:
            raise ValueError("image must name the container image the components run in")
        if not self.pipeline_root:
            raise ValueError("pipeline_root must be set (gs://, s3://, or a mounted volume path)")
        if self.gpus < 0:
            raise ValueError(f"gpus must not be negative, not {self.gpus}")
        on_volume = "://" not in self.pipeline_root
        if on_volume and not (self.volume_claim and self.volume_mount_path):
            raise ValueError(f"pipeline_root {self.pipeline_root!r} is a path: give the volume claim "
                             "that holds it and where to mount it (volume_claim, volume_mount_path)")
        if on_volume and not self.pipeline_root.startswith(self.volume_mount_path.rstrip("/") + "/"):
            raise ValueError(f"pipeline_root {self.pipeline_root!r} must lie under the volume's "
                             f"mount path {self.volume_mount_path!r}")

    @property
    def pusher_destination(self) -> str:
        """<serving dir>/<model name>: the base path TF Serving is given."""
        return self.serving_model_dir or posixpath.join(self.pipeline_root, "serving_model", self.model_name)

    def trainer_resources(self) -> ResourceSpec:
        """CPU, memory and GPUs of the Trainer's container, in the legacy and current fields."""
        spec = ResourceSpec(
            cpu_limit=self.trainer_cpu, memory_limit=self.trainer_memory_gib,
            resource_cpu_limit=f"{self.trainer_cpu:g}", resource_memory_limit=f"{self.trainer_memory_gib:g}G")
        if self.gpus:
            spec.accelerator.type = self.gpu_resource
            spec.accelerator.count = self.gpus
            spec.accelerator.resource_type = self.gpu_resource
            spec.accelerator.resource_count = str(self.gpus)
        return spec

    def trainer_scheduling(self) -> k8s_pb.KubernetesExecutorConfig:
        config = k8s_pb.KubernetesExecutorConfig()
        if self.gpus:
            config.node_selector.labels.update(dict(self.gpu_node_selector))
            for key in self.gpu_tolerations:
                config.tolerations.append(k8s_pb.Toleration(key=key, operator="Exists", effect="NoSchedule"))
        return config

    def volume(self) -> k8s_pb.KubernetesExecutorConfig:
        config = k8s_pb.KubernetesExecutorConfig()
        if self.volume_claim:
            config.pvc_mount.append(k8s_pb.PvcMount(constant=self.volume_claim, mount_path=self.volume_mount_path))
        return config

    def platform_spec(self, executors: List[str]) -> pipeline_spec_pb2.PlatformSpec:
        """The Kubernetes platform spec: GPU-node scheduling for the Trainer's executor only, and
        the pipeline root's volume (if it is on one) for every executor."""
        spec = pipeline_spec_pb2.PlatformSpec()
        for executor in executors:
            config = self.volume()
            if executor == TRAINER_EXECUTOR:
                config.MergeFrom(self.trainer_scheduling())
            as_dict = json_format.MessageToDict(config)
            if as_dict:
                spec.platforms["kubernetes"].deployment_spec.executors[executor].update(as_dict)
        return spec

