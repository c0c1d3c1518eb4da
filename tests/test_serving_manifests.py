"""The TF Serving manifests load into the Kubernetes client's models, field for field."""

from __future__ import annotations

import pytest
import yaml
from kubernetes import client

from kubeflow import serving_manifests
from kubeflow.deployment import KubeflowSettings

KINDS = {"Deployment": "V1Deployment", "Service": "V1Service"}


def strict_load(document: dict):
    """Deserializes into the client's model and back; a misspelled or misplaced field is lost on
    the way, so the round trip must give the document back unchanged."""
    api = client.ApiClient()
    model = api._ApiClient__deserialize(document, KINDS[document["kind"]])
    assert api.sanitize_for_serialization(model) == document
    return model


@pytest.mark.parametrize("settings", [
    KubeflowSettings(image="i", gpus=0, pipeline_root="gs://bucket/tfx"),
    KubeflowSettings(image="i", gpus=0, pipeline_root="gs://bucket/tfx", serving_model_dir="gs://models/imdb"),
])
def test_manifests_are_valid_and_serve_the_pushers_destination(settings, tmp_path):
    path = tmp_path / "serving.yaml"
    path.write_text(yaml.safe_dump_all(serving_manifests.manifests(settings)))
    deployment, service = (strict_load(d) for d in yaml.safe_load_all(path.read_text()))

    [container] = deployment.spec.template.spec.containers
    assert container.image.startswith("tensorflow/serving:")
    assert f"--model_base_path={settings.pusher_destination}" in container.args
    assert f"--model_name={settings.model_name}" in container.args
    assert container.readiness_probe.http_get.path == f"/v1/models/{settings.model_name}"
    assert {p.name: p.container_port for p in container.ports} == {"grpc": 8500, "http": 8501}
    assert container.resources.limits and container.resources.requests
    assert deployment.spec.selector.match_labels == deployment.spec.template.metadata.labels
    assert service.spec.selector == deployment.spec.template.metadata.labels
    assert {p.name: p.port for p in service.spec.ports} == {"grpc": 8500, "http": 8501}


def test_a_misspelled_field_fails():
    document = serving_manifests.manifests(KubeflowSettings(image="i", gpus=0, pipeline_root="gs://b/r"))[0]
    document["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(AssertionError):
        strict_load(document)
