"""Kubernetes manifests that serve the pushed model with the official TF Serving image.

They read the Pusher's destination, the model's base path, so what the pipeline pushes is what
the cluster serves: TF Serving polls that directory and loads each new version.
"""

from __future__ import annotations

from typing import Dict, List

from common import serving_contract
from kubeflow.deployment import KubeflowSettings

# The TF Serving release built on the TensorFlow that trains the model: an older server may lack
# ops or kernels the model uses (tests/test_serving_compatibility.py ties the two). The Python
# tensorflow-serving-api stays at 2.19.1, as tfx-bsl 1.21 requires (<2.20); it only carries the
# API's protos, which did not change.
SERVING_IMAGE = "tensorflow/serving:2.21.0"


def _labels(name: str) -> Dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/component": "model-server"}


def deployment(settings: KubeflowSettings, name: str) -> dict:
    model = settings.model_name
    container = {
        "name": "tensorflow-serving",
        "image": SERVING_IMAGE,
        "args": [
            f"--model_name={model}",
            f"--model_base_path={settings.pusher_destination}",
            f"--port={serving_contract.GRPC_PORT}",
            f"--rest_api_port={serving_contract.REST_PORT}",
            "--file_system_poll_wait_seconds=30",
        ],
        "ports": [{"name": "grpc", "containerPort": serving_contract.GRPC_PORT}, {"name": "http", "containerPort": serving_contract.REST_PORT}],
        # Ready once the model's latest version is AVAILABLE: the model status endpoint answers 200.
        "readinessProbe": {"httpGet": {"path": f"/v1/models/{model}", "port": "http"},
                           "initialDelaySeconds": 10, "periodSeconds": 10},
        "livenessProbe": {"tcpSocket": {"port": "grpc"}, "initialDelaySeconds": 30, "periodSeconds": 20},
        "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": _labels(name)},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": _labels(name)},
            "template": {"metadata": {"labels": _labels(name)}, "spec": {"containers": [container]}},
        },
    }


def service(name: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": _labels(name)},
        "spec": {
            "selector": _labels(name),
            "ports": [
                {"name": "grpc", "port": serving_contract.GRPC_PORT, "targetPort": "grpc", "protocol": "TCP"},
                {"name": "http", "port": serving_contract.REST_PORT, "targetPort": "http", "protocol": "TCP"},
            ],
        },
    }


def manifests(settings: KubeflowSettings) -> List[dict]:
    name = settings.model_name.replace("_", "-") + "-serving"
    return [deployment(settings, name), service(name)]
