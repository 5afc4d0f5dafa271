# Pool the folds' test predictions: out-of-fold metrics with intervals, baselines; then the
# tables, plots and pages of the HTML report (snakemake --report results/report.html).

# Inner-validation predictions, for the calibration, where training writes them.
VALIDATION = [
    f
    for f in expand("results/models/fold_{fold}/val_predictions.csv", fold=FOLDS)
    if any(str(o).endswith("val_predictions.csv") for o in rules.train_fold.output)
]


rule evaluate:
    input:
        predictions=expand(
            "results/models/fold_{fold}/test_predictions.csv", fold=FOLDS
        ),
        validation=VALIDATION,
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
    conda:
        ENV
    params:
        # The whole config (but compute resources): recorded in provenance.json.
        settings=settings(*(key for key in config if key != "resources")),
        code=source_hash("evaluate"),
    shell:
        "spectstage evaluate --settings {params.settings:q} --predictions {input.predictions:q}"
        " --validation {input.validation:q} --folds {input.folds:q} --cohort {input.cohort:q}"
        " --out-dir results > {log:q} 2>&1"


def report_item(path, name, category, subcategory=None):
    """An output the HTML report shows, captioned by report/<name>.rst."""
    caption = os.path.join(workflow.basedir, "report", f"{name}.rst")
    labels = {"item": name.replace("_", " ")}
    return report(
        path, caption=caption, category=category, subcategory=subcategory, labels=labels
    )


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
        cohort=report_item("results/report/cohort.html", "cohort", "1. Cohort and QC"),
        sbr=report_item(
            "results/plots/sbr_by_stage.png", "sbr_by_stage", "1. Cohort and QC"
        ),
        folds=report_item("results/report/folds.html", "folds", "2. Folds"),
        curves=report_item(
            "results/plots/learning_curves.png", "learning_curves", "2. Folds"
        ),
        metrics=report_item(
            "results/report/metrics.html", "metrics", "3. Metrics with intervals"
        ),
        table=report_item(
            "results/tables/metrics.csv", "metrics_table", "3. Metrics with intervals"
        ),
        confusion=report_item(
            "results/plots/confusion_matrix.png", "confusion_matrix", "4. Plots"
        ),
        normalised=report_item(
            "results/plots/confusion_matrix_normalised.png",
            "confusion_matrix_normalised",
            "4. Plots",
        ),
        roc=report_item("results/plots/roc.png", "roc", "4. Plots"),
        reliability=report_item(
            "results/plots/reliability.png", "reliability", "4. Plots"
        ),
        misclassified=report_item(
            "results/plots/misclassified.png", "misclassified", "4. Plots"
        ),
        comparison=report_item(
            "results/report/comparison.html", "comparison", "5. Baseline comparison"
        ),
        calibration=report_item(
            "results/report/calibration.html", "calibration", "6. Calibration"
        ),
        methods=report_item("results/report/methods.html", "methods", "7. Methods"),
        provenance=report_item(
            "results/report/provenance.html", "provenance", "8. Provenance"
        ),
        tables=[
            f"results/tables/{name}.csv"
            for name in ("comparison", "calibration", "cohort", "folds")
        ],
        misclassified_scans="results/tables/misclassified_scans.csv",
    log:
        "results/logs/report_files.log",
    conda:
        ENV
    params:
        settings=settings(*(key for key in config if key != "resources")),
        code=source_hash("evaluate"),
    shell:
        "spectstage report-files --settings {params.settings:q} --results results"
        " --histories {input.histories:q} > {log:q} 2>&1"
