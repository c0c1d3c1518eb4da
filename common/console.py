"""The console keeps the project's own lines; everything else written to stderr goes to a log.

TensorFlow's C++ runtime writes its start-up lines (absl's, oneDNN notices, "failed call to cuInit")
straight to file descriptor 2, below any Python logging setting. So the descriptor itself points at a
log file (or nowhere), the terminal kept on a duplicate for the CLI's errors; sys.stderr follows the
descriptor, Python warnings reach the log through logging. Standard output is left alone."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
from typing import Iterator, Optional, Sequence, TextIO


def error(message, code: int, stream: Optional[TextIO] = None) -> int:
    """A CLI's one-line error (STREAM: the terminal when stderr goes to a log); returns the exit CODE."""
    print(f"error: {message}", file=stream or sys.stderr)
    return code


@contextlib.contextmanager
def stderr_to_log(log_path: str, enabled: bool = True) -> Iterator[TextIO]:
    """Within the block, descriptor 2 appends to LOG_PATH (os.devnull: dropped); yields a stream on the
    terminal. Not ENABLED, or with no real descriptor behind sys.stderr (pytest capturing it), nothing
    is diverted and sys.stderr itself is yielded."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, io.UnsupportedOperation):
        fd = None
    if not enabled or fd is None:
        yield sys.stderr
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    terminal = os.fdopen(os.dup(saved), "w", buffering=1, encoding="utf-8", errors="replace")
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(log, fd)
    os.close(log)
    logging.captureWarnings(True)
    try:
        yield terminal
    finally:
        logging.captureWarnings(False)
        sys.stderr.flush()
        os.dup2(saved, fd)
        os.close(saved)
        terminal.close()


def route_logging(log_path: Optional[str], shown: Optional[TextIO] = None,
                  shown_packages: Optional[Sequence[str]] = None) -> None:
    """Python logging for a command: every record at INFO and above to LOG_PATH; to SHOWN (the
    terminal) those of SHOWN_PACKAGES' loggers, or all when None. Handlers set before are
    replaced: TensorFlow adds a console handler of its own if logging is unset."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.INFO)
    # A record that cannot be written (a full disk) is dropped, not printed with a traceback on
    # the console: the command's own error message says what happened.
    logging.raiseExceptions = False
    if log_path:
        to_file = logging.FileHandler(log_path)
        to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(to_file)
    if shown is not None:
        to_terminal = logging.StreamHandler(shown)
        to_terminal.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        if shown_packages is not None:
            to_terminal.addFilter(lambda record: record.name.split(".")[0] in shown_packages)
        root.addHandler(to_terminal)
