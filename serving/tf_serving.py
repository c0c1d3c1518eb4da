"""The real TF Serving: the files and command line that start `tensorflow_model_server`, for `./imdb serve`
wherever the binary exists (the tensorflow/serving image, Google's apt repository's Debian package)."""

from __future__ import annotations

import os
import shutil
from typing import List, Optional

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from common import atomic_files, paths
from serving import metrics
from serving.options import ServerOptions


def find_binary(explicit: Optional[str] = None) -> Optional[str]:
    if explicit:
        if not (os.path.isfile(explicit) and os.access(explicit, os.X_OK)):
            raise FileNotFoundError(f"model server binary {explicit!r} is not an executable file")
        return explicit
    return shutil.which("tensorflow_model_server")


def model_config(options: ServerOptions) -> str:
    config = model_server_config_pb2.ModelServerConfig()
    model = config.model_config_list.config.add(
        name=options.model_name, base_path=paths.absolute(options.base_path), model_platform="tensorflow")
    model.model_version_policy.latest.num_versions = options.num_versions
    if options.labels:
        model.model_version_policy.ClearField("latest")
        model.model_version_policy.specific.versions.extend(sorted(set(options.labels.values())))
        model.version_labels.update(options.labels)
    return text_format.MessageToString(config)


def command(binary: str, options: ServerOptions, config_dir: str) -> List[str]:
    """Writes the three config files into CONFIG_DIR and returns the command line."""
    b = options.batching
    files = {
        "models.config": model_config(options),
        # BatchingParameters (session_bundle_config.proto; not shipped in tensorflow-serving-api)
        "batching.config": f"max_batch_size {{ value: {b.max_batch_size} }}\n"
                           f"batch_timeout_micros {{ value: {b.batch_timeout_micros} }}\n"
                           f"num_batch_threads {{ value: {b.num_batch_threads} }}\n"
                           f"max_enqueued_batches {{ value: 1000 }}\n",
        # MonitoringConfig (monitoring_config.proto): Prometheus at the same path as our server's
        "monitoring.config": f'prometheus_config {{ enable: true path: "{metrics.PATH}" }}\n'}
    os.makedirs(config_dir, exist_ok=True)
    for name, text in files.items():
        atomic_files.write_text(os.path.join(config_dir, name), text)
    argv = [binary, f"--port={options.grpc_port}", f"--rest_api_port={options.rest_port}",
            f"--model_config_file={os.path.join(config_dir, 'models.config')}",
            f"--monitoring_config_file={os.path.join(config_dir, 'monitoring.config')}",
            f"--file_system_poll_wait_seconds={max(1, round(options.poll_seconds))}"]
    if options.batching.enabled:
        argv += ["--enable_batching", f"--batching_parameters_file={os.path.join(config_dir, 'batching.config')}"]
    return argv
