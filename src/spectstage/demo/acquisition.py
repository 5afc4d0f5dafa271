"""A scanner's acquisition and reconstruction of a demo patient (the realistic default).

Per patient: an axial grid as clinical reconstructions have it (128 x 128 at ~2 mm with
~4.4 mm slices, or 64 x 64 at ~4 mm), the activity (brain, scalp, salivary glands, nasal
mucosa, neck) blurred by the collimator, projected at 120 angles over 360 degrees, Poisson
counts at a clinical count level, and filtered back projection: the streaks, the
reconstruction circle and the low counts (a few tens per voxel at the striatum) of real
files. `Realism` switches each effect; with all off the demo is the old clean rendering
(Poisson noise on the blurred phantom on a 64^3 grid), which exact tests use.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar

import numpy as np
from scipy import ndimage

from spectstage.demo import head, phantom, tomography
from spectstage.demo.patients import Patient
from spectstage.geometry import apply, grid_points

EFFECTS = ("reconstruction", "extracerebral", "screenshots", "sites")
GRIDS = ("mixed", "128", "64")
SHARE_128 = 0.7  # most DaTSCAN reconstructions are 128 x 128 today
COLLIMATOR_FWHM_MM = (7.5, 9.5)  # a LEHR collimator at ~15 cm; FBP's window adds more
# Window cut-offs in cycles/cm as clinical protocols give them (Butterworth ~0.5-0.7, order
# 10); a Hann window attenuates earlier, so it is used with a higher cut-off.
FILTER_CUTOFF_CYCLES_CM = {"butterworth": (0.5, 0.7), "hann": (0.8, 1.1)}
TOTAL_COUNTS = (0.8e6, 2.5e6)  # counts in all projections of the slab
GREY_COUNTS = (12.0, 22.0)  # reconstructed counts per voxel of grey matter (GE file: 0-74)
AXIAL_SPAN_MM = (160.0, 200.0)  # the reconstructed slab: vertex to upper neck
FOV_CENTRE_Z_MM = (-12.0, 8.0)  # slab centre in scanner z: the skull base and neck inside
FINE_MM = 2.2  # render at about this spacing, blur, then average: partial volume


@dataclass(frozen=True)
class Realism:
    """Which acquisition effects the demo simulates (all on by default)."""

    reconstruction: bool = True  # projections, Poisson counts, FBP on a clinical grid
    extracerebral: bool = True  # scalp, salivary glands, nasal mucosa, neck
    screenshots: bool = True  # slice stacks as viewer screenshots (window, text, JPEG...)
    # Slice stacks from several sites, each with its own colour map, display and order
    # (given per scan in the manifest). Off in the Python default, whose one-site stacks
    # read from a raw_dir with one `slices` config (the tests' cohorts); `demo-data` turns
    # it on (MULTI_SITE).
    sites: bool = False
    grid: str = "mixed"  # acquisition matrix: "128", "64" or "mixed" (per patient)
    EFFECTS: ClassVar[tuple[str, ...]] = EFFECTS

    def __post_init__(self) -> None:
        if self.grid not in GRIDS:
            raise ValueError(f"grid {self.grid!r}: choose one of {GRIDS}")

    @classmethod
    def without(cls, effects: list[str], grid: str = "mixed") -> Realism:
        unknown = sorted(set(effects) - set(EFFECTS))
        if unknown:
            raise ValueError(f"unknown realism effect(s) {unknown}: choose from {EFFECTS}")
        return cls(**{e: e not in effects for e in EFFECTS}, grid=grid)

    @property
    def label(self) -> str:
        on = [e for e in EFFECTS if getattr(self, e)]
        return "+".join(on) if on else "clean"


REALISTIC = Realism()  # one site: the default of `generate`
MULTI_SITE = Realism(sites=True)  # the default of `spectstage demo-data`
CLEAN = Realism(reconstruction=False, extracerebral=False, screenshots=False)


@dataclass(frozen=True)
class Acquisition:
    """One patient's acquisition and reconstruction parameters (recorded in truth.csv)."""

    matrix: int
    pixel_mm: float
    slice_mm: float
    n_slices: int
    fov_centre_z_mm: float
    collimator_fwhm_mm: float
    total_counts: float
    grey_counts: float
    recon_filter: str
    filter_cutoff_cycles_cm: float

    @property
    def cutoff_nyquist(self) -> float:
        """The window's cut-off as a fraction of the grid's Nyquist frequency."""
        return self.filter_cutoff_cycles_cm / (10.0 / (2 * self.pixel_mm))

    def affine(self) -> np.ndarray:
        """RAS grid: in-plane centred on the scanner axis, the slab centred at fov_centre_z."""
        aff = np.diag([self.pixel_mm, self.pixel_mm, self.slice_mm, 1.0])
        aff[:2, 3] = -self.pixel_mm * (self.matrix - 1) / 2
        aff[2, 3] = self.fov_centre_z_mm - self.slice_mm * (self.n_slices - 1) / 2
        return aff

    def row(self) -> dict:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


