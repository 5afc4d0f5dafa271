"""The rerun triggers of dvc.yaml's stages: what each Snakemake rule itself reruns on.

Each workflow rule passes `spectstage <command>` exactly the config keys it reads
(spectstage.config.COMMAND_KEYS) and a hash of the package code it runs
(spectstage.provenance.source_hash): those are its rerun triggers. This script writes them,
one JSON file per command, from the same config files the stages' Snakemake calls load
(config/config.yaml, then each --configfile on top, merged as Snakemake merges them). A DVC
stage depends on its commands' files, so it reruns when - and only when - one of its rules
would: an edited training key in any config file changes train.json only, a new git commit
or a comment changes nothing.

    python scripts/dvc_triggers.py --configfile config/demo.yaml --data data/demo \
        --out-dir results/dvc
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import yaml
from snakemake.utils import update_config

from spectstage import config
from spectstage.atomic import write_text
from spectstage.errors import InputError
from spectstage.provenance import source_hash
from spectstage.template import identity

REPO = Path(__file__).resolve().parents[1]
#: spectstage command -> its code hash's stage name (spectstage.provenance.STAGE_MODULES)
CODE_STAGE = {command: command.replace("-", "_") for command in config.COMMAND_KEYS}


def merged_config(configfiles: list[Path]) -> dict:
    """config/config.yaml with each file on top (Snakemake's --configfile), validated."""
    cfg: dict = {}
    for path in [REPO / "config" / "config.yaml", *configfiles]:
        try:
            update_config(cfg, yaml.safe_load(Path(path).read_text()) or {})
        except (OSError, yaml.YAMLError) as err:
            raise InputError(f"{path}: cannot read configuration ({err})") from err
    return config.validate(cfg)


def check_data_folder(cfg: dict, data: Path) -> None:
    """The input the config names must lie in the folder DVC tracks as the stage's input,
    or DVC would miss changes to it (params.yaml `data` and the config's raw_dir/manifest)."""
    used = Path(cfg["manifest"] or cfg["raw_dir"]).resolve()
    if not used.is_relative_to(data.resolve()):
        key = "manifest" if cfg["manifest"] else "raw_dir"
        raise InputError(
            f"config {key} {used} is not inside params.yaml's data folder {data}: DVC would "
            f"not see changes to the input; set `data:` in params.yaml to the folder holding it"
        )


def triggers(cfg: dict) -> dict[str, dict]:
    """command -> {"settings": the keys its rule passes, "code": its code hash}."""
    out = {}
    for command in config.COMMAND_KEYS:
        out[command] = {
            "settings": json.loads(config.settings_for(cfg, command)),
            "code": source_hash(CODE_STAGE[command]),
        }
    # ingest also reruns when its template changes (the built-in one's source files or a
    # user template's checksums: rules/ingest.smk params.template and inputs)
    out["ingest"]["template"] = identity(cfg["ingest"])
    # input files a config key names, outside the input folder (rules' inputs)
    out["folds"]["files"] = checksums([cfg["folds"]["file"]])
    out["evaluate"]["files"] = checksums([cfg["evaluate"]["truth_table"]])
    return out


def checksums(paths: list[str]) -> dict[str, str | None]:
    """sha256 of each named file (None: missing - the rule's own check reports it)."""
    out = {}
    for path in filter(None, paths):
        file = Path(path)
        out[path] = hashlib.sha256(file.read_bytes()).hexdigest() if file.is_file() else None
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configfile", type=Path, action="append", default=[])
    ap.add_argument("--data", type=Path, required=True, help="the input folder DVC tracks")
    ap.add_argument("--out-dir", type=Path, required=True)
    args = ap.parse_args(argv)
    try:
        cfg = merged_config(args.configfile)
        check_data_folder(cfg, args.data)
        for command, record in triggers(cfg).items():
            text = json.dumps(record, indent=1, sort_keys=True) + "\n"
            write_text(args.out_dir / f"{command}.json", text)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
