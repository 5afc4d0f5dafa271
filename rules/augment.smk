# One augmented, oversampled training shard per fold, from its training patients only.


rule augment_fold:
    input:
        folds="results/folds.csv",
        cohort="results/cohort.csv",
        # read through cohort.csv's volume column; declared so that executors and storage
        # plugins that stage only declared inputs bring them
        volumes=VOLUMES,
    output:
        shard="results/folds/fold_{fold}/train_shard.pt",
        samples="results/folds/fold_{fold}/samples.csv",
    log:
        "results/logs/augment/fold_{fold}.log",
    benchmark:
        "results/benchmarks/augment/fold_{fold}.tsv"
    group:
        "fold"
    conda:
        ENV
    params:
        settings=settings("augment"),
        code=source_hash("augment"),
    shell:
        "spectstage augment --fold {wildcards.fold} --settings {params.settings:q}"
        " --folds {input.folds:q} --cohort {input.cohort:q}"
        " --out-dir results/folds/fold_{wildcards.fold} > {log:q} 2>&1"
