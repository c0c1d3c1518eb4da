"""Kubernetes manifests that serve the pushed model with the official TF Serving image.

TF Serving polls the Pusher's destination, the model's base path, and loads each new version.
"""

from __future__ import annotations

from typing import Dict, List

from common import serving_contract
from kubeflow.deployment import KubeflowSettings

# The TF Serving release built on the TensorFlow that trains the model: an older server may lack ops
# the model uses (tests/test_serving_compatibility.py ties the two). tensorflow-serving-api stays at
# 2.19.1, as tfx-bsl 1.21 requires (<2.20); it only carries the API's protos, which did not change.
SERVING_IMAGE = "tensorflow/serving:2.21.0"
PORTS = {"grpc": serving_contract.GRPC_PORT, "http": serving_contract.REST_PORT}


def _labels(name: str) -> Dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/component": "model-server"}


def _manifest(api_version: str, kind: str, name: str, spec: dict) -> dict:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "labels": _labels(name)}, "spec": spec}


def deployment(settings: KubeflowSettings, name: str) -> dict:
    model = settings.model_name
    container = {
        "name": "tensorflow-serving", "image": SERVING_IMAGE,
        "args": [f"--model_name={model}", f"--model_base_path={settings.pusher_destination}",
                 f"--port={serving_contract.GRPC_PORT}", f"--rest_api_port={serving_contract.REST_PORT}",
                 "--file_system_poll_wait_seconds=30"],
        "ports": [{"name": port_name, "containerPort": port} for port_name, port in PORTS.items()],
        # Ready once the model's latest version is AVAILABLE: the model status endpoint answers 200.
        "readinessProbe": {"httpGet": {"path": f"/v1/models/{model}", "port": "http"},
                           "initialDelaySeconds": 10, "periodSeconds": 10},
        "livenessProbe": {"tcpSocket": {"port": "grpc"}, "initialDelaySeconds": 30, "periodSeconds": 20},
        "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}},
    }
    return _manifest("apps/v1", "Deployment", name, {
        "replicas": 1,
        "selector": {"matchLabels": _labels(name)},
        "template": {"metadata": {"labels": _labels(name)}, "spec": {"containers": [container]}},
    })


def service(name: str) -> dict:
    return _manifest("v1", "Service", name, {
        "selector": _labels(name),
        "ports": [{"name": port_name, "port": port, "targetPort": port_name, "protocol": "TCP"}
                  for port_name, port in PORTS.items()],
    })


def manifests(settings: KubeflowSettings) -> List[dict]:
    name = settings.model_name.replace("_", "-") + "-serving"
    return [deployment(settings, name), service(name)]
