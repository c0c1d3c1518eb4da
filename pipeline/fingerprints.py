"""A hash of the code each custom component runs, so that editing it re-runs that component (and
what consumes its output), and nothing else.

TFX's cache key holds a component's execution properties and input artifacts, not the code it
reaches by dotted path (preprocessing_fn, run_fn, executors) nor the curated schema's content. So
each component carries as an execution property (CODE_FINGERPRINT_KEY) a hash of every project
module its entry modules import, transitively, lazy imports included: read from the source, so no
hand-kept list can miss one.
"""

from __future__ import annotations

import ast
import hashlib
import pathlib
from typing import Dict, FrozenSet, Iterable, Optional, Tuple

from components.code_version import CODE_FINGERPRINT_KEY  # noqa: F401  (re-exported)

REPO = pathlib.Path(__file__).resolve().parent.parent
# The project's own top-level packages: imports of anything else (TFX, TensorFlow) are not followed.
PROJECT_PACKAGES = frozenset({"common", "components", "pipeline", "serving", "kubeflow"})

# Node id -> the modules it runs (its component's module, and the functions TFX loads by dotted
# path), or data files whose content decides what it computes.
ENTRY_MODULES: Dict[str, Tuple[str, ...]] = {
    "ImdbExampleGen": ("components.imdb_example_gen.component",),
    "ExampleValidator": ("components.anomaly_gate",),
    "Transform": ("components.text_vectorization",),  # preprocessing_fn
    "ApplyTransform": ("components.apply_transform",),
    "Trainer": ("components.model.trainer_component", "components.model.trainer"),  # run_fn
    "Evaluator": ("components.accuracy_gate",),
    "ServingCanary": ("components.serving_canary",),
    "Pusher": ("components.atomic_pusher",),
}
DATA_FILES: Dict[str, Tuple[str, ...]] = {"ImportSchemaGen": ("components/schema/schema.pbtxt",)}


def _module_file(root: pathlib.Path, module: str) -> Optional[pathlib.Path]:
    base = root.joinpath(*module.split("."))
    return next((c for c in (base.with_suffix(".py"), base / "__init__.py") if c.is_file()), None)


def _imported_names(file: pathlib.Path, module: str) -> Iterable[str]:
    """Every module name FILE imports, absolute; for `from a import b`, both `a` and `a.b`."""
    package = module if file.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(file.read_bytes(), str(file))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _reached(root: pathlib.Path, entries: Tuple[str, ...]) -> FrozenSet[pathlib.Path]:
    """The project's files that importing ENTRIES executes: each module, its packages' __init__."""
    seen, files, todo = set(), set(), list(entries)
    while todo:
        module = todo.pop()
        if module in seen or module.split(".")[0] not in PROJECT_PACKAGES:
            continue
        seen.add(module)
        parts = module.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # importing a.b runs a/__init__
        file = _module_file(root, module)
        if file is not None:
            files.add(file)
            todo.extend(_imported_names(file, module))
    return frozenset(files)


def code_files(node: str, root: Optional[pathlib.Path] = None) -> Tuple[pathlib.Path, ...]:
    root = root or REPO
    files = set(_reached(root, ENTRY_MODULES.get(node, ())))
    files.update(root / name for name in DATA_FILES.get(node, ()))
    return tuple(sorted(files))


def fingerprint(node: str, root: Optional[pathlib.Path] = None) -> str:
    root = root or REPO
    digest = hashlib.sha256()
    for file in code_files(node, root):
        digest.update(str(file.relative_to(root)).encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()[:16]


def all_fingerprints(root: Optional[pathlib.Path] = None) -> Dict[str, str]:
    return {node: fingerprint(node, root) for node in (*ENTRY_MODULES, *DATA_FILES)}
