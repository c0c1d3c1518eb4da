"""Which package may load which, in a fresh interpreter per module: the serving side starts without
TFX, Beam or the pipeline (no use for them); the shared names load nothing heavy; `./imdb run`'s entry
point loads TensorFlow only after pointing stderr at the run's log (common/console.py)."""

from __future__ import annotations

import pytest

from commands import REPO, python, python_json


PIPELINE_SIDE = {"tfx", "apache_beam", "pipeline", "kubeflow", "tensorflow_transform"}


@pytest.mark.parametrize("module, not_loaded", [
    ("serving.cli", PIPELINE_SIDE | {"tensorflow"}),  # predict over REST needs no TensorFlow
    ("serving.client", PIPELINE_SIDE | {"tensorflow"}),
    ("serving.local_server", PIPELINE_SIDE),
    ("serving.tf_serving", PIPELINE_SIDE | {"uvicorn"}),  # TF Serving's launcher, not the project's server
    ("common.serving_contract", {"tensorflow", "numpy", "tfx"}),
    ("pipeline.cli", {"tensorflow"}),  # only once it runs
])
def test_a_module_loads_only_what_it_needs(module, not_loaded):
    code = f"import json, sys; import {module}; print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    assert not set(python_json("-c", code, cwd=REPO)) & not_loaded


def test_kubeflows_own_sdks_and_this_kubeflow_folder_import_side_by_side():
    """kubeflow/ is a namespace package: beside Kubeflow's training SDK (kubeflow.training, whose
    kubeflow/__init__.py extends its path), both import, in either order."""
    for first, second in (("kubeflow.training", "kubeflow.submit"), ("kubeflow.submit", "kubeflow.training")):
        code = f"import {first}, {second}; print('ok')"
        run = python("-c", code, cwd=REPO)
        assert run.returncode == 0 and run.stdout.strip().endswith("ok"), run.stderr[-2000:]
