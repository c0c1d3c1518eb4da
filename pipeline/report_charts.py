"""The run report's pictures: matplotlib figures as SVG data URIs, so the page is one file.

Each returns None when the run has nothing to draw (a cached Trainer of an older version without
history, an Evaluator that did not run); the page says so instead.
"""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING, Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

if TYPE_CHECKING:
    from pipeline.run_report import RunReport

_TRAIN, _VALIDATION = "#1f77b4", "#ff7f0e"


def _data_uri(figure) -> str:
    buffer = io.BytesIO()
    with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": "imdb-report"}):
        figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


class Charts:
    def __init__(self, report: "RunReport"):
        self.report = report

    def curves(self) -> Optional[str]:
        """Loss and accuracy per epoch on the training and eval splits; the kept epoch marked."""
        history = self.report.history
        if not history.get("loss"):
            return None
        epochs = range(1, len(history["loss"]) + 1)
        figure, axes = plt.subplots(1, 2, figsize=(10, 3.6))
        for axis, metric in zip(axes, ("loss", "accuracy")):
            if metric not in history:
                continue
            axis.plot(epochs, history[metric], "o-", color=_TRAIN, label="training split")
            if f"val_{metric}" in history:
                axis.plot(epochs, history[f"val_{metric}"], "o-", color=_VALIDATION, label="eval split")
            if history.get("best_epoch"):
                axis.axvline(history["best_epoch"], color="grey", linestyle=":", label="kept epoch")
            if history.get("fine_tune_from_epoch"):
                axis.axvline(history["fine_tune_from_epoch"] - 0.5, color="green", linestyle="--",
                             label="fine-tuning starts")
            axis.set_xlabel("epoch")
            axis.xaxis.set_major_locator(MaxNLocator(integer=True))
            axis.set_title(metric)
            axis.grid(alpha=0.3)
        axes[0].legend(fontsize=8)
        return _data_uri(figure)

    def by_rating(self) -> Optional[str]:
        """Test accuracy per star rating: where the model errs (mild reviews, 4 and 7, most)."""
        slices = self.report.evaluation.by_rating
        if not slices:
            return None
        figure, axis = plt.subplots(figsize=(6, 3.2))
        labels = [str(s.rating) for s in slices]
        colors = ["#d62728" if s.rating <= 5 else "#2ca02c" for s in slices]
        bars = axis.bar(labels, [s.accuracy or 0 for s in slices], color=colors)
        for bar, s in zip(bars, slices):
            axis.annotate(f"{s.reviews:,}", (bar.get_x() + bar.get_width() / 2, 0.02), ha="center",
                          fontsize=7, color="white")
        axis.set_ylim(0, 1)
        axis.set_xlabel("rating (stars; red negative, green positive; reviews in the bar)")
        axis.set_ylabel("test accuracy")
        axis.grid(axis="y", alpha=0.3)
        return _data_uri(figure)

    def review_lengths(self) -> Optional[str]:
        """Words per review by split, cut at the 99th percentile so the long tail stays legible."""
        splits = {name: data.words for name, data in self.report.splits.items() if data.words}
        if not splits:
            return None
        every = sorted(w for words in splits.values() for w in words)
        top = every[min(len(every) - 1, int(0.99 * len(every)))]
        figure, axis = plt.subplots(figsize=(6, 3.2))
        for name, words in splits.items():
            axis.hist([min(w, top) for w in words], bins=40, range=(0, top), histtype="step",
                      density=True, linewidth=1.5, label=name)
        axis.set_xlabel(f"words per review (the last bin holds everything >= {top})")
        axis.set_ylabel("share of reviews")
        axis.legend(fontsize=8)
        return _data_uri(figure)

    def component_times(self) -> Optional[str]:
        components = self.report.summary.components
        if not components:
            return None
        figure, axis = plt.subplots(figsize=(6, 0.3 * len(components) + 0.8))
        components = components[::-1]  # the first at the top
        axis.barh([c.name for c in components], [c.seconds for c in components],
                  color=["#7f7f7f" if c.state == "cached" else _TRAIN for c in components])
        axis.set_xlabel("wall seconds (grey: from cache)")
        axis.grid(axis="x", alpha=0.3)
        return _data_uri(figure)
