"""Per-scan slice conventions from manifest columns, and unknown manifest columns.

A mixed cohort (hot and grey, radiological and neurological stacks) is written by the demo
writers; every scan must read back with the patient's right on the right, as the
generator's truth says, although the `slices` config describes only one of the sites.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import rule_settings, run
from marked_volume import MARKER_COUNTS, marker_ras, truth_volume
from spectstage import inputs
from spectstage.config import load, validate
from spectstage.demo import writers
from spectstage.errors import InputError
from spectstage.inputs import discover
from spectstage.io import load_scan
from spectstage.io.slices import SliceConventions

STACK_SHAPE = (12, 40, 40)
SITES = {  # one site's conventions each; the config below describes only SITE_A
    "A": SliceConventions("anterior_to_posterior", "patient_right", 1.0, 3.0, "hot"),
    "B": SliceConventions("posterior_to_anterior", "patient_left", 1.0, 3.0, "gray"),
    "C": SliceConventions("anterior_to_posterior", "patient_left", 1.2, 3.0, "hot"),
    "D": SliceConventions("posterior_to_anterior", "patient_right", 1.0, 3.5, "gray"),
}
CONFIG_SLICES = asdict(SITES["A"])


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> Path:
    """Four slice stacks of the marked truth volume, one per site, and their manifest."""
    root = tmp_path_factory.mktemp("mixed")
    volume, affine = truth_volume()
    rows = []
    for site, conv in SITES.items():
        stack, _ = writers.sample_stack(volume, affine, conv, STACK_SHAPE, (0.0, 0.0, 0.0))
        folder = root / f"site_{site}"
        folder.mkdir()
        writers.write_slices(stack, folder, conv)
        own = {k: v for k, v in asdict(conv).items() if v != CONFIG_SLICES[k]}
        rows.append({"patient_id": f"S{site}", "stage": "1", "path": folder.name, **own})
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)  # blank where as config
    return root


def config(manifest: Path) -> dict:
    return validate({"manifest": str(manifest), "slices": CONFIG_SLICES})


def read_marker(scan) -> np.ndarray:
    data = scan.data / scan.data.max() * MARKER_COUNTS  # colours give relative intensity
    return marker_ras(np.where(data > 0.6 * MARKER_COUNTS, MARKER_COUNTS, 0), scan.affine)


def test_mixed_cohort_reads_with_each_scans_conventions(mixed):
    cfg = config(mixed / "manifest.csv")
    want = marker_ras(*truth_volume())
    for scan_input in discover(cfg):
        conv = scan_input.conventions(cfg["slices"])
        assert conv == SITES[scan_input.scan_id[1]]
        got = read_marker(load_scan(scan_input.path, conv, scan_input.format))
        # Right, anterior, superior as in truth; within a voxel of the true position.
        assert (np.sign(got) == np.sign(want)).all(), (scan_input.scan_id, got, want)
        np.testing.assert_allclose(got, want, atol=3.5)


def test_without_the_columns_the_other_sites_come_out_mirrored(mixed):
    """What happened before: conventions dropped, the neurological stacks flip left-right."""
    cfg = config(mixed / "manifest.csv")
    want_x = marker_ras(*truth_volume())[0]
    for scan_input in discover(cfg):
        conv = SliceConventions.from_config(cfg["slices"])
        conv = replace(conv, colormap=SITES[scan_input.scan_id[1]].colormap)
        got_x = read_marker(load_scan(scan_input.path, conv))[0]
        mirrored = SITES[scan_input.scan_id[1]].image_left != conv.image_left
        assert (np.sign(got_x) != np.sign(want_x)) == mirrored


def test_ingest_reads_each_scan_with_its_own_conventions(mixed, monkeypatch):
    from spectstage import ingest

    seen = {}

    def fake_load(path, conventions, fmt=None):
        seen[Path(path).name] = conventions
        raise InputError("stop after reading")

    monkeypatch.setattr(ingest, "load_scan", fake_load)
    # The settings ingest gets from its rule: a strict view of the keys it declares.
    manifest = str(mixed / "manifest.csv")
    cfg = load(settings=rule_settings("ingest", manifest=manifest, slices=CONFIG_SLICES))
    for scan_input in discover(cfg):
        with pytest.raises(InputError, match="stop after reading"):
            ingest.ingest_scan(scan_input, cfg, tmpl=None)
    assert seen == {f"site_{k}": v for k, v in SITES.items()}


def test_check_counts_scans_with_their_own_conventions(mixed, tmp_path):
    settings = rule_settings("check", manifest=str(mixed / "manifest.csv"), slices=CONFIG_SLICES)
    proc = run([sys.executable, "-m", "spectstage", "check", "--settings", settings], tmp_path)
    assert "format slices: 4" in proc.stdout
    assert "with their own slice conventions (manifest columns): 3" in proc.stdout


def test_overrides_are_a_rule_parameter(mixed):
    text = inputs.slice_overrides_text(discover(config(mixed / "manifest.csv")))
    assert json.loads(text)["SB"] == {
        "colormap": "gray",
        "image_left": "patient_left",
        "order": "posterior_to_anterior",
    }


def write_manifest(mixed: Path, tmp_path: Path, **columns) -> Path:
    table = pd.read_csv(mixed / "manifest.csv", dtype=str, keep_default_na=False)
    for column, value in columns.items():
        table[column] = [value, *[""] * (len(table) - 1)]
    table["path"] = [str(mixed / p) for p in table["path"]]
    manifest = mixed / f"manifest-{tmp_path.name}.csv"
    table.to_csv(manifest, index=False)
    return manifest


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("image_left", "left", "column image_left: 'left' is not one of"),
        ("order", "top_down", "column order: 'top_down' is not one of"),
        ("pixel_mm", "two", "column pixel_mm: 'two' is not a number"),
        ("slice_mm", "0", "column slice_mm: 0.0 is less than or equal to the minimum of 0"),
        ("colormap", "rainbowish", "column colormap: 'rainbowish' is not a matplotlib colour"),
        ("format", "dcm", "column format: 'dcm' is not one of"),
        ("window_low", "5", "column window_low: 5.0 is greater than or equal to the maximum"),
        ("window_high", "-1", "column window_high: -1.0 is less than or equal to the minimum"),
    ],
)
def test_bad_cell_is_refused_naming_line_and_column(mixed, tmp_path, column, value, message):
    manifest = write_manifest(mixed, tmp_path, **{column: value})
    with pytest.raises(InputError, match=message) as err:
        discover(config(manifest))
    assert f"{manifest} line 2 column {column}" in str(err.value)


def test_unknown_column_is_refused_naming_it(mixed, tmp_path):
    """A misspelt or foreign column must not be dropped silently (issue 19)."""
    manifest = write_manifest(mixed, tmp_path, imageleft="patient_left", site="B")
    with pytest.raises(InputError, match=r"unknown column\(s\) \['imageleft', 'site'\]"):
        discover(config(manifest))


def test_check_refuses_an_unknown_column_with_exit_code_2(mixed, tmp_path):
    manifest = write_manifest(mixed, tmp_path, image_lft="patient_left")
    settings = rule_settings("check", manifest=str(manifest), slices=CONFIG_SLICES)
    args = [sys.executable, "-m", "spectstage", "check", "--settings", settings]
    proc = run(args, tmp_path, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "unknown column(s) ['image_lft']" in proc.stderr


def test_a_window_column_is_the_scans_declared_window(mixed, tmp_path):
    """A site's viewer window (here a 5 % lower threshold) in the manifest: that scan's
    colours read as values from 0.05 to 1 of the maximum; the others keep the config's."""
    manifest = write_manifest(mixed, tmp_path, window_low="0.05")
    cfg = config(manifest)
    scans = discover(cfg)
    windows = [(s.conventions(cfg["slices"]).window_low) for s in scans]
    assert windows == [0.05, 0.0, 0.0, 0.0]
    first = scans[0]
    declared = load_scan(first.path, first.conventions(cfg["slices"])).data
    plain = load_scan(first.path, SITES["A"]).data
    shown = plain > 1.5 / 255  # above the bottom colour: 0.05 + 0.95 x the colour position
    exact = np.isclose(declared[shown], 0.05 + 0.95 * plain[shown], atol=1e-6)
    assert exact.mean() > 0.7  # the rest: text and bar pixels, refilled from neighbours


