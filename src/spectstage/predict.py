"""`spectstage predict`: stage new patients with a trained models folder.

The same path as the out-of-fold metrics measured, for scans the models never saw:
pre-flight check and ingest (the training's code and settings) into the prediction's own
folder, the striatal crop, each fold's top-k epoch ensemble with the left-right mirror
(`inference.ensemble_probabilities`), averaged over folds. Uncertainty: how many folds vote
for another stage, the spread of the folds' probabilities, and the entropy of the mean.
With stage labels in the input, the evaluation's metrics with intervals as well.
The training cohort need not be present: the models carry what is needed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from spectstage.atomic import atomic_path, finite, write_json
from spectstage.errors import InputError
from spectstage.inputs import ScanInput, exclude_hint, file_stem, pseudonymised
from spectstage.predict_inputs import UNLABELLED, predict_inputs
from spectstage.predict_models import (
    Ensemble,
    check_installation,
    load_ensemble,
    preparation,
)
from spectstage.qc import Montages

log = logging.getLogger(__name__)


@dataclass
class Prepared:
    scans: list[ScanInput]
    volumes: list[Path]
    crops: np.ndarray  # (n, 1, x, y, z)
    qc_flags: list[str]  # the QC flags each scan raised, comma-separated


def preflight(scans: list[ScanInput], slices: Mapping | None = None) -> None:
    """The training's pre-flight check on every scan; all problems in one error."""
    from spectstage.check import check_scan, conventions_problems

    problems = [] if slices is None else conventions_problems(slices)
    for scan in scans:
        try:
            check_scan(scan, slices)
        except InputError as err:
            problems.append(str(err))
    if problems:
        raise InputError("\n  ".join([f"{len(problems)} problem(s) with the input:", *problems]))


def prepare(
    scans: list[ScanInput], cfg: dict, tmpl, work_dir: Path, montages: Montages | None = None
) -> Prepared:
    """Ingest each scan into work_dir/volumes and crop it; `montages` draws the QC montages
    into work_dir/qc (none without)."""
    from spectstage.crop import Crop
    from spectstage.ingest import ingest_scan, write_volume

    crop = Crop.from_config(cfg["train"]["crop"], tmpl.grid)
    volumes, crops, flags = [], [], []
    for scan in scans:
        try:
            volume, sidecar = ingest_scan(scan, cfg, tmpl)
        except InputError as err:
            raise InputError(f"{err}\n  {exclude_hint(scan.scan_id)}") from err
        write_volume(volume, sidecar, tmpl, work_dir / "volumes", None)
        stem = file_stem(scan.scan_id)
        if montages is not None:
            montages.draw(volume, tmpl, scan.scan_id, work_dir / "qc" / f"{stem}.png")
        volumes.append(work_dir / "volumes" / f"{stem}.nii.gz")
        crops.append(crop(volume)[None])
        raised = [k[5:] for k, v in sidecar["qc"].items() if k.startswith("flag_") and v]
        flags.append(",".join(raised))
    return Prepared(scans, volumes, np.stack(crops), flags)


def fold_probabilities(ensemble: Ensemble, crops: np.ndarray) -> np.ndarray:
    """(folds, scans, classes): each fold's top-k ensemble with the mirror."""
    from spectstage.inference import ensemble_probabilities

    x = torch.from_numpy(crops)
    cpu = torch.device("cpu")
    per_fold = [
        ensemble_probabilities(f.network, f.members, x, cpu, f.meta["config"])
        for f in ensemble.folds
    ]
    return np.stack(per_fold)


