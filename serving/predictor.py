"""What both APIs do for a request, so REST and gRPC cannot behave differently."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from typing import Dict, Optional

import numpy as np
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2, model_pb2

from serving import errors
from serving.batching import Batcher
from serving.limits import RequestLimits
from serving.metrics import Metrics
from serving.model_store import LoadedVersion, ModelStore


class Predictor:
    def __init__(self, store: ModelStore, batcher: Batcher, metrics: Metrics, limits: RequestLimits = RequestLimits()):
        self.store = store
        self.batcher = batcher
        self.metrics = metrics
        self.limits = limits

    def resolve(self, model: str, version: Optional[int], label: Optional[str], signature: str) -> tuple:
        loaded = self.store.get(model, version, label)
        return loaded, loaded.signature(signature)

    def submit(self, loaded: LoadedVersion, signature: str, inputs: Dict[str, np.ndarray]):
        loaded.check_inputs(signature, inputs)
        self.limits.check_rows(len(next(iter(inputs.values()))))
        return self.batcher.submit(loaded, signature, inputs)

    def timed_out(self) -> errors.ServingError:
        return errors.deadline_exceeded(f"Request not answered within {self.limits.timeout_seconds:g} s")

    def remaining(self, started: float) -> float:
        """Seconds left of the request timeout from its arrival (STARTED, a perf_counter reading): a deadline;
        an answer later is DEADLINE_EXCEEDED even if ready, whenever the waiting began."""
        left = self.limits.timeout_seconds - (time.perf_counter() - started)
        if left <= 0:
            raise self.timed_out()
        return left

    def result(self, future: concurrent.futures.Future, started: float) -> Dict[str, np.ndarray]:
        """The answer of a submitted request, or DEADLINE_EXCEEDED past the request's deadline."""
        try:
            outputs = future.result(timeout=self.remaining(started))
        except concurrent.futures.TimeoutError:
            future.cancel()  # not run if it has not started
            raise self.timed_out() from None
        self.remaining(started)
        return outputs

    async def answer(self, future: concurrent.futures.Future, started: float) -> Dict[str, np.ndarray]:
        """`result` for the event loop (REST). One timer on the loop rather than asyncio.wait_for,
        whose per-call task and timeout context took a tenth of the REST thread's time under load
        (docs/serving.md). When it fires, FUTURE is cancelled: the batcher then skips it."""
        waiter = asyncio.wrap_future(future)
        expired = []

        def expire():
            expired.append(True)
            waiter.cancel()  # cancels FUTURE too (asyncio chains the cancellation)

        left = self.limits.timeout_seconds - (time.perf_counter() - started)
        timer = asyncio.get_running_loop().call_later(max(left, 0.0), expire)
        try:
            outputs = await waiter
        except asyncio.CancelledError:
            if expired:
                raise self.timed_out() from None
            raise
        finally:
            timer.cancel()
        self.remaining(started)  # answered, but past the deadline: as gRPC does
        return outputs

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

    def status(self, model: str, version: Optional[int] = None, label: Optional[str] = None
               ) -> get_model_status_pb2.GetModelStatusResponse:
        """GetModelStatus: the state of each version (or of the one named, by number or label)."""
        if label is not None:
            version = self.store.get(model, label=label).version
        response = get_model_status_pb2.GetModelStatusResponse()
        states = get_model_status_pb2.ModelVersionStatus.State
        for row in self.store.status(model, version):
            entry = response.model_version_status.add(version=row["version"], state=states.Value(row["state"]))
            entry.status.SetInParent()  # TF Serving always sends it: error_code OK, unless
            if row["error"]:
                entry.status.error_code = 2  # UNKNOWN
                entry.status.error_message = row["error"]
        return response

    def record(self, model: str, api: str, method: str, status: str, started: float) -> None:
        self.metrics.requests.labels(model, api, method, status).inc()
        self.metrics.latency.labels(model, api, method).observe(time.perf_counter() - started)
