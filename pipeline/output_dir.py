"""One run at a time per output directory, and what an interrupted run left there cleaned up.

Two runs on one output directory shared its metadata store and serving directory: both pushed,
and one's summary named the other's version. So a run holds an OS lock on `<output>/.run.lock`,
released when the process dies, even by SIGKILL. Holding it, no other local push is under way, so
the staging copies an interrupted push left (`.incomplete-*`, which servers ignore) can go.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
from typing import Iterable, List, Optional

LOCK_NAME = ".run.lock"


class OutputDirBusy(RuntimeError):
    """Another run holds the output directory."""


class RunLock:
    def __init__(self, output_dir: str):
        self.path = os.path.join(output_dir, LOCK_NAME)
        self._fd: Optional[int] = None

    def acquire(self) -> "RunLock":
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.EACCES):
                os.close(fd)
                raise
            holder = os.pread(fd, 100, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise OutputDirBusy(
                f"another run (process {holder}) is using {os.path.dirname(self.path)}; wait for it to "
                "finish, or pass another --output-dir") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the lock
            self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def remove_staging_copies(directories: Iterable[str]) -> List[str]:
    """Removes the Pusher's leftover `.incomplete-*` copies under DIRECTORIES; returns their paths.
    Only while holding the RunLock of the output directory they belong to."""
    from components.atomic_pusher import STAGING_PREFIX

    removed = [os.path.join(directory, name) for directory in directories if os.path.isdir(directory)
               for name in sorted(os.listdir(directory)) if name.startswith(STAGING_PREFIX)]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


def no_space_left(error: BaseException) -> bool:
    """Whether ERROR, or any error it was raised from, says the disk is full. Who hits it first
    varies (the metadata store's SQLite, a Beam writer, TensorFlow), and each words it its own way."""
    markers = ("no space left on device", "database or disk is full", "disk quota exceeded")
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if (isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)
                or any(m in str(error).lower() for m in markers)):
            return True
        error = error.__cause__ or error.__context__
    return False


def free_space(path: str) -> str:
    while path and not os.path.exists(path):
        path = os.path.dirname(path)
    try:
        free = shutil.disk_usage(path or "/").free
    except OSError:
        return "unknown"
    return f"{free / 2**20:,.1f} MiB"
