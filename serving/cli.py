"""`./imdb serve` and `./imdb predict`.

    ./imdb serve                                  the pushed model, REST :8501, gRPC :8500, loopback
    ./imdb serve --model-dir DIR --rest-port 0    any base path; 0 picks free ports
    ./imdb predict "A wonderful film." "Dull."    REST; --protocol grpc for gRPC
    ./imdb predict --file reviews.txt --json      one review per line ("-": standard input)

`serve` starts TF Serving's `tensorflow_model_server` when it is on PATH (or given with
--model-server), with generated model, batching and monitoring configs; otherwise the project's
own server (serving/local_server.py), which speaks the same REST and gRPC APIs. The project's
server shows its own lines and logs TensorFlow's to a file (--log-file).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Optional, TextIO

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from common import atomic_files, console, paths, serving_contract  # noqa: E402
from serving.client import DEFAULT_PORTS, PROTOCOLS, SentimentClient, ServingRequestError  # noqa: E402
from serving.launch import free_port  # noqa: E402
from serving.limits import RequestLimits  # noqa: E402
from serving.options import EVENT_LOOPS, HTTP_PARSERS, BatchingOptions, ServerOptions  # noqa: E402


def _label(text: str):
    label, sep, version = text.partition("=")
    if not sep or not label or not version.isdigit():
        raise argparse.ArgumentTypeError(f"expected LABEL=VERSION (e.g. stable=3), not {text!r}")
    return label, int(version)


def serve_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="./imdb serve", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", default=serving_contract.local_base_path(paths.output_dir()),
                   help="the model's base path, holding <version>/ SavedModels (default %(default)s, where the Pusher writes)")
    p.add_argument("--model-name", default=serving_contract.MODEL_NAME)
    p.add_argument("--host", default=ServerOptions.host, help="address to bind (default %(default)s)")
    p.add_argument("--rest-port", type=int, default=ServerOptions.rest_port)
    p.add_argument("--grpc-port", type=int, default=ServerOptions.grpc_port)
    p.add_argument("--num-versions", type=int, default=ServerOptions.num_versions,
                   help="newest versions kept loaded (default %(default)s)")
    p.add_argument("--label", type=_label, action="append", default=[], metavar="LABEL=VERSION",
                   help="a version label, e.g. stable=3 (repeatable)")
    p.add_argument("--poll-seconds", type=float, default=ServerOptions.poll_seconds,
                   help="how often the base path is checked (default %(default)g)")
    p.add_argument("--max-batch-size", type=int, default=BatchingOptions.max_batch_size)
    p.add_argument("--batch-timeout-micros", type=int, default=BatchingOptions.batch_timeout_micros)
    p.add_argument("--num-batch-threads", type=int, default=BatchingOptions.num_batch_threads)
    p.add_argument("--no-batching", action="store_true", help="run every request on its own")
    p.add_argument("--max-request-rows", type=int, default=RequestLimits.max_rows,
                   help=f"reviews per request at most (default {RequestLimits.max_rows:,})")
    p.add_argument("--request-timeout", type=float, default=RequestLimits.timeout_seconds,
                   help=f"seconds before a request is answered DEADLINE_EXCEEDED (default {RequestLimits.timeout_seconds:g})")
    p.add_argument("--http-parser", choices=HTTP_PARSERS, default=ServerOptions.http_parser,
                   help="REST request parser of the project's server, httptools (in C) or h11 (default %(default)s)")
    p.add_argument("--event-loop", choices=EVENT_LOOPS, default=ServerOptions.event_loop,
                   help="REST event loop of the project's server, uvloop (on libuv) or asyncio (default %(default)s)")
    p.add_argument("--model-server", help="path of tensorflow_model_server (default: PATH)")
    p.add_argument("--local", action="store_true", help="use the project's server even if TF Serving is installed")
    p.add_argument("--pid-file", help="write the server's process id here (for stopping it with kill)")
    p.add_argument("--processes", type=int, default=1,
                   help="worker processes of the project's server sharing both ports (SO_REUSEPORT), each "
                        "loading the model and watching the base path (default %(default)s)")
    p.add_argument("--log-file", help="the server's log: TensorFlow's and the libraries' messages, and the "
                                      f"server's own lines (default: {_log_path(None, 'serve-<time>.log')})")
    p.add_argument("--verbose", action="store_true", help="show TensorFlow's and the libraries' messages on the console")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # one of --processes' workers
    return p


def serve(argv=None) -> int:
    args = serve_parser().parse_args(argv)
    from serving import tf_serving

    try:
        options = ServerOptions(
            model_name=args.model_name, base_path=paths.absolute(args.model_dir), host=args.host,
            rest_port=args.rest_port, grpc_port=args.grpc_port, num_versions=args.num_versions,
            labels=dict(args.label), poll_seconds=args.poll_seconds,
            batching=BatchingOptions(args.max_batch_size, args.batch_timeout_micros, args.num_batch_threads,
                                     enabled=not args.no_batching),
            limits=RequestLimits(args.max_request_rows, args.request_timeout),
            http_parser=args.http_parser, event_loop=args.event_loop, reuse_port=args.worker)
        binary = None if args.local or args.processes > 1 or args.worker else tf_serving.find_binary(args.model_server)
        if args.processes < 1:
            raise ValueError(f"--processes must be positive, not {args.processes}")
    except (ValueError, FileNotFoundError) as error:
        return console.error(error, 2)
    if binary:
        _write_pid_file(args.pid_file)  # exec keeps the id
        argv = tf_serving.command(binary, options, tempfile.mkdtemp(prefix="tf-serving-config-"))
        print("starting TF Serving: " + " ".join(argv), flush=True)
        os.execv(binary, argv)
    if args.worker:  # the supervisor relays standard output and names its log
        console.route_logging(_log_path(args.log_file), shown=sys.stdout, shown_packages=SERVER_LOGGERS)
        return _serve_here(options, args)

    log_path = _log_path(args.log_file)
    try:
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        open(log_path, "a").close()
    except OSError as error:
        return console.error(f"cannot write the server's log {log_path}: {error.strerror}", 2)
    # TensorFlow's start-up lines go to the log; the server's own lines to the terminal and the log.
    with console.stderr_to_log(log_path, enabled=not args.verbose) as terminal:
        console.route_logging(log_path, shown=terminal, shown_packages=None if args.verbose else SERVER_LOGGERS)
        print(f"log: {log_path}", flush=True)
        if args.processes > 1:
            return _supervise(options, args, list(argv if argv is not None else sys.argv[2:]), log_path, terminal)
        return _serve_here(options, args, terminal)


# Loggers whose lines a person watching the server sees: versions loaded or unloaded, failed
# loads, uvicorn's errors. Everything else (TensorFlow, absl, grpc) goes to the log only.
SERVER_LOGGERS = ("serving", "uvicorn")


def _log_path(log_file: Optional[str], default_name: str = "serve-%Y%m%d-%H%M%S.log") -> str:
    return paths.absolute(log_file or paths.output_dir("logs", time.strftime(default_name)))


def _write_pid_file(path: Optional[str]) -> None:
    if path:
        # Under ./imdb's userland this process lives in a PID namespace of its own; from outside it
        # is stopped through the wrapper, whose id ./imdb passes in (env/environment.sh).
        atomic_files.write_text(path, f"{os.environ.get('IMDB_HOST_PID') or os.getpid()}\n")


def _serve_here(options, args, terminal: TextIO = sys.stderr) -> int:
    from serving.local_server import LocalModelServer

    _write_pid_file(args.pid_file)  # a worker's is "" (_supervise)
    try:
        server = LocalModelServer(options).start()
    except OSError as error:
        return console.error(error, 1, terminal)
    if args.worker:
        print(f"{WORKER_READY} {os.getpid()}", flush=True)
    else:
        versions = server.store.served_versions
        _print_serving(options, f"(versions {versions or 'none yet: waiting for the Pusher'})", server.rest_url,
                       server.grpc_target)
    _wait_for_a_stop_signal()
    server.stop()
    if args.pid_file and os.path.exists(args.pid_file):
        os.remove(args.pid_file)
    return 0


def _print_serving(options, what: str, rest_url: str, grpc_target: str, metrics_of: str = "") -> None:
    print(f"serving {options.model_name} from {options.base_path} {what}\n"
          f"  REST  {rest_url}/v1/models/{options.model_name}\n"
          f"  gRPC  {grpc_target}\n"
          f"  metrics {rest_url}/monitoring/prometheus/metrics{metrics_of}\n"
          f"Ctrl-C stops.", flush=True)


WORKER_READY = "worker ready:"


def _wait_for_a_stop_signal(poll=None) -> None:
    """Blocks until SIGINT or SIGTERM, or until POLL() returns true (checked every half second)."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5 if poll else None):
        if poll and poll():
            return


