# Ingest in batches of scans (one process each), then one table of the cohort.
# One rule per batch: its outputs are the exact volumes of its scans.
for batch, batch_scans in BATCHES.items():

    rule:
        name:
            f"ingest_batch_{batch}"
        input:
            [str(f) for s in batch_scans for f in input_files(s.path)],
        output:
            [f"results/volumes/{s.scan_id}.nii.gz" for s in batch_scans],
            [f"results/volumes/{s.scan_id}.json" for s in batch_scans],
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
            " --out-dir results/volumes 2> {log:q}"


rule cohort_table:
    input:
        expand("results/volumes/{scan}.json", scan=[s.scan_id for s in SCANS]),
    output:
        "results/cohort.csv",
    log:
        "results/logs/cohort.log",
    conda:
        ENV
    params:
        settings=settings(*INPUT_KEYS, "ingest"),
        code=source_hash("cohort"),
    shell:
        "spectstage cohort --settings {params.settings:q} --volumes-dir results/volumes"
        " --out {output:q} 2> {log:q}"
