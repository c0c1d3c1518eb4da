"""The project's commands and Python snippets, run the way a user runs them: in a process of their own."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A line of TensorFlow's C++ runtime, in absl's format (`I0000 00:00:...` before absl's logging is initialised).
NATIVE_LINE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d", re.MULTILINE)


def python(*argv: str, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    """`python ARGV` in this environment, its output captured as text."""
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=timeout, **kwargs)


def python_json(*argv: str, **kwargs):
    """What `python ARGV` prints as JSON on its last line; it must succeed."""
    run = python(*argv, **kwargs)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def pipeline_run(data: str, output_dir: str, *options: str, timeout: float = 900):
    """`./imdb run` in a process of its own, which must succeed: (the process, the run's summary, its one log)."""
    result = python("-m", "pipeline.cli", "--data", data, "--output-dir", output_dir, *options, cwd=REPO,
                    timeout=timeout)
    (log,) = os.listdir(os.path.join(output_dir, "logs"))
    with open(os.path.join(output_dir, "logs", log)) as f:
        log_text = f.read()
    assert result.returncode == 0, result.stdout + result.stderr + log_text[-5000:]
    with open(os.path.join(output_dir, "last_run_summary.json")) as f:
        return result, json.load(f), log_text
