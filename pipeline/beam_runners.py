"""The Beam options of a local run: the runner it names, and what that runner needs on this machine.

The runner is named, the in-process FnApiRunner (`--direct_running_mode`, `--direct_num_workers`
apply): Beam 2.77's DirectRunner first tries Prism, downloading its binary from GitHub for every Beam
pipeline (five per run), and runs on whichever it got. The setup file names the project's package:
with Beam options but none naming it, TFX builds an "ephemeral" sdist of the working directory
before every Beam component (tfx/utils/dependency_utils.py), 10-15 s each.

`--runner=FlinkRunner` (or `flink`) runs through Beam's Flink job server (which ./imdb fetches,
env/flink-job-server/pom.xml, and names in IMDB_FLINK_JOB_SERVER_JAR), the SDK harness in the
component's own process (LOOPBACK) on the job server's embedded Flink cluster; with
`--flink_master=HOST:PORT`, on a Flink session cluster (`./imdb flink up`: pipeline/flink_cluster.py),
a harness process per TaskManager (pipeline/flink_worker.py says why), kept for a job's stages.
Options after `--` win, except that a FlinkRunner becomes `SharedJobServerFlinkRunner` (below).
"""

from __future__ import annotations

import json
import os
import pathlib
import threading
from typing import Dict, List, Optional, Sequence, Tuple

from apache_beam.options.pipeline_options import (FlinkRunnerOptions, JobServerOptions, PipelineOptions,
                                                  StandardOptions)
from apache_beam.runners.portability import flink_runner, job_server

REPO = pathlib.Path(__file__).resolve().parent.parent
FLINK_JOB_SERVER_ENV = "IMDB_FLINK_JOB_SERVER_JAR"
# From a checkout, Beam's workers get the project's code by its setup.py; an installed package has it already.
LOCAL_DEFAULTS = ("--runner=FnApiRunner",) + ((f"--setup_file={REPO / 'setup.py'}",)
                                              if (REPO / "setup.py").is_file() else ())
EMBEDDED_FLINK = ("[local]", "[auto]")  # Beam's names for a Flink cluster inside its job server
# How long a TaskManager keeps an idle harness for the job's next stage: starting one (TensorFlow's
# import) takes 10-15 s, but an idle one holds about 900 MB, so it goes soon after the job
# (docs/scaling.md, "A Flink session cluster").
HARNESS_KEPT_MILLIS = 30_000


class SharedJobServerFlinkRunner(flink_runner.FlinkRunner):
    """Beam's FlinkRunner, with one job server for all the Beam pipelines of a process. Beam starts one (a
    JVM with the embedded Flink cluster) per pipeline and stops it only at exit (StopOnExitJobServer): a
    local run held an idle JVM per finished Beam component (6.1 GB at 5,000 reviews, docs/scaling.md) and
    paid a JVM start for each. The runner is named, not a server's endpoint: a port in the options would
    change every cache key."""

    _servers: Dict[Tuple, job_server.JobServer] = {}
    _lock = threading.Lock()

    def default_job_server(self, options):
        flink = options.view_as(FlinkRunnerOptions)
        if flink.flink_submit_uber_jar:
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


def runner_name(args: Sequence[str]) -> str:
    """The runner ARGS name, as Beam spells it in lower case without "runner" (fnapi, flink, ...)."""
    # Beam's own parser reads `--name=value` and `--name value`, the last one winning.
    name = PipelineOptions(list(args)).view_as(StandardOptions).runner or ""
    name = ("FlinkRunner" if name == _SHARED_FLINK else name).lower()
    return name[:-len("runner")] if name.endswith("runner") else name


def local_args(user_args: Optional[Sequence[str]] = None) -> List[str]:
    """The Beam options of a local run: the defaults, what the named runner needs, then USER_ARGS.
    Raises ValueError when the named runner cannot run here as given."""
    user = list(user_args or [])
    defaults = list(LOCAL_DEFAULTS)
    flink = PipelineOptions(user).view_as(FlinkRunnerOptions)
    if runner_name(user) == "flink":
        jar = flink.flink_job_server_jar or os.environ.get(FLINK_JOB_SERVER_ENV)
        if not jar:
            raise ValueError("--runner=FlinkRunner needs Beam's Flink job server: run through ./imdb, which fetches "
                             f"it (env/flink-job-server/pom.xml) and names it in {FLINK_JOB_SERVER_ENV}, or give "
                             "--flink_job_server_jar=PATH")
        if not os.path.isfile(jar):
            raise ValueError(f"--flink_job_server_jar: no file {jar}")
        defaults += ["--flink_master=[local]", f"--flink_job_server_jar={jar}"]
        if flink.flink_master in EMBEDDED_FLINK:
            defaults.append("--environment_type=LOOPBACK")
        else:
            worker = {"command": str(REPO / "pipeline" / "flink_worker.py")}
            defaults += ["--environment_type=PROCESS", f"--environment_config={json.dumps(worker)}",
                         f"--environment_cache_millis={HARNESS_KEPT_MILLIS}"]
        return [*defaults, *user, f"--runner={_SHARED_FLINK}"]
    return [*defaults, *user]
