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
    log = os.environ.get(log_env)
    assert status == "0", f"{what} failed (exit {status}); its log, {log or 'in the cache'}, ends:\n{_tail(log)}"


def _tail(log, size: int = 4000) -> str:
    """The end of LOG, for a CI's output where the file itself is out of reach."""
    try:
        with open(log, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - size))
            return f.read().decode(errors="replace")
    except (OSError, TypeError):
        return "(unreadable)"
