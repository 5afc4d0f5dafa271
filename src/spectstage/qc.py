"""Quality control: a montage per scan and flags a human should look at.

The montage (nilearn.plotting) shows a coronal and an axial slice through the striata of
the canonical volume with the template's striatal outlines, orientation letters and the
scan ID (the pseudonym when pseudonymisation is on). Radiological convention: patient
right on the image's left. A misregistration or a swapped side is visible at a glance.

Misregistration measure (`striatal_hotspot_share`): of the brightest voxels of the head,
as many as the striatal regions hold, the share that falls inside the striatal regions
dilated by HOTSPOT_DILATE_MM. A registered DaTSCAN has its hot spots on the striata
even when the putamen is nearly gone (the caudate still is the hottest structure).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

from spectstage.atomic import atomic_path
from spectstage.template import STRIATAL_REGIONS, Template

# Flags (not errors): thresholds with their reasons.
MIN_CORRELATION = 0.80  # with the template after registration; the demo reaches ~0.9
MIN_HOTSPOT_SHARE = 0.5  # hot spots mostly off the striata: misregistered (or no striatum)
HOTSPOT_DILATE_MM = 6.0  # tolerance: partial volume blurs hot spots beyond the regions
HOTSPOT_SMOOTH_MM = 3.0  # rank smoothed values: single noisy voxels are not hot spots
MAX_SCALE_CHANGE = 0.2  # |scale - 1| beyond which a head size is implausible
MAX_OFFSET_MM = 60.0  # the head centre this far from the scanner's: off-centre acquisition
MIN_STRIATAL_SBR = 0.2  # below this in every striatal region the striatum was not found
MAX_STRIATAL_SBR = 8.0  # above this the intensities are not DaTSCAN-like
MIN_REFERENCE_COUNTS = 5.0  # mean counts per voxel in the reference: too noisy below
FIGURE_INCHES = (6.0, 2.9)
DPI = 80
TITLE_STRIP = 0.13  # top share of the figure holding the scan ID, above the panels, so that
# it cannot cover nilearn's orientation letters (it hid the coronal panel's "R")


def hotspot_share(volume: np.ndarray, tmpl: Template) -> float:
    striatum = tmpl.striatum()
    voxel = tmpl.grid.voxel_mm
    smooth = ndimage.gaussian_filter(volume, HOTSPOT_SMOOTH_MM / voxel)
    values = smooth[tmpl.head()]
    near = ndimage.binary_dilation(striatum, iterations=max(1, round(HOTSPOT_DILATE_MM / voxel)))[
        tmpl.head()
    ]
    n = int(striatum.sum())
    hottest = np.argpartition(values, -n)[-n:]
    return float(near[hottest].mean())


def flags(reg, ref, sbr: dict[str, float], fmt: str, hotspots: float) -> dict[str, bool]:
    offset = float(np.linalg.norm(reg.matrix[:3, 3]))
    scale = float(abs(np.linalg.det(reg.matrix[:3, :3])) ** (1 / 3))
    # A region a short stack does not reach has no SBR (NaN): judge the measured ones.
    values = np.array([v for v in sbr.values() if np.isfinite(v)], dtype=float)
    return {
        "flag_registration": reg.correlation < MIN_CORRELATION
        or abs(scale - 1) > MAX_SCALE_CHANGE
        or hotspots < MIN_HOTSPOT_SHARE,
        "flag_off_centre": offset > MAX_OFFSET_MM,
        "flag_reference_fallback": ref.fallback,
        "flag_striatum_not_found": bool(values.size == 0 or values.max() < MIN_STRIATAL_SBR),
        "flag_implausible_intensity": bool(
            values.size > 0 and (values.max() > MAX_STRIATAL_SBR or values.min() < -1.0)
        ),
        # Slice images carry relative intensities only: counts are unknown there.
        "flag_low_counts": fmt != "slices" and ref.mean < MIN_REFERENCE_COUNTS,
    }


def write_montage(volume: np.ndarray, tmpl: Template, scan_id: str, path: Path) -> None:
    """PNG: coronal | axial through the striata, region outlines in cyan."""
    import gc

    # nilearn runs gc.collect() for every image it reads (3 per montage); over a process
    # holding many objects that costs ~1 s. Frozen objects are skipped: same result, fast.
    gc.freeze()
    try:
        _draw_montage(volume, tmpl, scan_id, path)
    finally:
        gc.unfreeze()


class Montages:
    """QC montages drawn in a second process, as a context manager: `spectstage predict`
    starts it first, so that importing the plotting libraries (nilearn pulls in
    scikit-learn: ~4 s, most of staging one patient) runs beside torch's import, the
    models and the ingest on the other core. Leaving the block waits for every montage and
    raises the first error (a process that died raises BrokenProcessPool, never hangs);
    leaving it on an error stops the process at once."""

    def __init__(self) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # spawn, not fork: the parent holds torch's thread pools, which fork can deadlock.
        context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(1, mp_context=context, initializer=_import_plotting)
        self._jobs: list = []

    def draw(self, volume: np.ndarray, tmpl: Template, scan_id: str, path: Path) -> None:
        self._jobs.append(self._pool.submit(write_montage, volume, tmpl, scan_id, path))

    def finish(self) -> None:
        """Wait for every montage; raise the first error. Leaving the block does it too."""
        try:
            for job in self._jobs:
                job.result()
        finally:
            self._jobs = []
            self._pool.shutdown(wait=True)

    def __enter__(self) -> Montages:
        return self

    def __exit__(self, error_type, *_) -> None:
        if error_type is None:
            self.finish()
            return
        # Do not wait for the plotting imports to finish: stop the process (the executor
        # has no public call for it before Python 3.14; shutdown forgets its processes).
        processes = list((getattr(self._pool, "_processes", None) or {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()


def _import_plotting() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the parent reports, not the child
    from nilearn import plotting  # noqa: F401


def striatal_view(volume: np.ndarray, tmpl: Template, title: str, cmap: str, inches):
    """(figure, nilearn display): the canonical volume's coronal and axial slice through
    the striata, radiological (patient right on the image's left), with orientation letters
    and slice coordinates; the scale tops at the striata's 99th percentile; the title in a
    strip above the panels. The QC montage and the saliency overlay draw on it. No pyplot:
    no global state."""
    import nibabel as nib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from nilearn import plotting

    striatum = tmpl.striatum()
    centre = tmpl.affine @ [*ndimage.center_of_mass(striatum), 1.0]
    fig = Figure(figsize=inches, facecolor="black")
    FigureCanvasAgg(fig)
    display = plotting.plot_img(
        nib.Nifti1Image(volume.astype(np.float32), tmpl.affine),
        display_mode="yz",
        cut_coords=(float(centre[1]), float(centre[2])),
        cmap=cmap,
        vmin=0.0,
        vmax=max(float(np.percentile(volume[striatum], 99)), 2.0),
        radiological=True,
        annotate=True,
        draw_cross=False,
        colorbar=False,
        black_bg=True,
        figure=fig,
        axes=(0.0, 0.0, 1.0, 1.0 - TITLE_STRIP),
    )
    fig.text(0.01, 0.99, title, color="white", size=11, ha="left", va="top")
    return fig, display


def _draw_montage(volume: np.ndarray, tmpl: Template, scan_id: str, path: Path) -> None:
    fig, display = striatal_view(volume, tmpl, scan_id, "hot", FIGURE_INCHES)
    outlines, levels = _outlines(tmpl)
    display.add_contours(outlines, levels=levels, colors="cyan", linewidths=0.6)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, facecolor="black")


_OUTLINES: dict[int, tuple[Template, object, list[float]]] = {}


def _outlines(tmpl: Template):
    """(label image of the striatal regions, contour levels between them), once per template."""
    cached = _OUTLINES.get(id(tmpl))
    if cached is None or cached[0] is not tmpl:
        import nibabel as nib

        outlines = np.zeros(tmpl.atlas.shape, dtype=np.int16)
        for label, name in tmpl.labels.items():
            if name in STRIATAL_REGIONS:
                outlines[tmpl.atlas == label] = label
        levels = [v - 0.5 for v in sorted(np.unique(outlines)) if v]
        _OUTLINES.clear()
        cached = _OUTLINES[id(tmpl)] = (tmpl, nib.Nifti1Image(outlines, tmpl.affine), levels)
    return cached[1], cached[2]
