"""A Kubeflow Pipelines deployment's runtime on this machine: the compiled pipeline run by KFP's own
driver and launcher, against ML Metadata and a Cloud Storage server, all on loopback.

    ./imdb kfp-local run outputs/kubeflow/imdb-sentiment.yaml --upload DATA=gs://BUCKET/data \\
        [--param data=gs://BUCKET/data] [--state DIR]

Everything runs in a network namespace of its own that holds nothing but loopback (checked before
anything starts: a mistake fails closed), where the cluster's and Google's names resolve to it:

    storage.googleapis.com, www.googleapis.com  gcpfront (TLS) -> fake-gcs-server, Cloud Storage's API
    iamcredentials.googleapis.com               gcpfront: a service account's (absent) access boundary
    metadata.google.internal, 169.254.169.254   gcpfront: GKE's metadata server, the pods' credentials
    metadata-grpc-service.kubeflow...:8080     ML Metadata's gRPC service (kubeflow/mlmd_service.py)
    10.96.0.1:443 (KUBERNETES_SERVICE_HOST)    the Kubernetes API calls KFP makes (kfp_go/kubeapi)

and a CA made for the run is the only one trusted there. argorun (kfp_go/cmd/argorun) then does what
KFP's API server and Argo do with a run: compiles the Workflow with KFP's own compiler, and runs its
pods (KFP's driver and launcher binaries, the task commands in this environment). No environment
variable points a client anywhere: TensorFlow and the launcher reach "Google" as in a GKE pod.

`up` keeps the stack running for other commands to enter (`nsenter`, as the tests do); `run` is
up, one pipeline run, down. The object store lives in memory, seeded from --upload at the start.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

import yaml

from common import atomic_files
from kubeflow import key_values

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAMESPACE_MARK = "IMDB_KFP_LOCAL_NAMESPACE"  # set once the process is in the stack's namespace
NAMESPACE = "kubeflow"
METADATA_IP, KUBE_IP = "169.254.169.254", "10.96.0.1"
# Names as a cluster's DNS and Google's resolve them, here all on loopback addresses.
HOSTS = {
    "127.0.0.1": ["localhost", "storage.googleapis.com", "www.googleapis.com", "iamcredentials.googleapis.com",
                  "metadata-grpc-service.kubeflow.svc.cluster.local", "ml-pipeline.kubeflow.svc.cluster.local"],
    METADATA_IP: ["metadata.google.internal"],
    KUBE_IP: ["kubernetes.default.svc", "kubernetes.default.svc.cluster.local"],
}
MLMD_PORT, GCS_BACKEND_PORT = 8080, 4443
IMAGE_SOURCE = "/src"  # the Dockerfile's WORKDIR, where it copies the project's source
SERVICE_ACCOUNT = "kfp-pipeline-runner@imdb-local.iam.gserviceaccount.com"


class StackError(RuntimeError):
    """The stack cannot start or run; the message says what and where its logs are."""


def _tools() -> str:
    tools = os.environ.get("IMDB_KFP_TOOLS", "")
    missing = [t for t in ("driver", "launcher-v2", "argorun", "gcpfront", "fake-gcs-server")
               if not os.access(os.path.join(tools, t), os.X_OK)]
    if missing:
        raise StackError(f"the stack's programs ({', '.join(missing)}) are not in IMDB_KFP_TOOLS={tools!r}: "
                         "run through ./imdb kfp-local, which builds them")
    return tools


def enter_namespace(argv: Sequence[str]) -> None:
    """Re-runs this command in a new network and mount namespace, unless it already is in one."""
    if os.environ.get(NAMESPACE_MARK):
        return
    env = {**os.environ, NAMESPACE_MARK: "1"}
    command = ["unshare", "--net", "--mount", "--propagation", "private", sys.executable, "-m", __spec__.name, *argv]
    os.execvpe("unshare", command, env)


def _only_loopback() -> None:
    interfaces = [name for _, name in socket.if_nameindex()]
    if interfaces != ["lo"]:
        raise StackError(f"refusing to redirect Google's names: this network namespace has {interfaces}, "
                         "not loopback alone")


def _certificates(work: str) -> Dict[str, str]:
    """A CA made for this stack, and a certificate for each TLS server, signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    valid = dict(not_valid_before=now - datetime.timedelta(minutes=5), not_valid_after=now + datetime.timedelta(days=7))
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "imdb local KFP stack CA")])
    ca = (x509.CertificateBuilder(subject_name=ca_name, issuer_name=ca_name, public_key=ca_key.public_key(),
                                  serial_number=x509.random_serial_number(), **valid)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    paths = {"ca": os.path.join(work, "ca.crt")}

    def pem(path: str, data: bytes) -> str:
        with open(path, "wb") as f:
            f.write(data)
        return path

    pem(paths["ca"], ca.public_bytes(serialization.Encoding.PEM))
    for name, dns, ips in (("storage", ["storage.googleapis.com", "www.googleapis.com", "iamcredentials.googleapis.com"], []),
                           ("kube", ["kubernetes.default.svc", "kubernetes.default.svc.cluster.local"], [KUBE_IP])):
        key = ec.generate_private_key(ec.SECP256R1())
        sans = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        cert = (x509.CertificateBuilder(subject_name=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns[0])]),
                                        issuer_name=ca_name, public_key=key.public_key(),
                                        serial_number=x509.random_serial_number(), **valid)
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                # What Python 3.13's strict verification (VERIFY_X509_STRICT) requires of a leaf.
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
                .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .sign(ca_key, hashes.SHA256()))
        paths[f"{name}_cert"] = pem(os.path.join(work, f"{name}.crt"), cert.public_bytes(serialization.Encoding.PEM))
        paths[f"{name}_key"] = pem(os.path.join(work, f"{name}.key"), key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return paths


def _bind(source: str, target: str) -> None:
    subprocess.run(["mount", "--bind", source, target], check=True)


def _wait_for_port(host: str, port: int, process: subprocess.Popen, log: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StackError(f"{os.path.basename(log)[:-4]} exited with {process.returncode}; see {log}")
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise StackError(f"nothing listens on {host}:{port} after {seconds:.0f} s; see {log}")


class Stack:
    """The servers of one stack, in the current (private) namespace; a context manager."""

    def __init__(self, state: str, uploads: Dict[str, str]):
        self.state = os.path.abspath(state)
        self.work = os.path.join(self.state, "stack")
        self.uploads = uploads
        self.processes: List[subprocess.Popen] = []
        self.mlmd = None

    def __enter__(self) -> "Stack":
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self) -> None:
        _only_loopback()
        self.tools = _tools()
        os.makedirs(self.work, exist_ok=True)
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        for ip in (METADATA_IP, KUBE_IP):
            subprocess.run(["ip", "address", "add", f"{ip}/32", "dev", "lo"], check=True)
        self.certs = _certificates(self.work)
        hosts = os.path.join(self.work, "hosts")
        with open(hosts, "w") as f:
            f.writelines(f"{ip} {' '.join(names)}\n" for ip, names in HOSTS.items())
        _bind(hosts, "/etc/hosts")
        _bind(self.certs["ca"], "/etc/ssl/certs/ca-certificates.crt")  # the only CA trusted in here
        for variable in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "CURL_CA_BUNDLE", "SSL_CERT_FILE",
                         "REQUESTS_CA_BUNDLE", "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_AUTH_TOKEN_FOR_TESTING"):
            os.environ.pop(variable, None)  # what the pods and clients here see comes from the stack alone

        seed = os.path.join(self.work, "seed")
        shutil.rmtree(seed, ignore_errors=True)
        os.makedirs(seed)
        for local, uri in self.uploads.items():
            target = os.path.join(seed, uri[len("gs://"):])
            os.makedirs(os.path.dirname(target), exist_ok=True)
            (shutil.copytree if os.path.isdir(local) else shutil.copyfile)(local, target)
        self._spawn("fake-gcs-server", ["-scheme", "http", "-host", "127.0.0.1", "-port", str(GCS_BACKEND_PORT),
                                        "-backend", "memory", "-data", seed, "-public-host", "storage.googleapis.com",
                                        "-external-url", "https://www.googleapis.com", "-log-level", "warn"],
                    ("127.0.0.1", GCS_BACKEND_PORT))
        self._spawn("gcpfront", ["-storage-listen", "127.0.0.1:443", "-backend", f"127.0.0.1:{GCS_BACKEND_PORT}",
                                 "-metadata-listen", f"{METADATA_IP}:80", "-cert", self.certs["storage_cert"],
                                 "-key", self.certs["storage_key"], "-token", secrets.token_urlsafe(24),
                                 "-service-account", SERVICE_ACCOUNT], ("127.0.0.1", 443))
        from kubeflow import mlmd_service

        self.mlmd = mlmd_service.serve(self.metadata_path, "127.0.0.1", MLMD_PORT)

    @property
    def metadata_path(self) -> str:
        return os.path.join(self.state, "metadata.sqlite")

    def _spawn(self, tool: str, args: List[str], ready: tuple) -> None:
        log = os.path.join(self.work, f"{tool}.log")
        with open(log, "ab") as out:
            process = subprocess.Popen([os.path.join(self.tools, tool), *args], stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL)
        self.processes.append(process)
        _wait_for_port(*ready, process, log)

    def refused(self) -> List[str]:
        """What gcpfront refused (a call to an endpoint it does not serve, or without credentials)."""
        with open(os.path.join(self.work, "gcpfront.log"), errors="replace") as f:
            return [line.strip() for line in f if "REFUSED" in line]

    def close(self) -> None:
        if self.mlmd is not None:
            self.mlmd.stop(grace=None)
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()

    def run(self, pipeline_yaml: str, parameters: Dict[str, object], run_id: Optional[str] = None,
            echo=print) -> dict:
        """One run of PIPELINE_YAML, as `./imdb submit` starts it (its pipeline root, these
        parameters); returns argorun's report with what gcpfront refused."""
        with open(pipeline_yaml) as f:
            spec = next(yaml.safe_load_all(f))
        from kubeflow import submit
        run_dir = os.path.join(self.work, "runs", run_id or time.strftime("%Y%m%d-%H%M%S"))
        os.makedirs(run_dir, exist_ok=True)
        # The project's image: its environment, and its source at /src, where the Dockerfile copies it
        # (the curated schema the pods read: deployment.IMAGE_SCHEMA_FILE).
        image = {"env": _project_image_env(), "files": {IMAGE_SOURCE: REPO}}
        images = {executor["container"]["image"]: image for executor in spec["deploymentSpec"]["executors"].values()}
        with open(os.path.join(run_dir, "images.json"), "w") as f:
            json.dump(images, f)
        report_path = os.path.join(run_dir, "report.json")
        command = [os.path.join(self.tools, "argorun"), "-spec", os.path.abspath(pipeline_yaml),
                   "-params", json.dumps(parameters), "-pipeline-root", submit.pipeline_root(pipeline_yaml),
                   "-namespace", NAMESPACE, "-images", os.path.join(run_dir, "images.json"),
                   "-kfp-bin", self.tools, "-kube-listen", f"{KUBE_IP}:443", "-kube-cert", self.certs["kube_cert"],
                   "-kube-key", self.certs["kube_key"], "-ca", self.certs["ca"], "-work", run_dir,
                   "-report", report_path, "-bwrap", shutil.which("bwrap") or "bwrap"]
        if run_id:
            command += ["-run-id", run_id]
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as argorun:
            for line in argorun.stdout:
                echo(line.rstrip())
        with open(report_path) as f:
            report = json.load(f)
        report["exit_code"], report["gcpfront_refused"] = argorun.returncode, self.refused()
        return report


