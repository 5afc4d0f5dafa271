"""Patient-grouped, stage-stratified folds: results/folds.csv (one row per fold and scan).

Every patient's scans share one test fold; each fold's training patients are split again
into train and an inner validation set (for early stopping). The file is deterministic
for a seed and can be frozen: `folds.file` imports an existing one instead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from spectstage.atomic import atomic_path
from spectstage.cohort import read_table
from spectstage.errors import InputError

COLUMNS = ["fold", "patient_id", "scan_id", "stage", "split"]
SPLITS = ("train", "val", "test")
DUPLICATE_CORRELATION = 0.999  # two scan IDs this alike are the same scan


def _patients(cohort: pd.DataFrame) -> pd.DataFrame:
    """One row per patient with the stage used to stratify (the highest of their scans)."""
    from natsort import natsorted

    order = {s: i for i, s in enumerate(natsorted(cohort["stage"].unique()))}
    rank = cohort.assign(rank=cohort["stage"].map(order)).sort_values(["patient_id", "rank"])
    return rank.groupby("patient_id", as_index=False).last()[["patient_id", "stage"]]


def _check_enough_patients(patients: pd.DataFrame, k: int, what: str, key: str) -> None:
    """Every stage needs a patient in each of k splits (sklearn would only warn)."""
    counts = patients["stage"].value_counts()
    small = counts[counts < k]
    if len(small):
        detail = ", ".join(f"stage {s}: {n}" for s, n in small.items())
        fewest = int(counts.min())
        lower = f"lower {key} to at most {fewest} or " if fewest >= 2 else ""
        raise InputError(
            f"{what}: {detail} patient(s), fewer than the {k} folds; {lower}merge the stage "
            "with a neighbouring one in `stages`"
        )


def make_folds(cohort: pd.DataFrame, k: int, seed: int, val_folds: int) -> pd.DataFrame:
    """Outer StratifiedGroupKFold by patient; inner 1/val_folds of training patients -> val."""
    from sklearn.model_selection import StratifiedGroupKFold

    patients = _patients(cohort)
    _check_enough_patients(patients, k, "folds", "folds.k")
    outer = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    rows = []
    pids = patients["patient_id"].to_numpy()
    for fold, (train_idx, test_idx) in enumerate(outer.split(pids, patients["stage"], groups=pids)):
        train_patients = patients.iloc[train_idx]
        _check_enough_patients(
            train_patients, val_folds, f"training patients of fold {fold}", "folds.val_folds"
        )
        inner = StratifiedGroupKFold(n_splits=val_folds, shuffle=True, random_state=seed + 1 + fold)
        tp = train_patients["patient_id"].to_numpy()
        _, val_idx = next(inner.split(tp, train_patients["stage"], groups=tp))
        split = dict.fromkeys(pids[test_idx], "test")
        split.update(dict.fromkeys(tp, "train"))
        split.update(dict.fromkeys(tp[val_idx], "val"))
        rows.append(cohort.assign(fold=fold, split=cohort["patient_id"].map(split)))
    return pd.concat(rows)[COLUMNS].sort_values(["fold", "scan_id"]).reset_index(drop=True)


def check_folds(
    folds: pd.DataFrame, cohort: pd.DataFrame | None = None, source: str = "folds"
) -> None:
    """Refuse any leakage: the invariants every later stage relies on.

    `source` names the table in the errors (its path when read from a file)."""
    if list(folds.columns[: len(COLUMNS)]) != COLUMNS:
        raise InputError(f"{source}: expected columns {COLUMNS}, got {list(folds.columns)}")
    empty = [c for c in COLUMNS if folds[c].isna().any()]
    if empty:
        raise InputError(f"{source}: empty cells in column(s) {empty}")
    bad_split = set(folds["split"]) - set(SPLITS)
    if bad_split:
        raise InputError(f"{source}: unknown split value(s) {sorted(bad_split)}")
    numbers = sorted(folds["fold"].unique().tolist())
    if numbers != list(range(len(numbers))):
        raise InputError(f"{source}: folds must be numbered 0 to k-1, found {numbers}")
    test = folds[folds["split"] == "test"]
    per_patient = test.groupby("patient_id")["fold"].nunique()
    if (per_patient > 1).any():
        raise InputError(
            f"{source}: patients in more than one test fold: "
            f"{sorted(per_patient[per_patient > 1].index)}"
        )
    mixed = folds.groupby(["fold", "patient_id"])["split"].nunique()
    if (mixed > 1).any():
        bad = sorted({p for _, p in mixed[mixed > 1].index})
        raise InputError(
            f"{source}: patients in two splits of one fold (train/val/test leak): {bad}"
        )
    scans = folds.groupby("scan_id")["fold"].nunique()
    untested = sorted(set(folds["scan_id"]) - set(test["scan_id"]))
    repeated = folds.duplicated(["fold", "scan_id"]).any()
    if (scans != len(numbers)).any() or repeated or test["scan_id"].duplicated().any() or untested:
        raise InputError(
            f"{source}: every scan must appear once in every fold and be tested once"
            + (f"; never tested: {untested[:10]}" if untested else "")
        )
    incomplete = [f for f, part in folds.groupby("fold") if set(part["split"]) != set(SPLITS)]
    if incomplete:
        raise InputError(f"{source}: folds {incomplete} lack a train, val or test split")
    if cohort is not None:
        unknown = sorted(set(cohort["scan_id"]) - set(folds["scan_id"]))
        if unknown:
            raise InputError(f"{source} does not know these scans of the cohort: {unknown}")


def read_folds(path: Path) -> pd.DataFrame:
    """results/folds.csv, checked."""
    folds = read_table(path)
    check_folds(folds, source=str(path))
    return folds


def scan_vectors(paths) -> np.ndarray:
    """Each canonical volume on every 4th voxel (~9,500 values), centred and of unit
    length: the dot product of two rows is the volumes' correlation."""
    import nibabel as nib

    vectors = []
    for path in paths:
        try:
            data = np.asarray(nib.load(path).dataobj, dtype=np.float32)[::4, ::4, ::4].ravel()
        except (OSError, nib.filebasedimages.ImageFileError) as err:
            raise InputError(f"{path}: cannot read the volume ({err}); run ingest again") from err
        data = data - data.mean()
        vectors.append(data / (np.linalg.norm(data) or 1.0))
    return np.stack(vectors)


