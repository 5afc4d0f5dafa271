"""Configuration: one schema (shipped in the package) gives every key, its type and default.

The workflow validates config/config.yaml with Snakemake's validate() against the same
schema (config/schema.yaml links here); the CLI uses `load()` for standalone runs and for
the JSON settings each rule passes.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from pathlib import Path

import yaml

from spectstage.errors import InputError

SCHEMA_FILE = "config.schema.yaml"


@cache
def schema() -> dict:
    return yaml.safe_load((resources.files("spectstage") / "schema" / SCHEMA_FILE).read_text())


def schema_path() -> Path:
    return Path(str(resources.files("spectstage") / "schema" / SCHEMA_FILE))


def _with_defaults(validator_class):
    """A validator that fills in defaults (the jsonschema recipe), like Snakemake's validate()."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, sch):
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(key, copy.deepcopy(sub["default"]))
        yield from validate_properties(validator, properties, instance, sch)

    from jsonschema import validators

    return validators.extend(validator_class, {"properties": set_defaults})


def validate(cfg: dict) -> dict:
    """Return a copy of cfg with defaults filled in; InputError naming the bad key otherwise."""
    from jsonschema import Draft202012Validator

    cfg = copy.deepcopy(cfg)
    errors = sorted(_with_defaults(Draft202012Validator)(schema()).iter_errors(cfg), key=str)
    if errors:
        lines = [
            f"  {'.'.join(map(str, e.absolute_path)) or '(top level)'}: {e.message}" for e in errors
        ]
        raise InputError("invalid configuration:\n" + "\n".join(lines))
    return cfg


def load(path: Path | None = None, settings: str | None = None) -> dict:
    """Defaults <- YAML file <- JSON settings string (what a Snakemake rule passes)."""
    cfg: dict = {}
    if path is not None:
        try:
            cfg = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as err:
            raise InputError(f"{path}: cannot read configuration ({err})") from err
    if settings:
        cfg.update(json.loads(settings))
    return validate(cfg)


def stage_labels(cfg: dict) -> list[str]:
    """Stage labels as strings: folder names and CSV cells are text."""
    return [str(s) for s in cfg["stages"]]
