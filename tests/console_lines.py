"""A child process's console, read line by line in a thread, so that a test waits for a line with a
deadline: a server that falls silent fails the test instead of hanging it."""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from typing import Callable, List


class ConsoleLines:
    def __init__(self, stream):
        self.lines: List[str] = []
        self._queue: "queue.Queue" = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            self._queue.put(line)
        self._queue.put(None)  # end of output

    def until(self, found: Callable[[str], bool], seconds: float = 180.0) -> List[str]:
        """Reads until a line for which FOUND is true; every line read so far is in self.lines."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no such line within {seconds:.0f} s; the output so far:\n" + "".join(self.lines))
            if line is None:
                raise AssertionError("the output ended first:\n" + "".join(self.lines))
            self.lines.append(line)
            if found(line):
                return self.lines

    def rest(self, seconds: float = 60.0) -> List[str]:
        """Reads to the end of the output (the process has been stopped)."""
        with contextlib.suppress(AssertionError):
            self.until(lambda _: False, seconds)
        return self.lines