def test_a_window_low_above_its_high_is_refused_naming_the_scan(mixed, tmp_path):
    manifest = write_manifest(mixed, tmp_path, window_low="0.5", window_high="0.4")
    cfg = config(manifest)
    first = discover(cfg)[0]
    with pytest.raises(InputError, match=r"window_low 0\.5 must be >= 0 and below") as err:
        first.conventions(cfg["slices"])
    assert str(first.path) in str(err.value)


def test_check_refuses_a_manifest_window_low_above_its_high_before_ingest(mixed, tmp_path):
    """The pre-flight check reads each stack's own conventions, so a bad pair of cells stops
    the workflow before any ingest job, naming the scan."""
    manifest = write_manifest(mixed, tmp_path, window_low="0.5", window_high="0.4")
    settings = rule_settings("check", manifest=str(manifest), slices=CONFIG_SLICES)
    args = [sys.executable, "-m", "spectstage", "check", "--settings", settings]
    proc = run(args, tmp_path, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    first = discover(config(manifest))[0]
    assert f"{first.path}: slices window: window_low 0.5 must be >= 0 and below" in proc.stderr


def test_predicts_preflight_refuses_the_same_window_naming_the_scan(mixed, tmp_path):
    from spectstage.predict import preflight

    manifest = write_manifest(mixed, tmp_path, window_low="0.5", window_high="0.4")
    cfg = config(manifest)
    first = discover(cfg)[0]
    with pytest.raises(InputError, match=r"window_low 0\.5 must be >= 0 and below") as err:
        preflight([first], cfg["slices"])
    assert str(first.path) in str(err.value)
