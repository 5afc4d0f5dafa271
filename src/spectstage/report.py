"""The HTML pages the Snakemake report shows (results/report/*.html): tables and text.

Every page is self-contained HTML built from the evaluation's tables; none names a patient
or a scan. The metrics page's cells carry their exact value in `data-*` attributes, so a
test can compare what a reader sees with results/metrics.json.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

from spectstage.atomic import write_text
from spectstage.metrics import HEADLINE
from spectstage.tables import MODELS, metrics_table

STYLE = (
    "body{font-family:sans-serif;font-size:14px;margin:1em;color:#222}"
    "table{border-collapse:collapse;margin:0.5em 0 1.5em}"
    "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
    "th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}"
    "p{max-width:60em;line-height:1.4}"
)
NAMES = {
    "balanced_accuracy": "balanced accuracy",
    "macro_f1": "macro-F1",
    "quadratic_weighted_kappa": "quadratic-weighted kappa",
}


def page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n"
    )


def fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def with_interval(value, ci) -> str:
    return f"{fmt(value)} [{fmt(ci[0])}, {fmt(ci[1])}]" if ci else fmt(value)


def frame_html(frame: pd.DataFrame, table_id: str) -> str:
    return frame.to_html(
        index=False, table_id=table_id, na_rep="-", float_format=lambda v: f"{v:.3f}", border=0
    )


def headline_html(metrics: dict, subset: str = "pooled") -> str:
    """Model x headline metric, `value [low, high]`; exact numbers in data attributes."""
    head = "".join(f"<th>{NAMES[m]} [95 % CI]</th>" for m in HEADLINE)
    rows = []
    for model, name in MODELS.items():
        if model not in metrics:
            continue
        part = metrics[model][subset]
        cells = []
        for m in HEADLINE:
            ci = part["ci95"].get(m)
            attrs = f'data-model="{model}" data-subset="{subset}" data-metric="{m}"'
            attrs += f' data-value="{part[m]!r}" data-ci="{json.dumps(ci)}"'
            cells.append(f"<td {attrs}>{with_interval(part[m], ci)}</td>")
        rows.append(
            f"<tr><td>{html.escape(name)}</td><td>{part['n_scans']}</td>{''.join(cells)}</tr>"
        )
    return (
        f'<table id="headline-{subset}"><tr><th>model</th><th>scans</th>{head}</tr>'
        + "".join(rows)
        + "</table>"
    )


def metrics_page(metrics: dict) -> str:
    boot = metrics["comparison"]["bootstrap"]
    intro = (
        f"<p>Out-of-fold predictions of every scan, pooled over folds. Intervals: 95 % "
        f"percentile bootstrap over {boot['n']} resamples of patients, stratified by stage "
        f"(seed {boot['seed']}).</p>"
    )
    table = metrics_table(metrics)
    return page(
        "Metrics with 95 % intervals",
        intro
        + "<h2>Pooled</h2>"
        + headline_html(metrics)
        + "<h2>Every metric: pooled, per fold, per source format</h2>"
        + frame_html(table, "all-metrics"),
    )


def comparison_page(metrics: dict, table: pd.DataFrame) -> str:
    sentences = []
    for row in table.itertuples():
        verdict = "better" if row.difference > 0 else "worse"
        if row.ci_low is not None and row.ci_low <= 0 <= row.ci_high:
            verdict = "not distinguishable"
        sentences.append(
            f"{NAMES[row.metric]}: CNN {fmt(row.cnn)}, SBR baseline {fmt(row.sbr_baseline)}, "
            f"difference {fmt(row.difference)} (95 % CI {fmt(row.ci_low)} to {fmt(row.ci_high)}): "
            f"the CNN is {verdict}."
        )
    features = ", ".join(metrics["sbr_baseline"]["features"])
    text = (
        "<p>The SBR baseline is a class-balanced logistic regression on the measured "
        f"quantities ({html.escape(features)}), fitted on each fold's training and "
        "inner-validation patients and applied to its test patients: the CNN's folds. "
        "Paired bootstrap: both models scored on the same resamples of patients.</p><ul>"
        + "".join(f"<li>{html.escape(s)}</li>" for s in sentences)
        + "</ul>"
    )
    return page("CNN against the SBR baseline", text + frame_html(table, "comparison"))


def write_pages(pages: dict[str, str], out_dir: Path) -> None:
    for name, text in pages.items():
        write_text(out_dir / f"{name}.html", text)
