"""The model's versions under its base path (directories named by integers, each a SavedModel, which
the Pusher publishes by renaming a finished copy), polled, loaded and switched as TF Serving does: the
newest N are served; a new version is loaded before it is made visible, so requests never see a
half-loaded model, and a request holding the old version finishes on it (kept alive by its reference)."""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from typing import Callable, Dict, List, Optional

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

from common import warmup
from serving import errors

log = logging.getLogger(__name__)  # `./imdb serve` shows this package's lines on the terminal,
_tracebacks = logging.getLogger(f"tracebacks.{__name__}")  # and these only in its log


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    name: str  # the signature's key for it
    dtype: tf.DType
    shape: tuple  # None for unknown dimensions


class LoadedVersion:
    """One loaded SavedModel version: its signatures, callable, and their SignatureDefs."""

    def __init__(self, model_name: str, version: int, path: str):
        self.model_name = model_name
        self.version = version
        self.path = path
        self._loaded = tf.saved_model.load(path)
        self.warmup_seconds = 0.0
        with tf.io.gfile.GFile(os.path.join(path, "saved_model.pb"), "rb") as f:
            meta_graph = saved_model_pb2.SavedModel.FromString(f.read()).meta_graphs[0]
        self.signature_defs: Dict[str, meta_graph_pb2.SignatureDef] = {  # __saved_model_init_op: not callable
            name: signature for name, signature in meta_graph.signature_def.items() if not name.startswith("__")}
        self.inputs: Dict[str, Dict[str, TensorSpec]] = {}
        for name, fn in self._loaded.signatures.items():
            _, kwargs = fn.structured_input_signature
            self.inputs[name] = {k: TensorSpec(k, s.dtype, tuple(s.shape.as_list())) for k, s in kwargs.items()}

    def warm_up(self) -> int:
        """Replays the version's warm-up requests, as TF Serving does before a version is AVAILABLE; returns how
        many. One that fails fails the load (in TF Serving too): it would not answer users either."""
        started = time.perf_counter()
        requests = warmup.read(self.path)
        for number, request in enumerate(requests, 1):
            try:
                signature, inputs = self.signature(request.model_spec.signature_name), warmup.inputs_of(request)
                self.check_inputs(signature, inputs)
                self.run(signature, inputs)
            except errors.ServingError as error:
                raise warmup.WarmupError(f"warm-up request {number} of {warmup.path(self.path)} failed: "
                                         f"{error.message}") from error
        self.warmup_seconds = time.perf_counter() - started
        return len(requests)

    def signature(self, name: str) -> str:
        """The signature NAME refers to (empty: the default); TF Serving's error if there is none."""
        name = name or tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY
        if name not in self.inputs:
            raise errors.invalid_argument(f'Serving signature name: "{name}" not found in signature def')
        return name

    def check_inputs(self, signature: str, inputs: Dict[str, np.ndarray]) -> None:
        """TF Serving's errors for inputs that do not fit SIGNATURE, before anything runs."""
        expected = self.inputs[signature]
        unknown = sorted(set(inputs) - set(expected))
        if unknown:
            raise errors.invalid_argument(f"input tensor alias not found in signature: {unknown[0]}. "
                                          f"Inputs expected to be in the set {{{','.join(sorted(expected))}}}.")
        missing = sorted(set(expected) - set(inputs))
        if missing:
            raise errors.invalid_argument(f"Request inputs do not match required inputs for model "
                                          f"`{self.model_name}`. Missing: {{{','.join(missing)}}}.")
        rows = {len(v) if v.ndim else 0 for v in inputs.values()}
        if len(rows) != 1 or 0 in rows:
            raise errors.invalid_argument("Every input must be a non-empty batch with the same number of rows.")

    def run(self, signature: str, inputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        fn = self._loaded.signatures[signature]
        try:
            outputs = fn(**{k: tf.constant(v, dtype=self.inputs[signature][k].dtype) for k, v in inputs.items()})
        except (tf.errors.InvalidArgumentError, ValueError, TypeError) as error:
            raise errors.invalid_argument(getattr(error, "message", str(error))) from error
        return {k: v.numpy() for k, v in outputs.items()}


def version_dirs(base_path: str) -> Dict[int, str]:
    """Complete version directories under BASE_PATH by number (hidden staging copies are skipped)."""
    if not tf.io.gfile.isdir(base_path):
        return {}
    entries = (entry.rstrip("/") for entry in tf.io.gfile.listdir(base_path))
    return {int(entry): os.path.join(base_path, entry) for entry in entries
            if entry.isdigit() and tf.io.gfile.exists(os.path.join(base_path, entry, "saved_model.pb"))}


def _log_failure(what: str, error: Exception) -> None:
    """One line on the server's console, however long the error's message; its traceback in the log."""
    log.error("%s: %s: %s", what, type(error).__name__, next(iter(str(error).strip().splitlines()), ""))
    _tracebacks.error(what, exc_info=error)


class ModelStore:
    """The served versions of one model; `poll()` brings them in line with the base path."""

    def __init__(self, model_name: str, base_path: str, num_versions: int = 1, labels: Optional[Dict[str, int]] = None,
                 on_change: Optional[Callable[["ModelStore"], None]] = None):
        if num_versions < 1:
            raise ValueError(f"num_versions must be positive, not {num_versions}")
        self.model_name = model_name
        self.base_path = base_path
        self.num_versions = num_versions
        self.labels = dict(labels or {})
        self._on_change = on_change
        self._versions: Dict[int, LoadedVersion] = {}
        self._failed: Dict[int, tuple] = {}  # version -> (directory fingerprint, error)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: Optional[threading.Thread] = None

    def get(self, model_name: str, version: Optional[int] = None, label: Optional[str] = None) -> LoadedVersion:
        if model_name != self.model_name:
            raise errors.servable_not_found(model_name, version)
        with self._lock:
            versions = dict(self._versions)
        if label is not None:
            if label not in self.labels:
                raise errors.invalid_argument(f"Unrecognized servable version label: {label}")
            version = self.labels[label]
        if version is None:
            version = max(versions, default=None)  # None when none is served: the error names Latest(...)
        if version not in versions:
            raise errors.servable_not_found(model_name, version)
        return versions[version]

    def status(self, model_name: str, version: Optional[int] = None) -> List[dict]:
        """[{version, state, error}] as GetModelStatus reports them, newest first."""
        if model_name != self.model_name:
            raise errors.not_found(f"Could not find any versions of model {model_name}")
        with self._lock:
            rows = [{"version": v, "state": "AVAILABLE", "error": ""} for v in self._versions]
            rows += [{"version": v, "state": "END", "error": e} for v, (_, e) in self._failed.items()
                     if v not in self._versions]
        rows = [r for r in rows if version is None or r["version"] == version]
        if not rows:
            which = "any versions" if version is None else f"version {version}"
            raise errors.not_found(f"Could not find {which} of model {model_name}")
        return sorted(rows, key=lambda r: -r["version"])

    @property
    def served_versions(self) -> List[int]:
        with self._lock:
            return sorted(self._versions)

    def poll(self) -> bool:
        """Loads the newest N versions that load, then unloads the rest; True if anything changed. One that fails
        is skipped (`status` reports it): the one before stays served (TF Serving's availability-preserving policy)."""
        on_disk = version_dirs(self.base_path)
        before = set(self._versions)
        wanted: List[int] = []
        labelled = {v for v in self.labels.values() if v in on_disk}
        for version in sorted(on_disk, reverse=True):
            if len(wanted) >= self.num_versions and version not in labelled:
                continue
            if version in self._versions or self._load(version, on_disk[version]):
                wanted.append(version)
        with self._lock:
            for version in [v for v in self._versions if v not in wanted]:
                del self._versions[version]  # requests holding it finish on it
                log.info("unloaded %s version %d", self.model_name, version)
            changed = set(self._versions) != before
        if changed and self._on_change:
            self._on_change(self)
        return changed

    def _load(self, version: int, path: str) -> bool:
        # names and sizes of the version's files: enough to notice that a copy has gone on
        fingerprint = tuple(sorted((os.path.join(root, f), tf.io.gfile.stat(os.path.join(root, f)).length)
                                   for root, _, files in tf.io.gfile.walk(path) for f in files))
        if self._failed.get(version, (None,))[0] == fingerprint:
            return False  # failed as it is now; tried again once its files change
        started = time.perf_counter()
        try:
            loaded = LoadedVersion(self.model_name, version, path)
            replayed = loaded.warm_up()
        except Exception as error:  # a broken version must not take the server down
            _log_failure(f"failed to load {self.model_name} version {version}", error)
            with self._lock:
                self._failed[version] = (fingerprint, f"{type(error).__name__}: {error}")
            return False
        with self._lock:
            self._versions[version] = loaded
            self._failed.pop(version, None)
        log.info("loaded %s version %d in %.1f s (%d warm-up requests in %.2f s)", self.model_name, version,
                 time.perf_counter() - started, replayed, loaded.warmup_seconds)
        return True

    def watch(self, poll_seconds: float = 1.0) -> None:
        def loop():
            while not self._stop.wait(poll_seconds):
                try:
                    self.poll()
                except Exception as error:  # keep watching; the log has why
                    _log_failure(f"polling {self.base_path} failed", error)

        self._watcher = threading.Thread(target=loop, name="model-store-watcher", daemon=True)
        self._watcher.start()

    def close(self) -> None:
        self._stop.set()
        if self._watcher:
            self._watcher.join(timeout=10)