def _supervise(options, args, argv: list, log_path: str, terminal: TextIO) -> int:
    """`--processes N`: N workers on the same two ports, each loading the model, watching the base path
    (hot reload as with one) and batching its own requests; the kernel spreads connections over them. One
    dying stops the others: a half-capacity server that still looks healthy is worse than a stopped one."""
    rest = args.rest_port or free_port(args.host)
    grpc = args.grpc_port or free_port(args.host)
    # The last occurrence of an option wins: the workers get concrete ports and no pid file.
    command = [sys.executable, "-m", "serving.cli", "serve", *argv, "--processes", "1", "--worker",
               "--rest-port", str(rest), "--grpc-port", str(grpc), "--pid-file", "", "--log-file", log_path]
    workers = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(args.processes)]

    def stop_all() -> None:
        for worker in workers:
            if worker.poll() is None:
                worker.terminate()
        for worker in workers:
            worker.wait(timeout=60)

    for worker in workers:
        for line in worker.stdout:
            if line.startswith(WORKER_READY):
                break
            print(line, end="", flush=True)
        else:
            stop_all()
            return console.error(f"a worker process exited before serving (exit code {worker.wait()}); see the log", 1,
                          terminal)
    for worker in workers:  # their later lines (versions loaded, errors) reach our output
        threading.Thread(target=lambda w=worker: [print(line, end="", flush=True) for line in w.stdout],
                         daemon=True).start()
    _write_pid_file(args.pid_file)
    _print_serving(options, f"with {args.processes} worker processes ({', '.join(str(w.pid) for w in workers)})",
                   f"http://{args.host}:{rest}", f"{args.host}:{grpc}", " (of whichever worker answers)")
    _wait_for_a_stop_signal(poll=lambda: any(w.poll() is not None for w in workers))
    died = [w for w in workers if w.poll() is not None]
    stop_all()
    if args.pid_file and os.path.exists(args.pid_file):
        os.remove(args.pid_file)
    if died:
        return console.error(f"worker process {died[0].pid} exited (code {died[0].returncode}); stopped the others", 1,
                      terminal)
    return 0


