"""Everything the HTML report shows, from the evaluation's files: tables, plots, pages.

`spectstage report-files` (rule report_files) writes results/tables/*.csv,
results/plots/*.png and results/report/*.html; `snakemake --report` then bundles them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from spectstage import plots, report, report_text, tables
from spectstage.atomic import atomic_path
from spectstage.cohort import read_table
from spectstage.config import stage_labels
from spectstage.folds import read_folds

PLOTS = (
    "confusion_matrix",
    "confusion_matrix_normalised",
    "roc",
    "reliability",
    "learning_curves",
    "sbr_by_stage",
    "misclassified",
)
TABLES = ("metrics", "comparison", "calibration", "cohort", "folds")
PAGES = ("cohort", "folds", "metrics", "comparison", "calibration", "methods", "provenance")


@dataclass(frozen=True)
class Sources:
    metrics: Path
    oof: Path
    baseline: Path
    cohort: Path
    folds: Path
    provenance: Path
    histories: list[Path]
    qc_dir: Path


def _csv(frame: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")


def write_tables(metrics: dict, cohort, folds, labels, out: Path) -> dict[str, pd.DataFrame]:
    made = {
        "metrics": tables.metrics_table(metrics),
        "comparison": tables.comparison_table(metrics),
        "calibration": tables.calibration_table(metrics),
        "cohort": tables.cohort_table(cohort, labels),
        "folds": tables.folds_table(folds, labels),
    }
    for name, frame in made.items():
        _csv(frame, out / f"{name}.csv")
    return made


def write_plots(src: Sources, metrics: dict, cohort, labels, cfg: dict, out: Path) -> pd.DataFrame:
    """The figures; returns the misclassified scans' table (numbers in the montage -> IDs)."""
    oof = read_table(src.oof)
    cnn = metrics["cnn"]["pooled"]
    plots.confusion(cnn, out / "confusion_matrix.png", False, "Out-of-fold CNN")
    plots.confusion(cnn, out / "confusion_matrix_normalised.png", True, "Out-of-fold CNN")
    baseline = read_table(src.baseline)
    plots.roc({"CNN": oof, "SBR baseline": baseline}, labels, out / "roc.png")
    plots.reliability(metrics["cnn"].get("calibration"), out / "reliability.png")
    plots.learning_curves(src.histories, out / "learning_curves.png")
    quantities = [c for c in cohort.columns if c.startswith(("sbr_", "caudate_", "putamen_"))]
    plots.sbr_by_stage(cohort, labels, quantities, out / "sbr_by_stage.png")
    return plots.misclassified_montages(oof, src.qc_dir, out / "misclassified.png")


def write_report_files(src: Sources, results: Path, cfg: dict) -> None:
    labels = stage_labels(cfg)
    metrics = json.loads(src.metrics.read_text())
    cohort, folds = read_table(src.cohort), read_folds(src.folds)
    made = write_tables(metrics, cohort, folds, labels, results / "tables")
    wrong = write_plots(src, metrics, cohort, labels, cfg, results / "plots")
    _csv(wrong, results / "tables" / "misclassified_scans.csv")  # IDs: not in the report
    pages = {
        "cohort": report_text.cohort_page(made["cohort"]),
        "folds": report_text.folds_page(made["folds"], cfg),
        "metrics": report.metrics_page(metrics),
        "comparison": report.comparison_page(metrics, made["comparison"]),
        "calibration": report_text.calibration_page(made["calibration"], metrics),
        "methods": report_text.methods_page(metrics, cohort, cfg),
        "provenance": report_text.provenance_page(json.loads(src.provenance.read_text())),
    }
    report.write_pages(pages, results / "report")
