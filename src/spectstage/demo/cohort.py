"""`spectstage demo-data`: a synthetic DaTSCAN cohort in the formats real data arrive in.

Layout: OUT/stage_<label>/<patient_id>/... plus OUT/manifest.csv (the same scans as a
manifest) and OUT/truth.csv (true pose and regional binding, for tests and the oracle;
the workflow never reads it). Deterministic for a seed: patient i of stage s always
gets the same random stream, whatever else is generated.
"""

from __future__ import annotations

import os
import re
import shutil
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from spectstage.demo import acquisition, head, screenshots, writers
from spectstage.demo.acquisition import REALISTIC, Realism
from spectstage.demo.patients import Patient, render, sample_patient
from spectstage.geometry import Pose
from spectstage.io.slices import SliceConventions

FORMATS = ("png", "dicom", "nifti", "mixed")
LAYOUTS = ("png", "dicom_multiframe", "dicom_series", "nifti")
NIFTI_ORIENTATIONS = ("RAS", "LPS", "LAS", "PIR", "ASL", "RPI")
STACK_SHAPE = (30, 128, 128)  # about 30 coronal slices, like the exported renderings
STRIATUM_CENTRE_MM = (0.0, 2.0, 5.0)  # template point the stack is centred on (A-P only)
DISTRACTOR_SHARE = 0.25  # DICOM folders that also hold a planar NM image to be ignored
# File variants real data arrive in (demo/writers.py); each DICOM/NIfTI patient gets one.
NIFTI_FORMS = ("both", "sform", "qform", "both_differ")
MULTIFRAME_VARIANTS = (
    writers.GE_VARIANT,  # detector-only geometry, negative spacing, int16, no slope
    writers.DicomVariant("multiframe", "detector"),
    writers.DicomVariant("multiframe", "both", rescale="absent"),
    writers.DicomVariant("multiframe", "top_level", signed=True, rescale="scaled"),
    writers.DicomVariant("multiframe", "both", negative_spacing=True, rescale="scaled"),
)
SERIES_VARIANTS = (
    writers.SERIES_VARIANT,
    writers.DicomVariant("series", "top_level", signed=True, rescale="scaled"),
    writers.DicomVariant("series", "both", negative_spacing=True, rescale="absent"),
)


@dataclass(frozen=True)
class DemoPatient:
    patient: Patient
    layout: str
    seed: tuple[int, ...]
    # the number in the patient ID (the fake PHI's name uses it too); 0 for a patient made
    # outside a cohort plan (tests, benchmarks)
    number: int = 0
    realism: Realism = REALISTIC  # the realistic default; CLEAN for exact comparisons
    site: int = 0  # slice stacks: the site whose conventions it has (screenshots.SITES)


def choose(item: DemoPatient, what: str, options: tuple):
    """One of `options`, from the patient's own stream for `what`: the same for a seed
    whatever the renderer draws, and each choice (orientation, form) independent."""
    rng = np.random.default_rng([*item.seed, 2, zlib.crc32(what.encode())])
    return options[int(rng.integers(len(options)))]


def acquire(item: DemoPatient) -> tuple[np.ndarray, np.ndarray, np.random.Generator, dict]:
    """The patient's reconstructed native volume (RAS), its affine, its random stream for
    writing, and the truth of how it was acquired."""
    rng = np.random.default_rng([*item.seed, 1])
    setup = np.random.default_rng([*item.seed, 3])  # its own stream: clean volumes unchanged
    real = item.realism
    levels = head.Extracerebral.sample(setup) if real.extracerebral else None
    info: dict = {"realism": real.label}
    if real.reconstruction:
        acq = acquisition.sample_acquisition(setup, real.grid)
        volume, affine = acquisition.reconstruct(item.patient, acq, levels, rng)
        info.update(acq.row())
        # the clean grid's columns, here for the acquisition grid
        info.update(voxel_mm=round(acq.pixel_mm, 4), counts_per_unit=round(acq.grey_counts, 4))
    else:
        volume, affine = render(item.patient, rng, levels)
    if levels is not None:
        info.update({f"uptake_{k}": round(v, 4) for k, v in asdict(levels).items()})
    return volume, affine, rng, info


