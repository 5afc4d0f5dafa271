"""The template and regions: built from installed anatomy, reproducibly, where anatomy says,
and a user template is taken or refused with a clear error."""

from __future__ import annotations

import hashlib

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from conftest import modules_loaded
from spectstage import template
from spectstage.errors import InputError
from spectstage.geometry import CANONICAL, apply

# Published MNI152 centroids (mm) of the striatal structures (Harvard-Oxford / Mai atlas
# ranges), independent of this code; tolerance covers atlas-to-atlas differences.
PUBLISHED_MNI = {"caudate": (13, 12, 10), "putamen": (25, 2, 0)}
TOLERANCE_MM = 6.0


def _checksum(tmpl: template.Template) -> str:
    h = hashlib.sha256()
    for array in (tmpl.image, tmpl.atlas, tmpl.affine):
        h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()


def test_build_is_reproducible():
    """The cached build (first use) and a fresh build agree bit for bit."""
    assert _checksum(template.load()) == _checksum(template.build())


def test_grid_is_mni_ras_2mm_with_the_midline_between_voxels():
    tmpl = template.load()
    assert tmpl.grid.voxel_mm == 2.0 and tmpl.image.shape == CANONICAL.shape
    assert nib.aff2axcodes(tmpl.affine) == ("R", "A", "S")
    x = apply(tmpl.affine, np.array([[0.0, 0, 0], [tmpl.image.shape[0] - 1.0, 0, 0]]))[:, 0]
    assert x[0] == -x[1]  # a left-right flip of the array mirrors about x = 0


def _centre(tmpl, name):
    return apply(tmpl.affine, np.argwhere(tmpl.mask(name)).astype(float)).mean(axis=0)


def test_regions_sit_where_anatomy_says():
    tmpl = template.load()
    for side, sign in (("left", -1), ("right", 1)):
        caudate = _centre(tmpl, f"caudate_{side}")
        putamen = (
            _centre(tmpl, f"putamen_anterior_{side}") + _centre(tmpl, f"putamen_posterior_{side}")
        ) / 2
        for found, part in ((caudate, "caudate"), (putamen, "putamen")):
            expected = np.array(PUBLISHED_MNI[part]) * [sign, 1, 1]
            assert np.linalg.norm(found - expected) < TOLERANCE_MM, (side, part, found)
        assert (
            _centre(tmpl, f"putamen_posterior_{side}")[1]
            < 0
            <= _centre(tmpl, f"putamen_anterior_{side}")[1]
        )
    assert _centre(tmpl, "occipital")[1] < -60
    striatum = tmpl.image[tmpl.striatum()].mean()
    assert striatum > 1.5 * tmpl.image[tmpl.mask("occipital")].mean()
    assert not (tmpl.mask("nonstriatal_brain") & tmpl.striatum()).any()
    # Real anatomy, not ellipsoids: 3-5 cm3 per caudate, 4-8 cm3 per putamen.
    for side in ("left", "right"):
        caudate = tmpl.mask(f"caudate_{side}").sum() * 8e-3
        putamen = (
            tmpl.mask(f"putamen_anterior_{side}") | tmpl.mask(f"putamen_posterior_{side}")
        ).sum() * 8e-3
        assert 3 <= caudate <= 5 and 4 <= putamen <= 8, (caudate, putamen)


def test_pipeline_never_imports_the_demo():
    code = (
        "import spectstage.ingest, spectstage.template, spectstage.sbr, spectstage.crop\n"
        "import spectstage.train, spectstage.evaluate\n"
    )
    assert modules_loaded(code, ("spectstage.demo",)) == []


def _user_files(tmp_path, tmpl):
    """The built-in template and atlas written as a user's files: LAS orientation, the
    user's own label numbers (x10) and a label table with one region the pipeline ignores."""
    flip = np.diag([-1.0, 1, 1, 1])
    flip[0, 3] = tmpl.image.shape[0] - 1
    las = tmpl.affine @ flip
    relabelled = np.zeros_like(tmpl.atlas)
    for k in tmpl.labels:
        relabelled[tmpl.atlas == k] = 10 * k
    paths = {k: tmp_path / f"{k}.nii.gz" for k in ("template", "atlas")}
    nib.save(nib.Nifti1Image(tmpl.image[::-1], las), paths["template"])
    nib.save(nib.Nifti1Image(relabelled[::-1], las), paths["atlas"])
    table = tmp_path / "labels.csv"
    labels = [10 * k for k in tmpl.labels] + [999]
    pd.DataFrame({"label": labels, "name": [*tmpl.labels.values(), "x"]}).to_csv(table, index=False)
    return {
        "template": str(paths["template"]),
        "atlas": str(paths["atlas"]),
        "atlas_labels": str(table),
        "reference_region": "occipital",
        "reference_fallback": "cortex",
    }


def test_user_template_in_mni_space_is_used(tmp_path):
    builtin = template.load()
    settings = _user_files(tmp_path, builtin)
    user = template.load(settings)
    np.testing.assert_allclose(user.image, builtin.image, atol=1e-5)
    # The user atlas is read for the regions ingest needs (the others may be absent).
    for name in [*template.STRIATAL_REGIONS, "occipital", settings["reference_fallback"]]:
        np.testing.assert_array_equal(user.mask(name), builtin.mask(name))
    assert template.identity(settings) != template.identity({})


def test_user_atlas_with_sides_swapped_is_refused(tmp_path):
    builtin = template.load()
    settings = _user_files(tmp_path, builtin)
    # Label table naming left as right and right as left.
    table = pd.read_csv(settings["atlas_labels"])
    table["name"] = table["name"].str.replace("left", "TMP").str.replace("right", "left")
    table["name"] = table["name"].str.replace("TMP", "right")
    table.to_csv(settings["atlas_labels"], index=False)
    with pytest.raises(InputError, match="not near MNI"):
        template.load(settings)


def test_user_template_errors_name_the_problem(tmp_path):
    builtin = template.load()
    settings = _user_files(tmp_path, builtin)
    table = pd.read_csv(settings["atlas_labels"])
    table[table.name != "caudate_left"].to_csv(settings["atlas_labels"], index=False)
    with pytest.raises(InputError, match="does not name caudate_left"):
        template.load(settings)
    with pytest.raises(InputError, match=r"ingest\.atlas_labels"):
        template.load({**settings, "atlas_labels": ""})
    four_d = tmp_path / "4d.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 4, 2), np.float32), np.eye(4)), four_d)
    _user_files(tmp_path, builtin)  # restore the label table
    with pytest.raises(InputError, match="must be a 3D image"):
        template.load({**settings, "template": str(four_d)})
