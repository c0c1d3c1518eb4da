"""Which package may load which, checked in a fresh interpreter per module.

The serving side starts without TFX, Beam or the pipeline (a TF Serving client or the model
server has no use for them); the shared names load nothing heavy; `./imdb run`'s entry point
loads TensorFlow only after it has pointed stderr at the run's log (common/console.py).
"""

from __future__ import annotations

import pytest

from commands import REPO, python, python_json


def _loaded_packages(module: str) -> set:
    code = f"import json, sys; import {module}; print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    return set(python_json("-c", code, cwd=REPO))


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
    assert not _loaded_packages(module) & not_loaded


LAYERS = ("common", "serving", "components", "pipeline", "kubeflow")  # each may import only those before it


@pytest.mark.parametrize("package", LAYERS)
def test_no_package_imports_a_higher_layer(package):
    """Read from the source (lazy imports included): a cycle, or a lower layer reaching up, fails."""
    import ast
    import pathlib

    allowed = set(LAYERS[:LAYERS.index(package) + 1])
    found = set()
    for file in pathlib.Path(REPO, package).rglob("*.py"):
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
            found |= {(str(file.relative_to(REPO)), n.split(".")[0]) for n in names if n.split(".")[0] in LAYERS}
    assert {(f, n) for f, n in found if n not in allowed} == set()


def test_kubeflows_own_sdks_and_this_kubeflow_folder_import_side_by_side():
    """kubeflow/ is a namespace package: beside Kubeflow's training SDK (kubeflow.training, whose
    kubeflow/__init__.py extends its path), both import, in either order."""
    for first, second in (("kubeflow.training", "kubeflow.submit"), ("kubeflow.submit", "kubeflow.training")):
        code = f"import {first}, {second}; print('ok')"
        run = python("-c", code, cwd=REPO)
        assert run.returncode == 0 and run.stdout.strip().endswith("ok"), run.stderr[-2000:]
