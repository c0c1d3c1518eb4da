"""`./imdb compile` and `./imdb submit`: the pipeline on Kubeflow Pipelines v2.

    ./imdb compile --image REGISTRY/imdb-sentiment-tfx:TAG --pipeline-root gs://BUCKET/tfx \\
                   --data gs://BUCKET/aclImdb_v1.tar.gz
    ./imdb submit --host https://KFP_HOST --experiment imdb
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from common import console, paths, serving_contract  # noqa: E402
from kubeflow import key_values  # noqa: E402
from pipeline import configs, options  # noqa: E402


def compile_parser() -> argparse.ArgumentParser:
    from kubeflow.deployment import DEFAULT_BEAM_ARGS, KubeflowSettings as defaults

    p = argparse.ArgumentParser(prog="./imdb compile", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    options.add_pipeline_options(p, full_by_default=True, remote_data=True)
    k = p.add_argument_group("Kubeflow")
    k.add_argument("--image", required=True, help="the CPU image built from this repository's Dockerfile")
    k.add_argument("--gpu-image", help="the GPU image (Dockerfile, --build-arg VARIANT=gpu), for the Trainer; "
                   "required unless --gpus 0")
    k.add_argument("--pipeline-root", required=True, help="gs://BUCKET/PATH, where artifacts go")
    k.add_argument("--serving-dir", help="gs:// directory the Pusher writes <model name>/<version>/ "
                   "into (default <pipeline root>/serving_model)")
    k.add_argument("--gpus", type=int, default=defaults.gpus,
                   help="GPUs for the Trainer (default %(default)s; 0: CPU only, the CPU image everywhere)")
    k.add_argument("--gpu-resource", default=defaults.gpu_resource)
    k.add_argument("--gpu-node-selector", action="append", metavar="KEY=VALUE",
                   help="node label the Trainer needs (default "
                        + ", ".join(f"{key}={value}" for key, value in defaults.gpu_node_selector) + ")")
    k.add_argument("--gpu-toleration", action="append", metavar="TAINT_KEY",
                   help=f"taint key the Trainer tolerates (default {', '.join(defaults.gpu_tolerations)})")
    k.add_argument("--trainer-cpu", type=float, default=defaults.trainer_cpu)
    k.add_argument("--trainer-memory-gib", type=float, default=defaults.trainer_memory_gib)
    k.add_argument("--pipeline-name", default=configs.PIPELINE_NAME)
    k.add_argument("--model-name", default=serving_contract.MODEL_NAME)
    k.add_argument("--output-dir", default=paths.output_dir("kubeflow"),
                   help="the compiled files and the log (default %(default)s)")
    p.add_argument("beam_args", nargs="*", metavar="-- BEAM_OPTION",
                   help=f"Beam options for every Beam component (default: {' '.join(DEFAULT_BEAM_ARGS)}; "
                        "see docs/kubeflow.md for Dataflow and Flink)")
    return p


def compile_main(argv) -> int:
    from kubeflow import deployment

    args = compile_parser().parse_args(argv)
    try:
        deployment.check_object_store_path("--data", args.data)
        kubeflow = deployment.KubeflowSettings(
            image=args.image, gpu_image=args.gpu_image, pipeline_root=args.pipeline_root,
            serving_model_dir=os.path.join(args.serving_dir, args.model_name) if args.serving_dir else None,
            model_name=args.model_name, beam_args=tuple(args.beam_args) or deployment.DEFAULT_BEAM_ARGS,
            gpus=args.gpus, gpu_resource=args.gpu_resource,
            gpu_node_selector=tuple(key_values.key_values(args.gpu_node_selector or (), "node selector").items())
            or deployment.KubeflowSettings.gpu_node_selector,
            gpu_tolerations=tuple(args.gpu_toleration or ()) or deployment.KubeflowSettings.gpu_tolerations,
            trainer_cpu=args.trainer_cpu, trainer_memory_gib=args.trainer_memory_gib)
    except ValueError as error:
        return console.error(error, 2)
    log_path = os.path.join(args.output_dir, "logs", time.strftime("compile-%Y%m%d-%H%M%S.log"))
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    console.route_logging(log_path)
    # As for a run: TensorFlow's start-up lines and TFX's warnings go to the log, errors to the terminal.
    with console.stderr_to_log(log_path) as terminal:
        from kubeflow import backend_rules, kubeflow_v2_runner

        try:
            settings = options.settings_from(args, args.data)
            settings.validate()
            compiled = kubeflow_v2_runner.compile_pipeline(settings, kubeflow, args.output_dir, args.pipeline_name)
        except backend_rules.Refused as refusal:
            return console.error(f"Kubeflow Pipelines 2.17 would refuse this pipeline: {refusal}", 1, terminal)
        except ValueError as error:
            return console.error(error, 2, terminal)
    print(f"pipeline for a KFP v2 server: {compiled.pipeline_yaml}")
    print(f"PipelineJob for Vertex AI:    {compiled.pipeline_job_json}")
    print(f"TF Serving manifests:         {compiled.serving_yaml}")
    print(f"the Pusher writes to:         {kubeflow.pusher_destination}/<version>/")
    print(f"log:                          {log_path}")
    return 0


def submit_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="./imdb submit", description="Upload the compiled pipeline and start a run.")
    p.add_argument("--host", required=True, help="the KFP API endpoint, e.g. http://localhost:8080")
    p.add_argument("--package", default=paths.output_dir("kubeflow", f"{configs.PIPELINE_NAME}.yaml"),
                   help="the compiled pipeline (default %(default)s, where ./imdb compile writes it)")
    p.add_argument("--pipeline-name", default=configs.PIPELINE_NAME)
    p.add_argument("--namespace", help="the Kubeflow profile namespace (multi-user installs)")
    p.add_argument("--experiment", default=configs.PIPELINE_NAME)
    p.add_argument("--run-name")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a pipeline parameter; VALUE is read as JSON when it parses, else as text")
    p.add_argument("--wait", action="store_true",
                   help="wait for the run to end, print each task's state, and fail unless it succeeded")
    p.add_argument("--timeout-minutes", type=float, default=120,
                   help="with --wait: how long to wait (default %(default)s)")
    return p


def submit_main(argv) -> int:
    from kubeflow import submit

    args = submit_parser().parse_args(argv)
    if not os.path.exists(args.package):
        return console.error(f"{args.package} does not exist; run ./imdb compile first", 2)
    try:
        parameters = key_values.run_parameters(args.param)
    except ValueError as error:
        return console.error(error, 2)
    try:
        done = submit.submit(args.package, args.host, args.pipeline_name, args.experiment, args.run_name,
                             args.namespace, parameters)
    except submit.Refused as refusal:
        return console.error(f"the Kubeflow Pipelines server refused it: {refusal}", 1)
    except submit.Unreachable as error:
        return console.error(f"no answer from the Kubeflow Pipelines server at {error}", 1)
    print(f"run {done.run_id} started (pipeline {done.pipeline_id}, version {done.pipeline_version_id}, "
          f"experiment {done.experiment_id})", flush=True)
    if not args.wait:
        return 0
    try:
        ended = submit.wait(args.host, done.run_id, args.timeout_minutes * 60, args.namespace)
    except TimeoutError as error:
        return console.error(error, 1)
    except submit.Unreachable as error:
        return console.error(f"lost the Kubeflow Pipelines server at {error} while waiting for run "
                             f"{done.run_id}", 1)
    print(submit.describe(ended))
    return 0 if ended.state == "SUCCEEDED" else 1


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    commands = {"compile": compile_main, "submit": submit_main}
    if not argv or argv[0] not in commands:
        print(f"usage: python -m kubeflow.cli {{{','.join(commands)}}} ...", file=sys.stderr)
        return 2
    return commands[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
