"""Figures of the evaluation (results/plots/): PNG, no patient IDs in any of them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from spectstage.atomic import atomic_path

MAX_MONTAGES = 24  # misclassified scans shown; the table lists all of them


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path, dpi: int = 110) -> None:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    _pyplot().close(fig)


def confusion(pooled: dict, path: Path, normalise: bool, title: str) -> None:
    """Counts, or each true stage's row as shares (its recall on the diagonal)."""
    plt = _pyplot()
    cm = np.array(pooled["confusion_matrix"]["rows_true_cols_predicted"], dtype=float)
    labels = pooled["confusion_matrix"]["labels"]
    if normalise:
        cm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.imshow(cm, cmap="Blues", vmin=0)
    for (i, j), v in np.ndenumerate(cm):
        text = f"{v:.2f}" if normalise else str(int(v))
        dark = v > cm.max() / 2
        ax.text(j, i, text, ha="center", va="center", color="white" if dark else "black")
    ax.set(
        xticks=range(len(labels)),
        yticks=range(len(labels)),
        xticklabels=labels,
        yticklabels=labels,
        xlabel="predicted stage",
        ylabel="true stage",
        title=f"{title} (BA {pooled['balanced_accuracy']:.2f})",
    )
    _save(fig, path)


def roc(predictions: dict[str, pd.DataFrame], labels: list[str], path: Path) -> None:
    """One-vs-rest ROC per stage, the CNN beside the SBR baseline."""
    from sklearn.metrics import roc_auc_score, roc_curve

    plt = _pyplot()
    fig, axes = plt.subplots(1, len(labels), figsize=(3.2 * len(labels), 3.4), squeeze=False)
    for ax, label in zip(axes[0], labels, strict=True):
        for name, table in predictions.items():
            positive = (table["stage"] == label).to_numpy()
            if positive.all() or not positive.any():
                continue
            fpr, tpr, _ = roc_curve(positive, table[f"p_{label}"])
            auc = roc_auc_score(positive, table[f"p_{label}"])
            ax.plot(fpr, tpr, label=f"{name} {auc:.2f}")
        ax.plot([0, 1], [0, 1], color="grey", lw=0.5, ls="--")
        ax.set(title=f"stage {label}", xlabel="1 - specificity", ylabel="sensitivity")
        ax.legend(fontsize=7, loc="lower right", title="AUC", title_fontsize=7)
    _save(fig, path)


def reliability(calibration: dict | None, path: Path) -> None:
    """Accuracy against confidence per bin, before and after temperature scaling."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--", label="perfect")
    if calibration:
        for key, name in (("raw", "raw"), ("calibrated", "temperature-scaled")):
            table = calibration[f"reliability_{key}"]
            pairs = [
                (c, a)
                for c, a in zip(table["confidence"], table["accuracy"], strict=True)
                if c is not None
            ]
            ece = calibration[f"ece_{key}"]
            ax.plot(*zip(*pairs, strict=True), marker="o", label=f"{name} (ECE {ece:.3f})")
    else:
        ax.text(0.5, 0.5, "no validation predictions", ha="center")
    ax.set(xlabel="confidence (top stage)", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1))
    ax.set_title("Reliability of the CNN, out of fold")
    ax.legend(fontsize=8, loc="upper left")
    _save(fig, path)


def learning_curves(history_files: list[Path], path: Path) -> None:
    """Training and inner-validation loss, validation balanced accuracy, per fold."""
    plt = _pyplot()
    fig, (loss, score) = plt.subplots(1, 2, figsize=(9, 3.6))
    for k, file in enumerate(history_files):
        history = pd.read_csv(file)
        line = loss.plot(history["epoch"], history["train_loss"], lw=1, label=f"fold {k} train")
        colour = line[0].get_color()
        loss.plot(history["epoch"], history["val_loss"], lw=1, ls="--", color=colour)
        score.plot(
            history["epoch"],
            history["val_balanced_accuracy"],
            lw=1,
            color=colour,
            label=f"fold {k}",
        )
    loss.set(xlabel="epoch", ylabel="loss", title="loss (solid train, dashed validation)")
    score.set(
        xlabel="epoch", ylabel="balanced accuracy", title="inner-validation balanced accuracy"
    )
    loss.legend(fontsize=7)
    score.legend(fontsize=7)
    _save(fig, path)


def sbr_by_stage(cohort: pd.DataFrame, labels: list[str], columns: list[str], path: Path) -> None:
    """Distribution of each regional quantity per stage (box and points)."""
    plt = _pyplot()
    n = len(columns)
    cols = min(n, 4)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.8 * rows), squeeze=False)
    for ax, column in zip(axes.flat, columns, strict=False):
        groups = [cohort.loc[cohort["stage"] == s, column].dropna().to_numpy() for s in labels]
        ax.boxplot(groups, tick_labels=labels, showfliers=False)
        for i, values in enumerate(groups):
            jitter = np.random.default_rng(i).uniform(-0.15, 0.15, len(values))
            ax.plot(i + 1 + jitter, values, ".", ms=3, alpha=0.5, color="C0")
        ax.set(title=column, xlabel="stage")
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    _save(fig, path)


def misclassified_montages(oof: pd.DataFrame, qc_dir: Path, path: Path) -> pd.DataFrame:
    """The QC montages of misclassified scans in one figure, worst errors first, titled by
    number and stages only (the table returned maps numbers to scan IDs, outside the report)."""
    from PIL import Image

    from spectstage.inputs import file_stem

    plt = _pyplot()
    wrong = oof[oof["stage"] != oof["predicted_stage"]].copy()
    wrong["distance"] = (
        wrong["stage"].astype(float) - wrong["predicted_stage"].astype(float)
    ).abs()
    wrong = wrong.sort_values(["distance", "scan_id"], ascending=[False, True]).reset_index(
        drop=True
    )
    wrong.insert(0, "number", np.arange(1, len(wrong) + 1))
    shown = wrong.head(MAX_MONTAGES)
    cols = 4
    rows = max(1, -(-len(shown) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.0 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, row in zip(axes.flat, shown.itertuples(), strict=False):
        ax.imshow(np.asarray(Image.open(qc_dir / f"{file_stem(row.scan_id)}.png")))
        ax.set_title(
            f"#{row.number}: stage {row.stage}, predicted {row.predicted_stage}", fontsize=8
        )
    if shown.empty:
        axes[0, 0].text(0.5, 0.5, "no misclassified scans", ha="center")
    _save(fig, path, dpi=80)  # up to 24 montages: keep the report light
    return wrong[["number", "scan_id", "stage", "predicted_stage", "fold"]]