def uncertainty(per_fold: np.ndarray, labels: list[str]) -> pd.DataFrame:
    """Predicted stage and uncertainty from the folds' probabilities."""
    mean = per_fold.mean(0)
    pred = mean.argmax(1)
    votes = per_fold.argmax(2)  # (folds, scans)
    entropy = -(mean * np.log(np.clip(mean, 1e-12, 1))).sum(1) / np.log(len(labels))
    table = pd.DataFrame({"predicted_stage": np.asarray(labels)[pred]})
    for i, label in enumerate(labels):
        table[f"p_{label}"] = mean[:, i]
    table["fold_stages"] = [",".join(labels[v] for v in votes[:, j]) for j in range(len(pred))]
    table["fold_disagreement"] = (votes != pred).mean(0)
    table["fold_sd"] = per_fold[:, np.arange(len(pred)), pred].std(0)
    table["predictive_entropy"] = entropy
    return table


def duplicates(ensemble: Ensemble, volumes: list[Path]) -> list[str] | None:
    """Per scan, the training scans it duplicates (the folds' duplicate-scan check); None
    when the models came without their training scans' fingerprints (not checked)."""
    from spectstage.folds import scan_vectors, similar_pairs

    if ensemble.training_vectors is None:
        log.warning("duplicate check skipped: the models folder has no training_scans.pt")
        return None
    found: list[list[str]] = [[] for _ in volumes]
    if len(ensemble.training_ids):
        for i, j in similar_pairs(scan_vectors(volumes), ensemble.training_vectors):
            found[i].append(ensemble.training_ids[j])
    return [",".join(sorted(f)) for f in found]


def predict(
    paths: list[Path],
    models_dir: Path,
    out: Path,
    work_dir: Path,
    user_cfg: Mapping | None = None,
    saliency: bool = False,
    montages: Montages | None = None,
    redact_ids: Callable[[list[str]], None] | None = None,
) -> tuple[pd.DataFrame, dict | None]:
    """predictions CSV (and metrics.json when labelled, saliency maps on request, QC
    montages when given `montages`, finished before the CSV is written); returns the
    predictions and the metrics. With pseudonymisation on, the new patients'
    original IDs go to `redact_ids` before any message can name them."""
    from spectstage.template import load as load_template

    ensemble = load_ensemble(models_dir)
    cfg = preparation(ensemble, user_cfg)
    tmpl = load_template(cfg["ingest"])
    check_installation(ensemble, tmpl, models_dir)

    def protect(found: list[ScanInput]) -> None:
        if cfg["pseudonymise"] and redact_ids is not None:
            redact_ids([i for s in found for i in (s.patient_id, s.scan_id)])

    scans = predict_inputs(paths, ensemble.labels, on_found=protect)
    if cfg["pseudonymise"]:
        scans = [pseudonymised(s) for s in scans]
    preflight(scans, cfg["slices"])
    prepared = prepare(scans, cfg, tmpl, work_dir, montages)
    table = pd.DataFrame(
        {
            "patient_id": [s.patient_id for s in scans],
            "scan_id": [s.scan_id for s in scans],
            "stage": [s.stage for s in scans],
        }
    )
    per_fold = fold_probabilities(ensemble, prepared.crops)
    table = pd.concat([table, uncertainty(per_fold, ensemble.labels)], axis=1)
    found = duplicates(ensemble, prepared.volumes)
    table["duplicate_checked"] = found is not None
    table["duplicate_of_training_scan"] = found if found is not None else ""
    table["qc_flags"] = prepared.qc_flags
    for sid, dup in zip(table["scan_id"], table["duplicate_of_training_scan"], strict=True):
        if dup:
            log.warning("%s duplicates training scan(s) %s: not an unseen patient", sid, dup)
    if montages is not None:
        montages.finish()  # every montage drawn, or its error raised, before the CSV
    with atomic_path(out) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6f")
    if saliency:
        write_saliency_maps(ensemble, prepared, per_fold.mean(0).argmax(1), tmpl, work_dir)
    metrics = external_metrics(table, ensemble.labels, user_cfg)
    if metrics is not None:
        write_json(work_dir / "metrics.json", metrics, indent=1, sort_keys=True)
    return table, metrics


