"""Synthetic DaTSCAN patients: stage-dependent striatal loss, pose, scanner blur and noise.

Disease model (why it looks like this): dopaminergic loss starts in the posterior
putamen of one side, then reaches the anterior putamen, the caudate and the other
side as the stage rises. Severity varies between patients of one stage, and healthy
binding varies with age, so neighbouring stages overlap as they do clinically.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from spectstage.demo import head, phantom
from spectstage.geometry import Pose, apply, grid_points

FWHM_MM = 10.0  # reconstructed resolution of a clinical SPECT system
MATRIX = 64  # native in-plane and axial matrix
VOXEL_MM = (3.3, 4.4)  # native isotropic voxel size range
SUPERSAMPLE = 2  # render finer than native, blur, then average: models partial volume

# Mean fraction of specific binding lost in the worse posterior putamen, first to last stage.
SEVERITY_RANGE = (0.30, 0.80)
SEVERITY_SD = 0.085
HEALTHY_SBR = (3.0, 0.35)  # caudate: mean, sd across patients (age, individual variation)
# Healthy putamen relative to caudate: clinical normal databases have caudate ~3.0 and
# putamen ~2.5, with a rostro-caudal gradient (posterior putamen lowest).
HEALTHY_RATIO = {"caudate": 1.0, "putamen_anterior": 0.9, "putamen_posterior": 0.8}
JITTER_SD = 0.04  # per-region individual variation


@dataclass(frozen=True)
class Patient:
    patient_id: str
    stage: str
    stage_index: int
    severity: float
    worse_side: str
    uptake: phantom.Uptake
    pose: Pose
    voxel_mm: float
    counts_per_unit: float  # expected counts per native voxel of grey matter


def sample_patient(
    rng: np.random.Generator, patient_id: str, stage: str, stage_index: int, n_stages: int
) -> Patient:
    lo, hi = SEVERITY_RANGE
    mean = lo + (hi - lo) * stage_index / max(n_stages - 1, 1)
    severity = float(np.clip(rng.normal(mean, SEVERITY_SD), 0.0, 0.97))
    worse = str(rng.choice(["left", "right"]))
    other = "left" if worse == "right" else "right"
    # The other side follows, more so in later disease.
    spread = float(np.clip(0.2 + 0.6 * severity + rng.normal(0, 0.12), 0.0, 1.0))
    healthy = max(rng.normal(*HEALTHY_SBR), 1.5)
    loss = {
        "putamen_posterior": severity,
        "putamen_anterior": 0.75 * severity,
        "caudate": 0.45 * severity,
    }
    sbr = {}
    for region, frac in loss.items():
        for side, factor in ((worse, 1.0), (other, spread)):
            jitter = rng.normal(1.0, JITTER_SD)
            level = healthy * HEALTHY_RATIO[region] * (1 - frac * factor) * jitter
            sbr[f"{region}_{side}"] = float(max(level, 0.05))
    pose = Pose(
        rotation_deg=tuple(float(a) for a in np.clip(rng.normal(0, 4.0, 3), -10, 10)),
        translation_mm=tuple(float(t) for t in rng.uniform(-12, 12, 3)),
        scale=float(rng.uniform(0.92, 1.08)),
    )
    return Patient(
        patient_id=patient_id,
        stage=stage,
        stage_index=stage_index,
        severity=severity,
        worse_side=worse,
        uptake=phantom.Uptake(sbr={r: sbr[r] for r in phantom.STRIATAL_REGIONS}),
        pose=pose,
        voxel_mm=float(rng.uniform(*VOXEL_MM)),
        counts_per_unit=float(rng.uniform(20.0, 45.0)),
    )


def native_affine(voxel_mm: float, matrix: int = MATRIX) -> np.ndarray:
    """Axis-aligned RAS grid centred on the scanner's origin."""
    aff = np.diag([voxel_mm, voxel_mm, voxel_mm, 1.0])
    aff[:3, 3] = -voxel_mm * (matrix - 1) / 2
    return aff


def render(
    patient: Patient, rng: np.random.Generator, levels: head.Extracerebral | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Clean counts on the native grid: (float32 array in RAS index order, affine): Poisson
    noise on the blurred phantom (with the extracerebral uptake of `levels` if given)."""
    aff = native_affine(patient.voxel_mm)
    fine = aff.copy()
    fine[:3, :3] /= SUPERSAMPLE
    fine[:3, 3] -= patient.voxel_mm * (SUPERSAMPLE - 1) / (2 * SUPERSAMPLE)
    shape = (MATRIX * SUPERSAMPLE,) * 3
    world = grid_points(shape, fine)
    template_pts = apply(np.linalg.inv(patient.pose.matrix()), world)
    if levels is None:
        act = phantom.evaluate(template_pts, patient.uptake).reshape(shape)
    else:
        act = head.evaluate(template_pts, patient.uptake, levels).reshape(shape)
    sigma = FWHM_MM / 2.3548 / (patient.voxel_mm / SUPERSAMPLE)
    act = ndimage.gaussian_filter(act, sigma, mode="constant")
    s = SUPERSAMPLE
    act = act.reshape(MATRIX, s, MATRIX, s, MATRIX, s).mean(axis=(1, 3, 5))
    counts = rng.poisson(np.maximum(act, 0) * patient.counts_per_unit).astype(np.float32)
    return counts, aff
