"""Report pages in words: cohort and QC, folds, calibration, methods, provenance."""

from __future__ import annotations

import html

import pandas as pd
import yaml

from spectstage.report import NAMES, fmt, frame_html, page, with_interval

FLAG_NOTE = (
    "<p>No scan is excluded by the workflow: a scan the pre-flight check refuses stops the run "
    "with its file named, and QC flags mark scans for a look at their montage without removing "
    "them. Flag columns count the flagged scans.</p>"
)


def cohort_page(cohort_summary: pd.DataFrame) -> str:
    return page("Cohort and quality control", FLAG_NOTE + frame_html(cohort_summary, "cohort"))


def folds_page(folds_summary: pd.DataFrame, cfg: dict) -> str:
    f = cfg["folds"]
    text = (
        f"<p>{f['k']} folds (StratifiedGroupKFold by patient, seed {f['seed']}): all scans of a "
        f"patient are in one test fold. Each fold's other patients are split again "
        f"({f['val_folds']} inner folds) into training and inner validation; the inner-validation "
        "patients choose the stopping epoch and fit the temperature of the calibration.</p>"
    )
    return page("Folds", text + frame_html(folds_summary, "folds"))


def calibration_page(calibration_summary: pd.DataFrame, metrics: dict) -> str:
    calibration = metrics["cnn"].get("calibration")
    if not calibration:
        text = (
            "<p>No calibration: training wrote no inner-validation predictions "
            "(results/models/fold_k/val_predictions.csv), which the temperature of each fold "
            "is fitted on.</p>"
        )
        return page("Calibration", text)
    text = (
        "<p>Expected calibration error (ECE: 10 equal-width bins of the top stage's probability, "
        "the share-weighted gap between accuracy and confidence) of the pooled out-of-fold "
        f"predictions: {fmt(calibration['ece_raw'])} raw, {fmt(calibration['ece_calibrated'])} "
        "after temperature scaling. Each fold's temperature is fitted (negative log-likelihood) "
        "on that fold's inner-validation patients only - the same patients that already choose "
        "its stopping epoch - and applied to its test patients. A temperature changes no "
        "predicted stage: accuracy-type metrics are those of the raw predictions. Calibrated "
        "probabilities are the calibrated_p_* columns of oof_predictions.csv.</p>"
    )
    return page("Calibration", text + frame_html(calibration_summary, "calibration"))


def methods_page(metrics: dict, cohort: pd.DataFrame, cfg: dict) -> str:
    """The sentences a paper's methods and results need, from this run's numbers."""
    stages = cohort.groupby("stage")["patient_id"].nunique()
    formats = cohort["format"].value_counts()
    tr, au, ev = cfg["train"], cfg["augment"], cfg["evaluate"]
    crop = tr["crop"]
    sentences = [
        f"The cohort comprised {cohort['patient_id'].nunique()} patients with {len(cohort)} "
        f"DaTSCAN SPECT scans ({', '.join(f'stage {s}: {n} patients' for s, n in stages.items())}; "
        f"{', '.join(f'{n} {f}' for f, n in formats.items())}).",
        "Every scan was rigidly aligned (with isotropic scale) to a DaTSCAN template on a 2 mm "
        "canonical grid and divided by the mean of the occipital reference region; regional "
        "specific binding ratios (SBR) were measured in the caudate and the anterior and "
        "posterior putamen of each side.",
        f"Patients were split into {cfg['folds']['k']} stratified, patient-grouped folds; in "
        f"each, a 3D CNN ({tr['model']}) was trained on a striatal crop "
        f"({crop['voxel_mm']} mm voxels) of the training patients' scans with {au['copies']} "
        "augmented copies per scan (left-right flip, small rotations, scaling, shifts, "
        "intensity, noise, blur; rarer stages oversampled), a class-weighted loss, AdamW with a "
        f"cosine schedule for up to {tr['epochs']} epochs, and early stopping on the "
        "inner-validation patients; test predictions averaged the best "
        f"{tr['ensemble_top_k']} epochs"
        + (" and a left-right mirrored input." if tr["tta_flip"] else "."),
        "Out-of-fold predictions of every scan were pooled. We report balanced accuracy, "
        "macro-F1, quadratic-weighted kappa, per-stage recall, precision and one-vs-rest AUC with "
        f"95 % percentile bootstrap intervals ({ev['bootstrap']} resamples of patients, "
        "stratified by stage), and compared the CNN by a paired bootstrap with a logistic "
        f"regression on {', '.join(ev['sbr_features'])} trained on the same folds.",
        results_sentence(metrics),
    ]
    calibration = metrics["cnn"].get("calibration")
    if calibration:
        sentences.append(
            "Probabilities were calibrated by temperature scaling fitted per fold on its "
            f"inner-validation patients (ECE {fmt(calibration['ece_raw'])} before, "
            f"{fmt(calibration['ece_calibrated'])} after)."
        )
    body = "<p>" + html.escape(" ".join(sentences)) + "</p>"
    return page("Methods (generated from this run)", body)


def results_sentence(metrics: dict) -> str:
    def value(model: str, metric: str) -> str:
        part = metrics[model]["pooled"]
        return with_interval(part[metric], part["ci95"].get(metric))

    diff = metrics["comparison"]["cnn_minus_sbr_baseline"]["balanced_accuracy"]
    ci = diff["ci95"]
    interval = f"95 % CI {fmt(ci[0])} to {fmt(ci[1])}" if ci else "no interval"
    return (
        f"The CNN reached a balanced accuracy of {value('cnn', 'balanced_accuracy')} and a "
        f"quadratic-weighted kappa of {value('cnn', 'quadratic_weighted_kappa')}; the SBR "
        f"baseline {value('sbr_baseline', 'balanced_accuracy')} and "
        f"{value('sbr_baseline', 'quadratic_weighted_kappa')} (value [95 % CI]); the difference "
        f"in balanced accuracy was {fmt(diff['difference'])} ({interval})."
    )


def provenance_page(provenance: dict) -> str:
    """Versions and the run's config; no patient IDs (the config names folders, not people)."""
    packages = pd.DataFrame(
        sorted(provenance.get("packages", {}).items()), columns=["package", "version"]
    )
    rest = {k: v for k, v in provenance.items() if k not in ("packages", "config")}
    body = (
        frame_html(packages, "packages")
        + "<h2>Run</h2><pre>"
        + html.escape(yaml.safe_dump(rest, sort_keys=True))
        + "</pre><h2>Config</h2><pre>"
        + html.escape(yaml.safe_dump(provenance.get("config", {}), sort_keys=True))
        + "</pre>"
    )
    return page("Provenance", body)


__all__ = [
    "NAMES",
    "calibration_page",
    "cohort_page",
    "folds_page",
    "methods_page",
    "provenance_page",
]
