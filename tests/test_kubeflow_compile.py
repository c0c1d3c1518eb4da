"""The compiled Kubeflow pipeline: what KFP 2.17 accepts (schema 2.1.0, containers only, typed
parameters), a strict PipelineSpec the kfp SDK loads, GPUs on the Trainer only."""

from __future__ import annotations

import json

import kfp.components
import pytest
import yaml
from google.protobuf import json_format
from kfp.kubernetes import kubernetes_executor_config_pb2 as k8s_pb
from kfp.pipeline_spec import pipeline_spec_pb2

from commands import NATIVE_LINE, python
from common import features, serving_contract
from components.model.hparams import TrainingConfig
from kubeflow.deployment import TRAINER_EXECUTOR, KubeflowSettings
from kubeflow_specs import DATA, GPU_IMAGE, IMAGE, ROOT, TASKS, compile_pipeline
from pipeline import configs, pipeline

BEAM_COMPONENTS = ["ImdbExampleGen", "StatisticsGen", "Transform", "ApplyTransform", "Evaluator"]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    return compile_pipeline(tmp_path_factory.mktemp("kubeflow"))


@pytest.fixture(scope="module")
def spec(compiled) -> dict:
    return compiled[1][0]


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


def test_tasks_and_their_dependencies(spec):
    tasks = spec["root"]["dag"]["tasks"]
    depends = {name: set(task.get("dependentTasks", [])) for name, task in tasks.items()}
    assert depends["ImdbExampleGen"] == set()
    assert depends["Transform"] == {"ImdbExampleGen", "ImportSchemaGen", "ExampleValidator"}  # waits for the data gate
    assert depends["ApplyTransform"] == {"ImdbExampleGen", "Transform"}
    assert depends["Trainer"] == {"ApplyTransform", "Transform", "ImportSchemaGen"}
    assert depends["Evaluator"] == {"Trainer", "ImdbExampleGen", "ServedModelBaseline"}
    assert depends["ServingCanary"] == {"Trainer", "Evaluator", "ImdbExampleGen"}
    assert depends["Pusher"] == {"Trainer", "Evaluator", "ServingCanary"}  # needs the canary's InfraBlessing


def test_the_trainer_runs_in_the_gpu_image_and_the_rest_in_the_cpu_image_with_code_by_dotted_path(spec):
    containers = {name: e["container"] for name, e in _executors(spec).items() if "container" in e}
    assert containers.pop(TRAINER_EXECUTOR)["image"] == GPU_IMAGE
    assert {c["image"] for c in containers.values()} == {IMAGE}
    text = json.dumps(spec)
    assert "module_file" not in text.replace('"module_file": ""', "")
    assert pipeline.PREPROCESSING_FN in text and pipeline.RUN_FN in text
    assert DATA in text and f"{ROOT}/serving_model/{serving_contract.MODEL_NAME}" in text


def test_only_the_trainer_asks_for_gpus(spec):
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


def test_beam_components_get_the_in_pod_fn_api_runner(spec):
    for component in BEAM_COMPONENTS:
        args = _executors(spec)[f"{component}_executor"]["container"]["args"]
        assert "--direct_running_mode=multi_processing" in args, component
        assert "--runner=FnApiRunner" in args, component  # not DirectRunner, which would fetch Prism


def test_run_parameters_are_typed_with_the_settings_as_defaults(spec):
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    assert parameters == {
        "data": {"parameterType": "STRING", "defaultValue": DATA, "isOptional": True},
        "min_accuracy": {"parameterType": "NUMBER_DOUBLE", "defaultValue": 0.85, "isOptional": True},
        "max_accuracy_drop": {"parameterType": "NUMBER_DOUBLE", "defaultValue": 0.0, "isOptional": True},
        "epochs": {"parameterType": "NUMBER_INTEGER", "defaultValue": 10.0, "isOptional": True},
    }
    tasks = spec["root"]["dag"]["tasks"]
    uses = {(task, key): value["componentInputParameter"] for task, t in tasks.items()
            for key, value in t["inputs"].get("parameters", {}).items() if "componentInputParameter" in value}
    assert uses == {("ImdbExampleGen", "input_base"): "data", ("Evaluator", "min_accuracy"): "min_accuracy",
                    ("Evaluator", "max_accuracy_drop"): "max_accuracy_drop", ("Trainer", "epochs"): "epochs"}


def test_tasks_kfp_cannot_cache_correctly_are_not_cached(spec):
    tasks = spec["root"]["dag"]["tasks"]
    uncached = {name for name, task in tasks.items() if not task.get("cachingOptions", {}).get("enableCache")}
    assert uncached == {"ImdbExampleGen", "ServedModelBaseline"}


def test_every_task_is_a_container_running_the_project_entrypoint(spec):
    # Schema 2.1.0, containers only (no resolver, no importer): what KFP accepts (kfpcheck judges it too).
    assert spec["schemaVersion"] == "2.1.0"
    assert {tuple(e["container"]["command"]) for e in _executors(spec).values()} == {
        ("python", "-m", "kubeflow.container_entrypoint")}


