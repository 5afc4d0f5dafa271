"""`spectstage predict` with the shared workflow run's fold models, on unseen demo patients.

Truth: the demo generator's stages (truth.csv), the training's own test predictions for
the ensemble, scikit-learn for the metrics. The training cohort is not given to predict.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import balanced_accuracy_score, cohen_kappa_score

from spectstage import cli

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


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


def predict(args: list, cwd: Path, capsys, check: bool = True) -> Done:
    """`spectstage predict ARGS` run in `cwd`, in this process (no new interpreter to
    start: the tests' time is scarce)."""
    here = os.getcwd()
    os.chdir(cwd)
    try:
        code = cli.main(["predict", *map(str, args)])
    finally:
        os.chdir(here)
    out = capsys.readouterr()
    assert code == 0 or not check, out.err
    return Done(code, out.out, out.err)


def test_labelled_folder_of_every_format_gives_predictions_and_metrics(
    unseen, models, tmp_path, capsys
):
    proc = predict([unseen, "--models", models, "--out", "out/pred.csv"], tmp_path, capsys)
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


def test_unlabelled_scan_file_and_patient_folder_and_a_training_duplicate(
    unseen, models, workflow_run, tmp_path, capsys
):
    """A NIfTI file and a patient folder holding a training patient: the latter is named
    as a duplicate, its volume is the training's and its fold probabilities are the
    training's test predictions."""
    nifti = next(unseen.glob("stage_*/N*/*.nii.gz"))
    trained = pd.read_csv(workflow_run / "results" / "folds.csv", dtype=str)
    known = trained[(trained["split"] == "test") & (trained["fold"] == "1")].iloc[0]
    copy = tmp_path / f"copy_of_{known['scan_id']}"
    shutil.copytree(workflow_run / "raw" / f"stage_{known['stage']}" / known["scan_id"], copy)
    predict([nifti, copy, "--models", models, "--out", "p.csv", "--saliency"], tmp_path, capsys)
    table = pd.read_csv(tmp_path / "p.csv", keep_default_na=False).set_index("scan_id")
    new_id = nifti.name.removesuffix(".nii.gz")
    assert set(table.index) == {new_id, copy.name}
    assert (table["stage"] == "").all() and not (tmp_path / "p" / "metrics.json").exists()
    assert table.loc[copy.name, "duplicate_of_training_scan"] == known["scan_id"]
    assert table.loc[new_id, "duplicate_of_training_scan"] == ""
    assert table["duplicate_checked"].all()

    import nibabel as nib

    from spectstage.crop import Crop
    from spectstage.predict import fold_probabilities
    from spectstage.predict_models import load_ensemble

    ours = nib.load(tmp_path / "p" / "volumes" / f"{copy.name}.nii.gz")
    theirs = nib.load(workflow_run / "results" / "volumes" / f"{known['scan_id']}.nii.gz")
    assert np.array_equal(np.asarray(ours.dataobj), np.asarray(theirs.dataobj))
    # fold 1 tested this patient: its crop through predict's ensemble gives the test prediction
    ensemble = load_ensemble(models)
    crop = Crop.from_config(ensemble.card["crop"])
    x = crop(np.asarray(theirs.dataobj, dtype=np.float32))[None, None]
    per_fold = fold_probabilities(ensemble, x)
    test = pd.read_csv(models / "fold_1" / "test_predictions.csv", dtype={"scan_id": str})
    row = test.set_index("scan_id").loc[known["scan_id"], [f"p_{k}" for k in LABELS]]
    assert np.allclose(per_fold[1, 0], row.to_numpy(dtype=float), atol=1e-6)
    mean = table.loc[copy.name, [f"p_{k}" for k in LABELS]]
    assert np.allclose(mean.to_numpy(dtype=float), per_fold.mean(0)[0], atol=1e-5)
    # saliency: on the canonical grid, inside the crop only, with its overlay
    saliency = nib.load(tmp_path / "p" / "saliency" / f"{copy.name}.nii.gz")
    assert np.allclose(saliency.affine, theirs.affine) and saliency.shape == theirs.shape
    values = np.asarray(saliency.dataobj)
    inside = np.zeros(values.shape, bool)
    inside[crop.canonical_box()] = True
    assert np.isfinite(values).all() and values.min() >= 0 and values[inside].max() > 0
    assert not values[~inside].any()
    assert (tmp_path / "p" / "saliency" / f"{new_id}.png").stat().st_size > 1000
    shares = pd.read_csv(tmp_path / "p" / "saliency.csv").set_index("scan_id")
    assert ((shares["striatal_mass_fraction"] > 0) & (shares["striatal_mass_fraction"] <= 1)).all()


def test_saliency_goes_back_to_the_patients_side():
    """A crop map with mass only on the crop's low-x half lands on the patient's left
    (RAS: x < 0 mm) of the canonical grid, in the striatal box."""
    from spectstage.crop import Crop
    from spectstage.geometry import CANONICAL
    from spectstage.saliency import to_canonical

    crop = Crop.from_config(config_crop())
    crop_map = np.zeros(crop.shape, np.float32)
    crop_map[: crop.shape[0] // 2] = 1.0
    full = to_canonical(crop_map, crop)
    x_mm = CANONICAL.points()[:, 0].reshape(CANONICAL.shape)
    assert full.sum() == crop_map.sum() * crop.factor**3
    assert (x_mm[full > 0] < 0).all()


def config_crop() -> dict:
    from spectstage import config

    return config.validate({})["train"]["crop"]


def test_input_forms_resolve_to_scans(tmp_path):
    """Scan file, patient folder, folder of patients, labelled raw_dir, manifest with an
    empty stage: the scans predict would read (no ingest here)."""
    from spectstage.errors import InputError
    from spectstage.predict_inputs import predict_inputs

    def touch(path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")

    for name in ("A1/IM0001", "B2/IM0001", "C3.nii.gz"):
        touch(tmp_path / "patients" / name)
    for i in range(3):
        touch(tmp_path / "D4" / f"s{i}.png")
    touch(tmp_path / "raw" / "stage_2" / "E5" / "IM1")
    touch(tmp_path / "H8.nii.gz")
    touch(tmp_path / "site" / "F6" / "IM1")
    touch(tmp_path / "site" / "G7" / "IM1")
    manifest = tmp_path / "site" / "m.csv"
    manifest.write_text("patient_id,stage,path\nF6,,F6\nG7,3,G7\n")
    inputs = ["patients", "D4", "H8.nii.gz", "raw", "site/m.csv"]
    found = predict_inputs([tmp_path / i for i in inputs], LABELS)
    assert [(s.scan_id, s.stage) for s in found] == [
        ("A1", ""),
        ("B2", ""),
        ("C3", ""),
        ("D4", ""),
        ("E5", "2"),
        ("F6", ""),
        ("G7", "3"),
        ("H8", ""),
    ]
    with pytest.raises(InputError, match="'A1' is listed twice"):
        predict_inputs([tmp_path / "patients", tmp_path / "patients" / "A1"], LABELS)
    with pytest.raises(InputError, match="no such file"):
        predict_inputs([tmp_path / "nothing"], LABELS)


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


def test_refusals_reach_the_command_line_before_any_ingest(unseen, models, tmp_path, capsys):
    altered = _altered(models, tmp_path, 0, preprocessing_version=0)
    proc = predict([unseen, "--models", altered, "--out", "p.csv"], tmp_path, capsys, False)
    assert proc.returncode == 2 and "'preprocessing_version'" in proc.stderr
    assert not (tmp_path / "p.csv").exists() and not (tmp_path / "p").exists()


def test_missing_folds_and_a_config_with_other_labels_are_refused(models, tmp_path):
    from spectstage import config
    from spectstage.errors import InputError
    from spectstage.predict_models import load_ensemble, preparation

    partial = tmp_path / "partial"
    shutil.copytree(models / "fold_0", partial / "fold_0")
    with pytest.raises(InputError, match=r"folds \[1\] are missing"):
        load_ensemble(partial)
    ensemble = load_ensemble(models)
    with pytest.raises(InputError, match="'labels'"):
        preparation(ensemble, config.validate({"stages": [1, 2, 3]}))
    crop = {"centre_mm": [0, 2, 6], "size_mm": [80, 64, 48], "voxel_mm": 2}
    with pytest.raises(InputError, match="'crop'"):
        preparation(ensemble, config.validate({"train": {"crop": crop}}))


def test_workflow_target_plans_predict_alone(workflow_run, unseen, tmp_path):
    """predict_dir set: the workflow adds the predict job (the command tested above) and
    re-runs nothing else. A dry run: executing it would only repeat the tests above."""
    from conftest import snakemake, tiny_config

    work = tmp_path / "work"
    shutil.copytree(workflow_run, work, symlinks=True)
    patient = next((unseen / "stage_1").iterdir())
    shutil.copytree(patient, work / "to_stage" / patient.name)
    args = tiny_config(Path("raw"), work, predict_dir="to_stage")
    dry = snakemake(work, "-n", "--printshellcmds", *args)
    out = dry.stdout + dry.stderr
    jobs = re.findall(r"^rule (\w+):", out, flags=re.M)
    assert sorted(jobs) == ["all", "predict"] or jobs == ["predict"], out
    command = re.search(r"spectstage predict .*", out).group(0)
    assert "results/predict/predictions.csv" in command and '"predict_dir": "to_stage"' in command


def test_models_trained_on_pseudonyms_pseudonymise_new_patients_by_default():
    from spectstage.predict_models import Ensemble, preparation

    card = {
        "labels": ["1", "2"],
        "slices": {},
        "ingest": {"batches": 4},
        "crop": {},
        "pseudonymise": True,
    }
    assert preparation(Ensemble(card, [], [], np.zeros((0, 1))), None)["pseudonymise"] is True
    older = {k: v for k, v in card.items() if k != "pseudonymise"}  # cards before the key
    assert preparation(Ensemble(older, [], [], np.zeros((0, 1))), None)["pseudonymise"] is False


def test_a_models_folder_shared_without_training_scans_predicts_but_checks_no_duplicates(
    unseen, models, tmp_path, capsys
):
    """model.pt holds no image of a training patient; their fingerprints sit beside it in
    training_scans.pt, and without that file predict still stages the patients."""
    from spectstage import torchfiles

    for fold_dir in models.glob("fold_*"):
        model = torchfiles.load(fold_dir / "model.pt")
        assert set(model) == {"state_dict", "ensemble", "meta"}
        seen = torchfiles.load(fold_dir / "training_scans.pt")
        assert len(seen["scan_ids"]) == len(seen["vectors"]) > 0
    shared = tmp_path / "shared"
    shutil.copytree(models, shared, ignore=shutil.ignore_patterns("training_scans.pt"))
    nifti = next(unseen.glob("stage_*/N*/*.nii.gz"))
    proc = predict([nifti, "--models", shared, "--out", "p.csv", "--no-qc"], tmp_path, capsys)
    table = pd.read_csv(tmp_path / "p.csv", keep_default_na=False)
    assert not table["duplicate_checked"].any()
    assert (table["duplicate_of_training_scan"] == "").all()
    assert "DUPLICATE" not in proc.stdout


def test_pseudonymised_predict_never_prints_a_new_patients_original_id(
    unseen, models, tmp_path, capsys, monkeypatch
):
    """Models trained on pseudonyms: a new patient's unreadable file is refused with its
    pseudonym in the message, never the folder name that is its original ID."""
    from spectstage.deid import KEY_VARIABLE, pseudonym

    monkeypatch.setenv(KEY_VARIABLE, "a-test-key-that-is-long-enough")
    pseudonymous = tmp_path / "pseudonymous"
    shutil.copytree(models, pseudonymous)
    for path in pseudonymous.glob("fold_*/model.pt"):  # every fold's card must agree
        _altered_in_place(path, pseudonymise=True)
    dicoms = [p for p in unseen.glob("stage_*/N*/*") if p.is_file() and not p.suffix]
    source = max(dicoms, key=lambda p: p.stat().st_size)
    broken = tmp_path / "site" / "MRN5551234" / source.name
    broken.parent.mkdir(parents=True)
    broken.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    proc = predict([broken.parent, "--models", pseudonymous], tmp_path, capsys, False)
    assert proc.returncode == 2 and "truncated" in proc.stderr, proc.stderr
    assert "MRN5551234" not in proc.stdout + proc.stderr
    assert pseudonym("MRN5551234") in proc.stderr
    # found while the inputs are gathered, before any scan is read
    twice = [broken.parent, broken.parent, "--models", pseudonymous]
    proc = predict(twice, tmp_path, capsys, False)
    assert proc.returncode == 2 and "listed twice" in proc.stderr, proc.stderr
    assert "MRN5551234" not in proc.stdout + proc.stderr


def _altered_in_place(path: Path, **changes) -> None:
    from spectstage import torchfiles

    model = torchfiles.load(path)
    model["meta"].update(changes)
    torchfiles.save(model, path)
