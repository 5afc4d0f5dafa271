# Pre-flight check, ingest in batches of scans (one process each), one table of the cohort.


rule check_inputs:
    input:
        raw_files(SCANS),
    output:
        "results/check.txt",
    log:
        "results/logs/check.log",
    conda:
        ENV
    params:
        settings=settings(*INPUT_KEYS, "slices"),
        code=source_hash("check"),
    shell:
        "spectstage check --settings {params.settings:q} --out {output:q} 2> {log:q}"


# One rule per batch: its outputs are the exact volumes of its scans. The check is
# `ancient`: re-checking after a new patient must not re-ingest every batch.
for batch, batch_scans in BATCHES.items():

    rule:
        name:
            f"ingest_batch_{batch}"
        input:
            ancient("results/check.txt"),
            raw_files(batch_scans),
        output:
            [f"results/volumes/{file_stem(s.scan_id)}.nii.gz" for s in batch_scans],
            [f"results/volumes/{file_stem(s.scan_id)}.json" for s in batch_scans],
            [f"results/qc/{file_stem(s.scan_id)}.png" for s in batch_scans],
        log:
            f"results/logs/ingest/batch_{batch}.log",
        conda:
            ENV
        threads: 1
        params:
            batch=batch,
            settings=settings(*INPUT_KEYS, "slices", "ingest"),
            code=source_hash("ingest"),
        shell:
            "spectstage ingest --batch {params.batch} --settings {params.settings:q}"
            " --out-dir results/volumes --qc-dir results/qc 2> {log:q}"


rule cohort_table:
    input:
        [f"results/volumes/{file_stem(s.scan_id)}.json" for s in SCANS],
    output:
        "results/cohort.csv",
    log:
        "results/logs/cohort.log",
    conda:
        ENV
    params:
        settings=settings(*INPUT_KEYS),
        code=source_hash("cohort"),
    shell:
        "spectstage cohort --settings {params.settings:q} --volumes-dir results/volumes"
        " --out {output:q} 2> {log:q}"