def make_volume(item: DemoPatient) -> tuple[np.ndarray, np.ndarray, np.random.Generator]:
    """The patient's reconstructed native volume (RAS), its affine and its random stream."""
    volume, affine, rng, _ = acquire(item)
    return volume, affine, rng


def plan(
    per_stage: list[int],
    stages: list[str],
    fmt: str,
    seed: int,
    id_prefix: str = "P",
    id_offset: int = 0,
    realism: Realism = REALISTIC,
) -> list[DemoPatient]:
    """Patients numbered id_offset + 1 ... id_offset + n (a second cohort given an offset
    or a prefix never reuses a first cohort's IDs); the patients themselves depend on the
    seed only."""
    rng = np.random.default_rng(seed)
    total = sum(per_stage)
    numbers = rng.permutation(total) + 1 + id_offset  # IDs do not reveal the stage
    items: list[DemoPatient] = []
    for si, (stage, count) in enumerate(zip(stages, per_stage, strict=True)):
        for i in range(count):
            pseed = (seed, si, i)
            prng = np.random.default_rng(pseed)
            number = int(numbers[len(items)])
            pid = f"{id_prefix}{number:04d}"
            patient = sample_patient(prng, pid, stage, si, len(stages))
            if fmt == "mixed":  # round-robin, so even a tiny cohort has every layout
                layout = LAYOUTS[len(items) % len(LAYOUTS)]
            elif fmt == "dicom":
                layout = LAYOUTS[1 + int(prng.integers(2))]
            else:
                layout = fmt
            # round-robin too: even two slice stacks differ in colour map and display
            site = sum(it.layout == "png" for it in items) if realism.sites else 0
            items.append(DemoPatient(patient, layout, pseed, number, realism, site))
    return items


def stack_conventions(item: DemoPatient, conv: SliceConventions):
    """(the conventions a slice-stack patient's files have, its screenshot or None)."""
    shot = None
    if item.realism.screenshots:
        shot = screenshots.sample_screenshot(np.random.default_rng([*item.seed, 4]))
    return screenshots.site_conventions(conv, item.site, shot), shot


def _write_stack(item: DemoPatient, volume, affine, rng, folder: Path, conv) -> tuple:
    """The coronal stack around the striatum, a viewer screenshot when realistic;
    (variant name, the stack's centre y in scanner mm, truth columns)."""
    conv, shot = stack_conventions(item, conv)
    shape = (shot.n_slices if shot else STACK_SHAPE[0], *STACK_SHAPE[1:])
    striatum = item.patient.pose.matrix() @ [*STRIATUM_CENTRE_MM, 1]
    centre_y = striatum[1] + rng.uniform(-6, 6)
    stack, _ = writers.sample_stack(volume, affine, conv, shape, (0.0, centre_y, 0.0))
    name = f"{conv.colormap}-{conv.image_left}-{conv.order}"
    # The stack's conventions, as a site would declare them (manifest columns)
    declared = {f"slices_{k}": v for k, v in asdict(conv).items()}
    if shot is None:
        writers.write_slices(stack, folder, conv)
        return f"slices-{name}", centre_y, declared
    screenshots.write_screenshots(stack, folder, conv, shot)
    return f"screenshot-{name}-{shot.ext}", centre_y, {**declared, **shot.row()}


def _write_dicom(item: DemoPatient, volume, affine, rng, folder: Path, phi: dict) -> tuple:
    """One DICOM vendor variant, sometimes beside a planar distractor; (variant, columns)."""
    if item.layout == "dicom_multiframe":
        dicom = choose(item, "dicom", MULTIFRAME_VARIANTS)
        writers.write_dicom_multiframe(volume, affine, folder / "NM00001", phi, dicom)
    else:
        dicom = choose(item, "dicom", SERIES_VARIANTS)
        writers.write_dicom_series(volume, affine, folder, phi, rng, dicom)
    if rng.uniform() < DISTRACTOR_SHARE:
        writers.write_dicom_planar(volume, folder / "NM_PLANAR", phi)
        return dicom.name, {"distractor_series": True}
    return dicom.name, {}


