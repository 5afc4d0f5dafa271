"""`spectstage predict` with the shared workflow run's fold models, on unseen demo patients.

Truth: the demo generator's stages (truth.csv), the training's own test predictions for
the ensemble, scikit-learn for the metrics. The training cohort is not given to predict.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import balanced_accuracy_score, cohen_kappa_score

from conftest import BIN, run

LABELS = ["1", "2", "3", "4"]


@pytest.fixture(scope="module")
def unseen(tmp_path_factory) -> Path:
    """Four new demo patients (PNG stack, DICOM multi-frame and series, NIfTI), another
    seed and ID prefix than the training cohort."""
    from spectstage.demo.cohort import generate

    out = tmp_path_factory.mktemp("unseen") / "raw"
    generate(out, "mixed", [1, 1, 1, 1], seed=101, workers=1, id_prefix="N")
    return out


@pytest.fixture(scope="module")
def models(workflow_run, tmp_path_factory) -> Path:
    """A copy of the trained models alone: predict must not need the training cohort."""
    copy = tmp_path_factory.mktemp("models") / "models"
    shutil.copytree(workflow_run / "results" / "models", copy)
    return copy


def predict(args: list, cwd: Path, check: bool = True):
    return run([str(BIN / "spectstage"), "predict", *map(str, args)], cwd, check=check)


def test_labelled_folder_of_every_format_gives_predictions_and_metrics(unseen, models, tmp_path):
    proc = predict([unseen, "--models", models, "--out", "out/pred.csv"], tmp_path)
    table = pd.read_csv(tmp_path / "out" / "pred.csv", dtype={"stage": str, "predicted_stage": str})
    truth = pd.read_csv(unseen / "truth.csv", dtype={"stage": str}).set_index("scan_id")
    assert sorted(table["scan_id"]) == sorted(truth.index)
    assert set(truth["layout"]) == {"png", "dicom_multiframe", "dicom_series", "nifti"}
    assert (table["stage"] == truth.loc[table["scan_id"], "stage"].to_numpy()).all()
    p = table[[f"p_{k}" for k in LABELS]].to_numpy()
    assert np.allclose(p.sum(1), 1, atol=1e-5)
    assert (table["predicted_stage"] == np.asarray(LABELS)[p.argmax(1)]).all()
    assert ((table["predictive_entropy"] >= 0) & (table["predictive_entropy"] <= 1)).all()
    votes = table["fold_stages"].str.split(",")
    assert (votes.map(len) == 2).all()  # the tiny run has 2 folds
    pairs = zip(votes, table["predicted_stage"], strict=True)
    disagree = [np.mean([v != pred for v in vs]) for vs, pred in pairs]
    assert np.allclose(table["fold_disagreement"], disagree)
    # their own volumes and QC montages, beside the CSV
    assert len(list((tmp_path / "out" / "pred" / "volumes").glob("N*.nii.gz"))) == 4
    assert len(list((tmp_path / "out" / "pred" / "qc").glob("N*.png"))) == 4
    metrics = json.loads((tmp_path / "out" / "pred" / "metrics.json").read_text())
    y, pred = table["stage"], table["predicted_stage"]
    assert metrics["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    qwk = cohen_kappa_score(y, pred, labels=LABELS, weights="quadratic")
    assert metrics["quadratic_weighted_kappa"] == pytest.approx(qwk, nan_ok=True)
    cm = metrics["confusion_matrix"]["rows_true_cols_predicted"]
    assert np.asarray(cm).sum() == 4 and "ci95" in metrics
    assert "balanced accuracy" in proc.stdout and "N0001" in proc.stdout


def test_unlabelled_inputs_scan_file_patient_folder_and_folder_of_patients(
    unseen, models, workflow_run, tmp_path
):
    """A NIfTI file, a PNG patient folder and a folder of patients holding a DICOM patient
    and a training patient: the latter is named as a duplicate, and its volume and the
    fold probabilities equal the training's."""
    truth = pd.read_csv(unseen / "truth.csv").set_index("layout")
    nifti = next((unseen / f"stage_{truth.loc['nifti', 'stage']}").glob("N*/*.nii.gz"))
    png = unseen / f"stage_{truth.loc['png', 'stage']}" / truth.loc["png", "patient_id"]
    dicom = unseen / f"stage_{truth.loc['dicom_series', 'stage']}"
    dicom /= truth.loc["dicom_series", "patient_id"]
    folder = tmp_path / "patients"
    folder.mkdir()
    shutil.copytree(dicom, folder / dicom.name)
    trained = pd.read_csv(workflow_run / "results" / "folds.csv", dtype=str)
    known = trained[(trained["split"] == "test") & (trained["fold"] == "1")].iloc[0]
    shutil.copytree(
        workflow_run / "raw" / f"stage_{known['stage']}" / known["scan_id"],
        folder / f"copy_of_{known['scan_id']}",
    )
    predict([nifti, png, folder, "--models", models, "--out", "p.csv"], tmp_path)
    table = pd.read_csv(tmp_path / "p.csv", keep_default_na=False).set_index("scan_id")
    expected = {nifti.name.removesuffix(".nii.gz"), png.name, dicom.name}
    assert set(table.index) == expected | {f"copy_of_{known['scan_id']}"}
    assert (table["stage"] == "").all() and not (tmp_path / "p" / "metrics.json").exists()
    assert table.loc[f"copy_of_{known['scan_id']}", "duplicate_of_training_scan"] != ""
    assert (table.loc[sorted(expected), "duplicate_of_training_scan"] == "").all()

    import nibabel as nib

    from spectstage.predict import fold_probabilities
    from spectstage.predict_models import load_ensemble

    ours = nib.load(tmp_path / "p" / "volumes" / f"copy_of_{known['scan_id']}.nii.gz")
    theirs = nib.load(workflow_run / "results" / "volumes" / f"{known['scan_id']}.nii.gz")
    assert np.array_equal(np.asarray(ours.dataobj), np.asarray(theirs.dataobj))
    # fold 1 tested this patient: the same crop through predict gives its test prediction
    from spectstage.crop import Crop

    ensemble = load_ensemble(models)
    crop = Crop.from_config(ensemble.card["crop"])
    x = crop(np.asarray(theirs.dataobj, dtype=np.float32))[None, None]
    per_fold = fold_probabilities(ensemble, x)
    test = pd.read_csv(models / "fold_1" / "test_predictions.csv", dtype={"scan_id": str})
    row = test.set_index("scan_id").loc[known["scan_id"], [f"p_{k}" for k in LABELS]]
    assert np.allclose(per_fold[1, 0], row.to_numpy(dtype=float), atol=1e-6)
    mean = table.loc[f"copy_of_{known['scan_id']}", [f"p_{k}" for k in LABELS]]
    assert np.allclose(mean.to_numpy(dtype=float), per_fold.mean(0)[0], atol=1e-5)