def test_cpu_only(tmp_path):
    _, documents = compile_pipeline(tmp_path, gpus=0, gpu_image=GPU_IMAGE)
    assert len(documents) == 1  # no platform spec: nothing to schedule specially
    assert "accelerator" not in _executors(documents[0])[TRAINER_EXECUTOR]["container"]["resources"]
    assert {e["container"]["image"] for e in _executors(documents[0]).values()} == {IMAGE}  # no GPU, no GPU image


@pytest.mark.parametrize("root, refusal", [
    (ROOT, "--gpus 1 needs --gpu-image: the CPU image has no CUDA libraries"),  # a good root, no GPU image
    *((root, "must be a gs:// path.*file system for gs:// only")  # roots the image cannot write
      for root in ["/mnt/tfx/root", "s3://bucket/tfx", "minio://bucket/tfx", "gs://"])])
def test_gpus_without_a_gpu_image_and_roots_the_image_cannot_write_are_refused_with_the_reason(root, refusal):
    with pytest.raises(ValueError, match=refusal):
        KubeflowSettings(image=IMAGE, pipeline_root=root)


def test_compile_command(tmp_path):
    """Also: a remote --glove-path reaches the pods unchanged, and TensorFlow's start-up lines go to the log."""
    glove = "gs://bucket/glove/glove.6B.100d.txt"
    result = python("-m", "kubeflow.cli", "compile", "--image", IMAGE, "--gpu-image", GPU_IMAGE, "--pipeline-root", ROOT,
                    "--data", DATA, "--variant", "glove", "--glove-path", glove, "--gpus", "2", "--gpu-node-selector",
                    "cloud.google.com/gke-accelerator=nvidia-l4", "--output-dir", str(tmp_path), "--",
                    "--runner=DataflowRunner", "--project=p", "--region=r")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stderr == "" and not NATIVE_LINE.search(result.stdout), result.stderr[-2000:]
    [log] = (tmp_path / "logs").iterdir()
    assert NATIVE_LINE.search(log.read_text()) and f"log:                          {log}" in result.stdout
    with open(tmp_path / f"{configs.PIPELINE_NAME}.yaml") as f:
        spec, platform = yaml.safe_load_all(f)
    trainer = _executors(spec)[TRAINER_EXECUTOR]["container"]
    assert trainer["resources"]["accelerator"]["resourceCount"] == "2" and trainer["image"] == GPU_IMAGE
    assert "--runner=DataflowRunner" in _executors(spec)["Transform_executor"]["container"]["args"]
    assert platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"][TRAINER_EXECUTOR]["nodeSelector"] == {
        "labels": {"cloud.google.com/gke-accelerator": "nvidia-l4"}}
    text = json.dumps(spec).replace('\\"', '"')
    assert '"glove"' in text and f'"glove_path": "{glove}"' in text


@pytest.mark.parametrize("options, refusal", [
    (["--data", "/home/me/aclImdb"], "--data '/home/me/aclImdb' must be a gs:// path"),
    (["--gpu-image", GPU_IMAGE, "--data", DATA, "--gpu-node-selector", "gpu-l4"],
     "node selector 'gpu-l4' is not KEY=VALUE"),
])
def test_bad_compile_options_are_refused_by_name_before_anything_is_written(tmp_path, options, refusal):
    result = python("-m", "kubeflow.cli", "compile", "--image", IMAGE, "--pipeline-root", ROOT, *options,
                    "--output-dir", str(tmp_path))
    assert result.returncode == 2
    assert refusal in result.stderr
    assert not list(tmp_path.iterdir())


def test_a_gpu_pipeline_trains_the_blended_variant_when_asked(tmp_path):
    """`compile --variant nb_bilstm`: Transform makes its bag and words, the Trainer (on the GPU node) gets
    both branches' settings as configs.py has them; the notebook's variants keep theirs (the default spec)."""
    settings = configs.PipelineSettings.for_variant(
        DATA, configs.VARIANT_DEFAULTS["nb_bilstm"].training, min_accuracy=0.85, sample_fraction=1.0)
    _, documents = compile_pipeline(tmp_path, settings, gpus=1)
    tasks = documents[0]["root"]["dag"]["tasks"]

    def custom_config(task: str) -> dict:
        return json.loads(tasks[task]["inputs"]["parameters"]["custom_config"]["runtimeValue"]["constant"])

    assert TrainingConfig.from_custom_config(custom_config("Trainer")) == configs.VARIANT_DEFAULTS["nb_bilstm"].training
    transform = custom_config("Transform")
    assert (transform["encoding"], transform["word_max_tokens"], transform["word_sequence_length"], transform["ngrams"]) == (
        features.BAG_AND_WORDS_ENCODING, configs.NOTEBOOK_MAX_TOKENS, configs.NOTEBOOK_SEQUENCE_LENGTH, 3)
    trainer = _executors(documents[0])[TRAINER_EXECUTOR]["container"]
    assert trainer["resources"]["accelerator"]["resourceCount"] == "1" and trainer["image"] == GPU_IMAGE