def write_saliency_maps(
    ensemble: Ensemble, prepared: Prepared, classes: np.ndarray, tmpl, work_dir: Path
) -> pd.DataFrame:
    """work_dir/saliency/<scan>.nii.gz and .png, and saliency.csv (where the mass lies)."""
    import nibabel as nib

    from spectstage.crop import Crop
    from spectstage.saliency import (
        METHODS,
        TITLES,
        crop_saliency,
        measures,
        to_canonical,
        write_saliency,
    )

    crop = Crop.from_config(ensemble.card["crop"], tmpl.grid)
    maps = crop_saliency(ensemble, prepared.crops, classes)
    rows = []
    for scan, path, crop_map, k in zip(
        prepared.scans, prepared.volumes, maps, classes, strict=True
    ):
        full = to_canonical(crop_map, crop)
        volume = np.asarray(nib.load(path).dataobj, dtype=np.float32)
        title = f"{scan.scan_id}: {TITLES[METHODS[0]]} of stage {ensemble.labels[k]}"
        write_saliency(full, volume, tmpl, title, work_dir / "saliency" / file_stem(scan.scan_id))
        rows.append({"scan_id": scan.scan_id, "stage": ensemble.labels[k], **measures(full, tmpl)})
    table = pd.DataFrame(rows)
    with atomic_path(work_dir / "saliency.csv") as tmp:
        table.to_csv(tmp, index=False, float_format="%.6f")
    return table


def external_metrics(
    table: pd.DataFrame, labels: list[str], user_cfg: Mapping | None
) -> dict | None:
    """The evaluation's metrics with patient-bootstrap intervals, on the labelled scans."""
    labelled = table[table["stage"] != UNLABELLED]
    if labelled.empty:
        return None
    from spectstage import config  # here: evaluate imports scipy.stats (~2 s)
    from spectstage.evaluate import section

    settings = user_cfg["evaluate"] if user_cfg is not None else None
    boot = {
        key: settings[name] if settings is not None else config.default("evaluate", name)
        for key, name in (("n", "bootstrap"), ("seed", "seed"))
    }
    metrics = section(labelled, labels, boot)
    metrics["n_unlabelled_scans"] = int(len(table) - len(labelled))
    metrics["bootstrap"] = boot
    return finite(metrics)


def console_table(table: pd.DataFrame, labels: list[str]) -> str:
    """A readable table: one line per scan."""
    columns = ["scan_id", "stage", "predicted_stage", *(f"p_{k}" for k in labels)]
    columns += ["fold_disagreement", "predictive_entropy"]
    shown = table[columns].rename(
        columns={"stage": "true", "fold_disagreement": "disagree", "predictive_entropy": "entropy"}
    )
    duplicate = table["duplicate_of_training_scan"]
    notes = np.where(duplicate != "", "DUPLICATE of training scan " + duplicate, "")
    notes = np.where(table["qc_flags"] != "", notes + " QC: " + table["qc_flags"], notes)
    shown = shown.assign(notes=notes)
    if (table["stage"] == UNLABELLED).all():
        shown = shown.drop(columns="true")
    return shown.to_string(index=False, float_format=lambda v: f"{v:.2f}")


def metrics_lines(metrics: dict) -> str:
    """The external-validation headline, as `spectstage evaluate` prints it."""
    from spectstage.report import with_interval

    ci = metrics["ci95"]
    ba = with_interval(metrics["balanced_accuracy"], ci.get("balanced_accuracy"))
    qwk = with_interval(metrics["quadratic_weighted_kappa"], ci.get("quadratic_weighted_kappa"))
    recall = ", ".join(
        f"{k}: {'-' if v is None else f'{v:.2f}'}" for k, v in metrics["recall"].items()
    )
    return (
        f"labelled scans: {metrics['n_scans']} of {metrics['n_patients']} patient(s); "
        f"balanced accuracy {ba}  QWK {qwk}\nrecall per stage {recall}"
    )