def _altered(models: Path, tmp_path: Path, fold: int, **changes) -> Path:
    from spectstage import torchfiles

    copy = tmp_path / "altered"
    shutil.copytree(models, copy)
    path = copy / f"fold_{fold}" / "model.pt"
    model = torchfiles.load(path)
    for key, value in changes.items():
        if value is None:
            del model["meta"][key]
        else:
            model["meta"][key] = value
    torchfiles.save(model, path)
    return copy


@pytest.mark.parametrize(
    ("fold", "changes", "named"),
    [
        (1, {"labels": ["1", "2", "3", "5"]}, "'labels'"),
        (1, {"folds_sha256": "0" * 64}, "'folds_sha256'"),  # another training run
        (0, {"preprocessing_version": 0}, "'preprocessing_version'"),
        (0, {"crop": {"centre_mm": [0, 0, 0], "size_mm": [80, 64, 48], "voxel_mm": 4}}, "'crop'"),
        (1, {"template_checksum": None}, "'template_checksum'"),  # an older model
    ],
)
def test_mismatched_models_are_refused_naming_the_key(models, tmp_path, fold, changes, named):
    from spectstage.errors import InputError
    from spectstage.predict_models import check_installation, load_ensemble
    from spectstage.template import load

    altered = _altered(models, tmp_path, fold, **changes)
    with pytest.raises(InputError, match=named):
        ensemble = load_ensemble(altered)
        check_installation(ensemble, load(ensemble.card["ingest"]), altered)


def test_refusals_reach_the_command_line_before_any_ingest(unseen, models, tmp_path):
    altered = _altered(models, tmp_path, 0, preprocessing_version=0)
    proc = predict([unseen, "--models", altered, "--out", "p.csv"], tmp_path, check=False)
    assert proc.returncode == 2 and "'preprocessing_version'" in proc.stderr
    (altered / "fold_1" / "model.pt").unlink()
    shutil.rmtree(altered / "fold_0")
    shutil.copytree(models / "fold_0", altered / "fold_0")
    proc = predict([unseen, "--models", altered, "--out", "p.csv"], tmp_path, check=False)
    assert proc.returncode == 2 and "folds [1] are missing" in proc.stderr
    config = tmp_path / "other.yaml"
    config.write_text("stages: [1, 2, 3]\n")
    proc = predict([unseen, "--models", models, "--config", config], tmp_path, check=False)
    assert proc.returncode == 2 and "'labels'" in proc.stderr
    assert not (tmp_path / "p.csv").exists() and not (tmp_path / "p").exists()


def test_workflow_target_predicts_the_configured_folder(workflow_run, unseen, tmp_path):
    """predict_dir set: `snakemake` adds results/predict/ and re-runs nothing else."""
    from conftest import snakemake, tiny_config

    work = tmp_path / "work"
    shutil.copytree(workflow_run, work, symlinks=True)
    patient = next((unseen / "stage_1").iterdir())
    shutil.copytree(patient, work / "new" / patient.name)
    args = tiny_config(Path("raw"), work, predict_dir="new")
    dry = snakemake(work, "-n", "--quiet", "rules", *args)
    assert "predict" in dry.stdout and "train_fold" not in dry.stdout, dry.stdout
    snakemake(work, "--cores", "2", *args)
    table = pd.read_csv(work / "results" / "predict" / "predictions.csv")
    assert table["scan_id"].tolist() == [patient.name]
    assert (work / "results" / "predict" / "volumes" / f"{patient.name}.nii.gz").exists()
    assert not (work / "results" / "volumes" / f"{patient.name}.nii.gz").exists()
