"""The realistic demo acquisition, against independent truth: scikit-image's radon/iradon for
the tomography, the generator's true pose for anatomy and registration, the files' own
headers for the grid. The DICOM and NIfTI file variants of a realistic cohort read back
exactly as the generator's volume in test_demo_variants.py (generate's default is realistic).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from spectstage.demo import acquisition, head, phantom, tomography
from spectstage.demo.acquisition import CLEAN, MULTI_SITE, Realism
from spectstage.demo.cohort import DemoPatient, acquire, generate
from spectstage.demo.patients import sample_patient
from spectstage.geometry import apply

SEED = 23  # fresh: not the demo's (0), the tiny cohort's (7) or the benchmarks' (3)


def test_projector_and_fbp_are_skimage_radon_and_iradon():
    from skimage.transform import iradon, radon

    n = 64
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[:n, :n] - n // 2
    image = rng.random((n, n)) * (rows**2 + cols**2 < (n // 2 - 2) ** 2)
    theta = tomography.angles_deg()
    ours = tomography.project(image[None])[:, :, 0]
    theirs = radon(image, theta, circle=True)
    np.testing.assert_allclose(ours, theirs, atol=1e-4 * theirs.max())
    sinogram = rng.random((n, len(theta)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = iradon(sinogram, theta, circle=True, filter_name="hann")
    got = tomography.reconstruct(sinogram[:, :, None], "hann")[0]
    inner = rows**2 + cols**2 < (n // 2 - 1) ** 2  # iradon reads one padded bin at the rim
    np.testing.assert_allclose(got[inner], want[inner], atol=1e-5 * np.abs(want).max())
    assert not got[rows**2 + cols**2 > (n // 2) ** 2].any()  # the reconstruction circle


@pytest.fixture(scope="module", params=["128", "64"])
def realistic(request):
    """One stage-2 patient acquired on each grid: (item, volume, affine, acquisition row)."""
    rng = np.random.default_rng([SEED, 1])
    patient = sample_patient(rng, "P0001", "2", 1, 4)
    item = DemoPatient(patient, "nifti", (SEED, 1, 0), realism=Realism(grid=request.param))
    volume, affine, _, info = acquire(item)
    return item, volume, affine, info


def voxel_of(affine: np.ndarray, item: DemoPatient, mni_mm) -> tuple[int, ...]:
    """The voxel that holds an MNI point of the patient, by the generator's true pose."""
    scanner = apply(item.patient.pose.matrix(), np.asarray([mni_mm], float))
    return tuple(int(v) for v in np.rint(apply(np.linalg.inv(affine), scanner)[0]))


def test_realistic_grid_counts_and_reconstruction_circle(realistic):
    item, volume, affine, info = realistic
    n = info["matrix"]
    assert volume.shape == (n, n, info["n_slices"])
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    want = [info["pixel_mm"], info["pixel_mm"], info["slice_mm"]]
    np.testing.assert_allclose(spacing, want, atol=1e-3)  # truth.csv rounds to 4 decimals
    assert (2.0 <= spacing[0] <= 2.4) if n == 128 else (3.9 <= spacing[0] <= 4.5)
    assert (volume >= 0).all() and (volume == np.rint(volume)).all()  # stored integer counts
    caudate = voxel_of(affine, item, phantom.landmarks()["caudate_right"])
    peak = volume[tuple(slice(c - 2, c + 3) for c in caudate)].max()
    assert 15 <= peak <= 150  # a few tens of counts at the striatum, as the GE file (0-74)
    i, j = np.mgrid[:n, :n] - n // 2
    assert not volume[i**2 + j**2 > (n // 2) ** 2].any()  # outside the circle: zero
    # Streaks: FBP of noisy projections leaves counts in the air around the head.
    corner_of_circle = (i**2 + j**2 < (n // 2 - 2) ** 2) & (np.abs(i) > 0.6 * n // 2)
    air = volume[corner_of_circle & (np.abs(j) > 0.6 * n // 2)]
    assert 0.02 < (air > 0).mean() < 0.9


def test_extracerebral_uptake_and_the_neck_are_in_the_field(realistic):
    item, volume, affine, info = realistic
    (x, y, z), _ = head.PAROTID
    parotid = voxel_of(affine, item, (x, y, z))
    white_matter = voxel_of(affine, item, (0.0, -40.0, 30.0))

    def mean_at(v):
        return volume[tuple(slice(c - 1, c + 2) for c in v)].mean()

    assert mean_at(parotid) > 0.5 * info["grey_counts"] * info["uptake_parotid"]
    assert mean_at(parotid) > mean_at(white_matter) * 0.8
    lowest_mni = apply(np.linalg.inv(item.patient.pose.matrix()), apply(affine, np.zeros((1, 3))))
    assert lowest_mni[0, 2] < -60  # the slab reaches below the skull base into the neck


def test_realism_switches_and_truth_columns(tmp_path):
    assert CLEAN.label == "clean" and Realism().label == "reconstruction+extracerebral+screenshots"
    # demo-data's switches: every effect on unless named, several sites included
    assert Realism.without(["extracerebral"]).label == "reconstruction+screenshots+sites"
    assert Realism.without([]) == MULTI_SITE and not Realism().sites
    with pytest.raises(ValueError, match="unknown realism effect"):
        Realism.without(["noise"])
    out = generate(tmp_path / "c", "nifti", [1], seed=SEED, workers=1, realism=CLEAN).parent
    truth = pd.read_csv(out / "truth.csv")
    assert set(truth["realism"]) == {"clean"} and "matrix" not in truth
    clean = acquire(
        DemoPatient(
            sample_patient(np.random.default_rng(1), "P", "1", 0, 4),
            "nifti",
            (1, 0, 0),
            realism=CLEAN,
        )
    )
    assert clean[0].shape == (64, 64, 64)  # the old native grid, unchanged


def test_registration_finds_the_true_pose_on_realistic_volumes(realistic, tmp_path):
    """The pipeline's registration on a realistic reconstruction, against the true pose:
    the striatal landmarks land within a few mm (benchmarks/alignment.py at size)."""
    from spectstage.config import validate
    from spectstage.demo import writers
    from spectstage.ingest import ingest_scan
    from spectstage.inputs import ScanInput
    from spectstage.template import load

    item, volume, affine, _ = realistic
    path = tmp_path / "P0001.nii.gz"
    writers.write_nifti(volume, affine, path, "LPS", "sform")
    cfg = validate({"raw_dir": str(tmp_path)})
    _, sidecar = ingest_scan(ScanInput("P0001", "P0001", "2", path), cfg, load(cfg["ingest"]))
    estimated = np.asarray(sidecar["registration"]["template_to_scan_matrix"], float)
    points = np.array(list(phantom.landmarks().values()))
    error = apply(estimated, points) - apply(item.patient.pose.matrix(), points)
    assert np.linalg.norm(error, axis=1).mean() < 4.0
    assert not sidecar["qc"]["flag_registration"]


def test_acquisition_row_is_what_the_affine_says():
    acq = acquisition.sample_acquisition(np.random.default_rng(5), "128")
    corner = acq.affine() @ [0, 0, 0, 1]
    assert corner[0] == pytest.approx(-acq.pixel_mm * 63.5)
    centre = acq.affine() @ [0, 0, (acq.n_slices - 1) / 2, 1]
    assert centre[2] == pytest.approx(acq.fov_centre_z_mm)
