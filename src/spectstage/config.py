"""Configuration: one schema (shipped in the package) gives every key, its type and default.

The workflow validates config/config.yaml with Snakemake's validate() against the same
schema (config/schema.yaml links here); the CLI uses `load()` for standalone runs and for
the JSON settings each rule passes.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
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


#: The config keys each workflow command reads. Its rule passes exactly these (rules/*.smk:
#: `settings("<command>")`), they are the rule's rerun triggers, and the command can read
#: nothing else (`Settings`). A dotted key passes one part of a section: changing the rest
#: of the section (say, the learning rate) does not re-run the rule.
INPUT_KEYS = ("raw_dir", "manifest", "stages", "pseudonymise", "exclude")
COMMAND_KEYS: dict[str, tuple[str, ...]] = {
    "check": (*INPUT_KEYS, "slices", "ingest.batches"),
    "ingest": (*INPUT_KEYS, "slices", "ingest"),
    "cohort": INPUT_KEYS,
    "folds": (*INPUT_KEYS, "folds"),
    "augment": (*INPUT_KEYS, "augment", "train.crop"),
    # slices and ingest: recorded in the model's preprocessing hash
    "train": (*INPUT_KEYS, "slices", "ingest", "augment", "train"),
    # everything but compute resources: recorded in provenance.json
    "evaluate": (*INPUT_KEYS, "slices", "ingest", "folds", "augment", "train", "evaluate"),
    # the report's methods paragraph describes the run
    "report-files": (*INPUT_KEYS, "slices", "ingest", "folds", "augment", "train", "evaluate"),
    # the settings checked against the models' card, and the metrics' bootstrap
    "predict": (
        *INPUT_KEYS,
        "predict_dir",
        "predict_manifest",
        "slices",
        "ingest",
        "train.crop",
        "evaluate.bootstrap",
        "evaluate.seed",
    ),
}


def settings_for(cfg: Mapping, command: str) -> str:
    """The JSON `--settings` a workflow rule passes to `spectstage <command>`."""
    out = {}
    for key in COMMAND_KEYS[command]:
        value = cfg
        for part in key.split("."):
            value = value[part]
        out[key] = value
    return json.dumps(plain(out), sort_keys=True)


def load(path: Path | None = None, settings: str | None = None) -> Mapping:
    """Defaults <- YAML file <- JSON settings string, validated.

    Settings alone (what a workflow rule passes) give a strict view: the command may read
    only the keys the rule listed (see `Settings`), so a rule's key list - which is also
    its rerun trigger - cannot silently miss a key the code reads. A YAML file (a person
    running a command by hand) gives the whole configuration.
    """
    cfg: dict = {}
    if path is not None:
        try:
            cfg = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as err:
            raise InputError(f"{path}: cannot read configuration ({err})") from err
    passed = _parse_settings(settings) if settings else {}
    for key, value in passed.items():
        _merge(cfg, key.split("."), value)
    cfg = validate(cfg)
    if path is None and settings:
        return Settings(cfg, _allowed(passed))
    return cfg


def _parse_settings(settings: str) -> dict:
    try:
        passed = json.loads(settings)
    except json.JSONDecodeError as err:
        raise InputError(f"--settings: not valid JSON ({err})") from err
    if not isinstance(passed, dict):
        raise InputError("--settings: expected a JSON object of config keys")
    return passed


def _merge(cfg: dict, path: list[str], value) -> None:
    """Set cfg[a][b]... = value, merging dictionaries (an override keeps the rest of a
    section from the file)."""
    *parents, last = path
    for part in parents:
        cfg = cfg.setdefault(part, {})
    if isinstance(value, dict) and isinstance(cfg.get(last), dict):
        for key, sub in value.items():
            _merge(cfg[last], [key], sub)
    else:
        cfg[last] = copy.deepcopy(value)


def _allowed(passed: dict) -> dict:
    """The tree of readable keys: {"raw_dir": None, "train": {"crop": None}} (None = all
    below). A dotted key ("train.crop") opens only that part of its section."""
    tree: dict = {}
    for key in sorted(passed, key=lambda k: k.count(".")):  # whole sections first
        *parents, last = key.split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
            if node is None:  # the whole section is open already
                break
        else:
            node[last] = None
    return tree


class UndeclaredSetting(RuntimeError):
    """Code read a config key its workflow rule does not pass: a bug in the rule's list."""


class Settings(Mapping):
    """A read-only view of a validated config that only lets through the allowed keys.

    Any read of another key - `cfg[key]`, `key in cfg`, `cfg.get(key)` - raises
    UndeclaredSetting: there is no silent default. Lists come back as copies. Convert with
    `plain()` before serialising (JSON, torch)."""

    def __init__(self, data: dict, allowed: dict | None, prefix: str = ""):
        self._data, self._allowed, self._prefix = data, allowed, prefix

    def __getitem__(self, key: str):
        name = self._prefix + key
        if self._allowed is not None and key not in self._allowed:
            raise UndeclaredSetting(
                f"config key {name!r} was read but not passed to this command: add it to "
                "the rule's settings(...) in rules/*.smk (it is also the rule's rerun trigger)"
            )
        value = self._data[key]
        if isinstance(value, dict):
            sub = None if self._allowed is None else self._allowed[key]
            return Settings(value, sub, name + ".")
        return copy.deepcopy(value) if isinstance(value, list) else value

    def __iter__(self):
        return iter(k for k in self._data if self._allowed is None or k in self._allowed)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return f"Settings({plain(self)!r})"


def plain(value):
    """A config or settings view (or any part of one) as plain JSON-able builtins."""
    return json.loads(json.dumps(value, default=dict))


def default(section: str, key: str):
    """A key's default, from the schema (the one place defaults live)."""
    return schema()["properties"][section]["properties"][key]["default"]


def stage_labels(cfg: Mapping) -> list[str]:
    """Stage labels as strings: folder names and CSV cells are text."""
    return [str(s) for s in cfg["stages"]]
