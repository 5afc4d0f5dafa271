# Folds -> per-fold augmented shard -> per-fold CNN -> pooled out-of-fold evaluation.


rule folds:
    input:
        cohort="results/cohort.csv",
        volumes=VOLUMES,
    output:
        "results/folds.csv",
    log:
        "results/logs/folds.log",
    conda:
        ENV
    params:
        settings=settings(*INPUT_KEYS, "folds"),
        code=source_hash("folds"),
    shell:
        "spectstage folds --settings {params.settings:q} --cohort {input.cohort:q}"
        " --out {output:q} 2> {log:q}"


rule augment_fold:
    input:
        folds="results/folds.csv",
        cohort="results/cohort.csv",
    output:
        shard="results/folds/fold_{fold}/train_shard.pt",
        samples="results/folds/fold_{fold}/samples.csv",
    log:
        "results/logs/augment/fold_{fold}.log",
    conda:
        ENV
    params:
        settings=settings(*INPUT_KEYS, "augment", "train"),
        code=source_hash("augment"),
    shell:
        "spectstage augment --fold {wildcards.fold} --settings {params.settings:q}"
        " --folds {input.folds:q} --cohort {input.cohort:q}"
        " --out-dir results/folds/fold_{wildcards.fold} 2> {log:q}"


rule train_fold:
    input:
        shard="results/folds/fold_{fold}/train_shard.pt",
        folds="results/folds.csv",
        cohort="results/cohort.csv",
    output:
        model="results/models/fold_{fold}/model.pt",
        history="results/models/fold_{fold}/history.csv",
        predictions="results/models/fold_{fold}/test_predictions.csv",
    log:
        "results/logs/train/fold_{fold}.log",
    conda:
        ENV
    threads: config["train"]["threads"]
    resources:
        gpu=0,
    params:
        settings=settings(*INPUT_KEYS, "augment", "train"),
        code=source_hash("train"),
        # Checkpoints live outside the outputs: Snakemake deletes a failed job's outputs.
        checkpoints="results/checkpoints/fold_{fold}",
    shell:
        "spectstage train --fold {wildcards.fold} --settings {params.settings:q}"
        " --shard {input.shard:q} --folds {input.folds:q} --cohort {input.cohort:q}"
        " --out-dir results/models/fold_{wildcards.fold}"
        " --checkpoint-dir {params.checkpoints:q} --threads {threads} 2> {log:q}"


rule evaluate:
    input:
        predictions=expand(
            "results/models/fold_{fold}/test_predictions.csv", fold=FOLDS
        ),
        folds="results/folds.csv",
        cohort="results/cohort.csv",
    output:
        oof="results/oof_predictions.csv",
        metrics="results/metrics.json",
        plot="results/plots/confusion_matrix.png",
        provenance="results/provenance.json",
    log:
        "results/logs/evaluate.log",
    conda:
        ENV
    params:
        settings=settings(*INPUT_KEYS, "folds", "train", "evaluate"),
        code=source_hash("evaluate"),
    shell:
        "spectstage evaluate --settings {params.settings:q} --predictions {input.predictions:q}"
        " --folds {input.folds:q} --cohort {input.cohort:q} --out-dir results 2> {log:q}"
