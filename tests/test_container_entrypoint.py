"""The Kubeflow task entrypoint hides the launcher's `executor-logs` output from TFX's entrypoint."""

from __future__ import annotations

import json

import pytest

from commands import python
from kubeflow import container_entrypoint

TFX_OUTPUT = {"artifacts": [{"name": "examples", "uri": "gs://b/r/examples",
                             "type": {"instanceSchema": "title: tfx.Examples\ntype: object\n"}}]}
# What KFP 2.17's driver adds to every task (backend/src/v2/driver/driver.go, provisionOutputs).
LAUNCHER_OUTPUT = {"artifacts": [{"name": "executor-logs", "uri": "gs://b/r/executor-logs",
                                  "type": {"schemaTitle": "system.Artifact"}}]}
EXECUTOR_INPUT = {"inputs": {"parameterValues": {"input_base": "gs://b/data"}},
                  "outputs": {"artifacts": {"examples": TFX_OUTPUT, "executor-logs": LAUNCHER_OUTPUT},
                              "outputFile": "/gcs/b/r/output_metadata.json"}}


@pytest.mark.parametrize("form", ["separate", "joined"])
def test_the_launchers_outputs_are_removed_and_nothing_else(form):
    invocation = json.dumps(EXECUTOR_INPUT)
    argv = ["--executor_class_path", "x.Executor"] + (
        ["--json_serialized_invocation_args", invocation] if form == "separate"
        else [f"--json_serialized_invocation_args={invocation}"]) + ["--direct_num_workers=0"]
    rewritten = container_entrypoint.rewrite_argv(argv)
    passed = json.loads(rewritten[3] if form == "separate" else rewritten[2].split("=", 1)[1])
    assert list(passed["outputs"]["artifacts"]) == ["examples"]
    assert passed["inputs"] == EXECUTOR_INPUT["inputs"]
    assert passed["outputs"]["outputFile"] == EXECUTOR_INPUT["outputs"]["outputFile"]
    assert rewritten[-1] == "--direct_num_workers=0" and rewritten[:2] == argv[:2]


def test_tfx_alone_fails_on_the_launchers_output_and_the_entrypoint_does_not(tmp_path):
    """Both run a real TFX executor (ServedModelBaseline's) on the same ExecutorInput."""
    executor_input = {
        "inputs": {"parameterValues": {"serving_model_dir": str(tmp_path / "served")}},
        "outputs": {"artifacts": {
            "model": {"artifacts": [{"name": "model", "uri": str(tmp_path / "model"),
                                     "type": {"instanceSchema": "title: tfx.Model\ntype: object\n"}}]},
            "executor-logs": {"artifacts": [{"name": "executor-logs", "uri": str(tmp_path / "logs"),
                                             "type": {"schemaTitle": "system.Artifact"}}]}},
            "outputFile": str(tmp_path / "output_metadata.json")}}
    inputs_spec = {"parameters": {"serving_model_dir": {"parameterType": "STRING"}}}
    args = ["--executor_class_path", "components.served_baseline.Executor",
            "--json_serialized_invocation_args", json.dumps(executor_input),
            "--json_serialized_inputs_spec_args", json.dumps(inputs_spec)]
    plain = python("-m", container_entrypoint.TFX_ENTRYPOINT, *args)
    assert plain.returncode != 0 and "system.Artifact" in plain.stderr
    ours = python("-m", "kubeflow.container_entrypoint", *args)
    assert ours.returncode == 0, ours.stderr[-2000:]
    output = json.loads((tmp_path / "output_metadata.json").read_text())
    assert list(output["artifacts"]) == ["model"]
    assert output["artifacts"]["model"]["artifacts"][0]["metadata"]["baseline_found"] == 0


def test_a_missing_invocation_is_named():
    with pytest.raises(SystemExit, match="--json_serialized_invocation_args is missing"):
        container_entrypoint.rewrite_argv(["--executor_class_path", "x.Executor"])


def test_input_artifacts_without_a_type_get_the_declared_one():
    """KFP 2.17's driver resolves inputs with an empty schema (backend/src/v2/metadata/client.go:1144)."""
    examples = "title: tfx.Examples\ntype: object\n"
    executor_input = {"inputs": {"artifacts": {"examples": {"artifacts": [
        {"name": "x", "uri": "gs://b/r/examples", "type": {"instanceSchema": ""}}]}}},
        "outputs": {"artifacts": {"executor-logs": LAUNCHER_OUTPUT}}}
    inputs_spec = {"artifacts": {"examples": {"artifactType": {"instanceSchema": examples}}}}
    argv = ["--json_serialized_invocation_args", json.dumps(executor_input),
            f"--json_serialized_inputs_spec_args={json.dumps(inputs_spec)}"]
    passed = json.loads(container_entrypoint.rewrite_argv(argv)[1])
    [artifact] = passed["inputs"]["artifacts"]["examples"]["artifacts"]
    assert artifact["type"] == {"instanceSchema": examples} and artifact["uri"] == "gs://b/r/examples"
    assert passed["outputs"]["artifacts"] == {}
    with pytest.raises(SystemExit, match="input artifact 'examples' has no type"):
        container_entrypoint.rewrite_argv(argv[:2])
