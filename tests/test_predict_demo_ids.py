"""`demo-data --id-prefix/--id-offset`: a second cohort does not reuse training IDs."""

from __future__ import annotations

import pytest

from spectstage import cli
from spectstage.demo.cohort import plan


def test_prefix_and_offset_rename_the_patients_and_change_nothing_else():
    default = plan([3, 2], ["1", "2"], "mixed", seed=5)
    renamed = plan([3, 2], ["1", "2"], "mixed", seed=5, id_prefix="EXT", id_offset=40)
    assert sorted(it.patient.patient_id for it in default) == [f"P{i:04d}" for i in range(1, 6)]
    assert sorted(it.patient.patient_id for it in renamed) == [f"EXT{i:04d}" for i in range(41, 46)]
    for a, b in zip(default, renamed, strict=True):
        assert (a.patient.stage, a.layout, a.seed) == (b.patient.stage, b.layout, b.seed)
        assert a.patient.uptake.sbr == b.patient.uptake.sbr


@pytest.mark.parametrize("bad", [["--id-prefix", "../x"], ["--id-offset", "-1"]])
def test_bad_prefix_or_offset_is_a_clear_error(tmp_path, capsys, bad):
    out = tmp_path / "d"
    assert cli.main(["demo-data", "--out", str(out), "--per-stage", "1,1", *bad]) == 2
    assert "prefix" in capsys.readouterr().err
    assert not out.exists()
