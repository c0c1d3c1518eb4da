"""Server-side batching: concurrent requests for the same version and signature run as one call (one
call on 32 reviews costs far less than 32 on one: the throughput under concurrent clients).

As in TF Serving, a batch is closed when it holds `max_batch_size` rows or its oldest request has
waited `batch_timeout_micros`; `num_batch_threads` batches run at once. Unlike it, a batch is also
closed when nothing else waits and a batch thread is idle: waiting would only add the timeout to a
lone request's latency; under load the threads are busy, and batches fill while they are."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import queue
import threading
import time
from typing import Dict, List, Optional

import numpy as np

from serving.model_store import LoadedVersion
from serving.options import BatchingOptions


@dataclasses.dataclass
class _Task:
    version: LoadedVersion
    signature: str
    inputs: Dict[str, np.ndarray]
    rows: int
    future: concurrent.futures.Future
    enqueued: float

    @property
    def key(self):
        return (id(self.version), self.signature)


class Batcher:
    def __init__(self, options: BatchingOptions, on_batch=None):
        self.options = options
        self._on_batch = on_batch  # called with each batch's size (metrics)
        self._queue: "queue.Queue[Optional[_Task]]" = queue.Queue()
        self._pool = concurrent.futures.ThreadPoolExecutor(options.num_batch_threads, thread_name_prefix="batch")
        self._held: List[_Task] = []  # tasks taken from the queue for a batch they did not fit
        self._busy = 0  # batches submitted and not finished
        self._busy_lock = threading.Lock()
        self._collector = threading.Thread(target=self._collect, name="batch-collector", daemon=True)
        if options.enabled:
            self._collector.start()

    def submit(self, version: LoadedVersion, signature: str, inputs: Dict[str, np.ndarray]) -> concurrent.futures.Future:
        """Schedules one request (every input with the same number of rows); its outputs come back."""
        if not self.options.enabled:
            return self._pool.submit(self._run_single, version, signature, inputs)
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._queue.put(_Task(version, signature, inputs, len(next(iter(inputs.values()))), future, time.monotonic()))
        return future

    def close(self) -> None:
        if self.options.enabled:
            self._queue.put(None)
            self._collector.join(timeout=10)
        self._pool.shutdown(wait=True)

    def _run_single(self, version, signature, inputs):
        if self._on_batch:
            self._on_batch(len(next(iter(inputs.values()))))
        return version.run(signature, inputs)

    def _next(self, timeout: Optional[float]) -> Optional[_Task]:
        if self._held:
            return self._held.pop(0)
        return self._queue.get(timeout=timeout) if timeout is None or timeout > 0 else self._queue.get_nowait()

    def _collect(self) -> None:
        timeout = self.options.batch_timeout_micros / 1e6
        while True:
            first = self._next(None)
            if first is None:
                return
            batch, rows, deadline = [first], first.rows, first.enqueued + timeout
            skipped: List[_Task] = []
            while rows < self.options.max_batch_size:
                try:
                    task = self._next(0)  # what is already waiting
                except queue.Empty:
                    with self._busy_lock:
                        idle = self._busy < self.options.num_batch_threads
                    if idle or time.monotonic() >= deadline:
                        break
                    try:
                        task = self._next(min(deadline - time.monotonic(), 0.0002))
                    except queue.Empty:
                        continue
                if task is None:
                    self._queue.put(None)
                    break
                if task.key == first.key and rows + task.rows <= self.options.max_batch_size:
                    batch.append(task)
                    rows += task.rows
                else:
                    skipped.append(task)
                    if task.key == first.key:
                        break  # would overflow this batch: it starts the next one
            self._held = skipped + self._held
            with self._busy_lock:
                self._busy += 1
            self._pool.submit(self._execute, batch).add_done_callback(self._finished)

    def _finished(self, _: concurrent.futures.Future) -> None:
        with self._busy_lock:
            self._busy -= 1

    def _execute(self, batch: List[_Task]) -> None:
        # Requests whose caller stopped waiting (past their deadline) are not run.
        batch = [task for task in batch if task.future.set_running_or_notify_cancel()]
        if not batch:
            return
        first = batch[0]
        try:
            inputs = {k: np.concatenate([t.inputs[k] for t in batch]) for k in first.inputs}
            if self._on_batch:
                self._on_batch(sum(t.rows for t in batch))
            outputs = first.version.run(first.signature, inputs)
        except Exception as error:
            if len(batch) == 1:
                first.future.set_exception(error)
                return
            for task in batch:  # one bad request must not fail the others: run each alone
                try:
                    task.future.set_result(self._run_single(task.version, task.signature, task.inputs))
                except Exception as failure:
                    task.future.set_exception(failure)
            return
        start = 0
        for task in batch:
            task.future.set_result({k: v[start:start + task.rows] for k, v in outputs.items()})
            start += task.rows
