"""Does the saliency of `spectstage predict --saliency` mean something?

Usage: python benchmarks/saliency.py --models results/models --raw UNSEEN_DEMO_DIR
    [--method vanillagrad|hirescam|gradcam]
UNSEEN_DEMO_DIR: a demo cohort the models never saw (`spectstage demo-data --id-prefix U
--seed 11 ...`) with its truth.csv. For every scan, as predict computes it, and for the same
networks with randomised weights:
(a) randomised-model check: correlation between the trained and the randomised maps on the
    crop (near 1 would mean the map shows the architecture or the input, not what was
    learnt), and how much the striatal mass fraction changes;
(b) worse side: on stage 1-2 scans predicted correctly, the share where the side with more
    striatal saliency is the generator's worse side (truth.csv `worse_side`);
(c) striatal mass fraction: the share of the map's mass inside the six striatal regions,
    beside the share of the crop's voxels those regions hold (what a flat map would give).
Prints a table and writes benchmarks/results/saliency_<method>.json. Never asserts.
"""

from __future__ import annotations

import argparse
import copy
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from report import report


def randomised(ensemble):
    """The same networks with fresh random weights (one member per fold)."""
    from spectstage.predict_models import _network

    out = copy.copy(ensemble)
    out.folds = []
    for i, fold in enumerate(ensemble.folds):
        torch.manual_seed(1000 + i)
        net = _network(fold.meta, ensemble.labels)
        out.folds.append(copy.copy(fold))
        out.folds[-1].network, out.folds[-1].members = net, [net.state_dict()]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=Path, default=Path("results/models"))
    ap.add_argument("--raw", type=Path, required=True)
    from spectstage.saliency import METHODS

    ap.add_argument("--method", choices=METHODS, default=METHODS[0])
    ap.add_argument("--out", type=Path, help="default: results/saliency_<method>.json")
    args = ap.parse_args()

    from spectstage.crop import Crop
    from spectstage.predict import fold_probabilities, preflight, prepare
    from spectstage.predict_inputs import predict_inputs
    from spectstage.predict_models import load_ensemble, preparation
    from spectstage.saliency import crop_saliency, measures, to_canonical
    from spectstage.template import load

    ensemble = load_ensemble(args.models)
    cfg = preparation(ensemble, None)
    tmpl = load(cfg["ingest"])
    crop = Crop.from_config(ensemble.card["crop"], tmpl.grid)
    scans = predict_inputs([args.raw], ensemble.labels)
    preflight(scans)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = prepare(scans, cfg, tmpl, Path(tmp))
    pred = fold_probabilities(ensemble, prepared.crops).mean(0).argmax(1)
    trained = crop_saliency(ensemble, prepared.crops, pred, args.method)
    rand = crop_saliency(randomised(ensemble), prepared.crops, pred, args.method)
    truth = pd.read_csv(args.raw / "truth.csv", dtype={"stage": str}).set_index("scan_id")
    box = np.zeros(tmpl.grid.shape, bool)
    box[crop.canonical_box()] = True
    chance = float((tmpl.striatum() & box).sum() / box.sum())
    rows = []
    for scan, k, t_map, r_map in zip(scans, pred, trained, rand, strict=True):
        t, r = measures(to_canonical(t_map, crop), tmpl), measures(to_canonical(r_map, crop), tmpl)
        rows.append(
            {
                "scan_id": scan.scan_id,
                "stage": scan.stage,
                "predicted": ensemble.labels[k],
                "worse_side": truth.loc[scan.scan_id, "worse_side"],
                "more_salient_side": t["more_salient_side"],
                "random_more_salient_side": r["more_salient_side"],
                "striatal_mass": t["striatal_mass_fraction"],
                "random_striatal_mass": r["striatal_mass_fraction"],
                "trained_vs_random_r": float(np.corrcoef(t_map.ravel(), r_map.ravel())[0, 1]),
            }
        )
    table = pd.DataFrame(rows)
    early = table[table["stage"].isin(["1", "2"]) & (table["stage"] == table["predicted"])]
    summary = pd.DataFrame(
        [
            {
                "check": "scans",
                "value": len(table),
                "detail": f"stage 1-2 correctly classified: {len(early)}",
            },
            {
                "check": "(a) corr(trained, randomised map), mean",
                "value": table["trained_vs_random_r"].mean(),
                "detail": f"sd {table['trained_vs_random_r'].std():.2f}",
            },
            {
                "check": "(b) worse side = more salient side",
                "value": (early["worse_side"] == early["more_salient_side"]).mean(),
                "detail": f"of {len(early)} correct stage 1-2 scans; randomised "
                f"{(early['worse_side'] == early['random_more_salient_side']).mean():.2f}",
            },
            {
                "check": "(c) striatal mass fraction, mean",
                "value": table["striatal_mass"].mean(),
                "detail": f"randomised {table['random_striatal_mass'].mean():.2f}, "
                f"flat map {chance:.2f}",
            },
        ]
    ).set_index("check")
    print(table.round(3).to_string(index=False))
    title = f"{args.method} sanity checks: {args.models} on {args.raw}"
    out = args.out or Path(__file__).parent / "results" / f"saliency_{args.method}.json"
    report(title, summary, out)


if __name__ == "__main__":
    main()
