"""Redraw the README's demo figures (docs/*.png) from a fixed demo patient.

    python docs/make_figures.py

A realistic 128 x 128 NM DICOM volume as spectstage reads it, its QC montage after ingest,
and a viewer-screenshot slice stack of the same patient (hot, the window clipped at 0.92
of the maximum, bar on the left, white text).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from spectstage.config import validate
from spectstage.demo import screenshots, writers
from spectstage.demo.acquisition import Realism
from spectstage.demo.cohort import STACK_SHAPE, STRIATUM_CENTRE_MM, DemoPatient, make_volume
from spectstage.demo.patients import sample_patient
from spectstage.demo.screenshots import Screenshot
from spectstage.ingest import ingest_scan
from spectstage.inputs import ScanInput
from spectstage.io import load_scan
from spectstage.io.slices import SliceConventions
from spectstage.qc import write_montage
from spectstage.template import load

DOCS = Path(__file__).parent
SEED = (0, 1, 0)  # a stage-2 patient of the default demo's seed


def dicom_figure(scan, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import nibabel as nib

    # RAS: axial slices along z from inferior (neck) to superior, the patient's right on
    # the image's left (radiological) after the rotation
    canonical = nib.as_closest_canonical(nib.Nifti1Image(scan.data, scan.affine))
    data = canonical.get_fdata()
    n = data.shape[2]
    picks = [int(n * f) for f in (0.2, 0.37, 0.5, 0.63, 0.8)]
    fig, axes = plt.subplots(1, 6, figsize=(10.8, 2.1))
    for ax, k in zip(axes, picks, strict=False):
        ax.imshow(np.rot90(data[:, :, k]), cmap="gray")
        ax.set_title(f"axial {k + 1}/{n}", fontsize=7)
    zooms = canonical.header.get_zooms()
    coronal = np.rot90(data[:, data.shape[1] // 2, :])
    axes[-1].imshow(coronal, cmap="gray", aspect=zooms[2] / zooms[0])  # true mm
    axes[-1].set_title("coronal", fontsize=7)
    for ax in axes:
        ax.set_xticks([]), ax.set_yticks([])
    spacing = scan.voxel_mm
    fig.suptitle(
        f"demo NM DICOM as spectstage reads it: {'x'.join(map(str, data.shape))}, "
        f"{spacing[0]:.2f} mm pixels, {spacing[2]:.2f} mm slices, counts "
        f"{data.min():.0f}-{data.max():.0f}",
        fontsize=7,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    patient = sample_patient(np.random.default_rng(SEED[:2]), "P0002", "2", 1, 4)
    item = DemoPatient(patient, "dicom_multiframe", SEED, realism=Realism(grid="128"))
    volume, affine, rng = make_volume(item)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "dicom"
        folder.mkdir()
        writers.write_dicom_multiframe(volume, affine, folder / "NM00001", writers.fake_phi(rng, 2))
        dicom_figure(load_scan(folder, SliceConventions()), DOCS / "demo_realistic_dicom.png")
        cfg = validate({"raw_dir": tmp})
        tmpl = load(cfg["ingest"])
        canonical, _ = ingest_scan(ScanInput("P0002", "P0002", "2", folder), cfg, tmpl)
        write_montage(canonical, tmpl, "P0002", DOCS / "demo_realistic_dicom_qc.png")
        stack_folder = Path(tmp) / "stack"
        stack_folder.mkdir()
        conv = SliceConventions()
        centre_y = float((patient.pose.matrix() @ [*STRIATUM_CENTRE_MM, 1])[1])
        stack, _ = writers.sample_stack(volume, affine, conv, STACK_SHAPE, (0.0, centre_y, 0.0))
        shot = Screenshot(window_high=0.92, bar_side="left", white_text=True)
        screenshots.write_screenshots(stack, stack_folder, conv, shot)
        tiles = [np.asarray(Image.open(stack_folder / f"slice_{k}.png")) for k in range(7, 23, 3)]
        gap = np.zeros((tiles[0].shape[0], 4, 3), np.uint8) + 255
        row = np.concatenate([x for t in tiles for x in (t, gap)][:-1], axis=1)
        Image.fromarray(row).save(DOCS / "demo_realistic_slice_stack.png", optimize=True)


if __name__ == "__main__":
    main()
