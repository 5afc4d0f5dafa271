"""Would a blend of the CNN and the SBR baseline beat both? A post-hoc measurement on a
finished workflow run (no training): issue 17 §2's "learned blend" lever.

Usage (after `make demo` or any run with results/models/fold_*/):
    python benchmarks/blend.py [--workdir .] [--config config/demo.yaml]

Per fold, leakage-free: the SBR logistic regression (the baseline's features and model) is
fitted on the fold's *training* patients only and applied to its inner-validation and test
patients; the blend weight w of log p = w log p_cnn + (1 - w) log p_sbr (renormalised) is
chosen on the inner-validation patients (the CNN's val_predictions.csv) by mean negative
log-likelihood, and applied to the test patients. Test patients are used for nothing but
the score. Caveat: the CNN's inner-validation predictions also chose its epochs (early
stopping), so they are optimistic and push w towards the CNN.

Prints balanced accuracy and QWK (patient level, out of fold) of the CNN, the baseline fitted
on training + validation (what evaluate reports), the train-only baseline and the blend, and
writes benchmarks/results/blend.json. Never asserts.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from report import report

WEIGHTS = np.linspace(0.0, 1.0, 21)


def sbr_model(features: pd.DataFrame, rows: pd.DataFrame, seed: int):
    from spectstage.baseline import sbr_classifier

    return sbr_classifier(seed).fit(features.loc[rows["scan_id"]].to_numpy(), rows["stage"])


def proba(model, features: pd.DataFrame, rows: pd.DataFrame, labels: list[str]) -> np.ndarray:
    out = np.full((len(rows), len(labels)), 1e-6)
    cols = [labels.index(c) for c in model.classes_]
    out[:, cols] = model.predict_proba(features.loc[rows["scan_id"]].to_numpy())
    return out / out.sum(1, keepdims=True)


def blend(p_cnn: np.ndarray, p_sbr: np.ndarray, w: float) -> np.ndarray:
    log_p = w * np.log(p_cnn + 1e-9) + (1 - w) * np.log(p_sbr + 1e-9)
    p = np.exp(log_p - log_p.max(1, keepdims=True))
    return p / p.sum(1, keepdims=True)


def nll(p: np.ndarray, y: np.ndarray) -> float:
    return float(-np.log(p[np.arange(len(y)), y] + 1e-12).mean())


def fold_predictions(workdir: Path, fold: int, part: pd.DataFrame, features, labels, seed):
    """Test-patient probabilities of the CNN, the train-only SBR model and the blend; w."""
    cols = [f"p_{label}" for label in labels]
    model_dir = workdir / "results" / "models" / f"fold_{fold}"
    val = pd.read_csv(model_dir / "val_predictions.csv", dtype={"stage": str})
    test = pd.read_csv(model_dir / "test_predictions.csv", dtype={"stage": str})
    train = part[part["split"] == "train"]
    if set(train["scan_id"]) & (set(val["scan_id"]) | set(test["scan_id"])):
        raise SystemExit(f"fold {fold}: training scans among validation/test scans")
    model = sbr_model(features, train, seed)
    y_val = val["stage"].map(labels.index).to_numpy()
    p_val_cnn, p_val_sbr = val[cols].to_numpy(), proba(model, features, val, labels)
    losses = [nll(blend(p_val_cnn, p_val_sbr, w), y_val) for w in WEIGHTS]
    w = float(WEIGHTS[int(np.argmin(losses))])
    p_test_sbr = proba(model, features, test, labels)
    out = {}
    for name, p in {
        "cnn": test[cols].to_numpy(),
        "sbr_train_only": p_test_sbr,
        "blend": blend(test[cols].to_numpy(), p_test_sbr, w),
    }.items():
        frame = test[["fold", "patient_id", "scan_id", "stage"]].copy()
        frame[cols] = p
        out[name] = frame
    return out, w


def main() -> None:
    from spectstage import template
    from spectstage.baseline import feature_table
    from spectstage.cohort import read_table
    from spectstage.config import load, stage_labels
    from spectstage.evaluate import classification_metrics, patient_level
    from spectstage.folds import read_folds
    from spectstage.sbr import region_voxels

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("."))
    parser.add_argument("--config", type=Path, default=Path("config/demo.yaml"))
    args = parser.parse_args()
    cfg = load(args.workdir / args.config)
    labels, seed = stage_labels(cfg), cfg["folds"]["seed"]
    cohort = read_table(args.workdir / "results" / "cohort.csv")
    features = feature_table(
        cohort, cfg["evaluate"]["sbr_features"], "cohort.csv", region_voxels(template.load())
    )
    folds = read_folds(args.workdir / "results" / "folds.csv")
    folds["stage"] = folds["stage"].astype(str)
    parts, weights = {}, {}
    for fold, part in folds.groupby("fold"):
        out, weights[int(fold)] = fold_predictions(
            args.workdir, int(fold), part, features, labels, seed
        )
        for name, frame in out.items():
            parts.setdefault(name, []).append(frame)
    rows = []
    for name, frames in parts.items():
        frame = patient_level(pd.concat(frames), labels)
        m = classification_metrics(
            frame["stage"].tolist(), frame[[f"p_{x}" for x in labels]], labels
        )
        rows.append(
            {
                "predictions": name,
                "balanced_accuracy": round(m["balanced_accuracy"], 3),
                "qwk": round(m["quadratic_weighted_kappa"], 3),
            }
        )
    report(
        "CNN, train-only SBR baseline and their blend (w chosen on inner validation)",
        pd.DataFrame(rows).set_index("predictions"),
        Path(__file__).parent / "results" / "blend.json",
        shown=3,
        extra={"weights_per_fold": weights, "workdir": str(args.workdir.resolve())},
    )


if __name__ == "__main__":
    main()
