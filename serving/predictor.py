"""What both APIs do for a request, so REST and gRPC cannot behave differently."""

from __future__ import annotations

import time
from typing import Dict, Optional

import numpy as np
from tensorflow_serving.apis import get_model_metadata_pb2, model_pb2

from serving import errors
from serving.batching import Batcher
from serving.metrics import Metrics
from serving.model_store import LoadedVersion, ModelStore


class Predictor:
    def __init__(self, store: ModelStore, batcher: Batcher, metrics: Metrics):
        self.store = store
        self.batcher = batcher
        self.metrics = metrics

    def resolve(self, model: str, version: Optional[int] = None, label: Optional[str] = None,
                signature: str = "") -> tuple:
        loaded = self.store.get(model, version, label)
        return loaded, loaded.signature(signature)

    def submit(self, loaded: LoadedVersion, signature: str, inputs: Dict[str, np.ndarray]):
        expected = loaded.inputs[signature]
        unknown = sorted(set(inputs) - set(expected))
        if unknown:
            raise errors.invalid_argument(f"input tensor alias not found in signature: {unknown[0]}. "
                                          f"Inputs expected to be in the set {{{','.join(sorted(expected))}}}.")
        missing = sorted(set(expected) - set(inputs))
        if missing:
            raise errors.invalid_argument(f"Request inputs do not match required inputs for model "
                                          f"`{loaded.model_name}`. Missing: {{{','.join(missing)}}}.")
        rows = {len(v) if v.ndim else 0 for v in inputs.values()}
        if len(rows) != 1 or 0 in rows:
            raise errors.invalid_argument("Every input must be a non-empty batch with the same number of rows.")
        return self.batcher.submit(loaded, signature, inputs)

    def model_spec(self, loaded: LoadedVersion, signature: str = "") -> model_pb2.ModelSpec:
        spec = model_pb2.ModelSpec(name=loaded.model_name, signature_name=signature)
        spec.version.value = loaded.version
        return spec

    def metadata(self, model: str, version: Optional[int] = None, label: Optional[str] = None
                 ) -> get_model_metadata_pb2.GetModelMetadataResponse:
        loaded = self.store.get(model, version, label)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        for name, signature_def in loaded.signature_defs.items():
            signature_map.signature_def[name].CopyFrom(signature_def)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.CopyFrom(self.model_spec(loaded))
        response.metadata["signature_def"].Pack(signature_map)
        return response

    def record(self, model: str, api: str, method: str, status: str, started: float) -> None:
        self.metrics.requests.labels(model, api, method, status).inc()
        self.metrics.latency.labels(model, api, method).observe(time.perf_counter() - started)
