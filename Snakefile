# spectstage: DaTSCAN SPECT -> canonical volumes -> (later) folds, CNNs, metrics.
# Run from any folder: outputs go to results/ under the working directory.
import os

from snakemake.utils import min_version, validate

min_version("9.0")


configfile: os.path.join(workflow.basedir, "config", "config.yaml")


validate(config, os.path.join(workflow.basedir, "config", "schema.yaml"))


include: "rules/common.smk"
include: "rules/ingest.smk"
include: "rules/model.smk"


rule all:
    default_target: True
    input:
        "results/metrics.json",
