"""One schema: defaults filled in, unknown keys and wrong types refused, files agree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from spectstage import config
from spectstage.errors import InputError

REPO = Path(__file__).resolve().parents[1]


def _keys(d: dict, prefix: str = "") -> set[str]:
    out = set()
    for k, v in d.items():
        out.add(prefix + k)
        if isinstance(v, dict) and v:
            out |= _keys(v, f"{prefix}{k}.")
    return out


def test_shipped_config_is_valid_and_states_every_key():
    shipped = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config.validate(shipped)
    assert _keys(shipped) == _keys(config.validate({}))


def test_shipped_config_repeats_the_schema_defaults_exactly():
    """Defaults live in the schema; config/config.yaml repeats them to document them."""
    shipped = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    assert shipped == config.validate({})


def test_each_command_reads_only_the_keys_its_rule_passes():
    strict = config.load(settings=config.settings_for(config.validate({}), "augment"))
    assert strict["train"]["crop"]["voxel_mm"] == 4 and strict["augment"]["copies"] >= 1
    with pytest.raises(config.UndeclaredSetting, match=r"'train\.lr' was read but not passed"):
        strict["train"]["lr"]
    with pytest.raises(config.UndeclaredSetting, match="'folds'"):
        strict["folds"]
    with pytest.raises(config.UndeclaredSetting):
        strict.get("evaluate")  # no silent default through .get either
    assert set(strict) == {*config.INPUT_KEYS, "augment", "train"}
    stages = strict["stages"]
    stages.append(99)  # a copy: the view stays read-only
    assert 99 not in strict["stages"]


def test_a_section_and_a_part_of_it_open_the_whole_section():
    both = json.dumps({"train": config.validate({})["train"], "train.crop": {"voxel_mm": 4}})
    assert config.load(settings=both)["train"]["lr"] > 0


def test_malformed_settings_are_a_clear_error():
    with pytest.raises(InputError, match="--settings: not valid JSON"):
        config.load(settings="{raw_dir: x")
    with pytest.raises(InputError, match="expected a JSON object"):
        config.load(settings="[1, 2]")


def test_evaluate_is_passed_every_key_but_compute_resources():
    keys = set(config.COMMAND_KEYS["evaluate"])
    # which new patients to stage does not change the metrics (nor re-run them)
    assert keys == set(config.schema()["properties"]) - {
        "resources",
        "predict_dir",
        "predict_manifest",
    }


def test_a_config_file_gives_the_whole_configuration(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train: {epochs: 3}\n")
    cfg = config.load(path, '{"train": {"lr": 0.1}}')  # an override keeps the file's keys
    assert cfg["train"]["epochs"] == 3 and cfg["train"]["lr"] == 0.1
    assert cfg["folds"]["k"] == 5


def test_demo_config_is_valid():
    demo = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    assert config.validate(demo)["evaluate"]["truth_table"] == "data/demo/truth.csv"


def test_config_schema_link_points_at_the_package_schema():
    assert (REPO / "config" / "schema.yaml").resolve() == config.schema_path().resolve()


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"stagez": [1, 2]}, "'stagez' was unexpected"),
        ({"slices": {"pixel_mm": "two"}}, "slices.pixel_mm"),
        ({"slices": {"image_left": "left"}}, "slices.image_left"),
        ({"ingest": {"batches": 0}}, "ingest.batches"),
        ({"stages": [1]}, "stages"),
    ],
)
def test_bad_config_is_refused_naming_the_key(cfg, message):
    with pytest.raises(InputError, match=message):
        config.validate(cfg)


def test_settings_override_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("raw_dir: a\nslices: {colormap: gray}\n")
    cfg = config.load(path, '{"raw_dir": "b"}')
    assert cfg["raw_dir"] == "b" and cfg["slices"]["colormap"] == "gray"
    assert cfg["slices"]["pixel_mm"] == 2.0


def test_slice_conventions_and_demo_options_take_the_schema_defaults():
    from spectstage.cli import parser
    from spectstage.io.slices import SliceConventions

    slices = config.validate({})["slices"]
    assert SliceConventions() == SliceConventions.from_config(slices)
    demo = parser().parse_args(["demo-data", "--out", "x"])
    assert (demo.image_left, demo.colormap) == (slices["image_left"], slices["colormap"])
