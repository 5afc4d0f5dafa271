"""Per-fold training shard: augmented copies of the fold's *training* scans only, with
minority stages oversampled, and a table that replays every sample.

Random parameters are drawn here (numpy, seeded per fold) and applied by deterministic
MONAI transforms, so each row of samples.csv reproduces its sample exactly (`replay`).
Left-right flips are anatomically valid (stage does not depend on the worse side);
anterior-posterior and superior-inferior flips are not, so none are made.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from spectstage import torchfiles
from spectstage.atomic import atomic_path
from spectstage.cohort import read_table
from spectstage.config import stage_labels
from spectstage.crop import Crop
from spectstage.folds import fold_split, read_folds

# Canonical voxels around the crop, so rotations and shifts bring in real data. At the
# largest default rotation the box's far corners (~8 voxels of motion) still take a little
# border padding; they lie in background, and a 10-voxel margin measured no better
# (demo balanced accuracy 0.61 against 0.64, within run-to-run spread).
MARGIN = 6


@dataclass(frozen=True)
class SampleParams:
    flip_lr: bool
    rotate_deg: tuple[float, float, float]
    scale: float
    shift_voxels: tuple[float, float, float]  # canonical voxels
    intensity_scale: float
    gamma: float
    blur_sigma: float  # canonical voxels
    noise_std: float  # relative to the crop's mean
    noise_seed: int

    def row(self) -> dict:
        """Flat columns at full precision, so that a row replays its sample exactly."""
        out = {}
        for key, value in asdict(self).items():
            if isinstance(value, tuple):
                out.update({f"{key}_{axis}": v for axis, v in zip("xyz", value, strict=True)})
            else:
                out[key] = value
        return out

    @classmethod
    def from_row(cls, row: dict) -> SampleParams:
        def triple(key):
            return tuple(float(row[f"{key}_{a}"]) for a in "xyz")

        return cls(
            flip_lr=bool(row["flip_lr"]),
            rotate_deg=triple("rotate_deg"),
            scale=float(row["scale"]),
            shift_voxels=triple("shift_voxels"),
            intensity_scale=float(row["intensity_scale"]),
            gamma=float(row["gamma"]),
            blur_sigma=float(row["blur_sigma"]),
            noise_std=float(row["noise_std"]),
            noise_seed=int(row["noise_seed"]),
        )


def sample_params(rng: np.random.Generator, cfg: dict) -> SampleParams:
    def sym(limit: float, n: int | None = None):
        return rng.uniform(-limit, limit, n)

    return SampleParams(
        flip_lr=bool(cfg["flip_lr"]) and bool(rng.integers(2)),
        rotate_deg=tuple(float(v) for v in sym(cfg["rotate_deg"], 3)),
        scale=float(1 + sym(cfg["scale"])),
        shift_voxels=tuple(float(v) for v in sym(cfg["shift_voxels"], 3)),
        intensity_scale=float(1 + sym(cfg["intensity"])),
        gamma=float(1 + sym(cfg["gamma"])),
        blur_sigma=float(rng.uniform(0, cfg["blur_sigma"])),
        noise_std=float(rng.uniform(0, cfg["noise"])),
        noise_seed=int(rng.integers(2**31)),
    )


def replay(volume: np.ndarray, params: SampleParams, crop: Crop) -> np.ndarray:
    """Apply one sample's transforms to a canonical volume; returns the model-input crop."""
    import torch
    from monai.transforms import AdjustContrast, Affine, Flip, GaussianSmooth

    box = volume[crop.canonical_box(MARGIN)]
    img = torch.from_numpy(np.ascontiguousarray(box, dtype=np.float32))[None]
    if params.flip_lr:
        img = Flip(spatial_axis=0)(img)  # axis 0 is x (left-right) in RAS
    img = Affine(
        rotate_params=[math.radians(a) for a in params.rotate_deg],
        scale_params=[params.scale] * 3,
        translate_params=list(params.shift_voxels),
        padding_mode="border",
        image_only=True,
    )(img)
    img = AdjustContrast(gamma=params.gamma)(img) * params.intensity_scale
    if params.blur_sigma > 0:
        img = GaussianSmooth(sigma=params.blur_sigma)(img)
    out = np.asarray(img[0], dtype=np.float32)
    noise = np.random.default_rng(params.noise_seed).normal(0, 1, out.shape).astype(np.float32)
    out = out + noise * params.noise_std * float(np.abs(out).mean())
    inner = out[MARGIN:-MARGIN, MARGIN:-MARGIN, MARGIN:-MARGIN]
    return crop.pool(inner).astype(np.float32)


