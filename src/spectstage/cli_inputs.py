"""The commands from raw files to the cohort table: demo-data, check, ingest,
pseudonyms, cohort."""

from __future__ import annotations

import argparse
from pathlib import Path

from spectstage import config
from spectstage.cli_common import Output, add_config_options, command_config
from spectstage.errors import InputError


def cmd_demo_data(args: argparse.Namespace, out: Output) -> None:
    from spectstage.demo.acquisition import Realism
    from spectstage.demo.cohort import generate
    from spectstage.io.slices import SliceConventions

    per_stage = [int(n) for n in args.per_stage.split(",")]
    conv = SliceConventions(image_left=args.image_left, colormap=args.colormap)
    try:
        off = list(Realism.EFFECTS) if args.clean else [e for e in args.without.split(",") if e]
        manifest = generate(
            args.out,
            args.format,
            per_stage,
            seed=args.seed,
            conv=conv,
            workers=args.workers,
            id_prefix=args.id_prefix,
            id_offset=args.id_offset,
            realism=Realism.without(off, args.grid),
        )
    except ValueError as err:
        raise InputError(str(err)) from err
    out.print(f"demo cohort: {sum(per_stage)} patients in {args.out} (manifest {manifest})")


def cmd_ingest(args: argparse.Namespace, out: Output) -> None:
    from spectstage.ingest import run_batch

    done = run_batch(command_config(args, out), args.batch, args.out_dir, args.qc_dir)
    out.print(f"ingested {len(done)} scan(s) of batch {args.batch} into {args.out_dir}")


def cmd_check(args: argparse.Namespace, out: Output) -> None:
    from spectstage.atomic import write_text
    from spectstage.check import check

    summary, problems = check(command_config(args, out), args.batch)
    out.print(summary)
    if problems:
        listing = "\n  ".join(problems)
        raise InputError(f"{len(problems)} problem(s):\n  {listing}")
    if args.out:
        write_text(args.out, summary + "\nno problems found\n")
    out.print("no problems found")


def cmd_pseudonyms(args: argparse.Namespace, out: Output) -> None:
    import pandas as pd

    from spectstage.atomic import atomic_path
    from spectstage.deid import pseudonym
    from spectstage.inputs import discover

    cfg = command_config(args, out)
    scans = discover(cfg, pseudonymise=False)
    table = pd.DataFrame(
        [
            {
                "patient_id": s.patient_id,
                "scan_id": s.scan_id,
                "patient_pseudonym": pseudonym(s.patient_id),
                "scan_pseudonym": pseudonym(s.scan_id),
            }
            for s in scans
        ]
    )
    with atomic_path(args.out) as tmp:
        table.to_csv(tmp, index=False)
    out.print(
        f"{args.out}: {len(table)} scan(s). "
        "It links pseudonyms to patients: keep it out of results/."
    )


def cmd_cohort(args: argparse.Namespace, out: Output) -> None:
    from spectstage.cohort import write_cohort

    n = write_cohort(command_config(args, out), args.volumes_dir, args.out, args.excluded)
    out.print(f"{args.out}: {n} scan(s)")


def add_commands(sub) -> None:
    """demo-data, ingest, check, pseudonyms, cohort."""
    for add in (add_demo_data, add_ingest, add_check, add_pseudonyms, add_cohort):
        add(sub)


def add_demo_data(sub) -> None:
    p = sub.add_parser("demo-data", help="generate the synthetic demo cohort")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--format", choices=["png", "dicom", "nifti", "mixed"], default="mixed")
    p.add_argument("--per-stage", default="50,50,50,15", help="patients per stage, comma-separated")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--image-left",
        choices=["patient_right", "patient_left"],
        default=config.default("slices", "image_left"),
    )
    p.add_argument("--colormap", default=config.default("slices", "colormap"))
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument(
        "--id-prefix", default="P", help="patient ID prefix (default P: P0001, P0002, ...)"
    )
    p.add_argument(
        "--id-offset",
        type=int,
        default=0,
        help="number the patients from OFFSET+1, so a second cohort does not reuse IDs",
    )
    add_realism_options(p)
    p.set_defaults(func=cmd_demo_data)


def add_realism_options(p: argparse.ArgumentParser) -> None:
    """demo-data's acquisition realism: all of it (default), some of it, or none."""
    p.add_argument(
        "--clean",
        action="store_true",
        help="no acquisition realism: Poisson noise on the blurred phantom, 64^3 grid, "
        "plain slice stacks (for exact comparisons)",
    )
    p.add_argument(
        "--without",
        default="",
        metavar="EFFECTS",
        help="switch off some realism effects, comma-separated: reconstruction "
        "(projections + FBP on a clinical grid), extracerebral (scalp, glands, neck), "
        "screenshots (viewer-screenshot slice stacks), sites (slice stacks from several "
        "sites, their conventions per scan in the manifest)",
    )
    p.add_argument(
        "--grid",
        choices=["mixed", "128", "64"],
        default="mixed",
        help="acquisition matrix of the reconstruction: 128 (~2 mm pixels, ~4.4 mm slices), "
        "64 (~4 mm) or mixed per patient (default)",
    )


def add_ingest(sub) -> None:
    p = sub.add_parser("ingest", help="align and normalise one batch of scans")
    add_config_options(p)
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--out-dir", type=Path, default=Path("results/volumes"))
    p.add_argument("--qc-dir", type=Path, default=Path("results/qc"))
    p.set_defaults(func=cmd_ingest)


def add_check(sub) -> None:
    p = sub.add_parser("check", help="pre-flight: list every problem of the input (headers only)")
    add_config_options(p)
    p.add_argument("--out", type=Path, help="write the summary here when there is no problem")
    p.add_argument("--batch", type=int, help="only this ingest batch (as the workflow runs it)")
    p.set_defaults(func=cmd_check)


def add_pseudonyms(sub) -> None:
    p = sub.add_parser("pseudonyms", help="write the ID -> pseudonym table (needs the key)")
    add_config_options(p)
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=cmd_pseudonyms)


def add_cohort(sub) -> None:
    p = sub.add_parser("cohort", help="collect the ingest sidecars into results/cohort.csv")
    add_config_options(p)
    p.add_argument("--volumes-dir", type=Path, default=Path("results/volumes"))
    p.add_argument("--out", type=Path, default=Path("results/cohort.csv"))
    p.add_argument("--excluded", type=Path, default=Path("results/excluded.csv"))
    p.set_defaults(func=cmd_cohort)
