"""One line per component on the console while the pipeline runs, read from ML Metadata.

LocalDagRunner records each execution there as it starts and ends: watching it needs no hook into
the runner and no logging (Beam resets the root logger's level from its threads, so lines went missing).
"""

from __future__ import annotations

import os
import sys
import threading
import time

from pipeline import run_summary

_FINAL = {"ran", "cached", "failed", "canceled"}


class ComponentProgress(threading.Thread):
    """Polls the SQLite metadata store and prints each component's start and end."""

    def __init__(self, metadata_path: str, total: int, stream=sys.stdout, interval_s: float = 1.0):
        super().__init__(daemon=True)
        self.metadata_path, self.total, self.stream, self.interval_s = metadata_path, total, stream, interval_s
        self.since_ms = int(time.time() * 1000)
        self._stop_event = threading.Event()
        self._last_state = {}  # execution id -> the state last printed
        self._numbers = {}  # execution id -> its place in the run
        self._store = None

    def run(self) -> None:
        while not self._stop_event.wait(self.interval_s):
            self.poll()

    def stop(self) -> None:
        self._stop_event.set()
        self.join()
        self.poll()  # the last transitions

    def poll(self) -> None:
        if not os.path.exists(self.metadata_path):
            return
        try:
            # One connection for the whole run (each new one logs a line in the run's log).
            self._store = self._store or run_summary.open_store(self.metadata_path)
            for execution in run_summary.latest_run_executions(self._store, self.since_ms):
                self._report(self._store, execution)
        except Exception:  # the database is being written; the next poll, on a new connection, will see it
            self._store = None

    def _report(self, store, execution) -> None:
        state = run_summary.state_name(execution)
        if self._last_state.get(execution.id) == state:
            return
        self._last_state[execution.id] = state
        number = self._numbers.setdefault(execution.id, len(self._numbers) + 1)
        name = run_summary.node_name(store, execution.id)
        how = {"ran": "done", "cached": "from cache"}.get(state, state)
        seconds = (execution.last_update_time_since_epoch - execution.create_time_since_epoch) / 1000
        what = f"{how} in {seconds:.1f} s" if state in _FINAL else "..."
        print(f"[{number}/{self.total}] {name} {what}", file=self.stream, flush=True)
