"""`spectstage` command line: one sub-command per pipeline stage.

Heavy libraries are imported inside each command, so `spectstage --help` is instant and
ingest never imports torch. Bad input raises InputError: printed, exit code 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from spectstage.errors import InputError

log = logging.getLogger("spectstage")


def _config(args: argparse.Namespace) -> dict:
    from spectstage import config

    return config.load(args.config, args.settings)


def cmd_demo_data(args: argparse.Namespace) -> None:
    from spectstage.demo.cohort import generate
    from spectstage.io.slices import SliceConventions

    per_stage = [int(n) for n in args.per_stage.split(",")]
    conv = SliceConventions(image_left=args.image_left, colormap=args.colormap)
    manifest = generate(
        args.out, args.format, per_stage, seed=args.seed, conv=conv, workers=args.workers
    )
    print(f"demo cohort: {sum(per_stage)} patients in {args.out} (manifest {manifest})")


def cmd_ingest(args: argparse.Namespace) -> None:
    from spectstage.ingest import run_batch

    done = run_batch(_config(args), args.batch, args.out_dir)
    print(f"ingested {len(done)} scan(s) of batch {args.batch} into {args.out_dir}")


def cmd_cohort(args: argparse.Namespace) -> None:
    from spectstage.cohort import write_cohort

    n = write_cohort(_config(args), args.volumes_dir, args.out)
    print(f"{args.out}: {n} scan(s)")


def _add_config_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="YAML config (default: built-in defaults)")
    p.add_argument(
        "--settings", help="JSON object overriding config keys (what workflow rules pass)"
    )


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="spectstage", description=__doc__.splitlines()[0])
    ap.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo-data", help="generate the synthetic demo cohort")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--format", choices=["png", "dicom", "nifti", "mixed"], default="mixed")
    p.add_argument("--per-stage", default="50,50,50,15", help="patients per stage, comma-separated")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--image-left", choices=["patient_right", "patient_left"], default="patient_right"
    )
    p.add_argument("--colormap", default="hot")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.set_defaults(func=cmd_demo_data)

    p = sub.add_parser("ingest", help="align and normalise one batch of scans")
    _add_config_options(p)
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--out-dir", type=Path, default=Path("results/volumes"))
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("cohort", help="collect the ingest sidecars into results/cohort.csv")
    _add_config_options(p)
    p.add_argument("--volumes-dir", type=Path, default=Path("results/volumes"))
    p.add_argument("--out", type=Path, default=Path("results/cohort.csv"))
    p.set_defaults(func=cmd_cohort)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        args.func(args)
    except InputError as err:
        print(f"spectstage {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
