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
(LOOPBACK), where the project's code already is. Options given after `--` come later and win,
except that such a FlinkRunner becomes `SharedJobServerFlinkRunner` (below).
"""

from __future__ import annotations

import os
import pathlib
import threading
from typing import Dict, List, Optional, Sequence, Tuple

from apache_beam.options.pipeline_options import (FlinkRunnerOptions, JobServerOptions, PipelineOptions,
                                                  StandardOptions)
from apache_beam.runners.portability import flink_runner, job_server

REPO = pathlib.Path(__file__).resolve().parent.parent
FLINK_JOB_SERVER_ENV = "IMDB_FLINK_JOB_SERVER_JAR"
# From a checkout, Beam's worker processes are given the project's code by its setup.py; an
# installed package (pip install .) is importable there already.
LOCAL_DEFAULTS = ("--runner=FnApiRunner",) + ((f"--setup_file={REPO / 'setup.py'}",)
                                              if (REPO / "setup.py").is_file() else ())
EMBEDDED_FLINK = ("[local]", "[auto]")  # Beam's names for a Flink cluster inside its job server


class SharedJobServerFlinkRunner(flink_runner.FlinkRunner):
    """Beam's FlinkRunner, with one job server for all the Beam pipelines of a process.

    Beam starts a job server (a JVM with the embedded Flink cluster) for each pipeline and stops
    it only when the process exits (job_server.StopOnExitJobServer). A local run is one process
    with a Beam pipeline per Beam component, so it held an idle JVM for each finished one (6.1 GB
    resident by the end at 5,000 reviews, docs/scaling.md) and paid a JVM start for each. Here the
    first pipeline starts the job server and the later ones submit to it; it still stops at exit.
    The runner is named in the options rather than the endpoint of a server started beforehand: a
    port number in the options would change every component's cache key from run to run.
    """

    _servers: Dict[Tuple, job_server.JobServer] = {}
    _lock = threading.Lock()

    def default_job_server(self, options):
        flink = options.view_as(FlinkRunnerOptions)
        if flink.flink_master not in EMBEDDED_FLINK or flink.flink_submit_uber_jar:
            return super().default_job_server(options)
        server = options.view_as(JobServerOptions)
        key = (flink.flink_master, flink.flink_job_server_jar, flink.flink_version, server.job_server_java_launcher,
               tuple(server.job_server_jvm_properties or ()), server.job_port, server.artifact_port,
               server.expansion_port)
        with self._lock:
            if key not in self._servers:
                self._servers[key] = super().default_job_server(options)
            return self._servers[key]


_SHARED_FLINK = f"{__name__}.{SharedJobServerFlinkRunner.__name__}"


def _options(args: Sequence[str]) -> PipelineOptions:
    """ARGS read by Beam's own parser: `--name=value` and `--name value`, the last one winning."""
    return PipelineOptions(list(args))


def runner_name(args: Sequence[str]) -> str:
    """The runner ARGS name, as Beam spells it in lower case without "runner" (fnapi, flink, ...)."""
    name = _options(args).view_as(StandardOptions).runner or ""
    if name == _SHARED_FLINK:
        name = "FlinkRunner"
    name = name.lower()
    return name[:-len("runner")] if name.endswith("runner") else name


def local_args(user_args: Optional[Sequence[str]] = None) -> List[str]:
    """The Beam options of a local run: the defaults, what the named runner needs, then USER_ARGS.

    Raises ValueError when the named runner cannot run here as given."""
    user = list(user_args or [])
    defaults = list(LOCAL_DEFAULTS)
    flink = _options(user).view_as(FlinkRunnerOptions)
    if runner_name(user) == "flink" and flink.flink_master in EMBEDDED_FLINK:
        jar = flink.flink_job_server_jar or os.environ.get(FLINK_JOB_SERVER_ENV)
        if not jar:
            raise ValueError("--runner=FlinkRunner needs Beam's Flink job server: run through ./imdb, which fetches "
                             f"it (env/flink-job-server/pom.xml) and names it in {FLINK_JOB_SERVER_ENV}, or give "
                             "--flink_job_server_jar=PATH")
        if not os.path.isfile(jar):
            raise ValueError(f"--flink_job_server_jar: no file {jar}")
        defaults += ["--flink_master=[local]", "--environment_type=LOOPBACK", f"--flink_job_server_jar={jar}"]
        return [*defaults, *user, f"--runner={_SHARED_FLINK}"]
    return [*defaults, *user]
