# Patient-grouped, stage-stratified folds, written once (results/folds.csv).


rule folds:
    input:
        cohort="results/cohort.csv",
        volumes=VOLUMES,
        # A frozen folds file (folds.file) is an input too: editing it re-runs the rule.
        frozen=config["folds"]["file"] or [],
    output:
        "results/folds.csv",
    log:
        "results/logs/folds.log",
    benchmark:
        "results/benchmarks/folds.tsv"
    group:
        "cohort"
    conda:
        ENV
    params:
        settings=settings("folds"),
        code=source_hash("folds"),
    shell:
        "spectstage folds --settings {params.settings:q} --cohort {input.cohort:q}"
        " --out {output:q} > {log:q} 2>&1"
