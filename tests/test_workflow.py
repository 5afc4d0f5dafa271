"""The Snakemake workflow on the tiny cohort: one shared run, then cheap dry-runs."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch

from conftest import BIN, REPO, TINY_BATCHES, run, snakemake, tiny_config
from spectstage import template
from spectstage.provenance import preprocessing_hash

pytestmark = pytest.mark.workflow


def test_every_scan_gives_a_canonical_volume_sidecar_and_cohort_row(workflow_run, tiny_cohort):
    truth = pd.read_csv(tiny_cohort / "truth.csv", dtype={"stage": str})
    cohort = pd.read_csv(workflow_run / "results" / "cohort.csv", dtype={"stage": str})
    assert sorted(cohort["scan_id"]) == sorted(truth["scan_id"])
    stages = cohort.set_index("scan_id")["stage"]
    assert stages.to_dict() == truth.set_index("scan_id")["stage"].to_dict()
    tmpl = template.load()
    for scan_id in cohort["scan_id"]:
        img = nib.load(workflow_run / "results" / "volumes" / f"{scan_id}.nii.gz")
        assert img.get_data_dtype() == np.float32
        assert "".join(nib.aff2axcodes(img.affine)) == "RAS"
        np.testing.assert_allclose(img.affine, tmpl.affine)
        sidecar = json.loads((workflow_run / "results" / "volumes" / f"{scan_id}.json").read_text())
        assert {"format", "inputs", "original", "registration", "reference", "qc"} <= set(sidecar)
        assert all(len(i["sha256"]) == 64 for i in sidecar["inputs"])
        # Reference-normalised: the reference region averages 1 where the scan covers it
        # (a realistic slab may miss its edge: those voxels are 0).
        data = img.get_fdata()
        if not sidecar["reference"]["fallback"]:
            occipital = data[tmpl.mask("occipital")]
            coverage = sidecar["qc"]["reference_coverage"]
            assert abs(occipital.mean() / coverage - 1) < 1e-3
            assert abs(occipital[occipital != 0].mean() - 1) < 1e-3
    # Slice stacks cannot cover the occipital cortex: they use the flagged fallback.
    fmt = cohort.set_index("scan_id")["format"]
    assert cohort.set_index("scan_id").loc[fmt == "slices", "flag_reference_fallback"].all()


def test_second_run_does_nothing(workflow_run, tiny_cohort):
    dry = snakemake(workflow_run, "-n", *tiny_config(Path("raw"), workflow_run))
    assert "Nothing to be done" in dry.stdout + dry.stderr


def test_adding_a_patient_reruns_one_ingest_batch(workflow_run, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(workflow_run, work, symlinks=True)
    stage_2 = work / "raw" / "stage_2"
    shutil.copytree(next(stage_2.iterdir()), stage_2 / "NEW01")
    dry = snakemake(work, "-n", "--quiet", "rules", *tiny_config(Path("raw"), work))
    out = dry.stdout + dry.stderr
    assert len(set(re.findall(r"ingest_batch_\d+", out))) == 1, out
    assert set(re.findall(r"check_batch_(\d+)", out)) == set(re.findall(r"ingest_batch_(\d+)", out))
    assert "cohort_table" in out


def test_training_receives_the_ingest_settings_its_preprocessing_hash_records(
    workflow_run, tmp_path
):
    # A dry run prints the commands; a changed ingest setting must reach `spectstage train`.
    ingest = {"batches": TINY_BATCHES, "reference_min_coverage": 0.8}
    dry = snakemake(
        workflow_run, "-n", "--printshellcmds", *tiny_config(Path("raw"), tmp_path, ingest=ingest)
    )
    train_commands = re.findall(r"spectstage train .*", dry.stdout)
    assert train_commands and all('"reference_min_coverage": 0.8' in c for c in train_commands)


def test_lint_and_format_are_clean(tiny_cohort, tmp_path):
    lint = snakemake(REPO, "--lint", *tiny_config(tiny_cohort, tmp_path), check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    # As in a fresh clone: no input folder, no config beyond the shipped one.
    for spelling in ("--lint", "--lint=json"):  # every spelling is told apart from a run
        bare = snakemake(tmp_path, spelling, check=False)
        assert bare.returncode == 0 and "no folder" not in bare.stderr, bare.stderr
        if spelling == "--lint":  # the text report (json lists the same findings)
            assert "good condition" in bare.stdout + bare.stderr
    run([str(BIN / "snakefmt"), "--check", "Snakefile", "rules"], REPO)


def test_unknown_config_key_stops_the_workflow_at_start(tiny_cohort, tmp_path):
    bad = snakemake(
        tmp_path, "-n", "--config", f"raw_dir={tiny_cohort}", "ingset={batches: 2}", check=False
    )
    assert bad.returncode != 0
    assert "ingset" in bad.stdout + bad.stderr


def test_out_of_fold_predictions_are_complete_and_consistent(workflow_run):
    results = workflow_run / "results"
    cohort = pd.read_csv(results / "cohort.csv", dtype={"stage": str})
    folds = pd.read_csv(results / "folds.csv", dtype={"stage": str})
    oof = pd.read_csv(results / "oof_predictions.csv", dtype={"stage": str, "predicted_stage": str})
    assert sorted(oof["scan_id"]) == sorted(cohort["scan_id"])  # every scan exactly once
    probs = oof[[f"p_{s}" for s in "1234"]]
    assert ((probs.sum(axis=1) - 1).abs() < 1e-6).all()
    assert (oof["predicted_stage"] == probs.idxmax(axis=1).str[2:]).all()
    test = folds[folds["split"] == "test"]
    assert (test.groupby("patient_id")["fold"].nunique() == 1).all()
    for _, part in folds.groupby("fold"):
        assert (part.groupby("patient_id")["split"].nunique() == 1).all()
    tested_in = test.set_index("scan_id")["fold"]
    assert (oof.set_index("scan_id")["fold"] == tested_in.loc[oof["scan_id"]]).all()
    metrics = json.loads((results / "metrics.json").read_text())
    assert set(metrics) == {"cnn", "sbr_baseline", "oracle", "comparison"}
    pooled = metrics["cnn"]["pooled"]
    assert pooled["n_scans"] == len(cohort) and set(metrics["cnn"]["per_fold"]) == {"0", "1"}
    assert 0 <= pooled["balanced_accuracy"] <= 1 and -1 <= pooled["quadratic_weighted_kappa"] <= 1

    # Nothing run-specific in the metrics: that belongs in provenance.json beside them.
    def keys(obj):
        return (
            set(obj) | {k for v in obj.values() if isinstance(v, dict) for k in keys(v)}
            if isinstance(obj, dict)
            else set()
        )

    assert not {k for k in keys(metrics) if any(w in k for w in ("time", "date", "commit", "host"))}
    provenance = json.loads((results / "provenance.json").read_text())
    assert provenance["config"]["augment"]["copies"] == 1  # the run's config, not defaults
    assert provenance["packages"]["torch"].startswith("2.13")
    model = torch.load(results / "models/fold_0/model.pt", weights_only=True)
    assert model["meta"]["preprocessing_hash"] == preprocessing_hash(provenance["config"])
    assert (results / "plots" / "confusion_matrix.png").stat().st_size > 1000


def test_sbr_baseline_is_scored_on_the_cnns_folds(workflow_run):
    results = workflow_run / "results"
    folds = pd.read_csv(results / "folds.csv", dtype={"stage": str})
    oof = pd.read_csv(results / "oof_predictions.csv").set_index("scan_id").sort_index()
    sbr = pd.read_csv(results / "sbr_baseline_predictions.csv").set_index("scan_id").sort_index()
    assert (sbr.index == oof.index).all() and (sbr["fold"] == oof["fold"]).all()
    tested_in = folds[folds["split"] == "test"].set_index("scan_id")["fold"]
    assert (sbr["fold"] == tested_in.loc[sbr.index]).all()
    metrics = json.loads((results / "metrics.json").read_text())
    for fold, part in metrics["cnn"]["per_fold"].items():
        assert metrics["sbr_baseline"]["per_fold"][fold]["n_scans"] == part["n_scans"]
    diff = metrics["comparison"]["cnn_minus_sbr_baseline"]["balanced_accuracy"]
    cnn, base = metrics["cnn"]["pooled"], metrics["sbr_baseline"]["pooled"]
    assert diff["difference"] == pytest.approx(cnn["balanced_accuracy"] - base["balanced_accuracy"])
    cohort = pd.read_csv(results / "cohort.csv")
    assert {"sbr_putamen_left", "caudate_putamen_ratio_right", "putamen_asymmetry"} <= set(cohort)
