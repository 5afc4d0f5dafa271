"""Time to stage one new patient with `spectstage predict`, per input format, on 2 threads.

Usage (after a workflow run): python benchmarks/predict.py [--models results/models]
Generates one unseen demo patient per layout (PNG stack, DICOM multi-frame, DICOM series,
NIfTI; ID prefix BENCH, another seed than the demo), then per patient:
- `cli_wall_s`, `cli_cpu_s`: the whole command, `spectstage predict PATIENT --threads 2`
  in a new process (start-up, imports, models, template, check, ingest with its QC
  montage, the fold ensembles, CSV) - the number the <= 10 s goal is about; wall and CPU
  time. predict draws the QC montage in a second process, which imports nilearn while
  the first imports torch: on free cores the wall time is below the CPU time; on a shared
  machine the wall time grows with the load. `cli_no_qc_*` the same with `--no-qc` (no
  montage, no second process, nilearn not imported);
- the same steps timed in this process after a warm-up: loading the models, ingest
  (pre-flight check, registration, resampling), the QC montage, inference, and the saliency maps
  (not part of the goal; `--saliency` adds it).
Prints a table and writes benchmarks/results/predict.json. Never asserts.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from report import report

THREADS = 2


def steps(patient: Path, models: Path, work: Path) -> dict:
    """Seconds per step of predict, in this process."""
    import nibabel as nib
    import torch

    from spectstage.predict import fold_probabilities, preflight, prepare
    from spectstage.predict_inputs import predict_inputs
    from spectstage.predict_models import load_ensemble, preparation
    from spectstage.qc import write_montage
    from spectstage.saliency import crop_saliency
    from spectstage.template import load

    torch.set_num_threads(THREADS)
    t0 = time.perf_counter()
    ensemble = load_ensemble(models)
    cfg = preparation(ensemble, None)
    tmpl = load(cfg["ingest"])
    t1 = time.perf_counter()
    scans = predict_inputs([patient], ensemble.labels)
    preflight(scans)
    prepared = prepare(scans, cfg, tmpl, work)
    t2 = time.perf_counter()
    volume = np.asarray(nib.load(prepared.volumes[0]).dataobj, dtype=np.float32)
    t3 = time.perf_counter()
    write_montage(volume, tmpl, scans[0].scan_id, work / "qc.png")
    t4 = time.perf_counter()
    per_fold = fold_probabilities(ensemble, prepared.crops)
    t5 = time.perf_counter()
    crop_saliency(ensemble, prepared.crops, per_fold.mean(0).argmax(1))
    t6 = time.perf_counter()
    return {
        "models_and_template_s": t1 - t0,
        "check_and_ingest_s": t2 - t1,
        "qc_montage_s": t4 - t3,
        "inference_s": t5 - t4,
        "saliency_s": t6 - t5,
    }


def cli_seconds(patient: Path, models: Path, work: Path, *extra: str) -> tuple[float, float]:
    """(wall, CPU) seconds of the command. On a machine shared with other jobs the wall
    time grows with the load; the CPU time (user + system) does not, and it is about the
    wall time on free cores as the command runs mostly on one thread."""
    cmd = [str(Path(sys.executable).parent / "spectstage"), "predict", str(patient)]
    cmd += ["--models", str(models), "--out", str(work / "p.csv"), "--threads", str(THREADS)]
    cmd += extra
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"{patient}: predict failed\n{proc.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=Path, default=Path("results/models"))
    ap.add_argument("--seed", type=int, default=9001)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "predict.json")
    args = ap.parse_args()

    from spectstage.demo.cohort import generate

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw"
        generate(raw, "mixed", [1, 1, 1, 1], seed=args.seed, workers=1, id_prefix="BENCH")
        truth = pd.read_csv(raw / "truth.csv")
        warm = True
        for row in truth.itertuples():
            patient = raw / f"stage_{row.stage}" / row.patient_id
            if warm:  # first imports, template cache, allocations: one-off
                steps(patient, args.models, Path(tmp) / "warm")
                warm = False
            wall, cpu = cli_seconds(patient, args.models, Path(tmp) / row.patient_id)
            wall_no_qc, cpu_no_qc = cli_seconds(patient, args.models, Path(tmp) / "noqc", "--no-qc")
            rows.append(
                {
                    "layout": row.layout,
                    "cli_wall_s": wall,
                    "cli_cpu_s": cpu,
                    "cli_no_qc_wall_s": wall_no_qc,
                    "cli_no_qc_cpu_s": cpu_no_qc,
                    **steps(patient, args.models, Path(tmp) / f"{row.patient_id}_steps"),
                }
            )
    table = pd.DataFrame(rows).set_index("layout")
    load = os.getloadavg()[0]
    report(
        f"Staging one patient with {args.models} ({THREADS} torch threads; goal <= 10 s, "
        f"saliency excluded; load average {load:.1f} on {os.cpu_count()} cores)",
        table,
        args.out,
    )


if __name__ == "__main__":
    main()
