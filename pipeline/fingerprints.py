"""A hash of exactly the code each custom component runs, so that editing it re-runs that
component (and what consumes its output), and nothing else.

TFX keys its cache on a component's execution properties and input artifacts. Code reached by
dotted path (preprocessing_fn, run_fn, the project's executors) is not part of that key, nor is
the content of the curated schema file, only its path; each component therefore carries the hash
of its own files as an execution property (CODE_FINGERPRINT_KEY).
"""

from __future__ import annotations

import hashlib
import pathlib
from typing import Dict, Optional, Tuple

from components.code_version import CODE_FINGERPRINT_KEY  # noqa: F401  (re-exported)
REPO = pathlib.Path(__file__).resolve().parent.parent

# Node id -> the files (or folders) whose content decides what it computes.
CODE: Dict[str, Tuple[str, ...]] = {
    "ImdbExampleGen": ("components/imdb_example_gen", "components/features.py"),
    "ImportSchemaGen": ("schema/schema.pbtxt",),
    "ExampleValidator": ("components/anomaly_gate.py",),
    "Transform": ("components/text_vectorization.py", "components/naive_bayes_bag.py",
                  "components/features.py"),
    "Trainer": ("components/model", "components/features.py"),
    "Evaluator": ("components/accuracy_gate.py", "components/served_baseline.py", "components/features.py"),
    "ServingCanary": ("components/serving_canary.py", "serving", "components/model/warmup.py",
                      "components/features.py"),
    "Pusher": ("components/atomic_pusher.py",),
}


def fingerprint(node: str, root: Optional[pathlib.Path] = None) -> str:
    root = root or REPO
    digest = hashlib.sha256()
    for entry in CODE[node]:
        path = root / entry
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in files:
            digest.update(str(file.relative_to(root)).encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()[:16]


def all_fingerprints(root: Optional[pathlib.Path] = None) -> Dict[str, str]:
    return {node: fingerprint(node, root) for node in CODE}
