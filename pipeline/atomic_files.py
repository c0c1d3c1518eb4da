"""Writing a file so that readers see the old content or the new, never half of it."""

from __future__ import annotations

import os


def write_text(path: str, text: str) -> None:
    with open(path + ".tmp", "w") as out:
        out.write(text)
    os.replace(path + ".tmp", path)
