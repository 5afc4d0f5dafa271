"""How much each fallback reference's calibration depends on what the template assumes.

The fallback mean is put on the occipital scale by the template's ratio of the two regions
(spectstage.sbr.reference). That ratio is only as good as the template's uptake model: white
matter relative to grey, the scalp's uptake, the resolution. This re-renders the built-in
template's anatomy under other plausible values (white matter 0.5-0.9 of grey matter, scalp
0.15-0.45, 8-14 mm FWHM) and prints, per fallback region, its ratio to the occipital over the
slices a demo slice stack covers (MNI y -58...62 mm): the smaller the range, the less the
fallback's SBR scale depends on those assumptions being right for a patient.

Usage: python benchmarks/reference_sensitivity.py
Writes benchmarks/results/reference_sensitivity.json. Never asserts.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import pandas as pd
from report import report

from spectstage import atlas, template

FALLBACKS = ("cortex", "nonstriatal_brain")
WHITE_MATTER = (0.5, 0.7, 0.9)
SCALP = (0.15, 0.3, 0.45)
FWHM_MM = (8.0, 10.0, 14.0)
STACK_Y_MM = (-58.0, 62.0)  # a 30 x 4 mm stack centred on the striata (demo/cohort.py)


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
