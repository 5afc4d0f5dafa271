"""Ingest speed per input layout on the demo cohort, beside dcm2niix on the same DICOM.

Usage (after `make demo`): python benchmarks/ingest.py [--raw data/demo] [--per-layout 20]
One process, one core: patients/s of read + align + resample + normalise + QC + write,
and of read alone; dcm2niix (the PyPI `dcm2niix` package, a project dependency) converts
the same DICOM folders (conversion only, no alignment), one process per patient as it is
normally run; `read_time_over_dcm2niix` is the ratio of the two times (goal <= 1.5).
Prints a table and writes benchmarks/results/ingest.json. Never asserts.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from report import report

from spectstage.config import validate
from spectstage.ingest import ingest_scan, write_volume
from spectstage.inputs import discover
from spectstage.io import load_scan
from spectstage.io.slices import SliceConventions
from spectstage.template import load as load_template


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raw", type=Path, default=Path("data/demo"))
    ap.add_argument("--per-layout", type=int, default=20)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "ingest.json")
    args = ap.parse_args()

    cfg = validate({"raw_dir": str(args.raw)})
    layout = pd.read_csv(args.raw / "truth.csv").set_index("scan_id")["layout"]
    scans = discover(cfg)
    tmpl = load_template()
    dcm2niix = shutil.which("dcm2niix") or str(Path(sys.executable).parent / "dcm2niix")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in sorted(layout.unique()):
            chosen = [s for s in scans if layout[s.scan_id] == name][: args.per_layout]
            start = time.perf_counter()
            for s in chosen:
                load_scan(s.path, SliceConventions())
            read_s = time.perf_counter() - start
            start = time.perf_counter()
            for s in chosen:
                volume, sidecar = ingest_scan(s, cfg, tmpl)
                write_volume(volume, sidecar, tmpl, Path(tmp) / "volumes", Path(tmp) / "qc")
            ingest_s = time.perf_counter() - start
            row = {
                "layout": name,
                "patients": len(chosen),
                "read_patients_per_s": len(chosen) / read_s,
                "ingest_patients_per_s": len(chosen) / ingest_s,
                "dcm2niix_patients_per_s": None,
                "read_time_over_dcm2niix": None,
            }
            if name.startswith("dicom"):
                start = time.perf_counter()
                for i, s in enumerate(chosen):
                    out = Path(tmp) / f"dcm2niix_{name}_{i}"
                    out.mkdir()
                    subprocess.run(
                        [dcm2niix, "-z", "y", "-b", "n", "-o", str(out), str(s.path)],
                        check=True,
                        capture_output=True,
                    )
                dcm2niix_s = time.perf_counter() - start
                row["dcm2niix_patients_per_s"] = len(chosen) / dcm2niix_s
                # The goal's ratio (<= 1.5): our read -> canonical array over dcm2niix's
                # conversion of the same files (it also writes a NIfTI; a process per patient).
                row["read_time_over_dcm2niix"] = read_s / dcm2niix_s
            rows.append(row)
    table = pd.DataFrame(rows).set_index("layout")
    report(
        "Patients per second, one core (ingest = read + align + resample + normalise + QC + write)",
        table,
        args.out,
    )


if __name__ == "__main__":
    main()
