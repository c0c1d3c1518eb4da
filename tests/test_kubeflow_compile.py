"""The compiled Kubeflow pipeline: a strict PipelineSpec the kfp SDK loads, GPUs on the Trainer only."""

from __future__ import annotations

import json
import subprocess
import sys

import kfp.components
import pytest
import yaml
from google.protobuf import json_format
from kfp.kubernetes import kubernetes_executor_config_pb2 as k8s_pb
from kfp.pipeline_spec import pipeline_spec_pb2

from components.model.hparams import TrainingConfig
from kubeflow import kubeflow_v2_runner
from kubeflow.platform import TRAINER_EXECUTOR, KubeflowSettings
from pipeline import configs, pipeline

IMAGE = "registry.example.com/imdb-sentiment-tfx:1.0"
ROOT = "gs://bucket/tfx"
DATA = "gs://bucket/data/aclImdb_v1.tar.gz"
TASKS = {"ImdbExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "Transform", "Trainer",
         "latest_blessed_model_resolver-model-resolver",
         "latest_blessed_model_resolver-model-blessing-resolver", "Evaluator", "Pusher"}
BEAM_COMPONENTS = ["ImdbExampleGen", "StatisticsGen", "Transform", "Evaluator"]


def _compile(tmp_path, **kubeflow):
    settings = configs.PipelineSettings(data_path=DATA, training=TrainingConfig(variant="glove"),
                                        min_accuracy=0.85, sample_fraction=1.0)
    compiled = kubeflow_v2_runner.compile_pipeline(
        settings, KubeflowSettings(**{"image": IMAGE, "pipeline_root": ROOT, **kubeflow}), str(tmp_path))
    with open(compiled.pipeline_yaml) as f:
        documents = list(yaml.safe_load_all(f))
    return compiled, documents


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    return _compile(tmp_path_factory.mktemp("kubeflow"))


def _executors(spec: dict) -> dict:
    return spec["deploymentSpec"]["executors"]


def test_spec_parses_strictly_and_loads_with_the_kfp_sdk(compiled):
    paths, (spec, platform) = compiled
    json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec(), ignore_unknown_fields=False)
    json_format.ParseDict(platform, pipeline_spec_pb2.PlatformSpec(), ignore_unknown_fields=False)
    component = kfp.components.load_component_from_file(paths.pipeline_yaml)
    assert component.name == configs.PIPELINE_NAME
    assert set(component.pipeline_spec.root.dag.tasks) == TASKS
    assert spec["defaultPipelineRoot"] == ROOT
    with open(paths.pipeline_job_json) as f:
        assert json.load(f)["pipelineSpec"]["root"] == spec["root"]  # the Vertex wrapper holds the same


def test_tasks_and_their_dependencies(compiled):
    _, (spec, _) = compiled
    tasks = spec["root"]["dag"]["tasks"]
    depends = {name: set(task.get("dependentTasks", [])) for name, task in tasks.items()}
    assert depends["ImdbExampleGen"] == set()
    assert depends["Transform"] == {"ImdbExampleGen", "SchemaGen"}
    assert depends["Trainer"] == {"Transform", "SchemaGen"}
    assert {"Trainer", "ImdbExampleGen", "latest_blessed_model_resolver-model-resolver"} <= depends["Evaluator"]
    assert depends["Pusher"] == {"Trainer", "Evaluator"}


def test_every_component_runs_in_the_image_with_code_by_dotted_path(compiled):
    _, (spec, _) = compiled
    containers = {name: e["container"] for name, e in _executors(spec).items() if "container" in e}
    assert {c["image"] for c in containers.values()} == {IMAGE}
    text = json.dumps(spec)
    assert "module_file" not in text.replace('"module_file": ""', "")
    assert pipeline.PREPROCESSING_FN in text and pipeline.RUN_FN in text
    assert DATA in text and f"{ROOT}/serving_model/{configs.MODEL_NAME}" in text


