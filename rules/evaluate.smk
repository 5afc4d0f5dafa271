# Pool the folds' test predictions: out-of-fold metrics with intervals, baselines; then the
# tables, plots and pages of the HTML report (snakemake --report results/report.html).


rule evaluate:
    input:
        predictions=expand(
            "results/models/fold_{fold}/test_predictions.csv", fold=FOLDS
        ),
        # inner-validation probabilities: each fold's calibration temperature
        validation=expand("results/models/fold_{fold}/val_predictions.csv", fold=FOLDS),
        folds="results/folds.csv",
        cohort="results/cohort.csv",
        truth=config["evaluate"]["truth_table"] or [],  # the demo's oracle input
    output:
        oof="results/oof_predictions.csv",
        baseline="results/sbr_baseline_predictions.csv",
        metrics="results/metrics.json",
        provenance="results/provenance.json",
    log:
        "results/logs/evaluate.log",
    benchmark:
        "results/benchmarks/evaluate.tsv"
    group:
        "results"
    conda:
        ENV
    params:
        settings=settings("evaluate"),
        code=source_hash("evaluate"),
    shell:
        "spectstage evaluate --settings {params.settings:q} --predictions {input.predictions:q}"
        " --validation {input.validation:q} --folds {input.folds:q} --cohort {input.cohort:q}"
        " --out-dir results > {log:q} 2>&1"


rule report_files:
    input:
        "results/metrics.json",
        "results/oof_predictions.csv",
        "results/sbr_baseline_predictions.csv",
        "results/cohort.csv",
        "results/folds.csv",
        "results/provenance.json",
        [f"results/qc/{file_stem(s.scan_id)}.png" for s in SCANS],
        histories=expand("results/models/fold_{fold}/history.csv", fold=FOLDS),
    output:
        cohort=report(
            "results/report/cohort.html",
            caption="../report/cohort.rst",
            category="1. Cohort and QC",
            labels={"item": "cohort"},
        ),
        sbr=report(
            "results/plots/sbr_by_stage.png",
            caption="../report/sbr_by_stage.rst",
            category="1. Cohort and QC",
            labels={"item": "sbr by stage"},
        ),
        folds=report(
            "results/report/folds.html",
            caption="../report/folds.rst",
            category="2. Folds",
            labels={"item": "folds"},
        ),
        curves=report(
            "results/plots/learning_curves.png",
            caption="../report/learning_curves.rst",
            category="2. Folds",
            labels={"item": "learning curves"},
        ),
        metrics=report(
            "results/report/metrics.html",
            caption="../report/metrics.rst",
            category="3. Metrics with intervals",
            labels={"item": "metrics"},
        ),
        table=report(
            "results/tables/metrics.csv",
            caption="../report/metrics_table.rst",
            category="3. Metrics with intervals",
            labels={"item": "metrics table"},
        ),
        confusion=report(
            "results/plots/confusion_matrix.png",
            caption="../report/confusion_matrix.rst",
            category="4. Plots",
            labels={"item": "confusion matrix"},
        ),
        normalised=report(
            "results/plots/confusion_matrix_normalised.png",
            caption="../report/confusion_matrix_normalised.rst",
            category="4. Plots",
            labels={"item": "confusion matrix normalised"},
        ),
        roc=report(
            "results/plots/roc.png",
            caption="../report/roc.rst",
            category="4. Plots",
            labels={"item": "roc"},
        ),
        reliability=report(
            "results/plots/reliability.png",
            caption="../report/reliability.rst",
            category="4. Plots",
            labels={"item": "reliability"},
        ),
        misclassified=report(
            "results/plots/misclassified.png",
            caption="../report/misclassified.rst",
            category="4. Plots",
            labels={"item": "misclassified"},
        ),
        comparison=report(
            "results/report/comparison.html",
            caption="../report/comparison.rst",
            category="5. Baseline comparison",
            labels={"item": "comparison"},
        ),
        calibration=report(
            "results/report/calibration.html",
            caption="../report/calibration.rst",
            category="6. Calibration",
            labels={"item": "calibration"},
        ),
        methods=report(
            "results/report/methods.html",
            caption="../report/methods.rst",
            category="7. Methods",
            labels={"item": "methods"},
        ),
        provenance=report(
            "results/report/provenance.html",
            caption="../report/provenance.rst",
            category="8. Provenance",
            labels={"item": "provenance"},
        ),
        tables=[
            f"results/tables/{name}.csv"
            for name in ("comparison", "calibration", "cohort", "folds")
        ],
        misclassified_scans="results/tables/misclassified_scans.csv",
    log:
        "results/logs/report_files.log",
    benchmark:
        "results/benchmarks/report_files.tsv"
    group:
        "results"
    conda:
        ENV
    params:
        settings=settings("report-files"),
        code=source_hash("report_files"),
    shell:
        "spectstage report-files --settings {params.settings:q} --results results"
        " --histories {input.histories:q} > {log:q} 2>&1"
