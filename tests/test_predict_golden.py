"""The golden volume: guards `model_card.PREPROCESSING_VERSION`.

One fixed generated scan goes through ingest; its canonical volume must match the checksum
and summary stored here. A refactor that leaves the volumes alone passes and keeps every
trained model valid; a change that alters them fails here: then raise
PREPROCESSING_VERSION (trained models are refused until retrained) and renew GOLDEN from
the values this test prints. The input is checked first, so a change of the demo generator
is not mistaken for one of preprocessing.
"""

from __future__ import annotations

import hashlib

import numpy as np

from spectstage import config, model_card
from spectstage.demo.cohort import plan, write_patient
from spectstage.inputs import ScanInput
from spectstage.io.slices import SliceConventions

#: PREPROCESSING_VERSION the stored values belong to.
GOLDEN_VERSION = 1
#: sha256 of the generated NIfTI's array and affine (the input, not the output).
INPUT_SHA256 = "3bf9987530ea2edd1cd2566700922e7dfb3a29caf08413209e8dbc3bd0feae52"
#: The canonical volume: sha256 of its float32 values rounded to 1e-4, and a summary.
GOLDEN = {
    "sha256": "9ebaeb8ca52a6e3cbc0a4cda6fdcac9bf1c19a58a3d1ac2e9228a79f1db3934b",
    "mean": 0.30113,
    "sd": 0.4415,
    "max": 4.1931,
    "nonzero": 487132,
}


def _digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def test_the_golden_scan_gives_the_stored_canonical_volume(tmp_path):
    import nibabel as nib

    from spectstage.ingest import ingest_scan
    from spectstage.template import load

    item = plan([1], ["1"], "nifti", seed=20260)[0]
    write_patient(item, tmp_path / "P", SliceConventions())
    nifti = next((tmp_path / "P").glob("*.nii.gz"))
    img = nib.load(nifti)
    input_sha = _digest(np.asarray(img.dataobj, dtype=np.float32), img.affine)
    assert input_sha == INPUT_SHA256, f"the demo generator changed the golden input: {input_sha}"

    cfg = config.validate({})
    scan = ScanInput("G", "G", "1", nifti)
    volume, _ = ingest_scan(scan, cfg, load(cfg["ingest"]))
    rounded = np.round(volume.astype(np.float64), 4).astype(np.float32)
    found = {
        "sha256": _digest(rounded),
        "mean": round(float(volume.mean()), 5),
        "sd": round(float(volume.std()), 5),
        "max": round(float(volume.max()), 4),
        "nonzero": int(np.count_nonzero(volume)),
    }
    assert model_card.PREPROCESSING_VERSION == GOLDEN_VERSION, (
        "PREPROCESSING_VERSION was raised: renew GOLDEN and GOLDEN_VERSION with " + repr(found)
    )
    assert found == GOLDEN, (
        "the canonical volume changed: raise model_card.PREPROCESSING_VERSION and renew GOLDEN "
        f"with {found!r}"
    )