def predict_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="./imdb predict", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("reviews", nargs="*", help="review texts (or use --file)")
    p.add_argument("--file", help="one review per line; - for standard input")
    p.add_argument("--protocol", choices=PROTOCOLS, default="rest")
    p.add_argument("--server", default="localhost", help=f"host[:port] (default %(default)s; port {DEFAULT_PORTS['rest']} "
                                                         f"for REST, {DEFAULT_PORTS['grpc']} for gRPC)")
    p.add_argument("--model-name", default=serving_contract.MODEL_NAME)
    p.add_argument("--version", type=int, help="a specific version (default: the newest served)")
    p.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    return p


def predict(argv=None) -> int:
    args = predict_parser().parse_args(argv)
    reviews = list(args.reviews)
    if args.file:
        try:
            with sys.stdin if args.file == "-" else open(args.file, encoding="utf-8") as stream:
                reviews += [line.rstrip("\n") for line in stream if line.strip()]
        except (OSError, UnicodeDecodeError) as error:
            return console.error(f"cannot read reviews from {args.file}: {error}", 2)
    if not reviews:
        return console.error("no reviews given (arguments, --file FILE or --file -)", 2)
    # The gRPC stubs load TensorFlow, whose C++ start-up lines would frame the answer: dropped.
    with console.stderr_to_log(os.devnull) as terminal:
        try:
            with SentimentClient(args.server, args.protocol, args.model_name, args.version) as client:
                probabilities = client.predict(reviews)
        except ServingRequestError as error:
            return console.error(f"the server refused the request: {error}", 1, terminal)
        except Exception as error:  # connection refused, timeout, ...
            return console.error(f"cannot reach {args.protocol} server at {args.server}: {error}", 1, terminal)
    for review, p in zip(reviews, probabilities, strict=True):
        label = "positive" if p >= 0.5 else "negative"
        if args.json:
            print(json.dumps({"review": review, "label": label, "probability": round(p, 6)}))
        else:
            short = review if len(review) <= 60 else review[:57] + "..."
            print(f"{label:<8}  {p:.4f}  {short}")
    return 0


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command not in ("serve", "predict"):
        sys.exit("usage: python -m serving.cli serve|predict [options]")
    sys.exit(serve(sys.argv[2:]) if command == "serve" else predict(sys.argv[2:]))