def test_only_the_trainer_asks_for_gpus(compiled):
    _, (spec, _) = compiled
    with_resources = {name: e["container"]["resources"] for name, e in _executors(spec).items()
                      if "resources" in e.get("container", {})}
    assert list(with_resources) == [TRAINER_EXECUTOR]
    resources = with_resources[TRAINER_EXECUTOR]
    assert resources["accelerator"]["resourceType"] == "nvidia.com/gpu"
    assert resources["accelerator"]["resourceCount"] == "1"
    assert resources["resourceCpuLimit"] == "4" and resources["resourceMemoryLimit"] == "16G"


def test_only_the_trainer_is_scheduled_onto_gpu_nodes(compiled):
    _, (_, platform) = compiled
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert list(executors) == [TRAINER_EXECUTOR]
    config = json_format.ParseDict(executors[TRAINER_EXECUTOR], k8s_pb.KubernetesExecutorConfig(),
                                   ignore_unknown_fields=False)
    assert dict(config.node_selector.labels) == {"nvidia.com/gpu.present": "true"}
    assert [(t.key, t.operator, t.effect) for t in config.tolerations] == [("nvidia.com/gpu", "Exists", "NoSchedule")]


def test_beam_components_get_the_in_pod_direct_runner(compiled):
    _, (spec, _) = compiled
    for component in BEAM_COMPONENTS:
        args = _executors(spec)[f"{component}_executor"]["container"]["args"]
        assert "--direct_running_mode=multi_processing" in args, component


def test_cpu_only_and_a_volume_for_the_pipeline_root(tmp_path):
    _, documents = _compile(tmp_path, gpus=0, pipeline_root="/mnt/tfx/root", volume_claim="tfx-data",
                            volume_mount_path="/mnt/tfx")
    spec, platform = documents
    assert "accelerator" not in _executors(spec)[TRAINER_EXECUTOR]["container"]["resources"]
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert set(executors) == {name for name, e in _executors(spec).items() if "container" in e}
    for config in executors.values():
        assert config == {"pvcMount": [{"constant": "tfx-data", "mountPath": "/mnt/tfx"}]}


def test_a_root_on_a_path_needs_its_volume():
    with pytest.raises(ValueError, match="volume claim"):
        KubeflowSettings(image=IMAGE, pipeline_root="/mnt/tfx/root")
    with pytest.raises(ValueError, match="must lie under"):
        KubeflowSettings(image=IMAGE, pipeline_root="/data/root", volume_claim="c", volume_mount_path="/mnt/tfx")


def test_compile_command(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "kubeflow.cli", "compile", "--image", IMAGE, "--pipeline-root", ROOT,
         "--data", DATA, "--variant", "one_hot", "--gpus", "2", "--gpu-node-selector",
         "cloud.google.com/gke-accelerator=nvidia-l4", "--output-dir", str(tmp_path), "--",
         "--runner=DataflowRunner", "--project=p", "--region=r"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    with open(tmp_path / f"{configs.PIPELINE_NAME}.yaml") as f:
        spec, platform = yaml.safe_load_all(f)
    trainer = _executors(spec)[TRAINER_EXECUTOR]["container"]
    assert trainer["resources"]["accelerator"]["resourceCount"] == "2"
    assert "--runner=DataflowRunner" in _executors(spec)["Transform_executor"]["container"]["args"]
    assert platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"][TRAINER_EXECUTOR]["nodeSelector"] == {
        "labels": {"cloud.google.com/gke-accelerator": "nvidia-l4"}}
    assert '"one_hot"' in json.dumps(spec).replace('\\"', '"')


def test_a_malformed_node_selector_is_named(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "kubeflow.cli", "compile", "--image", IMAGE, "--pipeline-root", ROOT,
         "--data", DATA, "--gpu-node-selector", "gpu-l4", "--output-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert "node selector 'gpu-l4' is not KEY=VALUE" in result.stderr
    assert not list(tmp_path.iterdir())  # nothing written
