"""The environment's libraries load from the bytecode env/install.sh compiled once, not from source:
these machines set PYTHONDONTWRITEBYTECODE, so a library without its .pyc would be compiled again by
every process that imports it (TFX, TFT, TFMA and Beam: 37 s a process instead of 15 s here). The
image holds the same (kubeflow/image_build.py's check, run by tests/test_container_image.py)."""

from __future__ import annotations

import os
import subprocess
import sys

from commands import REPO

IMPORTS = """
import sys
import apache_beam, tensorflow_model_analysis, tensorflow_transform, tfx.v1
from kubeflow.image_build import compiled_from_source
print(len(sys.modules), *compiled_from_source(sys.prefix))
"""


def test_the_libraries_import_from_bytecode_compiled_at_install():
    done = subprocess.run([sys.executable, "-c", IMPORTS], capture_output=True, text=True, cwd=REPO, timeout=300,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}, check=True)
    loaded, *from_source = done.stdout.split()
    assert int(loaded) > 1000 and not from_source, f"{len(from_source)} compiled from source: {from_source[:10]}"
