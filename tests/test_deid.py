"""Privacy: no DICOM PHI and no original IDs in any artefact of a pseudonymised run (contents,
compressed contents, text chunks, the report, file and folder names); hostile IDs cannot
break commands or escape results/."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nibabel as nib
import pandas as pd
import pytest
from phi_scan import dicom_phi, scan
from PIL import Image, PngImagePlugin

from conftest import TINY_BATCHES, snakemake, tiny_config
from spectstage.deid import KEY_VARIABLE, Redactor, pseudonym
from spectstage.errors import InputError

KEY = {KEY_VARIABLE: "a-test-key-that-is-long-enough"}
PATIENTS_PER_STAGE = 4  # 2 folds, and 2 inner folds within training: 4 per stage at least


def phi_cohort(tiny_cohort: Path, dest: Path) -> set[str]:
    """Copy the tiny cohort (at most four patients per stage: every layout, in the least
    time) with folders renamed to record numbers, and PHI planted where other tools put it
    (NIfTI descrip, PNG text chunks); return every PHI string."""
    shutil.copytree(tiny_cohort, dest)
    for stage in dest.glob("stage_*"):
        for folder in sorted(stage.iterdir())[PATIENTS_PER_STAGE:]:
            shutil.rmtree(folder)
    phi = set()
    for i, folder in enumerate(sorted(dest.glob("stage_*/*"))):
        mrn = f"MRN{7300410 + i}"
        planted = f"Plantedname^Pat{i:03d}"
        for nifti in folder.glob("*.nii.gz"):
            img = nib.load(nifti)
            img.header["descrip"] = f"{planted} {mrn}".encode()
            nib.save(img, folder / f"{mrn}.nii.gz")
            nifti.unlink()
            phi.add(planted)
        for png in folder.glob("*.png"):  # pixels unchanged, a text chunk added
            with Image.open(png) as img:
                img.load()
            info = PngImagePlugin.PngInfo()
            info.add_text("Comment", f"{planted} {mrn}", zip=True)
            img.save(png, pnginfo=info)
            phi.add(planted)
        folder.rename(folder.with_name(mrn))
        phi |= {mrn, folder.name}
    phi |= dicom_phi(dest)
    (dest / "manifest.csv").unlink()  # it names the original folders; not an input here
    (dest / "truth.csv").unlink()
    return phi


@pytest.fixture(scope="module")
def pseudonymised_run(tiny_cohort, tmp_path_factory):
    work = tmp_path_factory.mktemp("deid")
    phi = phi_cohort(tiny_cohort, work / "raw")
    args = tiny_config(Path("raw"), work, pseudonymise=True, evaluate={"truth_table": ""})
    snakemake(work, "--cores", "2", *args, env=KEY)
    return work, phi


@pytest.fixture(scope="module")
def pseudonymised_report(pseudonymised_run) -> Path:
    work, _ = pseudonymised_run
    args = tiny_config(Path("raw"), work, pseudonymise=True, evaluate={"truth_table": ""})
    snakemake(work, *args, "--report", "results/report.html", env=KEY)
    return work / "results" / "report.html"


def _original_ids(phi: set[str]) -> set[str]:
    return {p for p in phi if p.startswith("MRN")}


@pytest.mark.workflow
def test_no_phi_anywhere_in_results(pseudonymised_run, pseudonymised_report):
    """Every artefact in results/ (the HTML report and what it embeds included), in
    contents, compressed contents, text chunks and file names; and Snakemake's own records
    in .snakemake/ (logs, and the metadata of every output), which name each rule's input
    paths: the rules that read raw files declare lists of them that name no patient."""
    work, phi = pseudonymised_run
    files, payloads, hits = scan(work, phi)
    records, _, record_hits = scan(work, phi, where="snakemake")
    print(f"\npseudonymised run: {len(phi)} PHI strings in {files} files ({payloads} payloads) "
          f"of results/ (the report included) and {records} files of .snakemake/: "
          f"{len(hits) + len(record_hits)} found")  # fmt: skip
    assert len(phi) > 60 and files > 50 and records > 20
    assert sum("^" in p for p in phi) >= 4  # DICOM and planted names: every layout ran
    assert hits == [] and record_hits == []


@pytest.mark.workflow
def test_the_report_of_a_pseudonymised_run_names_no_original_folder(
    pseudonymised_run, pseudonymised_report
):
    """Snakemake's report embeds each rule's input paths (its rule listing): with raw
    files as inputs they would name the patient folders."""
    _, phi = pseudonymised_run
    text = pseudonymised_report.read_text(errors="replace")
    assert '"check_batch_0": {"input": ["results/inputs/batch_0.tsv"]' in text
    assert [i for i in _original_ids(phi) if i in text] == []


def _change_a_file(raw: Path) -> None:
    changed = sorted(raw.rglob("*.png"))[0]
    changed.write_bytes(changed.read_bytes())  # same bytes, a new modification time


def _add_a_patient(raw: Path) -> None:
    patient = sorted(raw.glob("stage_2/*"))[0]
    shutil.copytree(patient, patient.with_name("MRN9900001"))


@pytest.mark.workflow
@pytest.mark.parametrize("change", [_change_a_file, _add_a_patient])
def test_a_changed_file_or_a_new_patient_reruns_one_batch(pseudonymised_run, tmp_path, change):
    """The lists carry the raw files' rerun triggers: a list is rewritten, and its batch
    re-run, when a file of the batch changes or a patient joins it; no other list is."""
    work = tmp_path / "work"
    shutil.copytree(pseudonymised_run[0], work, symlinks=True)
    args = tiny_config(Path("raw"), work, pseudonymise=True, evaluate={"truth_table": ""})
    lists = {p: p.read_bytes() for p in (work / "results" / "inputs").glob("batch_*.tsv")}
    change(work / "raw")
    dry = snakemake(work, "-n", "--quiet", "rules", *args, env=KEY)
    out = dry.stdout + dry.stderr
    rewritten = [p.stem for p, text in lists.items() if p.read_bytes() != text]
    assert len(lists) == TINY_BATCHES and len(rewritten) == 1, out
    batch = rewritten[0].removeprefix("batch_")
    assert set(re.findall(r"check_batch_(\d+)", out)) == {batch}, out
    assert set(re.findall(r"ingest_batch_(\d+)", out)) == {batch}, out
    assert "cohort_table" in out


@pytest.mark.workflow
def test_ids_are_keyed_pseudonyms_and_a_rerun_has_nothing_to_do(pseudonymised_run):
    """Pseudonyms everywhere, and the input lists keep a finished run finished: parsing
    the workflow again rewrites none of them."""
    work, _ = pseudonymised_run
    cohort = pd.read_csv(work / "results" / "cohort.csv")
    assert cohort["patient_id"].str.match(r"^sub-[0-9a-f]{16}$").all()
    oof = pd.read_csv(work / "results" / "oof_predictions.csv")
    assert set(oof["scan_id"]) == set(cohort["scan_id"])
    lists = {p: p.stat().st_mtime_ns for p in (work / "results" / "inputs").glob("*.tsv")}
    args = tiny_config(Path("raw"), work, pseudonymise=True, evaluate={"truth_table": ""})
    dry = snakemake(work, "-n", *args, env=KEY)
    assert "Nothing to be done" in dry.stdout + dry.stderr
    assert len(lists) == TINY_BATCHES
    assert {p: p.stat().st_mtime_ns for p in lists} == lists


def test_pseudonyms_need_a_key_and_depend_on_it(monkeypatch):
    monkeypatch.delenv(KEY_VARIABLE, raising=False)
    with pytest.raises(InputError, match=KEY_VARIABLE):
        pseudonym("MRN1")
    monkeypatch.setenv(KEY_VARIABLE, "first-key-0123456789")
    first = pseudonym("MRN1")
    assert first == pseudonym("MRN1") and first != pseudonym("MRN2")
    monkeypatch.setenv(KEY_VARIABLE, "other-key-0123456789")
    assert pseudonym("MRN1") != first
    assert (
        Redactor(["MRN1"])("failed: /data/stage_1/MRN1/x")
        == f"failed: /data/stage_1/{pseudonym('MRN1')}/x"
    )


@pytest.mark.workflow
def test_hostile_ids_neither_break_commands_nor_escape_results(tiny_cohort, tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(tiny_cohort, raw)
    hostile = ["pat 1", 'o\'brien "x"', "a;touch PWNED", "$(touch PWNED)", "zoë-ü 患者", "-rf"]
    folders = sorted(raw.glob("stage_*/*"))
    for folder, name in zip(folders[: len(hostile)], hostile, strict=True):
        folder.rename(folder.with_name(name))
    for folder in folders[len(hostile) :]:  # the hostile names are what is tested
        shutil.rmtree(folder)
    (raw / "manifest.csv").unlink()
    one_batch = tiny_config(Path("raw"), tmp_path, ingest={"batches": 1})  # 6 scans: 2 processes
    snakemake(tmp_path, "--cores", "2", "results/cohort.csv", *one_batch)
    assert not list(tmp_path.rglob("PWNED")) and not list(Path.cwd().glob("PWNED"))
    cohort = pd.read_csv(tmp_path / "results" / "cohort.csv", keep_default_na=False)
    assert set(hostile) <= set(cohort["scan_id"])
    for volume in cohort["volume"]:
        path = (tmp_path / volume).resolve()
        assert path.is_relative_to((tmp_path / "results" / "volumes").resolve()) and path.exists()


def test_braces_in_paths_are_refused_clearly(tiny_cohort, tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(tiny_cohort, raw)
    folder = next(raw.glob("stage_1/*"))
    folder.rename(folder.with_name("{x}"))
    from spectstage.config import validate
    from spectstage.inputs import discover

    with pytest.raises(InputError, match="without braces"):
        discover(validate({"raw_dir": str(raw)}))


@pytest.mark.parametrize(
    "scan_id", ["../../escape", "..", "a/b", "x\\y", "-rf", " lead", "é" * 200]
)
def test_output_names_of_hostile_ids_stay_inside_their_folder(scan_id):
    from spectstage.inputs import file_stem

    stem = file_stem(scan_id)
    assert "/" not in stem and "\\" not in stem and not stem.startswith((".", "-"))
    assert Path("results/volumes", stem).resolve().parent == Path("results/volumes").resolve()
    assert len(stem) <= 100 and file_stem(scan_id) == stem
