"""Writing a file so that readers see the old content or the new, never half of it."""

from __future__ import annotations

import contextlib
import os
from typing import Iterator


@contextlib.contextmanager
def staged_path(path: str) -> Iterator[str]:
    """A path beside PATH to write to; renamed to PATH when the block ends without error, removed
    when it raises. The name keeps PATH's extension (writers that pick a format by it)."""
    root, extension = os.path.splitext(path)
    staging = f"{root}.tmp{extension}"
    try:
        yield staging
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(staging)
        raise
    os.replace(staging, path)


def write_text(path: str, text: str) -> None:
    with staged_path(path) as staging, open(staging, "w") as out:
        out.write(text)


def replace_section(path: str, begin: str, end: str, section: str, heading: str) -> None:
    """Rewrites the text from BEGIN to END in the file at PATH with SECTION (which holds both
    markers); appends HEADING and SECTION if the markers are not there yet. The rest is kept."""
    with open(path) as f:
        text = f.read()
    if begin in text and end in text:
        text = text[:text.index(begin)] + section + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + f"\n\n{heading}\n\n{section}\n"
    write_text(path, text)