def _project_image_env() -> Dict[str, str]:
    """What the project's image gives a process: the Dockerfile's ENV lines (its venv on PATH is this
    environment's, its code this checkout, importable), HOME of root."""
    import shlex

    with open(os.path.join(REPO, "Dockerfile")) as f:
        text = f.read().replace("\\\n", " ")
    env = {"PYTHONPATH": os.environ.get("PYTHONPATH", REPO)}
    for line in text.splitlines():
        if line.startswith("ENV "):
            env.update(pair.split("=", 1) for pair in shlex.split(line[4:], comments=True))
    env["PATH"], env["HOME"] = os.environ["PATH"], "/root"  # the sandbox runs as root
    return env


def _uploads(pairs: Sequence[str]) -> Dict[str, str]:
    uploads = {}
    for local, uri in key_values.key_values(pairs, "--upload").items():
        if not uri.startswith("gs://") or not os.path.exists(local):
            raise StackError(f"--upload {local}={uri}: needs an existing local path and a gs:// URI")
        uploads[os.path.abspath(local)] = uri.rstrip("/")
    return uploads


def summarize(report: dict) -> str:
    lines = [f"workflow {report.get('workflow')} (run {report.get('run_id')}): {report['phase']}"]
    for node in report.get("nodes") or []:
        if node["type"] == "Pod" and node["phase"] != "Succeeded":
            lines.append(f"  {node['name']}: {node['phase']} {node.get('message', '')} (log: {node.get('log')})")
    for call in report.get("unknown_kubernetes_calls") or []:
        lines.append(f"  Kubernetes API call the stand-in does not serve: {call}")
    for line in report.get("gcpfront_refused") or []:
        lines.append(f"  refused by gcpfront: {line}")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="./imdb kfp-local", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = p.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="start the stack, run the compiled pipeline once, stop")
    run.add_argument("pipeline", help="the YAML ./imdb compile wrote")
    run.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="a run parameter")
    up = commands.add_parser("up", help="start the stack and keep it until SIGTERM (for nsenter)")
    up.add_argument("--ready-file", required=True, help="written with this process's id once the stack is up")
    attach = commands.add_parser("run-in", help="inside a running stack's namespace (nsenter): one run")
    attach.add_argument("pipeline")
    attach.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    attach.add_argument("--run-id")
    attach.add_argument("--report", help="write the run's report here (JSON)")
    for command in (run, up, attach):
        command.add_argument("--state", default="outputs/kfp-local",
                             help="ML Metadata's database and the pods' files (default outputs/kfp-local)")
    for command in (run, up):
        command.add_argument("--upload", action="append", default=[], metavar="LOCAL=gs://BUCKET/PATH",
                             help="a file or folder the object store holds from the start")
    args = p.parse_args(argv)
    try:
        if args.command == "run-in":
            return _run_in(args)
        uploads = _uploads(args.upload)
        enter_namespace(argv)
        with Stack(args.state, uploads) as stack:
            if args.command == "up":
                return _serve_until_stopped(stack, args.ready_file)
            report = stack.run(args.pipeline, key_values.run_parameters(args.param))
            print(summarize(report))
            return report["exit_code"] or (1 if report["gcpfront_refused"] else 0)
    except (StackError, OSError, ValueError, subprocess.CalledProcessError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _serve_until_stopped(stack: Stack, ready_file: str) -> int:
    with open(os.path.join(stack.work, "stack.json"), "w") as f:
        json.dump({"certs": stack.certs, "tools": stack.tools}, f)
    atomic_files.write_text(ready_file, str(os.getpid()))
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})  # taken by sigwait, not fatal
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    return 0


def _run_in(args) -> int:
    """A run inside the namespace of a stack that `up` started (the servers are its)."""
    with open(os.path.join(os.path.abspath(args.state), "stack", "stack.json")) as f:
        facts = json.load(f)
    stack = Stack(args.state, {})
    stack.certs, stack.tools = facts["certs"], facts["tools"]
    report = stack.run(args.pipeline, key_values.run_parameters(args.param), args.run_id)
    if args.report:
        with open(args.report, "w") as f:
            json.dump(report, f, indent=1)
    print(summarize(report))
    return report["exit_code"] or (1 if report["gcpfront_refused"] else 0)


if __name__ == "__main__":
    sys.exit(main())
