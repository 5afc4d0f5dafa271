# Pool the folds' test predictions: out-of-fold metrics, baselines, plots.


rule evaluate:
    input:
        predictions=expand(
            "results/models/fold_{fold}/test_predictions.csv", fold=FOLDS
        ),
        folds="results/folds.csv",
        cohort="results/cohort.csv",
        truth=config["evaluate"]["truth_table"] or [],  # the demo's oracle input
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
        # The whole config (but compute resources): recorded in provenance.json.
        settings=settings(*(key for key in config if key != "resources")),
        code=source_hash("evaluate"),
    shell:
        "spectstage evaluate --settings {params.settings:q} --predictions {input.predictions:q}"
        " --folds {input.folds:q} --cohort {input.cohort:q} --out-dir results > {log:q} 2>&1"
