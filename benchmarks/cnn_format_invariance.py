"""CNN probabilities across formats: a model trained on one format applied to another.

A small experiment, not the workflow: the same demo patients (fresh seed 2027, realistic)
written as NM DICOM and as the demo's partial coloured slice stack (`hot`; fallback
reference), ingested in-process with the default config, cropped as `train.crop` says;
two patient-grouped halves (alternating within each stage). On each half, the default network
(`train.model: small`) is trained for a fixed number of epochs on ONE format, then applied to
the other half's scans in BOTH formats: the mean absolute difference of the stage
probabilities between a patient's two scans (goal <= 0.05), and the balanced accuracy per
format (so a flat, useless model cannot pass). A second training seed on the same format
gives the noise floor of the difference. No augmentation, early stopping or class weights:
the point is the input shift between formats, not the model's quality.

Usage: python benchmarks/cnn_format_invariance.py [--per-stage 8,8,8,8] [--seed 2027]
Prints a table and writes benchmarks/results/cnn_format_invariance.json. Never asserts.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from format_invariance import write
from report import report
from sklearn.metrics import balanced_accuracy_score

from spectstage.config import validate
from spectstage.crop import Crop
from spectstage.demo.cohort import plan
from spectstage.ingest import ingest_scan
from spectstage.inputs import ScanInput
from spectstage.models import build_model
from spectstage.template import load as load_template

LAYOUTS = ("dicom", "slices_hot_partial")
EPOCHS = 40
BATCH = 8


def crops(items, root: Path) -> dict[str, np.ndarray]:
    """{layout: (N, 1, X, Y, Z) crops} of every patient's scan in each layout."""
    cfg = validate({"raw_dir": str(root)})
    tmpl = load_template(cfg["ingest"])
    crop = Crop.from_config(cfg["train"]["crop"])
    out: dict[str, list] = {layout: [] for layout in LAYOUTS}
    for item in items:
        p = item.patient
        for layout in LAYOUTS:
            folder = root / p.patient_id / layout
            slices, _ = write(item, layout, folder)
            fmt = "slices" if layout.startswith("slices") else None
            overrides = tuple(slices.items())
            scan = ScanInput(p.patient_id, p.patient_id, p.stage, folder, fmt, overrides)
            volume, _ = ingest_scan(scan, cfg, tmpl)
            out[layout].append(crop(volume)[None])
    return {k: np.stack(v) for k, v in out.items()}


def train(x: np.ndarray, y: np.ndarray, n_classes: int, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_model("small", n_classes, x.shape[2:])
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(EPOCHS):
        for idx in torch.randperm(len(x), generator=gen).split(BATCH):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    return model.eval()


def probabilities(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return torch.softmax(model(torch.from_numpy(x)), dim=1).numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-stage", default="8,8,8,8")
    ap.add_argument("--seed", type=int, default=2027)
    ap.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "cnn_format_invariance.json"
    )
    args = ap.parse_args()
    torch.set_num_threads(1)
    per_stage = [int(n) for n in args.per_stage.split(",")]
    stages = [str(i + 1) for i in range(len(per_stage))]
    items = plan(per_stage, stages, "nifti", args.seed)
    y = np.array([it.patient.stage_index for it in items])
    half = np.zeros(len(items), dtype=int)
    for s in set(y):  # alternate within each stage: both halves hold every stage
        half[np.flatnonzero(y == s)[1::2]] = 1
    with tempfile.TemporaryDirectory() as tmp:
        x = crops(items, Path(tmp))
    rows = []
    for trained_on in LAYOUTS:
        p = {layout: np.zeros((len(items), len(stages))) for layout in LAYOUTS}
        p_seed2 = np.zeros((len(items), len(stages)))
        for k in (0, 1):
            fit, test = half != k, half == k
            model = train(x[trained_on][fit], y[fit], len(stages), args.seed)
            for layout in LAYOUTS:
                p[layout][test] = probabilities(model, x[layout][test])
            other = train(x[trained_on][fit], y[fit], len(stages), args.seed + 1)
            p_seed2[test] = probabilities(other, x[trained_on][test])
        a, b = p[LAYOUTS[0]], p[LAYOUTS[1]]
        rows.append(
            {
                "trained_on": trained_on,
                "mean_abs_diff_between_formats": float(np.abs(a - b).mean()),
                "mean_abs_diff_other_training_seed": float(np.abs(p[trained_on] - p_seed2).mean()),
                **{
                    f"balanced_accuracy_{layout}": balanced_accuracy_score(y, p[layout].argmax(1))
                    for layout in LAYOUTS
                },
            }
        )
    table = pd.DataFrame(rows).set_index("trained_on")
    extra = {"seed": args.seed, "per_stage": per_stage, "epochs": EPOCHS, "layouts": LAYOUTS}
    report(
        "CNN probabilities across formats (goal: mean abs diff <= 0.05)",
        table,
        args.out,
        shown=3,
        stored=4,
        extra=extra,
    )


if __name__ == "__main__":
    main()
