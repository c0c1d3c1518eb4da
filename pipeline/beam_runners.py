"""The Beam options of a local run: the runner it names, and what that runner needs on this machine.

Beam 2.77's DirectRunner first tries the Prism runner, downloading its binary from GitHub on every
Beam pipeline (five per run), and falls back to the FnApiRunner only when that fails; with network
access it would run on whichever it got. So the local runner is named: the in-process FnApiRunner
(`--direct_running_mode` and `--direct_num_workers` still apply).

The setup file names the project's package: with any Beam option but none naming the code's
package, TFX builds an "ephemeral" sdist of the working directory before every Beam component
(tfx/utils/dependency_utils.py), 10-15 s each here; a runner with remote workers stages it.

`--runner=FlinkRunner` (or `flink`) without a Flink master runs on an embedded Flink cluster in
Beam's Flink job server, which ./imdb fetches from Maven Central (env/flink-job-server/pom.xml)
and names in IMDB_FLINK_JOB_SERVER_JAR; the SDK harness runs in the component's own process
(LOOPBACK), where the project's code already is. Options given after `--` come later and win.
"""

from __future__ import annotations

import os
import pathlib
from typing import List, Optional, Sequence

from apache_beam.options.pipeline_options import FlinkRunnerOptions, PipelineOptions, StandardOptions

REPO = pathlib.Path(__file__).resolve().parent.parent
FLINK_JOB_SERVER_ENV = "IMDB_FLINK_JOB_SERVER_JAR"
LOCAL_DEFAULTS = ("--runner=FnApiRunner", f"--setup_file={REPO / 'setup.py'}")


def _options(args: Sequence[str]) -> PipelineOptions:
    """ARGS read by Beam's own parser: `--name=value` and `--name value`, the last one winning."""
    return PipelineOptions(list(args))


def runner_name(args: Sequence[str]) -> str:
    """The runner ARGS name, as Beam spells it in lower case without "runner" (fnapi, flink, ...)."""
    name = (_options(args).view_as(StandardOptions).runner or "").lower()
    return name[:-len("runner")] if name.endswith("runner") else name


def local_args(user_args: Optional[Sequence[str]] = None) -> List[str]:
    """The Beam options of a local run: the defaults, what the named runner needs, then USER_ARGS.

    Raises ValueError when the named runner cannot run here as given."""
    user = list(user_args or [])
    defaults = list(LOCAL_DEFAULTS)
    flink = _options(user).view_as(FlinkRunnerOptions)
    if runner_name(user) == "flink" and flink.flink_master in ("[local]", "[auto]"):
        jar = flink.flink_job_server_jar or os.environ.get(FLINK_JOB_SERVER_ENV)
        if not jar:
            raise ValueError("--runner=FlinkRunner needs Beam's Flink job server: run through ./imdb, which fetches "
                             f"it (env/flink-job-server/pom.xml) and names it in {FLINK_JOB_SERVER_ENV}, or give "
                             "--flink_job_server_jar=PATH")
        if not os.path.isfile(jar):
            raise ValueError(f"--flink_job_server_jar: no file {jar}")
        defaults += ["--flink_master=[local]", "--environment_type=LOOPBACK", f"--flink_job_server_jar={jar}"]
    return [*defaults, *user]