def sample_acquisition(rng: np.random.Generator, grid: str = "mixed") -> Acquisition:
    matrix = {"128": 128, "64": 64}.get(grid) or (128 if rng.uniform() < SHARE_128 else 64)
    if matrix == 128:
        pixel, slice_mm = float(rng.uniform(1.9, 2.4)), float(rng.uniform(4.0, 4.6))
    else:
        pixel = float(rng.uniform(3.9, 4.5))
        slice_mm = pixel
    recon_filter = str(rng.choice(tomography.FILTERS))
    return Acquisition(
        matrix=matrix,
        pixel_mm=pixel,
        slice_mm=slice_mm,
        n_slices=round(rng.uniform(*AXIAL_SPAN_MM) / slice_mm),
        fov_centre_z_mm=float(rng.uniform(*FOV_CENTRE_Z_MM)),
        collimator_fwhm_mm=float(rng.uniform(*COLLIMATOR_FWHM_MM)),
        total_counts=float(rng.uniform(*TOTAL_COUNTS)),
        grey_counts=float(rng.uniform(*GREY_COUNTS)),
        recon_filter=recon_filter,
        filter_cutoff_cycles_cm=float(rng.uniform(*FILTER_CUTOFF_CYCLES_CM[recon_filter])),
    )


def activity(patient: Patient, acq: Acquisition, levels: head.Extracerebral | None) -> np.ndarray:
    """Collimator-blurred activity averaged into the acquisition voxels (x, y, z)."""
    aff = acq.affine()
    factor = np.maximum(1, np.rint(np.array([acq.pixel_mm, acq.pixel_mm, acq.slice_mm]) / FINE_MM))
    factor = factor.astype(int)
    fine = aff.copy()
    fine[:3, :3] = aff[:3, :3] / factor  # sub-voxel centres: offset by half a coarse voxel
    fine[:3, 3] = aff[:3, 3] - np.diag(aff[:3, :3]) * (factor - 1) / (2 * factor)
    shape = tuple(int(n) for n in np.array([acq.matrix, acq.matrix, acq.n_slices]) * factor)
    template_pts = apply(np.linalg.inv(patient.pose.matrix()), grid_points(shape, fine))
    if levels is None:
        act = phantom.evaluate(template_pts, patient.uptake)
    else:
        act = head.evaluate(template_pts, patient.uptake, levels)
    act = act.reshape(shape)
    sigma = acq.collimator_fwhm_mm / 2.3548 / np.diag(fine[:3, :3])
    act = ndimage.gaussian_filter(act, sigma, mode="constant")
    fx, fy, fz = factor
    n, nz = acq.matrix, acq.n_slices
    return act.reshape(n, fx, n, fy, nz, fz).mean(axis=(1, 3, 5))


def reconstruct(
    patient: Patient,
    acq: Acquisition,
    levels: head.Extracerebral | None,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Reconstructed counts (float32 integers, RAS index order) and the affine."""
    act = activity(patient, acq, levels)
    images = act.transpose(2, 0, 1)  # axial slices: the scanner's tomographic planes
    expected = tomography.project(images)
    scale = acq.total_counts / max(float(expected.sum()), 1e-9)
    counts = rng.poisson(np.maximum(expected, 0) * scale)
    recon = tomography.reconstruct(counts, acq.recon_filter, acq.cutoff_nyquist)
    recon = recon / scale * acq.grey_counts
    # Vendors store non-negative integer counts (the GE file: int16, 0-74).
    volume = np.rint(np.clip(recon, 0, None)).astype(np.float32).transpose(1, 2, 0)
    return np.ascontiguousarray(volume), acq.affine()
