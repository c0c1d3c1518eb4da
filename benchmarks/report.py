"""Rebuilds docs/benchmarks.md's measured part and its plot from docs/benchmarks/*.json.

    ./imdb exec python -m benchmarks.report

Only the text between the two `results` markers is rewritten; the prose around it is kept.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import statistics

from common import atomic_files, paths, serving_contract
from components.model import hparams

RESULTS_DIR = "docs/benchmarks"
PLOT = "validation_accuracy.png"
# Runs labelled NAME_seed_N are one setting trained with several seeds: compared as a group (parity).
SEEDED_LABEL = re.compile(r"^(?P<group>.+)_seed_(?P<seed>\d+)$")
BEGIN, END = "<!-- results:begin (benchmarks/report.py) -->", "<!-- results:end -->"


def tree_bytes(path: str) -> int:
    """The bytes of every file under PATH (a file alone: its own)."""
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(path) for name in names)


def parser(doc: str, model_dir: bool = False, **kwargs) -> argparse.ArgumentParser:
    """The benchmark scripts' parser: their module docstring, as written, is the help; MODEL_DIR adds
    --model-dir, the served model's base path."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs)
    if model_dir:
        p.add_argument("--model-dir", default=serving_contract.local_base_path(paths.output_dir()),
                       help="the model's base path (default %(default)s)")
    return p


def publish(results_path: str, result: dict, doc: str, marks: tuple, heading: str, section: str) -> None:
    """RESULT to RESULTS_PATH as JSON, SECTION into DOC between MARKS (under HEADING when new); prints SECTION."""
    atomic_files.write_text(results_path, json.dumps(result, indent=1))
    atomic_files.replace_section(doc, *marks, section, heading)
    print(section)


def load(results_dir: str) -> list:
    results = []
    for path in glob.glob(os.path.join(results_dir, "*.json")):
        with open(path) as f:
            results.append(json.load(f))
    rank = {v: i for i, v in enumerate(hparams.VARIANTS)}
    return sorted(results, key=lambda r: (rank.get(r["settings"]["training"]["variant"], 99), r["label"]))


def _f(value, pattern="{:.4f}"):
    return "n/a" if value is None else pattern.format(value)


def _epochs(run: dict) -> str:
    return f"{run['best_epoch']} of {len(run['epoch_seconds'])}"


def _epoch_seconds(run: dict) -> str:
    return f"{statistics.median(run['epoch_seconds']):.0f} ({min(run['epoch_seconds']):.0f})"


def _keras_peak(keras_run) -> str:
    """Results files before 2026-11-27 hold the pipeline process's peak for plain Keras too
    (ru_maxrss survives fork and exec: benchmarks/peak_memory.py); those are not shown."""
    if not keras_run or keras_run.get("peak_memory_method") != "VmHWM":
        return "n/a"
    return f"{keras_run['peak_memory_mb'] / 1024:.1f}"


