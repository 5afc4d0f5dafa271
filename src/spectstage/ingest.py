"""Ingest: raw scan -> aligned, reference-normalised canonical volume + JSON sidecar.

One process handles a batch of scans (`spectstage ingest --batch k`), so neither a laptop
nor a cluster pays a process start per patient. Outputs are written atomically.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

from spectstage import __version__
from spectstage.atomic import atomic_path, write_json
from spectstage.errors import InputError
from spectstage.inputs import ScanInput, batches, discover, exclude_hint, file_stem
from spectstage.io import input_files, load_scan
from spectstage.preprocess import register, resample
from spectstage.qc import flags, hotspot_share, write_montage
from spectstage.sbr import reference, region_coverage, regional_sbr
from spectstage.template import Template
from spectstage.template import load as load_template

log = logging.getLogger(__name__)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _check_values(data: np.ndarray, where: Path) -> None:
    if not np.isfinite(data).all():
        raise InputError(f"{where}: the volume contains NaN or infinite values")
    if not np.any(data > 0):
        raise InputError(f"{where}: the volume is all zero (or negative)")


def _qc(volume, covered, tmpl: Template, reg, ref, sbr: dict, fmt: str) -> dict:
    """The sidecar's QC measures and flags."""
    hotspots = hotspot_share(volume, tmpl)
    return {
        "registration_correlation": round(reg.correlation, 4),
        "registration_scale": round(reg.pose.scale, 4),
        "striatal_hotspot_share": round(hotspots, 4),
        "template_overlap": round(reg.overlap, 4),
        "striatum_coverage": round(float(covered[tmpl.striatum()].mean()), 4),
        "striatal_region_coverage_min": round(region_coverage(covered, tmpl), 4),
        "reference_coverage": round(ref.coverage, 4),
        **flags(reg, ref, sbr, fmt, hotspots),
    }


def ingest_scan(item: ScanInput, cfg: dict, tmpl: Template) -> tuple[np.ndarray, dict]:
    """Read, align, resample and normalise one scan; (volume, sidecar dict)."""
    files = input_files(item.path)
    scan = load_scan(item.path, item.conventions(cfg["slices"]), item.format)
    _check_values(scan.data, item.path)
    settings = cfg["ingest"]
    reg = register(scan, tmpl, settings.get("registration", "similarity"))
    volume, covered = resample(scan, reg.matrix, tmpl)
    ref = reference(
        volume,
        covered,
        tmpl,
        settings["reference_region"],
        settings["reference_fallback"],
        settings["reference_min_coverage"],
    )
    if ref.mean <= 0:
        raise InputError(f"{item.path}: no uptake in the {ref.region} reference region")
    volume = volume / np.float32(ref.mean)
    sbr = regional_sbr(volume, tmpl, covered)
    sidecar = {
        "scan_id": item.scan_id,
        "patient_id": item.patient_id,
        "stage": item.stage,
        "format": scan.format,
        # Checksums, not names: file names can carry patient names or record numbers.
        "inputs": [{"sha256": sha256(f), "bytes": f.stat().st_size} for f in files],
        "original": {
            "shape": list(scan.data.shape),
            "voxel_mm": scan.voxel_mm,
            "orientation": scan.axcodes,
            **scan.meta,
        },
        "registration": {
            "method": f"SimpleITK {reg.method}, Mattes mutual information, to the {tmpl.source}"
            " MNI152 template",
            # RAS millimetres: MNI (template) -> scanner. The pose is the nearest
            # rigid + isotropic scale of the matrix (exact for the similarity default).
            "template_to_scan": reg.pose.as_dict(),
            "template_to_scan_matrix": np.round(reg.matrix, 6).tolist(),
        },
        "reference": {
            "region": ref.region,
            "mean_counts": round(ref.mean, 4),
            "fallback": ref.fallback,
            "template_ratio": round(ref.template_ratio, 4),
        },
        "regions": sbr,
        "qc": _qc(volume, covered, tmpl, reg, ref, sbr, scan.format),
        "spectstage_version": __version__,
    }
    return volume, sidecar


def write_volume(
    volume: np.ndarray, sidecar: dict, tmpl: Template, out_dir: Path, qc_dir: Path | None
) -> None:
    """The volume, its QC montage (unless qc_dir is None) and, last, its sidecar."""
    import nibabel as nib

    img = nib.Nifti1Image(volume.astype(np.float32), tmpl.affine)
    img.header.set_xyzt_units("mm")
    stem = out_dir / file_stem(sidecar["scan_id"])
    with atomic_path(stem.with_name(stem.name + ".nii.gz")) as tmp:
        nib.save(img, tmp)
    if qc_dir is not None:
        write_montage(volume, tmpl, sidecar["scan_id"], qc_dir / f"{stem.name}.png")
    # The sidecar last: its presence means the scan's outputs are complete.
    write_json(stem.with_name(stem.name + ".json"), sidecar, indent=1)  # NaN SBRs: null


def run_batch(cfg: dict, batch: int, out_dir: Path, qc_dir: Path) -> list[str]:
    """Ingest every scan of one batch; returns their scan IDs."""
    from tqdm import tqdm

    items = batches(discover(cfg), cfg["ingest"]["batches"]).get(batch, [])
    tmpl = load_template(cfg["ingest"])
    for item in tqdm(items, desc=f"ingest batch {batch}", unit="scan", disable=None):
        try:
            volume, sidecar = ingest_scan(item, cfg, tmpl)
        except InputError as err:
            raise InputError(f"{err}\n  {exclude_hint(item.scan_id)}") from err
        write_volume(volume, sidecar, tmpl, out_dir, qc_dir)
        log.info(
            "%s: %s, correlation %.3f",
            item.scan_id,
            sidecar["format"],
            sidecar["qc"]["registration_correlation"],
        )
    return [i.scan_id for i in items]
