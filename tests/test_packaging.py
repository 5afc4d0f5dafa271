"""Install metadata agree, and the light commands stay light."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import yaml

from conftest import REPO, rule_settings, run


def test_conda_env_matches_pyproject():
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    env = yaml.safe_load((REPO / "envs" / "spectstage.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert [p for p in pip if not p.startswith("--editable")] == deps
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    assert python == "python=3.11"


def test_help_and_ingest_never_import_torch(tiny_cohort, tmp_path):
    from spectstage.inputs import batch_of

    settings = rule_settings("ingest", raw_dir=str(tiny_cohort), ingest={"batches": 22})
    batch = batch_of("P0001", 22)  # a batch with at least one scan, ingested in a few seconds
    args = ["ingest", "--settings", settings, "--batch", str(batch), "--out-dir", str(tmp_path)]
    code = (
        "import sys\n"
        "from spectstage.cli import main\n"
        f"rc = main({args!r})\n"
        "assert rc == 0\n"
        "assert 'torch' not in sys.modules and 'monai' not in sys.modules, 'heavy import'\n"
    )
    run([sys.executable, "-c", code], tmp_path)
    assert (Path(tmp_path) / "P0001.nii.gz").exists()
    out = run([sys.executable, "-m", "spectstage", "--help"], tmp_path).stdout
    for command in ("demo-data", "ingest", "cohort"):
        assert command in out
