"""`./imdb benchmark-scale`: how each component's time and memory grow with the number of reviews.

    ./imdb benchmark-scale --data ../shared/data/aclImdb_labeled.tar.gz                 every point
    ./imdb benchmark-scale --data ... --sizes 5000,12500 --runners direct               some of them

For each size and Beam runner, writes an archive in the aclImdb layout (half train, half test, half
positive): up to 50,000 reviews a deterministic sample of the real ones, above that the real ones
under new ids (real text, so tokenization and vocabulary work as on real data), then runs
`python -m pipeline.cli --data ARCHIVE --full --no-cache --epochs 1 [-- --runner=FlinkRunner]` on it
in a process of its own and a fresh output directory (no earlier model: the Evaluator evaluates
one). One Trainer epoch: its cost per epoch is what grows with the data.

Each component's wall time and output artifacts come from ML Metadata (the bytes it wrote: its
artifacts' files, measured before the run's directory is removed), its peak memory from the resident
memory of the run's process tree (with Flink's job server, and a session cluster's JVMs), sampled
every half second. Points already in the results file are kept (the curve can be measured a few at a time);
docs/scaling.md (table, log-log plot, fitted exponents) is rebuilt after each point.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import threading
import time
from typing import Dict, List, Tuple

from benchmarks import peak_memory, report
from common import atomic_files, console, paths
from kubeflow import deployment
from pipeline import beam_runners, configs, flink_cluster

SIZES = (5_000, 12_500, 25_000, 50_000, 200_000, 500_000)
# The Beam options after `--` per runner: the local default (in process), the same runner with one
# worker process per core (as in the Kubeflow steps), Flink with its SDK harness as threads of the
# component's process (the local default), Flink with one SDK harness process per core, and a Flink
# session cluster (pipeline/flink_cluster.py, started for the point), a harness process per TaskManager.
RUNNERS = {"direct": [], "direct-processes": list(deployment.DEFAULT_BEAM_ARGS), "flink": ["--runner=FlinkRunner"],
           "flink-processes": ["--runner=FlinkRunner", "--experiments=use_loopback_process_worker",
                               "--sdk_worker_parallelism=0"],
           "flink-cluster": ["--runner=FlinkRunner", f"--flink_master=localhost:{flink_cluster.REST_PORT}",
                             f"--parallelism={flink_cluster.TASKMANAGERS * flink_cluster.SLOTS}"]}
# A line style and a marker per runner: five dash patterns alone were hard to tell apart.
STYLES = (("-", "o"), ("-.", "s"), ("--", "^"), (":", "D"), ((0, (5, 1, 1, 1)), "x"))
RESULTS = "docs/scaling.json"
DOC = "docs/scaling.md"
PLOT = "images/scaling.png"  # beside the doc, so another --doc does not overwrite the project's plot
SAMPLE_SECONDS = 0.5
MARK_BEGIN, MARK_END = "<!-- scaling: begin -->", "<!-- scaling: end -->"


def read_reviews(archive: str) -> Dict[Tuple[str, str], List[Tuple[str, bytes]]]:
    """The labeled reviews of an aclImdb archive by (split, label): [(file name, text)], sorted."""
    found: Dict[Tuple[str, str], List[Tuple[str, bytes]]] = {}
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            parts = member.name.split("/")
            if (member.isfile() and len(parts) == 4 and parts[1] in ("train", "test")
                    and parts[2] in ("pos", "neg") and parts[3].endswith(".txt")):
                found.setdefault((parts[1], parts[2]), []).append((parts[3], tar.extractfile(member).read()))
    if sorted(found) != [("test", "neg"), ("test", "pos"), ("train", "neg"), ("train", "pos")]:
        raise ValueError(f"{archive}: not an aclImdb archive with train/test and pos/neg reviews")
    return {key: sorted(reviews) for key, reviews in found.items()}


def write_archive(reviews: Dict[Tuple[str, str], List[Tuple[str, bytes]]], size: int, path: str) -> None:
    """SIZE reviews in the aclImdb layout, a quarter per (split, label). Below the real count, every
    k-th real review; above it, copy c of review NAME is `<id + c * 1,000,000>_<rating>.txt`."""
    if size % 4:
        raise ValueError(f"size {size} must be a multiple of 4 (a quarter per split and label)")
    quarter = size // 4
    with atomic_files.staged_path(path) as staging, tarfile.open(staging, "w:gz", compresslevel=1) as tar:
        for (split, label), pool in sorted(reviews.items()):
            for i in range(quarter):
                if quarter <= len(pool):
                    name, text = pool[i * len(pool) // quarter]
                else:
                    name, text = pool[i % len(pool)]
                    review_id, rating = name[:-4].split("_")
                    name = f"{int(review_id) + i // len(pool) * 1_000_000}_{rating}.txt"  # copy i // len(pool)
                info = tarfile.TarInfo(f"aclImdb/{split}/{label}/{name}")
                info.size = len(text)
                tar.addfile(info, io.BytesIO(text))


def _tree_rss_mb(roots: List[int]) -> float:
    children: Dict[int, List[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    total, stack = 0, list(roots)
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, ()))
        try:
            total += peak_memory.status_mib("VmRSS", pid)
        except (OSError, RuntimeError):  # gone, or no memory of its own (a zombie)
            pass
    return total


class PointFailed(Exception):
    """The pipeline of a point exited with an error: said by name, not as a traceback."""


def train_parts(size: int, runner: str) -> List[str]:
    """On Flink, the training reviews (half the archive's, less the eval share) as splits of at most
    configs.FLINK_TRAIN_REVIEWS_PER_SPLIT: the option, where more than one is needed."""
    train = size // 2 * (1 - configs.DEFAULT_EVAL_FRACTION)
    parts = math.ceil(train / configs.FLINK_TRAIN_REVIEWS_PER_SPLIT)
    return ["--train-parts", str(parts)] if runner.startswith("flink") and parts > 1 else []


def run_point(data: str, size: int, runner: str, work_dir: str) -> dict:
    with console.stderr_to_log(os.devnull):  # they load TensorFlow: its C++ start-up lines stay off the console
        from pipeline import local_runner, run_summary

    out = os.path.join(work_dir, f"{runner}-{size}")
    # A fresh output directory: a model pushed by an earlier run would become the baseline, and
    # the Evaluator would evaluate two models instead of one.
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "pipeline.cli", "--data", data, "--full", "--no-cache", "--epochs", "1",
               "--output-dir", out, *train_parts(size, runner), *(["--", *RUNNERS[runner]] if RUNNERS[runner] else [])]
    log_path = os.path.join(work_dir, f"{runner}-{size}.log")
    samples: List[Tuple[float, float]] = []
    with open(log_path, "w") as log, contextlib.ExitStack() as scope:
        jvms = []  # a session cluster's: not in the run's process tree, but part of its memory
        if runner == "flink-cluster":
            try:
                cluster = scope.enter_context(flink_cluster.Cluster(
                    os.path.join(work_dir, f"{runner}-{size}-cluster"), os.environ[beam_runners.FLINK_JOB_SERVER_ENV]))
            except RuntimeError as error:
                raise PointFailed(f"the Flink session cluster did not start: {error}") from error
            jvms = [jvm.pid for jvm in cluster.processes]
        started = time.time()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        done = threading.Event()

        def sample():
            while not done.wait(SAMPLE_SECONDS):
                samples.append((time.time(), _tree_rss_mb([process.pid, *jvms])))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = process.wait()
        done.set()
        sampler.join()
        wall = time.time() - started
    if code:
        raise PointFailed(f"the pipeline failed on {size:,} reviews ({runner}); its output: {log_path}")
    store = run_summary.open_store(local_runner.LocalPaths(out).metadata_path)
    components = {}
    for execution in run_summary.latest_run_executions(store):
        begin, end = execution.create_time_since_epoch / 1000, execution.last_update_time_since_epoch / 1000
        during = [mb for at, mb in samples if begin <= at <= end]
        written = sum(report.tree_bytes(artifact.uri) for artifacts in
                      run_summary.output_artifacts(store, execution.id).values() for artifact in artifacts)
        components[run_summary.node_name(store, execution.id)] = {
            "seconds": end - begin, "peak_memory_mb": max(during) if during else None, "mb_written": written / 1e6}
    shutil.rmtree(out)  # gigabytes at the largest sizes; the figures above and the log are what is kept
    return {"size": size, "runner": runner, "date": datetime.date.today().isoformat(), "wall_seconds": wall,
            "peak_memory_mb": max((mb for _, mb in samples), default=None), "components": components,
            "command": " ".join(command[1:])}


def fit_exponent(points: List[Tuple[float, float]]) -> float:
    """b of y = a * x^b, by least squares on the logarithms."""
    logs = [(math.log(x), math.log(y)) for x, y in points if x > 0 and y > 0]
    try:  # fewer than two points, or all at one size
        return statistics.linear_regression(*zip(*logs)).slope
    except (statistics.StatisticsError, TypeError):
        return float("nan")


def series(results: List[dict], runner: str, component: str, figure: str) -> List[Tuple[float, float]]:
    return sorted((r["size"], r["components"][component][figure]) for r in results
                  if r["runner"] == runner and component in r["components"]
                  and r["components"][component].get(figure) is not None)


def component_names(results: List[dict]) -> List[str]:
    return list(dict.fromkeys(n for r in sorted(results, key=lambda r: r["size"]) for n in r["components"]))


def plot(results: List[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(1, 2, figsize=(13, 7))
    names = [n for n in component_names(results)  # those that take measurable time
             if any(_exponent(series(results, r, n, "seconds"), 1) != "-" for r in RUNNERS)]
    colors = dict(zip(names, pyplot.get_cmap("tab20").colors))
    for runner, (style, marker) in zip(RUNNERS, STYLES, strict=True):
        for name in names:
            for axis, figure_name in zip(axes, ("seconds", "peak_memory_mb")):
                points = series(results, runner, name, figure_name)
                if len(points) > 1:
                    axis.plot(*zip(*points), linestyle=style, marker=marker, color=colors[name],
                              label=f"{name} ({runner})")
    sizes = sorted({r["size"] for r in results})
    if len(sizes) > 1:  # what linear growth looks like, for the eye
        axes[0].plot([sizes[0], sizes[-1]], [10, 10 * sizes[-1] / sizes[0]], color="lightgrey", linewidth=3,
                     label="linear (slope 1)")
    for axis, title in zip(axes, ("wall time per component (s)", "peak resident memory while it ran (MB)")):
        axis.set(xscale="log", yscale="log", xlabel="reviews", title=title)
        axis.grid(True, which="both", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()  # below the plots, not over the lines
    figure.legend(handles, labels, loc="lower center", fontsize=7, ncol=4, frameon=False)
    figure.tight_layout(rect=(0, 0.22, 1, 1))
    os.makedirs(os.path.dirname(path), exist_ok=True)  # another --doc's folder may have none yet
    with atomic_files.staged_path(path) as staging:
        figure.savefig(staging, format="png", dpi=110)
    pyplot.close(figure)


def _exponent(points: List[Tuple[float, float]], floor: float) -> str:
    """The fitted exponent, or a dash where it would mean nothing: fewer than two points, or a
    figure under FLOOR (a component that takes no measurable time)."""
    if len(points) < 2 or min(y for _, y in points) < floor:
        return "-"
    return f"{fit_exponent(points):.2f}"


def _exponents(points: List[Tuple[float, float]]) -> str:
    """Over every point, and over the two largest: fixed costs flatten the first at small sizes,
    the second shows how the cost grows where the data dominates."""
    return f"{_exponent(points, 1)} / {_exponent(points[-2:], 1)}"


def _cell(component) -> str:
    if component is None:
        return ""
    memory, written = component.get("peak_memory_mb"), component.get("mb_written")
    return (f"{component['seconds']:,.1f} s, " + (f"{memory:,.0f} MB" if memory is not None else "(too short to sample)")
            + (f", wrote {_size(written)}" if written else ""))  # points before 2026-12-06 did not record it


def _size(mb: float) -> str:
    return f"{mb:,.1f} MB" if mb >= 1 else f"{mb * 1000:,.0f} kB"


def render(results: List[dict]) -> str:
    lines = [MARK_BEGIN, "",
             "Written by `./imdb benchmark-scale` (benchmarks/scaling.py: how the points are made and "
             "measured) from its results file, `docs/scaling.json`. Each cell: wall time, and peak "
             "resident memory of the run's processes while the component ran, and the bytes of its output "
             "artifacts (\"wrote\"; none where nothing was written). Exponents: the slope of "
             "the log-log fit over the sizes measured (a dash for a component under a second).", "",
             f"![time and memory per component against reviews, log-log]({PLOT})", ""]
    for runner in RUNNERS:
        rows = sorted((r for r in results if r["runner"] == runner), key=lambda r: r["size"])
        if not rows:
            continue
        lines += [f"### {runner}", "",
                  "| component | " + " | ".join(f"{r['size']:,}" for r in rows) + " | growth exponent (time): "
                  "all points / the two largest | growth exponent (memory): all / the two largest |",
                  "|---|" + "---|" * (len(rows) + 2)]
        for name in component_names(rows):
            cells = [_cell(r["components"].get(name)) for r in rows]
            lines.append(f"| {name} | " + " | ".join(cells) + f" | {_exponents(series(rows, runner, name, 'seconds'))} "
                         f"| {_exponents(series(rows, runner, name, 'peak_memory_mb'))} |")
        lines.append("| whole run | " + " | ".join(f"{r['wall_seconds']:,.0f} s, {r['peak_memory_mb']:,.0f} MB"
                                                  for r in rows)
                     + f" | {_exponents([(r['size'], r['wall_seconds']) for r in rows])} "
                     f"| {_exponents([(r['size'], r['peak_memory_mb']) for r in rows])} |")
        lines += ["", "Measured: " + "; ".join(f"{r['size']:,} on {r['date']}" for r in rows)
                  + f". Command of a point: `python {rows[-1]['command']}`.", ""]
    return "\n".join(lines + [MARK_END])


def main(argv=None) -> int:
    p = report.parser(__doc__, prog="./imdb benchmark-scale")
    p.add_argument("--data", required=True, help="the aclImdb archive (.tar.gz) the points are made from")
    p.add_argument("--sizes", default=",".join(map(str, SIZES)), help="reviews per point, comma-separated")
    p.add_argument("--runners", default=",".join(RUNNERS), help=f"of {', '.join(RUNNERS)}, comma-separated")
    p.add_argument("--work-dir", default=paths.output_dir("scaling"), help="archives, runs and their logs (default %(default)s)")
    p.add_argument("--results", default=RESULTS)
    p.add_argument("--doc", default=DOC)
    p.add_argument("--again", action="store_true", help="measure points already in the results file again")
    args = p.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
        runners = args.runners.split(",")
        if any(r not in RUNNERS for r in runners) or any(s < 4 or s % 4 for s in sizes):
            raise ValueError(f"--runners takes {', '.join(RUNNERS)}; --sizes multiples of 4")
    except ValueError as error:
        return console.error(error, 2)
    results = json.load(open(args.results)) if os.path.exists(args.results) else []
    os.makedirs(args.work_dir, exist_ok=True)
    reviews = None
    for size in sizes:
        archive = os.path.join(args.work_dir, f"aclImdb-{size}.tar.gz")
        for runner in runners:
            if not args.again and any(r["size"] == size and r["runner"] == runner for r in results):
                print(f"[scale] {size:,} reviews on {runner}: in {args.results} already", flush=True)
                continue
            if not os.path.exists(archive):
                if reviews is None:
                    try:
                        reviews = read_reviews(args.data)
                    except (OSError, tarfile.TarError, ValueError) as error:
                        return console.error(f"{args.data}: {error}", 2)
                print(f"[scale] writing {archive}", flush=True)
                write_archive(reviews, size, archive)
            print(f"[scale] {size:,} reviews on {runner} ...", flush=True)
            try:
                point = run_point(archive, size, runner, args.work_dir)
            except PointFailed as error:  # the points measured so far are kept
                return console.error(error, 1)
            print(f"[scale] {size:,} reviews on {runner}: {point['wall_seconds']:,.0f} s, peak "
                  f"{point['peak_memory_mb']:,.0f} MB", flush=True)
            results = [r for r in results if (r["size"], r["runner"]) != (size, runner)] + [point]
            atomic_files.write_text(args.results, json.dumps(results, indent=1))
            plot(results, os.path.join(os.path.dirname(args.doc), PLOT))
            if not os.path.exists(args.doc):
                atomic_files.write_text(args.doc, "# How cost grows with the data\n")
            atomic_files.replace_section(args.doc, MARK_BEGIN, MARK_END, render(results), "## Measured")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
