"""Waiting for what ./imdb test fetches or builds while the tests already run (Beam's Flink job
server, KFP's driver and launcher): the modules that need them run last (tests/conftest.py)."""

from __future__ import annotations

import os
import time

WAIT_SECONDS = 30 * 60


def wait_for(done_env: str, log_env: str, what: str) -> None:
    """Waits until the file named by $DONE_ENV holds the job's exit status; fails naming its log
    unless that is 0. Without $DONE_ENV (pytest run by hand) the job is taken as done."""
    done = os.environ.get(done_env)
    if not done:
        return
    deadline = time.monotonic() + WAIT_SECONDS
    while not os.path.exists(done):
        assert time.monotonic() < deadline, f"{what} did not end in {WAIT_SECONDS} s"
        time.sleep(2)
    with open(done) as f:
        status = f.read().strip()
    assert status == "0", f"{what} failed (exit {status}); its log: {os.environ.get(log_env, 'in the cache')}"