def write_patient(item: DemoPatient, folder: Path, conv: SliceConventions) -> dict:
    """Write one patient's files; returns its ground-truth row."""
    p = item.patient
    volume, affine, rng, acquired = acquire(item)
    folder.mkdir(parents=True)
    pose = p.pose
    phi = writers.fake_phi(rng, item.number)
    if item.layout == "png":
        variant, centre_y, extra = _write_stack(item, volume, affine, rng, folder, conv)
        # The reader centres the stack on the origin: express the pose in that frame.
        t = np.asarray(pose.translation_mm) - (0.0, centre_y, 0.0)
        pose = Pose(pose.rotation_deg, tuple(float(v) for v in t), pose.scale)
    elif item.layout == "nifti":
        axcodes = choose(item, "orientation", NIFTI_ORIENTATIONS)
        form = choose(item, "form", NIFTI_FORMS)
        writers.write_nifti(volume, affine, folder / f"{p.patient_id}.nii.gz", axcodes, form)
        extra = {"nifti_orientation": axcodes}
        variant = f"nifti-{form}-{axcodes}"
    else:
        variant, extra = _write_dicom(item, volume, affine, rng, folder, phi)
    return {
        "patient_id": p.patient_id,
        "scan_id": p.patient_id,
        "stage": p.stage,
        "layout": item.layout,
        "variant": variant,
        "severity": round(p.severity, 4),
        "worse_side": p.worse_side,
        **{f"sbr_{k}": round(v, 4) for k, v in p.uptake.sbr.items()},
        **{f"rotation_{a}_deg": r for a, r in zip("xyz", pose.rotation_deg, strict=True)},
        **{f"translation_{a}_mm": t for a, t in zip("xyz", pose.translation_mm, strict=True)},
        "scale": pose.scale,
        "voxel_mm": p.voxel_mm,
        "counts_per_unit": p.counts_per_unit,
        **acquired,
        **extra,
    }


def _write_one(args: tuple[DemoPatient, Path, SliceConventions]) -> dict:
    return write_patient(*args)


def generate(
    out: Path,
    fmt: str = "mixed",
    per_stage: list[int] | None = None,
    stages: list[str] | None = None,
    seed: int = 0,
    conv: SliceConventions | None = None,
    workers: int | None = None,
    id_prefix: str = "P",
    id_offset: int = 0,
    realism: Realism = REALISTIC,
) -> Path:
    """Write the cohort into `out` (which must not exist yet); returns the manifest path."""
    import pandas as pd

    per_stage = per_stage or [50, 50, 50, 15]
    stages = stages or [str(i + 1) for i in range(len(per_stage))]
    conv = conv or SliceConventions()
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: choose one of {FORMATS}")
    if out.exists():
        raise FileExistsError(f"{out} exists; remove it or choose another --out")
    tmp = out.with_name(f".tmp-{out.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", id_prefix) or id_offset < 0:
        raise ValueError(
            f"id prefix {id_prefix!r} / offset {id_offset}: the prefix must start with a letter "
            "and hold only letters, digits, _ and -; the offset must not be negative"
        )
    items = plan(per_stage, stages, fmt, seed, id_prefix, id_offset, realism)
    jobs = [(it, tmp / f"stage_{it.patient.stage}" / it.patient.patient_id, conv) for it in items]
    with ProcessPoolExecutor(max_workers=workers or os.cpu_count()) as pool:
        truth = list(pool.map(_write_one, jobs, chunksize=4))
    manifest_table(truth).to_csv(tmp / "manifest.csv", index=False)
    pd.DataFrame(truth).to_csv(tmp / "truth.csv", index=False)
    tmp.rename(out)
    return out / "manifest.csv"


def manifest_table(truth: list[dict]):
    """The cohort's manifest: every scan, and each slice stack's conventions (colour map,
    display, order, spacing, the viewer's window) in the per-scan columns that override
    `slices`; blank for DICOM and NIfTI."""
    import pandas as pd

    from spectstage.inputs import SLICE_COLUMNS

    table = pd.DataFrame(
        {
            "patient_id": [t["patient_id"] for t in truth],
            "stage": [t["stage"] for t in truth],
            "path": [f"stage_{t['stage']}/{t['patient_id']}" for t in truth],
            "scan_id": [t["scan_id"] for t in truth],
        }
    )
    if any("slices_colormap" in t for t in truth):
        for column in SLICE_COLUMNS:
            table[column] = [t.get(f"slices_{column}", "") for t in truth]
    return table
