"""The HTML report in a real browser (headless Chromium): every section there and filled,
the metrics a reader sees equal to results/metrics.json, no patient ID anywhere."""

from __future__ import annotations

import html
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import snakemake, tiny_config

pytestmark = pytest.mark.workflow

HARVEST = Path(__file__).with_name("report_harvest.js")
SECTIONS = [
    "1. Cohort and QC",
    "2. Folds",
    "3. Metrics with intervals",
    "4. Plots",
    "5. Baseline comparison",
    "6. Calibration",
    "7. Methods",
    "8. Provenance",
]
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",  # as root (CI)
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        if os.environ.get("SPECTSTAGE_REQUIRE_CHROMIUM"):
            pytest.fail("chromium missing: .ci/run installs the Debian package as root")
        pytest.skip("chromium not installed (Debian package chromium)")
    return found


def open_in_browser(report: Path, tmp_path: Path, *action: str, show: str = "") -> str:
    """Chromium on a copy of the report with the harvesting script appended."""
    page = report.read_text()
    script = HARVEST.read_text().replace("__SHOW__", show)
    copy = tmp_path / f"view{len(list(tmp_path.glob('view*')))}.html"
    end = page.rfind("</body>")
    copy.write_text(page[:end] + f"<script>{script}</script>" + page[end:])
    cmd = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    cmd += ["--virtual-time-budget=60000", "--window-size=1400,1000", *action, copy.as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.fixture(scope="module")
def report(workflow_run, tmp_path_factory) -> tuple[Path, dict]:
    args = tiny_config(Path("raw"), tmp_path_factory.mktemp("report_config"))
    snakemake(workflow_run, *args, "--report", "results/report.html")
    path = workflow_run / "results" / "report.html"
    dom = open_in_browser(path, tmp_path_factory.mktemp("chromium"), "--dump-dom")
    start = dom.rindex('<pre id="harvest">') + len('<pre id="harvest">')
    return path, json.loads(html.unescape(dom[start : dom.index("</pre>", start)]))


def test_every_section_is_there_and_filled(report):
    _, seen = report
    assert list(seen["categories"]) == SECTIONS
    assert "patient-grouped folds" in seen["front"]
    for section, items in seen["categories"].items():
        assert items, section
        for item in items:
            assert item["kind"] in {"iframe", "img", "download"}, (section, item)
            if item["kind"] == "img":
                assert item["length"] > 5000, (section, item["name"])  # a real PNG, inline
            else:
                assert len(item["text"].strip()) > 80, (section, item["name"], item["text"])
    plots = {i["name"] for i in seen["categories"]["4. Plots"]}
    assert {"confusion matrix", "roc", "reliability", "misclassified"} <= plots


def test_the_metrics_a_reader_sees_are_those_of_metrics_json(report, workflow_run):
    _, seen = report
    metrics = json.loads((workflow_run / "results" / "metrics.json").read_text())
    (page,) = [i for i in seen["categories"]["3. Metrics with intervals"] if i["name"] == "metrics"]
    cells = page["cells"]
    assert {(c["model"], c["metric"]) for c in cells} == {
        (m, k)
        for m in ("cnn", "sbr_baseline", "oracle")
        for k in ("balanced_accuracy", "macro_f1", "quadratic_weighted_kappa")
    }
    for cell in cells:
        truth = metrics[cell["model"]][cell["subset"]]
        value, (low, high) = truth[cell["metric"]], truth["ci95"][cell["metric"]]
        assert float(cell["value"]) == value
        assert cell["text"] == f"{value:.3f} [{low:.3f}, {high:.3f}]"
    # The long table (CSV in the report) holds every number of metrics.json's pooled CNN.
    (table,) = [
        i for i in seen["categories"]["3. Metrics with intervals"] if i["kind"] == "download"
    ]
    rows = pd.read_csv(pd.io.common.StringIO(table["text"]))
    cnn = rows[(rows["model"] == "CNN") & (rows["subset"] == "pooled")].set_index("metric")
    pooled = metrics["cnn"]["pooled"]
    assert np.isclose(cnn.loc["balanced_accuracy", "value"], pooled["balanced_accuracy"])
    for stage, recall in pooled["recall"].items():
        assert np.isclose(cnn.loc[f"recall_{stage}", "value"], recall, equal_nan=True)


def test_no_patient_id_in_the_report(report, workflow_run):
    _, seen = report
    cohort = pd.read_csv(workflow_run / "results" / "cohort.csv", dtype=str)
    text = json.dumps(seen)
    leaked = [p for p in cohort["patient_id"] if p in text]
    assert not leaked, leaked


def test_screenshots_show_the_report(report, tmp_path):
    from PIL import Image

    path, _ = report
    shots = {
        "front": "front",
        "metrics": "3. Metrics with intervals|metrics",
        "roc": "4. Plots|roc",
    }
    for name, show in shots.items():
        png = tmp_path / f"{name}.png"
        open_in_browser(path, tmp_path, f"--screenshot={png}", show=show)
        pixels = np.asarray(Image.open(png).convert("L"), dtype=float)
        assert pixels.shape == (1000, 1400) and pixels.std() > 10, name  # not a blank page
        print(f"screenshot {name}: {png}")
