# No rules here: the scan table, batches and helpers the rules share.
import json

from spectstage import inputs
from spectstage.inputs import file_stem
from spectstage.io import input_files
from spectstage.provenance import source_hash

SCANS = inputs.discover(config)
BATCHES = inputs.batches(SCANS, config["ingest"]["batches"])
ENV = os.path.join(workflow.basedir, "envs", "spectstage.yaml")


def raw_files(scans):
    """The input files of scans (rules re-run when one changes, appears or goes)."""
    return [str(f) for s in scans for f in input_files(s.path)]


def settings(*keys):
    """The config keys a rule reads, as JSON for `spectstage --settings` (and rerun triggers)."""
    return json.dumps({k: config[k] for k in keys}, sort_keys=True)


INPUT_KEYS = ("raw_dir", "manifest", "stages", "pseudonymise")


wildcard_constraints:
    fold=r"\d+",


FOLDS = list(range(config["folds"]["k"]))
VOLUMES = [f"results/volumes/{file_stem(s.scan_id)}.nii.gz" for s in SCANS]
