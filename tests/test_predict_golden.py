"""The golden volume: guards `model_card.PREPROCESSING_VERSION`.

One fixed generated scan goes through ingest; its canonical volume must match the summary
stored here (intensity, extent, and the centre of mass and side means, which catch shifts
and left-right flips) to within what another numpy/scipy/SimpleITK release may move (1e-4).
A refactor that leaves the volumes alone passes and keeps every trained model valid; a
change that alters them fails here: then raise PREPROCESSING_VERSION (trained models are
refused until retrained) and renew GOLDEN from the values this test prints. The input is
checked first, so a change of the demo generator is not mistaken for one of preprocessing.
"""

from __future__ import annotations

import hashlib

import numpy as np

from spectstage import config, model_card
from spectstage.demo.acquisition import CLEAN
from spectstage.demo.cohort import plan, write_patient
from spectstage.inputs import ScanInput
from spectstage.io.slices import SliceConventions

#: PREPROCESSING_VERSION the stored values belong to.
GOLDEN_VERSION = 3
#: sha256 of the generated NIfTI's array and affine (the input, not the output).
INPUT_SHA256 = "f86fe4204682b63365a02199538968af72f13ee1acb65cf54b1d866a960525e4"
#: The canonical volume's summary.
GOLDEN = {  # renewed for the demo's folded cortex (the old input still gives the old values)
    "mean": 0.350327,
    "sd": 0.492791,
    "max": 5.22002,
    "nonzero": 513311,
    "centre_x": 44.5410,
    "centre_y": 53.0501,
    "centre_z": 38.7246,
    "mean_right_half": 0.350632,  # RAS: the lower x indices are the patient's right
    "mean_left_half": 0.350021,
}
TOLERANCE = 1e-4  # relative


def _digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def summary(volume: np.ndarray) -> dict[str, float]:
    from scipy import ndimage

    centre = ndimage.center_of_mass(volume)
    half = volume.shape[0] // 2
    return {
        "mean": float(volume.mean()),
        "sd": float(volume.std()),
        "max": float(volume.max()),
        "nonzero": int(np.count_nonzero(volume)),
        **{f"centre_{axis}": float(c) for axis, c in zip("xyz", centre, strict=True)},
        "mean_right_half": float(volume[:half].mean()),
        "mean_left_half": float(volume[half:].mean()),
    }


def test_the_golden_scan_gives_the_stored_canonical_volume(tmp_path):
    import nibabel as nib

    from spectstage.ingest import ingest_scan
    from spectstage.template import load

    # The clean variant: no reconstruction step whose rounding could differ between builds.
    item = plan([1], ["1"], "nifti", seed=20260, realism=CLEAN)[0]
    write_patient(item, tmp_path / "P", SliceConventions())
    nifti = next((tmp_path / "P").glob("*.nii.gz"))
    img = nib.load(nifti)
    input_sha = _digest(np.asarray(img.dataobj, dtype=np.float32), img.affine)
    assert input_sha == INPUT_SHA256, f"the demo generator changed the golden input: {input_sha}"

    cfg = config.validate({})
    scan = ScanInput("G", "G", "1", nifti)
    volume, _ = ingest_scan(scan, cfg, load(cfg["ingest"]))
    found = summary(volume)
    assert model_card.PREPROCESSING_VERSION == GOLDEN_VERSION, (
        "PREPROCESSING_VERSION was raised: renew GOLDEN and GOLDEN_VERSION with " + repr(found)
    )
    assert set(found) == set(GOLDEN)
    changed = {k: v for k, v in found.items() if abs(v - GOLDEN[k]) > TOLERANCE * abs(GOLDEN[k])}
    assert not changed, (
        "the canonical volume changed: raise model_card.PREPROCESSING_VERSION and renew GOLDEN "
        f"with {found!r}"
    )