def similar_pairs(a: np.ndarray, b: np.ndarray, chunk: int = 512) -> list[tuple[int, int]]:
    """(row of a, row of b) of every pair of scan vectors alike enough to be one scan,
    in blocks of rows so that memory stays bounded."""
    pairs = []
    for start in range(0, len(a), chunk):
        sim = a[start : start + chunk].astype(np.float32) @ b.T.astype(np.float32)
        for i, j in zip(*np.nonzero(sim >= DUPLICATE_CORRELATION), strict=True):
            pairs.append((int(i) + start, int(j)))
    return pairs


def check_duplicate_scans(cohort: pd.DataFrame, chunk: int = 512) -> None:
    """The same scan under two IDs would sit in train and test: compare the volumes
    (0.4 GB for 10,000 scans); two scans of one patient may be alike."""
    matrix = scan_vectors(cohort["volume"])
    ids = cohort["scan_id"].to_numpy()
    patients = cohort.get("patient_id", cohort["scan_id"]).to_numpy()
    pairs = [
        f"{ids[a]} = {ids[b]}"
        for a, b in similar_pairs(matrix, matrix, chunk)
        if a < b and patients[a] != patients[b]
    ]
    if pairs:
        raise InputError(
            f"the same scan appears under two IDs (volume correlation >= 0.999): {pairs}"
        )


def write_folds(cohort_csv: Path, out: Path, cfg: dict) -> pd.DataFrame:
    cohort = read_table(cohort_csv)
    settings = cfg["folds"]
    if settings["file"]:
        source = f"folds.file {settings['file']}"
        frozen = read_table(settings["file"])
        check_folds(frozen, source=source)  # the file itself; the cohort is checked below
        if frozen["fold"].nunique() != settings["k"]:
            raise InputError(
                f"{source} has {frozen['fold'].nunique()} folds and folds.k is "
                f"{settings['k']}: make them agree"
            )
        # Only the assignment is frozen: patients and stages come from the cohort, so a
        # stale or edited file cannot relabel scans or split a patient.
        ids = cohort.set_index("scan_id")[["patient_id", "stage"]]
        folds = frozen[frozen["scan_id"].isin(cohort["scan_id"])][["fold", "scan_id", "split"]]
        folds = folds.join(ids, on="scan_id")[COLUMNS]
        check_folds(folds, cohort, source)
    else:
        folds = make_folds(
            cohort[["patient_id", "scan_id", "stage"]],
            settings["k"],
            settings["seed"],
            settings["val_folds"],
        )
        check_folds(folds, cohort)
    # Last, as it reads every volume; for a frozen file too (the cohort may have grown).
    check_duplicate_scans(cohort)
    with atomic_path(out) as tmp:
        folds.to_csv(tmp, index=False)
    return folds


def fold_split(folds: pd.DataFrame, fold: int, split: str) -> pd.DataFrame:
    """Scans of one split of one fold (of a table read with read_folds)."""
    return folds[(folds["fold"] == fold) & (folds["split"] == split)]
