"""`./imdb run` as a person meets it: a quiet console, TensorBoard logs, and a run report that Chromium
renders with the run's own figures. One real run of the CLI, in a subprocess so that what reaches the
terminal's descriptors is checked (TensorFlow's C++ lines bypass Python's sys.stderr)."""

from __future__ import annotations

import json
import os
import re
import shutil

import pytest

import synthetic_imdb
from commands import NATIVE_LINE, REPO, pipeline_run
from pipeline import run_report

pytestmark = pytest.mark.e2e

PER_CLASS = 100
LABEL_NOISE = 0.1  # 10 of each class's 100 test reviews say the opposite: accuracy is at most 0.9
MIN_ACCURACY = 0.8  # the gate: well above chance, so a model that learned nothing is not pushed
CHROMIUM = shutil.which("chromium")
SCREENSHOT = os.path.join(REPO, "outputs", "test-artifacts", "run_report.png")

# What the console may show: the run's own lines, the Trainer's epochs, the summary.
CONSOLE_LINE = re.compile("|".join([
    r"data: .*", r"sample: .*", r"logs: .*", r"\[\d+/\d+\] \S+ (\.\.\.|done in .*|from cache in .*)",
    r"Training on .*", r"Epoch \d+/\d+", r"\d+/\d+ - \d+m?s - .*", r"Refitting on .*", r"",
    r"Run summary", r"  \S.*", r"    \S.*"]))


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    data = synthetic_imdb.write_folder(str(tmp_path_factory.mktemp("data")), per_class=PER_CLASS,
                                       label_noise=LABEL_NOISE)
    result, summary, log = pipeline_run(data, str(tmp_path_factory.mktemp("run") / "outputs"), "--sample-fraction",
                                        "1", "--epochs", "4", "--min-accuracy", str(MIN_ACCURACY))
    page = re.search(r"^  report: (\S+)$", result.stdout, re.MULTILINE)
    assert page, result.stdout
    return result, log, summary, page.group(1)


def test_the_console_shows_the_pipeline_and_the_log_gets_the_rest(cli_run):
    result, log, _, _ = cli_run
    assert result.stderr == ""
    unexpected = [line for line in result.stdout.splitlines() if not CONSOLE_LINE.fullmatch(line)]
    assert not unexpected, unexpected
    assert NATIVE_LINE.search(log), log[:2000]  # TensorFlow's C++ runtime lines went there instead


def test_the_report_carries_the_runs_figures(cli_run):
    _, _, summary, page = cli_run
    with open(os.path.join(os.path.dirname(page), run_report.DATA)) as f:
        figures = json.load(f)
    evaluation = figures["evaluation"]
    test_reviews = 2 * PER_CLASS
    assert evaluation["accuracy"] == pytest.approx(summary["test_accuracy"])
    assert evaluation["accuracy"] >= MIN_ACCURACY
    matrix = evaluation["confusion"]
    assert sum(matrix.values()) == test_reviews
    assert (matrix["true_positives"] + matrix["true_negatives"]) / test_reviews == pytest.approx(evaluation["accuracy"])
    assert sum(s["reviews"] for s in evaluation["by_rating"]) == test_reviews
    assert {s["rating"] for s in evaluation["by_rating"]} <= {1, 2, 3, 4, 7, 8, 9, 10}
    assert figures["reviews"]["test"] == {"negative": PER_CLASS, "positive": PER_CLASS}
    assert {split: sum(counts.values()) for split, counts in figures["reviews"].items()} == summary["examples_per_split"]
    assert figures["summary"]["pushed_version"] and summary["pushed_to"].endswith(figures["summary"]["pushed_version"])


def test_the_trainer_writes_tensorboard_logs(cli_run):
    """Read the way TensorBoard reads them: each epoch's loss, as history.json recorded it."""
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.util import tensor_util

    _, _, summary, _ = cli_run
    with open(os.path.join(summary["model_run"], "history.json")) as f:
        history = json.load(f)
    for phase, key in (("train", "loss"), ("validation", "val_loss")):
        events = event_accumulator.EventAccumulator(os.path.join(summary["model_run"], phase),
                                                    size_guidance={event_accumulator.TENSORS: 0})
        events.Reload()
        logged = [float(tensor_util.make_ndarray(e.tensor_proto)) for e in events.Tensors("epoch_loss")]
        assert logged == pytest.approx(history[key], rel=1e-5), phase


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (env/userland-tools.txt has it)")
def test_chromium_renders_the_report(cli_run):
    from playwright.sync_api import sync_playwright

    _, _, summary, page_path = cli_run
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            requests = []
            page.on("request", lambda request: requests.append(request.url))
            page.goto("file://" + page_path)
            assert page.inner_text("#test-accuracy") == f"{summary['test_accuracy']:.4f}"
            assert page.inner_text("#min-accuracy") == f"{MIN_ACCURACY:.4f}"
            assert page.inner_text("#decision") == "blessed"
            assert page.inner_text("#pushed-version") == os.path.basename(summary["pushed_to"])
            rows = page.locator("#confusion-matrix td").all_inner_texts()
            assert sum(int(v.replace(",", "")) for v in rows) == 2 * PER_CLASS
            # Every picture decoded and drawn at a size a person can read.
            sizes = page.eval_on_selector_all("img", "imgs => imgs.map(i => [i.id, i.naturalWidth, i.clientWidth])")
            assert {s[0] for s in sizes} == {"curves", "by-rating-chart", "review-lengths", "component-times-chart"}
            assert all(natural > 300 and shown > 300 for _, natural, shown in sizes), sizes
            assert [u for u in requests if not u.startswith(("file://", "data:"))] == []  # offline
            os.makedirs(os.path.dirname(SCREENSHOT), exist_ok=True)
            page.screenshot(path=SCREENSHOT, full_page=True)
        finally:
            browser.close()
    assert os.path.getsize(SCREENSHOT) > 50_000
