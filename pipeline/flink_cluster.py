"""A Flink session cluster on this machine: a JobManager and TaskManagers, each its own JVM.

Beam's job server embeds a one-JVM mini-cluster; users scale out to a session cluster, so this one
runs what Flink's bin/jobmanager.sh and bin/taskmanager.sh run: flink-runtime's entry points, on
the job server's own libraries (the runner's Flink version; env/flink-job-server/pom.xml). The
pipeline's Beam components reach it through the job server: `--runner=FlinkRunner
--flink_master=localhost:REST_PORT`. `./imdb flink up` runs `up` detached; `./imdb flink down`
signals it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from typing import List, Tuple

from common import console

REST_PORT = 8081
RPC_PORT = 6123
TASKMANAGERS = 2
SLOTS = 1  # per TaskManager: a task per JVM, the machine's two cores for two TaskManagers
ENTRY_POINTS = {"jobmanager": "org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint",
                "taskmanager": "org.apache.flink.runtime.taskexecutor.TaskManagerRunner"}
# Flink's scripts size each JVM from the configuration with this program (bin/config.sh, runBashJavaUtilsCmd):
# it prints the JVM's memory options, then the sizes to pass on as dynamic properties.
SIZING_PROGRAM = "org.apache.flink.runtime.util.bash.BashJavaUtils"
SIZING_ACTIONS = {"jobmanager": "GET_JM_RESOURCE_PARAMS", "taskmanager": "GET_TM_RESOURCE_PARAMS"}
SIZING_LINE = "BASH_JAVA_UTILS_EXEC_RESULT:"
# What Flink's scripts pass on Java 17 and later (bin/config.sh's env.java.opts.all default).
JAVA_OPENS = [f"--add-opens=java.base/{package}=ALL-UNNAMED" for package in (
    "java.lang", "java.lang.reflect", "java.io", "java.net", "java.nio", "sun.nio.ch", "java.text", "java.time",
    "java.util", "java.util.concurrent", "java.util.concurrent.atomic", "java.util.concurrent.locks")]
CONFIG = """\
jobmanager.rpc.address: localhost
jobmanager.rpc.port: {rpc_port}
jobmanager.bind-host: localhost
jobmanager.memory.process.size: 1024m
taskmanager.host: localhost
taskmanager.bind-host: localhost
taskmanager.numberOfTaskSlots: {slots}
# The task's heap holds what the SDK harness sends back before the task takes it: up to 100 messages of up
# to 10 MB (Beam's BeamFnDataInboundObserver queue; the harness's flush threshold). Flink's share of a
# 3,072 MB TaskManager, 225 MB, ran out at 200,000 reviews ("OutOfMemoryError: Java heap space" in a gRPC
# thread, and the job waited for ever). Managed memory (batch sorts) from Flink's 1 GB default to 512 MB:
# Flink spills what does not fit to disk.
taskmanager.memory.task.heap.size: 2048m
taskmanager.memory.managed.size: 512m
# A TaskManager that meets an uncaught error exits, so its job fails and says why, instead of hanging.
cluster.uncaught-exception-handling: FAIL
# Direct memory for the task's own code: Beam's gRPC channels to the harness buffer there (Flink's default,
# none, ran out at 50,000 reviews: "OutOfMemoryError: Direct buffer memory").
taskmanager.memory.task.off-heap.size: 512m
# Beam's batch jobs shuffle through many channels at once: Flink's default 10% of the memory ran
# short ("Insufficient number of network buffers", StatisticsGen's job).
taskmanager.memory.network.min: 512m
taskmanager.memory.network.max: 512m
rest.address: localhost
rest.bind-address: localhost
rest.port: {rest_port}
parallelism.default: {slots}
# Beam's runner classes from the JVM's class path (the job server's libraries), not each job's copy: Beam keeps
# a TaskManager's SDK harness between a job's stages only then (FlinkExecutableStageContextFactory), and
# starting one took 10-15 s, 26 times a TaskManager in a run of the tests' pipeline without it.
classloader.resolve-order: parent-first
# A job's slots spread over the TaskManagers, not the first one filled: the work reaches every JVM.
cluster.evenly-spread-out-slots: true
# What the JVMs write besides their logs (each job's jars in the blob caches, ~150 MB a job; spilled sorts) in the
# cluster's folder, removed when it stops: in /tmp, under fixed TaskManager ids, it outlived every cluster
# (13 GB a TaskManager after a day of runs, until the disk was full).
process.working-dir: {work_dir}
io.tmp.dirs: {work_dir}/tmp
"""
LOG_CONFIG = """\
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
appender.file.type = File
appender.file.name = file
appender.file.fileName = ${sys:log.file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = %d{HH:mm:ss,SSS} %-5p %c{1} - %m%n
"""


class Cluster:
    """The JVMs of one session cluster, started under FOLDER (conf/, log/)."""

    def __init__(self, folder: str, job_server_jar: str, rest_port: int = REST_PORT, rpc_port: int = RPC_PORT,
                 taskmanagers: int = TASKMANAGERS):
        self.folder, self.rest_port, self.rpc_port, self.taskmanagers = folder, rest_port, rpc_port, taskmanagers
        target = os.path.dirname(os.path.abspath(job_server_jar))
        self.classpath = f"{target}/lib/*:{target}/cluster-lib/*"
        self.processes: List[subprocess.Popen] = []

    def __enter__(self) -> "Cluster":
        try:
            self.start()
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_) -> None:
        self.stop()

    @property
    def work_dir(self) -> str:
        return os.path.join(self.folder, "work")

    def log(self, role: str) -> str:
        return os.path.join(self.folder, "log", f"{role}.log")

    def start(self) -> None:
        conf = os.path.join(self.folder, "conf")
        os.makedirs(conf, exist_ok=True)
        os.makedirs(os.path.join(self.folder, "log"), exist_ok=True)
        os.makedirs(os.path.join(self.work_dir, "tmp"), exist_ok=True)
        with open(os.path.join(conf, "flink-conf.yaml"), "w") as out:
            out.write(CONFIG.format(rpc_port=self.rpc_port, slots=SLOTS, rest_port=self.rest_port,
                                    work_dir=self.work_dir))
        with open(os.path.join(conf, "log4j.properties"), "w") as out:
            out.write(LOG_CONFIG)
        sizing = {kind: self._sizing(kind, conf) for kind in ENTRY_POINTS}
        for role in self.roles():
            kind = role.split("-")[0]
            jvm_options, dynamic_properties = sizing[kind]
            command = ["java", *JAVA_OPENS, *jvm_options, f"-Dlog.file={self.log(role)}",
                       f"-Dlog4j.configurationFile=file:{conf}/log4j.properties", "-cp", self.classpath,
                       ENTRY_POINTS[kind], "--configDir", conf, *dynamic_properties]
            if kind == "taskmanager":
                command += ["-D", f"taskmanager.resource-id={role}"]
            with open(os.path.join(self.folder, "log", f"{role}.out"), "w") as out:
                self.processes.append(subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT))

    def roles(self) -> List[str]:
        return ["jobmanager"] + [f"taskmanager-{i}" for i in range(1, self.taskmanagers + 1)]

    def _sizing(self, kind: str, conf: str) -> Tuple[List[str], List[str]]:
        action = SIZING_ACTIONS[kind]
        result = subprocess.run(["java", "-cp", self.classpath, SIZING_PROGRAM, action, "--configDir", conf],
                                capture_output=True, text=True)
        lines = [line[len(SIZING_LINE):].split() for line in result.stdout.splitlines() if line.startswith(SIZING_LINE)]
        if result.returncode or len(lines) != 2:
            raise RuntimeError(f"Flink's {SIZING_PROGRAM} {action} failed: {(result.stdout + result.stderr)[-2000:]}")
        return lines[0], lines[1]

    def registered_taskmanagers(self) -> List[str]:
        with urllib.request.urlopen(f"http://localhost:{self.rest_port}/taskmanagers", timeout=5) as response:
            return [tm["id"] for tm in json.load(response)["taskmanagers"]]

    def wait_ready(self, timeout: float = 120) -> None:
        """Until every TaskManager has registered; RuntimeError naming the log of a JVM that exited."""
        deadline = time.monotonic() + timeout
        while True:
            for process, role in zip(self.processes, self.roles()):
                if process.poll() is not None:
                    raise RuntimeError(f"the Flink {role} exited (code {process.returncode}); see {self.log(role)}")
            try:
                if len(self.registered_taskmanagers()) == self.taskmanagers:
                    return
            except OSError:
                pass  # the JobManager's REST endpoint is not up yet
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Flink cluster was not up in {timeout:.0f} s; see {self.folder}/log")
            time.sleep(1)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.work_dir, ignore_errors=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m pipeline.flink_cluster", description=__doc__)
    p.add_argument("action", choices=["up"])
    p.add_argument("--dir", required=True, help="the cluster's configuration and logs")
    p.add_argument("--job-server-jar", required=True)
    p.add_argument("--rest-port", type=int, default=REST_PORT, help="the REST API and web UI (default: %(default)s)")
    p.add_argument("--rpc-port", type=int, default=RPC_PORT, help="the JobManager's RPC (default: %(default)s)")
    p.add_argument("--taskmanagers", type=int, default=TASKMANAGERS, help="default: %(default)s")
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        with Cluster(args.dir, args.job_server_jar, args.rest_port, args.rpc_port, args.taskmanagers):
            open(os.path.join(args.dir, "ready"), "w").close()
            print(f"Flink session cluster up: {args.taskmanagers} TaskManagers, web UI at http://localhost:"
                  f"{args.rest_port}; run on it: ./imdb run --data PATH -- --runner=FlinkRunner "
                  f"--flink_master=localhost:{args.rest_port} --parallelism={args.taskmanagers * SLOTS}", flush=True)
            signal.pause()
    except RuntimeError as error:
        return console.error(error, 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
