# One CNN per fold; checkpoints outside the outputs so a killed job resumes.


rule train_fold:
    input:
        shard="results/folds/fold_{fold}/train_shard.pt",
        folds="results/folds.csv",
        cohort="results/cohort.csv",
        # read through cohort.csv's volume column; declared so that executors and storage
        # plugins that stage only declared inputs bring them
        volumes=VOLUMES,
    output:
        model="results/models/fold_{fold}/model.pt",
        # the fold's training scans' fingerprints for predict's duplicate check, kept out
        # of model.pt so that a model can be shared without them
        training_scans="results/models/fold_{fold}/training_scans.pt",
        history="results/models/fold_{fold}/history.csv",
        validation="results/models/fold_{fold}/val_predictions.csv",
        predictions="results/models/fold_{fold}/test_predictions.csv",
    log:
        "results/logs/train/fold_{fold}.log",
    benchmark:
        "results/benchmarks/train/fold_{fold}.tsv"
    group:
        "fold"
    conda:
        ENV
    threads: config["train"]["threads"]
    resources:
        gpu=config["resources"]["train_gpus"],
        mem_mb=config["resources"]["train_mem_mb"],
        runtime=lambda w, attempt: config["resources"]["train_runtime_min"] * attempt,
    params:
        settings=settings("train"),
        code=source_hash("train"),
        # Checkpoints live outside the outputs: Snakemake deletes a failed job's outputs.
        checkpoints="results/checkpoints/fold_{fold}",
    shell:
        "spectstage train --fold {wildcards.fold} --settings {params.settings:q}"
        " --shard {input.shard:q} --folds {input.folds:q} --cohort {input.cohort:q}"
        " --out-dir results/models/fold_{wildcards.fold}"
        " --checkpoint-dir {params.checkpoints:q} --threads {threads} > {log:q} 2>&1"
