"""`pip install .` gives a working pipeline: the commands, the curated schema as package data, no
path into a checkout (an installed package has none)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

import synthetic_imdb
from commands import REPO

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A virtual environment over this one's dependencies, with the project installed from a copy
    of the checkout (whose files are then gone: nothing may point back into it)."""
    out = tmp_path_factory.mktemp("installed")
    source = out / "source"
    for name in ("common", "components", "pipeline", "serving", "kubeflow"):
        shutil.copytree(os.path.join(REPO, name), source / name, ignore=shutil.ignore_patterns("__pycache__", "kfp_go"))
    for name in ("setup.py", "pyproject.toml"):
        shutil.copy2(os.path.join(REPO, name), source / name)
    venv = out / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # The locked dependencies: this environment's site-packages, seen through a .pth file.
    import sysconfig

    new_site = subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              capture_output=True, text=True, check=True).stdout.strip()
    with open(os.path.join(new_site, "locked_dependencies.pth"), "w") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--quiet",
                              str(source)], capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]
    shutil.rmtree(source)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return venv, env, out


def test_the_installed_command_runs_the_pipeline_to_a_pushed_model(installed):
    venv, env, out = installed
    data = synthetic_imdb.write_folder(str(out / "data"), per_class=40)
    run = subprocess.run(
        [str(venv / "bin" / "imdb-pipeline"), "--data", data, "--output-dir", str(out / "outputs"),
         "--sample-fraction", "1", "--variant", "ngram_bag", "--epochs", "1", "--max-tokens", "100",
         "--sequence-length", "48", "--min-accuracy", "0"],
        cwd=str(out), env=env, capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    with open(out / "outputs" / "last_run_summary.json") as f:
        summary = json.load(f)
    assert summary["pushed_to"] and os.path.isfile(os.path.join(summary["pushed_to"], "saved_model.pb"))
    import_check = subprocess.run([str(venv / "bin" / "python"), "-c", "import pipeline, components; "
                                   "print(pipeline.__file__); from pipeline.pipeline import SCHEMA_FILE; print(SCHEMA_FILE)"],
                                  cwd=str(out), env=env, capture_output=True, text=True, timeout=300)
    assert REPO not in import_check.stdout and "site-packages" in import_check.stdout, import_check.stdout
