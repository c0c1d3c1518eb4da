"""Which package may load which, checked in a fresh interpreter per module.

The serving side starts without TFX, Beam or the pipeline (a TF Serving client or the model
server has no use for them); the shared names load nothing heavy; `./imdb run`'s entry point
loads TensorFlow only after it has pointed stderr at the run's log (components/console.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _loaded_packages(module: str) -> set:
    code = f"import json, sys; import {module}; print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    return set(json.loads(run.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("module", ["serving.cli", "serving.local_server", "serving.tf_serving", "serving.client"])
def test_serving_loads_neither_tfx_nor_the_pipeline(module):
    loaded = _loaded_packages(module)
    assert not loaded & {"tfx", "apache_beam", "pipeline", "kubeflow", "tensorflow_transform"}, module


def test_the_tf_serving_launcher_does_not_load_the_projects_server():
    assert not _loaded_packages("serving.tf_serving") & {"uvicorn"}


@pytest.mark.parametrize("module", ["serving.cli", "serving.client"])
def test_predict_over_rest_loads_no_tensorflow(module):
    assert "tensorflow" not in _loaded_packages(module)


def test_the_serving_contract_loads_nothing_heavy():
    assert not _loaded_packages("components.serving_contract") & {"tensorflow", "numpy", "tfx"}


def test_the_run_command_loads_tensorflow_only_when_running():
    assert "tensorflow" not in _loaded_packages("pipeline.cli")
