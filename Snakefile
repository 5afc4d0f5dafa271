# spectstage: DaTSCAN SPECT -> canonical volumes -> folds -> one CNN per fold -> metrics.
# Run from any folder: outputs go to results/ under the working directory.
# On a cluster, rules of one `group:` run as one job: check+ingest of a batch (ingest),
# cohort table+folds (cohort), augment+train of a fold (fold), evaluate+report files
# (results). Fewer, longer jobs spend less time queueing; locally groups change nothing.
import os

from snakemake.utils import min_version, validate

min_version("9.0")


configfile: os.path.join(workflow.basedir, "config", "config.yaml")


validate(config, os.path.join(workflow.basedir, "config", "schema.yaml"))


report: "report/workflow.rst"


localrules:
    all,


include: "rules/common.smk"
include: "rules/ingest.smk"
include: "rules/folds.smk"
include: "rules/augment.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/dvc.smk"


PREDICTING = bool(config["predict_dir"] or config["predict_manifest"])


if PREDICTING:

    include: "rules/predict.smk"


rule all:
    default_target: True
    input:
        "results/metrics.json",
        rules.report_files.output,
        "results/predict/predictions.csv" if PREDICTING else [],
