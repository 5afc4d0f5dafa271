# Per batch of scans (one process each): a pre-flight check from headers, then ingest.
# Checking per batch keeps the promise that adding a patient re-runs one batch only.
# `spectstage check` without --batch lists every problem of the whole input at once.
# A user template, atlas and label table (ingest.template, .atlas, .atlas_labels) are inputs.
TEMPLATE_FILES = [
    config.get("ingest", {}).get(k) for k in ("template", "atlas", "atlas_labels")
]
TEMPLATE_FILES = [f for f in TEMPLATE_FILES if f]

for batch, batch_scans in BATCHES.items():
    BATCH_INPUTS = raw_inputs(batch_scans, f"batch_{batch}")

    rule:
        name:
            f"check_batch_{batch}"
        input:
            BATCH_INPUTS,
        output:
            f"results/check/batch_{batch}.txt",
        log:
            f"results/logs/check/batch_{batch}.log",
        benchmark:
            f"results/benchmarks/check/batch_{batch}.tsv"
        group:
            "ingest"
        conda:
            ENV
        params:
            batch=batch,
            settings=settings("check"),
            code=source_hash("check"),
        shell:
            "spectstage check --batch {params.batch} --settings {params.settings:q}"
            " --out {output:q} > {log:q} 2>&1"

    rule:
        name:
            f"ingest_batch_{batch}"
        input:
            f"results/check/batch_{batch}.txt",
            BATCH_INPUTS,
            TEMPLATE_FILES,
        output:
            [f"results/volumes/{file_stem(s.scan_id)}.nii.gz" for s in batch_scans],
            [f"results/volumes/{file_stem(s.scan_id)}.json" for s in batch_scans],
            [f"results/qc/{file_stem(s.scan_id)}.png" for s in batch_scans],
        log:
            f"results/logs/ingest/batch_{batch}.log",
        benchmark:
            f"results/benchmarks/ingest/batch_{batch}.tsv"
        group:
            "ingest"
        conda:
            ENV
        threads: 1
        params:
            batch=batch,
            settings=settings("ingest"),
            template=BUILTIN_TEMPLATE,
            # Per-scan slice conventions from the manifest: a changed cell re-runs the batch.
            scan_slices=inputs.slice_overrides_text(batch_scans),
            code=source_hash("ingest"),
        shell:
            "spectstage ingest --batch {params.batch} --settings {params.settings:q}"
            " --out-dir results/volumes --qc-dir results/qc > {log:q} 2>&1"


rule cohort_table:
    input:
        [f"results/volumes/{file_stem(s.scan_id)}.json" for s in SCANS],
    output:
        cohort="results/cohort.csv",
        excluded="results/excluded.csv",  # config `exclude`, with the reasons
    log:
        "results/logs/cohort.log",
    benchmark:
        "results/benchmarks/cohort_table.tsv"
    group:
        "cohort"
    conda:
        ENV
    params:
        settings=settings("cohort"),
        code=source_hash("cohort"),
    shell:
        "spectstage cohort --settings {params.settings:q} --volumes-dir results/volumes"
        " --out {output.cohort:q} --excluded {output.excluded:q} > {log:q} 2>&1"
