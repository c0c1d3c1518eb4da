"""Writing a file so that readers see the old content or the new, never half of it."""

from __future__ import annotations

import os


def write_text(path: str, text: str) -> None:
    with open(path + ".tmp", "w") as out:
        out.write(text)
    os.replace(path + ".tmp", path)


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
