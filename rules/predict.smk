# Stage new patients (config predict_dir / predict_manifest) with every fold's model:
# their own volumes, QC montages and, when they carry stages, metrics under results/predict/.
from spectstage.config import stage_labels
from spectstage.predict_inputs import predict_inputs

PREDICT_INPUTS = [p for p in (config["predict_dir"], config["predict_manifest"]) if p]
PREDICT_FILES = (
    []
    if LINTING
    else raw_inputs(predict_inputs(PREDICT_INPUTS, stage_labels(config)), "predict")
    + ([config["predict_manifest"]] if config["predict_manifest"] else [])
)


rule predict:
    input:
        models=expand("results/models/fold_{fold}/model.pt", fold=FOLDS),
        training_scans=expand(
            "results/models/fold_{fold}/training_scans.pt", fold=FOLDS
        ),
        scans=PREDICT_FILES,
    output:
        predictions=report(
            "results/predict/predictions.csv",
            caption="../report/predict.rst",
            category="9. New patients",
            labels={"item": "predictions"},
        ),
    log:
        "results/logs/predict.log",
    benchmark:
        "results/benchmarks/predict.tsv"
    conda:
        ENV
    threads: 2
    params:
        settings=settings("predict"),
        code=source_hash("predict"),
    shell:
        "spectstage predict --settings {params.settings:q} --models results/models"
        " --out {output.predictions:q} --work-dir results/predict"
        " --threads {threads} > {log:q} 2>&1"
