# No rules here: the scan table, batches and helpers the rules share.
import json
import sys

from spectstage import inputs
from spectstage.inputs import file_stem
from spectstage.io import input_files
from spectstage.provenance import source_hash

# `snakemake --lint` reads the rules, not the data: it runs without the input folder, with
# one empty batch standing in so that the per-batch rules are linted too.
LINTING = "--lint" in sys.argv
SCANS = [] if LINTING else inputs.discover(config)
BATCHES = {0: []} if LINTING else inputs.batches(SCANS, config["ingest"]["batches"])
ENV = os.path.join(workflow.basedir, "envs", "spectstage.yaml")


def raw_files(scans):
    """The input files of scans (rules re-run when one changes, appears or goes).
    An empty folder contributes none here: the pre-flight check reports it."""
    files = []
    for s in scans:
        try:
            files += [str(f) for f in input_files(s.path)]
        except inputs.InputError:
            pass
    return files


def settings(*keys):
    """The config keys a rule reads, as JSON for `spectstage --settings` (and rerun triggers).

    A key may be dotted ("train.crop") to pass one part of a section: then changing the
    rest of the section (say, the learning rate) does not re-run the rule.
    """
    out = {}
    for key in keys:
        section, _, part = key.partition(".")
        if part:
            out.setdefault(section, {})[part] = config[section][part]
        else:
            out[section] = config[section]
    return json.dumps(out, sort_keys=True)


INPUT_KEYS = ("raw_dir", "manifest", "stages", "pseudonymise")


wildcard_constraints:
    fold=r"\d+",


FOLDS = list(range(config["folds"]["k"]))
VOLUMES = [f"results/volumes/{file_stem(s.scan_id)}.nii.gz" for s in SCANS]