def tables(results: list, groups: dict) -> str:
    lines = [
        "| run | test accuracy: pipeline | plain Keras here | notebook | best epoch (of run): pipeline / Keras "
        "| s per epoch, median (fastest): pipeline / Keras | Trainer ex/s vs Keras, median (fastest) | ExampleGen+Transform vs notebook preprocessing "
        "| pipeline wall time | peak memory: pipeline / Keras |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        p, k, q = r["pipeline"], r.get("keras"), r.get("ratios", {})
        lines.append(" | ".join([
            f"| `{r['label']}`",
            _f(p["test_accuracy"]),
            _f(k and k["test_accuracy"]),
            _f(r.get("notebook_test_accuracy"), "{:.3f}"),
            f"{_epochs(p)} / {_epochs(k) if k else 'n/a'}",
            f"{_epoch_seconds(p)} / {_epoch_seconds(k) if k else 'n/a'}",
            f"{_f(q.get('trainer_vs_keras_examples_per_second'), '{:.2f}x')}"
            + (f" ({min(k['epoch_seconds']) / min(p['epoch_seconds']):.2f}x)" if k else ""),
            f"{p['seconds']['preprocessing']:.0f} s / "
            f"{_f(k and k['seconds']['preprocessing'], '{:.0f} s')} = "
            f"{_f(q.get('preprocessing_vs_notebook'), '{:.2f}x')}",
            f"{p['seconds']['total'] / 60:.1f} min",
            f"{p['peak_memory_mb'] / 1024:.1f} / {_keras_peak(k)} GiB |",
        ]))
    lines += ["", "Wall time per component (seconds):", ""]
    names = list(dict.fromkeys(n for r in results for n in r["pipeline"]["seconds"]["components"]))
    lines += ["| run | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for r in results:
        seconds = r["pipeline"]["seconds"]["components"]
        lines.append(f"| `{r['label']}` | " + " | ".join(_f(seconds.get(n), "{:.1f}") for n in names) + " |")
    lines += peers_table(results) + fine_tuning_table(results) + blended_table(results) + parity_table(groups)
    lines += ["", "Runs (exact commands, settings and machine are in each results file):", ""]
    for r in results:
        m = r["machine"]
        lines.append(f"- `{r['label']}`, {r['date']}: `{r['command']}` ({m['cores']} cores, {m['cpu']}, "
                     f"{m['memory_gib']} GiB, no GPU)")
    return "\n".join(lines)


def peers_table(results: list) -> list:
    """The linear models a user might pick instead, trained in the same run on the same splits."""
    with_peers = [r for r in results if r.get("peers")]
    lines = ["", "The pipeline against linear peers, same run, same splits (benchmarks/linear_peers.py; "
             "C chosen on the eval split, then refit on train + eval):", "",
             "| run | model | n-grams | test accuracy | training time |", "|---|---|---|---|---|"]
    for r in with_peers:
        p = r["pipeline"]
        lines.append(f"| `{r['label']}` | **the pipeline's `{r['settings']['training']['variant']}`** | "
                     f"up to {r['settings']['ngrams']} | **{_f(p['test_accuracy'])}** | "
                     f"Trainer {p['seconds']['components'].get('Trainer', 0):.0f} s, "
                     f"whole pipeline {p['seconds']['total']:.0f} s |")
        for peer in r["peers"]:
            lines.append(f"| `{r['label']}` | {peer['peer']} (C={peer['c']:g}) | up to {peer['ngrams']} | "
                         f"{_f(peer['test_accuracy'])} | {peer['train_seconds']:.0f} s (one fit) |")
    return lines if with_peers else []


def fine_tuning_table(results: list) -> list:
    """Pretrained vectors frozen (the notebook's setting) against fine-tuned after them, same run."""
    tuned = [r for r in results if r.get("keras", {}).get("frozen_test_accuracy") is not None]
    lines = ["", "Pretrained vectors frozen, then fine-tuned (components/model/fitting.py: from the best frozen "
             "epoch, the vectors trainable at a lower learning rate; the best epoch over both phases is kept):", "",
             "| run | frozen epochs, then fine-tuning | plain Keras: test accuracy frozen / kept | "
             "pipeline: test accuracy kept | kept epoch: pipeline / Keras |", "|---|---|---|---|---|"]
    for r in tuned:
        p, k, t = r["pipeline"], r["keras"], r["settings"]["training"]
        lines.append(f"| `{r['label']}` | {t['epochs']}, then {t['fine_tune_epochs']} at {t['fine_tune_learning_rate']:g} | "
                     f"{_f(k['frozen_test_accuracy'])} / {_f(k['test_accuracy'])} | {_f(p['test_accuracy'])} | "
                     f"{p['best_epoch']} / {k['best_epoch']} |")
    return lines if tuned else []


def blended_table(results: list) -> list:
    """nb_bilstm's runs: what each branch reached on the eval split, the blend fitted there, what each cost."""
    blended = [r for r in results if "blend" in r["pipeline"]["history"]]
    lines = ["", "The n-gram bag and the BiLSTM blended (`nb_bilstm`, components/model/blending.py: each branch "
             "fitted alone, its best epoch by validation loss kept, then a weight for each branch's logit and a "
             "bias by logistic regression on the eval split):", "",
             "| run | test accuracy | eval accuracy: bag / BiLSTM / blend | blend: bag weight, BiLSTM weight, bias | "
             "kept epoch: bag / BiLSTM | s per epoch, median: bag / BiLSTM | Trainer |", "|---|---|---|---|---|---|---|"]
    for r in blended:
        p = r["pipeline"]
        bag, blend = p["history"]["bag"], p["history"]["blend"]
        accuracy, weights = blend["eval_accuracy"], blend["weights"]
        lines.append(
            f"| `{r['label']}` | {_f(p['test_accuracy'])} | {_f(accuracy['bag'])} / {_f(accuracy['bilstm'])} / "
            f"{_f(accuracy['blend'])} | {weights[0]:.3f}, {weights[1]:.3f}, {blend['bias']:.3f} | "
            f"{bag['best_epoch']} of {len(bag['epoch_seconds'])} / {p['best_epoch']} of {len(p['epoch_seconds'])} | "
            f"{statistics.median(bag['epoch_seconds']):.0f} / {statistics.median(p['epoch_seconds']):.0f} | "
            f"{p['seconds']['components'].get('Trainer', 0):.0f} s |")
    return lines if blended else []


def seed_groups(results: list) -> dict:
    """Runs labelled NAME_seed_N by NAME, in seed order, when NAME has at least two; each group must
    share its settings but the seed, or it is no comparison (refused by label)."""
    groups = {}
    for r in results:
        match = SEEDED_LABEL.match(r["label"])
        if match:
            groups.setdefault(match["group"], []).append(r)
    groups = {name: sorted(runs, key=lambda r: r["settings"]["training"]["seed"])
              for name, runs in groups.items() if len(runs) >= 2}
    for name, runs in groups.items():
        unseeded = {json.dumps({**r["settings"], "training": {**_training(r), "seed": None}}, sort_keys=True)
                    for r in runs}
        if len(unseeded) > 1:
            raise SystemExit(f"the runs {', '.join(r['label'] for r in runs)} differ in more than their seed")
        if not all(r.get("keras") for r in runs):
            raise SystemExit(f"the runs of {name} compare the pipeline with plain Keras: each needs its Keras run")
    return groups


def _training(result: dict) -> dict:
    """The run's training settings with every field: a field added since the run was recorded takes its
    default, which is what that run had (a run of 2026-12-06 has no bucket_width, and trained unbucketed)."""
    return hparams.TrainingConfig.from_custom_config(result["settings"]["training"]).to_custom_config()


def spread(values: list) -> dict:
    return {"mean": statistics.mean(values), "sd": statistics.stdev(values), "range": max(values) - min(values)}


def parity(runs: list) -> dict:
    """Test accuracy over the seeds on each side, and whether the pipeline's mean is lower than plain
    Keras' by more than the spread (the larger side's range over its seeds)."""
    pipeline = spread([r["pipeline"]["test_accuracy"] for r in runs])
    keras = spread([r["keras"]["test_accuracy"] for r in runs])
    allowed = max(pipeline["range"], keras["range"])
    return {"seeds": [r["settings"]["training"]["seed"] for r in runs], "pipeline": pipeline, "keras": keras,
            "difference": pipeline["mean"] - keras["mean"], "spread": allowed,
            "lower_beyond_spread": keras["mean"] - pipeline["mean"] > allowed,
            "examples_per_second_ratio": statistics.median(
                r["ratios"]["trainer_vs_keras_examples_per_second"] for r in runs)}


def parity_table(groups: dict) -> list:
    """Each seeded group's test accuracy, pipeline beside plain Keras (issue 31: parity, measured)."""
    if not groups:
        return []
    lines = ["", "Parity over seeds (runs labelled NAME_seed_N, the same settings but the seed; spread: the "
             "larger side's range over its seeds):", "",
             "| setting | seeds | test accuracy, pipeline: mean (sd; each seed) | plain Keras: mean (sd; each seed) "
             "| pipeline - Keras | spread | pipeline lower by more than the spread? | Trainer ex/s vs Keras, median of the runs |",
             "|---|---|---|---|---|---|---|---|"]
    for name, runs in groups.items():
        got = parity(runs)

        def side(key):
            each = ", ".join(_f(r[key]["test_accuracy"]) for r in runs)
            return f"{got[key]['mean']:.4f} ({got[key]['sd']:.4f}; {each})"
        lines.append(f"| `{name}` | {', '.join(map(str, got['seeds']))} | {side('pipeline')} | {side('keras')} | "
                     f"{got['difference']:+.4f} | {got['spread']:.4f} | {'**yes**' if got['lower_beyond_spread'] else 'no'} | "
                     f"{got['examples_per_second_ratio']:.2f}x |")
    return lines


def parity_plot(name: str, runs: list, path: str) -> None:
    """The seeds' validation curves, pipeline (solid) beside plain Keras (dashed), a colour per seed."""
    _curves([(f"C{i}", r, f"seed {r['settings']['training']['seed']}") for i, r in enumerate(runs)], path,
            f"`{name}`: validation accuracy per epoch, each seed\nthrough the pipeline (solid) and in plain Keras (dashed)")


def plot(results: list, path: str) -> None:
    _curves([(f"C{i}", r, r["label"]) for i, r in enumerate(results)], path,
            "Validation accuracy per epoch, all 50,000 IMDB reviews (dotted: notebook test accuracies)")


def _curves(lines: list, path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = [r for _, r, _ in lines]
    figure, axes = plt.subplots(figsize=(8, 5))
    for color, r, name in lines:
        for run, style, who in ((r["pipeline"], "-", "pipeline"), (r.get("keras"), "--", "plain Keras")):
            if run:
                curve = run["history"]["val_accuracy"]
                axes.plot(range(1, len(curve) + 1), curve, style, color=color, marker="o", markersize=3,
                          label=f"{name} ({who})")
                if run.get("fine_tune_from_epoch"):  # where the pretrained vectors became trainable
                    axes.axvline(run["fine_tune_from_epoch"] - 0.5, color=color, linewidth=0.8, linestyle=style)
    for accuracy in sorted({r["notebook_test_accuracy"] for r in results if r.get("notebook_test_accuracy")}):
        axes.axhline(accuracy, color="grey", linewidth=0.5, linestyle=":")
    axes.set(xlabel="epoch", ylabel="validation accuracy")
    axes.set_title(title, fontsize=9)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    with atomic_files.staged_path(path) as staging:
        figure.savefig(staging, dpi=110)
    plt.close(figure)


def write(results_dir: str = RESULTS_DIR) -> str:
    """Rewrites the page beside the results folder (docs/benchmarks -> docs/benchmarks.md)."""
    page = os.path.normpath(results_dir) + ".md"
    results = load(results_dir)
    if not results:
        raise SystemExit(f"no results in {results_dir}; run ./imdb benchmark first")
    groups = seed_groups(results)
    seeded = {r["label"] for runs in groups.values() for r in runs}
    plot([r for r in results if r["label"] not in seeded] or results, os.path.join(results_dir, PLOT))
    plots = [("validation accuracy per epoch", PLOT)]
    for name, runs in groups.items():
        plots.append((f"{name}: each seed's validation accuracy per epoch", f"parity_{name}.png"))
        parity_plot(name, runs, os.path.join(results_dir, plots[-1][1]))
    images = [f"![{alt}]({os.path.relpath(os.path.join(results_dir, file), os.path.dirname(page))})"
              for alt, file in plots]
    measured = "\n".join([BEGIN, tables(results, groups), "", *images, END])
    text = open(page).read() if os.path.exists(page) else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{page} lacks the markers {BEGIN} ... {END}")
    text = text[:text.index(BEGIN)] + measured + text[text.index(END) + len(END):]
    atomic_files.write_text(page, text)
    return page


if __name__ == "__main__":
    print(write())
