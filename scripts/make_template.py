"""Rebuild the shipped template and atlas (src/spectstage/data/) from the analytic phantom.

Run after changing spectstage.demo.phantom or spectstage.template; tests fail until you do.
"""

from importlib import resources

import nibabel as nib
import numpy as np

from spectstage import template


def main() -> None:
    built = template.build()
    out = resources.files("spectstage") / "data"
    nib.save(nib.Nifti1Image(built.image, built.affine), str(out / template.TEMPLATE_FILE))
    atlas = nib.Nifti1Image(built.atlas.astype(np.int16), built.affine)
    nib.save(atlas, str(out / template.ATLAS_FILE))
    print(f"wrote {out / template.TEMPLATE_FILE} and {out / template.ATLAS_FILE}")


if __name__ == "__main__":
    main()