def plan_samples(train: pd.DataFrame, copies: int, balance: float) -> list[str]:
    """Source scan of each sample: `copies` per scan, minority stages topped up round-robin
    to `balance` x the largest stage (1.0 = every stage equally often)."""
    counts = train["stage"].value_counts()
    target = math.ceil(balance * counts.max())
    sources = []
    for stage in sorted(counts.index):
        scans = sorted(train.loc[train["stage"] == stage, "scan_id"])
        n = copies * max(len(scans), target)
        sources += [scans[i % len(scans)] for i in range(n)]
    return sources


def build_shard(
    folds: pd.DataFrame, cohort: pd.DataFrame, fold: int, cfg: dict
) -> tuple[dict, pd.DataFrame]:
    """(shard dict of tensors, samples table) for one fold, from its training scans only."""
    import nibabel as nib
    import torch

    train = fold_split(folds, fold, "train")  # read_folds refused any train/val/test overlap
    settings = cfg["augment"]
    crop = Crop.from_config(cfg["train"]["crop"])
    labels = stage_labels(cfg)
    volumes = cohort.set_index("scan_id")["volume"]
    sources = plan_samples(train, settings["copies"], settings["balance"])
    rng = np.random.default_rng([settings["seed"], fold])
    cache: dict[str, np.ndarray] = {}
    stage_of = train.set_index("scan_id")["stage"]
    patient_of = train.set_index("scan_id")["patient_id"]
    x, rows = [], []
    for i, scan_id in enumerate(sources):
        if scan_id not in cache:
            cache[scan_id] = np.asarray(nib.load(volumes[scan_id]).dataobj, dtype=np.float32)
        params = sample_params(rng, settings)
        x.append(replay(cache[scan_id], params, crop))
        rows.append(
            {
                "sample": i,
                "scan_id": scan_id,
                "patient_id": patient_of[scan_id],
                "stage": stage_of[scan_id],
                **params.row(),
            }
        )
    samples = pd.DataFrame(rows)
    shard = {
        "x": torch.from_numpy(np.stack(x)[:, None]).to(torch.float16),
        "y": torch.tensor([labels.index(s) for s in samples["stage"]], dtype=torch.int64),
        "scan_ids": samples["scan_id"].tolist(),  # training checks them against folds.csv
        "labels": labels,
        "fold": fold,
    }
    return shard, samples


@contextmanager
def plain_tensors() -> Iterator[None]:
    """MONAI transforms on plain tensors, without MetaTensor's metadata bookkeeping (a
    __torch_function__ hook on every operation, ~15 % of a fold's augmentation CPU): the
    same operations on the same values, so the same shard, byte for byte."""
    from monai.data import get_track_meta, set_track_meta

    before = get_track_meta()
    set_track_meta(False)
    try:
        yield
    finally:
        set_track_meta(before)


def write_shard(folds_csv: Path, cohort_csv: Path, fold: int, out_dir: Path, cfg: dict) -> int:
    import torch

    folds, cohort = read_folds(folds_csv), read_table(cohort_csv)
    torch.set_num_threads(1)  # one job per fold runs in parallel with the others
    with plain_tensors():
        shard, samples = build_shard(folds, cohort, fold, cfg)
    torchfiles.save(shard, out_dir / "train_shard.pt")
    with atomic_path(out_dir / "samples.csv") as tmp:
        samples.to_csv(tmp, index=False)
    return len(samples)
