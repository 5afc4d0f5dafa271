"""`spectstage` command line: one sub-command per pipeline stage.

Heavy libraries are imported inside each command, so `spectstage --help` is instant and
ingest never imports torch. Bad input (InputError) or an unwritable output (OutputError)
is printed as a message, exit code 2. With pseudonymisation on, every line a command
prints or logs goes through one redactor.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from spectstage import config
from spectstage.errors import InputError, ReportedError

log = logging.getLogger("spectstage")


@dataclass
class Output:
    """What a command prints goes through `redact`: the identity until the config turns
    pseudonymisation on, then a Redactor over the cohort's original IDs."""

    redact: Callable[[str], str] = str

    def print(self, text: str, err: bool = False) -> None:
        print(self.redact(text), file=sys.stderr if err else sys.stdout)


def _config(args: argparse.Namespace, out: Output):
    """The validated config; with pseudonymise on, every log line and error is redacted."""
    cfg = config.load(args.config, args.settings)
    if cfg["pseudonymise"]:
        redactor = _redactor(cfg)
        for handler in logging.getLogger().handlers:
            handler.addFilter(redactor)
        out.redact = redactor
    return cfg


def _redactor(cfg):
    """A redactor over the original IDs of every scan the input lists (even unusable ones)."""
    from spectstage.deid import Redactor
    from spectstage.inputs import discover_all

    kept, excluded = discover_all(cfg, problems=[], pseudonymise=False)
    originals = kept + [scan for scan, _ in excluded]
    return Redactor([s.patient_id for s in originals] + [s.scan_id for s in originals])


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

    done = run_batch(_config(args, out), args.batch, args.out_dir, args.qc_dir)
    out.print(f"ingested {len(done)} scan(s) of batch {args.batch} into {args.out_dir}")


def cmd_check(args: argparse.Namespace, out: Output) -> None:
    from spectstage.atomic import write_text
    from spectstage.check import check

    summary, problems = check(_config(args, out), args.batch)
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

    cfg = _config(args, out)
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

    n = write_cohort(_config(args, out), args.volumes_dir, args.out, args.excluded)
    out.print(f"{args.out}: {n} scan(s)")


def cmd_folds(args: argparse.Namespace, out: Output) -> None:
    from spectstage.folds import write_folds

    folds = write_folds(args.cohort, args.out, _config(args, out))
    out.print(
        f"{args.out}: {folds['fold'].nunique()} folds, {folds['patient_id'].nunique()} patients"
    )


def cmd_augment(args: argparse.Namespace, out: Output) -> None:
    from spectstage.augment import write_shard

    n = write_shard(args.folds, args.cohort, args.fold, args.out_dir, _config(args, out))
    out.print(f"fold {args.fold}: {n} training samples in {args.out_dir}")


def cmd_train(args: argparse.Namespace, out: Output) -> None:
    from spectstage.train import train_fold

    cfg = _config(args, out)
    meta = train_fold(
        args.folds,
        args.cohort,
        args.shard,
        args.fold,
        args.out_dir,
        args.checkpoint_dir,
        cfg,
        args.threads or cfg["train"]["threads"],
    )
    out.print(
        f"fold {args.fold}: best epoch {meta['best_epoch']}, "
        f"validation loss {meta['val_loss']:.3f}, "
        f"balanced accuracy {meta['val_balanced_accuracy']:.3f} (monitored: {meta['monitor']})"
    )


def cmd_evaluate(args: argparse.Namespace, out: Output) -> None:
    from spectstage.evaluate import evaluate
    from spectstage.provenance import write_provenance

    cfg = _config(args, out)
    metrics, _ = evaluate(
        args.predictions, args.folds, args.cohort, args.out_dir, cfg, args.validation
    )
    write_provenance(args.out_dir / "provenance.json", cfg)
    out.print(summary_lines(metrics))


def cmd_predict(args: argparse.Namespace, out: Output) -> None:
    from spectstage.predict import console_table, metrics_lines, predict

    user_cfg = _config(args, out) if (args.config or args.settings) else None
    inputs = list(args.inputs)
    if user_cfg is not None and not inputs:  # the workflow: predict_dir / predict_manifest
        inputs = [Path(user_cfg[k]) for k in ("predict_dir", "predict_manifest") if user_cfg[k]]
    if not inputs:
        raise InputError("predict: give INPUT (scans, folders or a manifest) or predict_dir")
    work_dir = args.work_dir or args.out.with_suffix("")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    table, metrics = predict(
        inputs, args.models, args.out, work_dir, user_cfg, args.saliency, qc=not args.no_qc
    )
    labels = [c[2:] for c in table.columns if c.startswith("p_")]
    out.print(console_table(table, labels))
    if metrics is not None:
        out.print(metrics_lines(metrics))
    out.print(f"{args.out}: {len(table)} scan(s); volumes and QC montages in {work_dir}")


def summary_lines(metrics: dict) -> str:
    from spectstage.report import with_interval

    lines = []
    for name in ("cnn", "sbr_baseline", "oracle"):
        if name in metrics:
            p = metrics[name]["pooled"]
            ba = with_interval(p["balanced_accuracy"], p["ci95"].get("balanced_accuracy"))
            qwk = with_interval(
                p["quadratic_weighted_kappa"], p["ci95"].get("quadratic_weighted_kappa")
            )
            lines.append(f"{name:13s} balanced accuracy {ba}  QWK {qwk}")
    diff = metrics["comparison"]["cnn_minus_sbr_baseline"]["balanced_accuracy"]
    ci = diff["ci95"] or [float("nan")] * 2
    lines.append(
        f"CNN - SBR baseline, balanced accuracy {diff['difference']:+.3f} "
        f"[{ci[0]:+.3f}, {ci[1]:+.3f}] (95 % paired bootstrap over patients)"
    )
    return "\n".join(lines)


def cmd_summary(args: argparse.Namespace, out: Output) -> None:
    import json

    out.print(summary_lines(json.loads(args.metrics.read_text())))


def cmd_report_files(args: argparse.Namespace, out: Output) -> None:
    from spectstage.report_files import Sources, write_report_files

    results = args.results
    sources = Sources(
        metrics=results / "metrics.json",
        oof=results / "oof_predictions.csv",
        baseline=results / "sbr_baseline_predictions.csv",
        cohort=results / "cohort.csv",
        folds=results / "folds.csv",
        provenance=results / "provenance.json",
        histories=args.histories,
        qc_dir=results / "qc",
    )
    write_report_files(sources, results, _config(args, out))
    out.print(f"tables, plots and report pages written under {results}")


def _add_config_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="YAML config (default: built-in defaults)")
    p.add_argument(
        "--settings", help="JSON object overriding config keys (what workflow rules pass)"
    )


def _add_tables(p: argparse.ArgumentParser) -> None:
    p.add_argument("--folds", type=Path, default=Path("results/folds.csv"))
    p.add_argument("--cohort", type=Path, default=Path("results/cohort.csv"))


def _add_fold_options(p: argparse.ArgumentParser) -> None:
    _add_config_options(p)
    p.add_argument("--fold", type=int, required=True)
    _add_tables(p)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="spectstage", description=__doc__.splitlines()[0])
    ap.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = ap.add_subparsers(dest="command", required=True)
    _add_input_commands(sub)
    _add_model_commands(sub)
    return ap


def _add_input_commands(sub) -> None:
    """Commands from raw files to the cohort table."""
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
        "screenshots (viewer-screenshot slice stacks)",
    )
    p.add_argument(
        "--grid",
        choices=["mixed", "128", "64"],
        default="mixed",
        help="acquisition matrix of the reconstruction: 128 (~2 mm pixels, ~4.4 mm slices), "
        "64 (~4 mm) or mixed per patient (default)",
    )
    p.set_defaults(func=cmd_demo_data)

    p = sub.add_parser("ingest", help="align and normalise one batch of scans")
    _add_config_options(p)
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--out-dir", type=Path, default=Path("results/volumes"))
    p.add_argument("--qc-dir", type=Path, default=Path("results/qc"))
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("check", help="pre-flight: list every problem of the input (headers only)")
    _add_config_options(p)
    p.add_argument("--out", type=Path, help="write the summary here when there is no problem")
    p.add_argument("--batch", type=int, help="only this ingest batch (as the workflow runs it)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("pseudonyms", help="write the ID -> pseudonym table (needs the key)")
    _add_config_options(p)
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=cmd_pseudonyms)

    p = sub.add_parser("cohort", help="collect the ingest sidecars into results/cohort.csv")
    _add_config_options(p)
    p.add_argument("--volumes-dir", type=Path, default=Path("results/volumes"))
    p.add_argument("--out", type=Path, default=Path("results/cohort.csv"))
    p.add_argument("--excluded", type=Path, default=Path("results/excluded.csv"))
    p.set_defaults(func=cmd_cohort)


def _add_model_commands(sub) -> None:
    """Commands from the cohort table to the metrics."""
    p = sub.add_parser("folds", help="patient-grouped stratified folds -> results/folds.csv")
    _add_config_options(p)
    p.add_argument("--cohort", type=Path, default=Path("results/cohort.csv"))
    p.add_argument("--out", type=Path, default=Path("results/folds.csv"))
    p.set_defaults(func=cmd_folds)

    p = sub.add_parser("augment", help="one fold's augmented, oversampled training shard")
    _add_fold_options(p)
    p.add_argument("--out-dir", type=Path, required=True)
    p.set_defaults(func=cmd_augment)

    p = sub.add_parser("train", help="train one fold's CNN (resumes from its checkpoint)")
    _add_fold_options(p)
    p.add_argument("--shard", type=Path, required=True)
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument(
        "--checkpoint-dir", type=Path, required=True, help="kept outside the rule's outputs"
    )
    p.add_argument("--threads", type=int, default=None, help="default: train.threads")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="pool out-of-fold predictions into metrics")
    _add_config_options(p)
    p.add_argument("--predictions", type=Path, nargs="+", required=True)
    _add_tables(p)
    p.add_argument(
        "--validation", type=Path, nargs="*", default=[], help="val_predictions.csv per fold"
    )
    p.add_argument("--out-dir", type=Path, default=Path("results"))
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("report-files", help="tables, plots and pages for the HTML report")
    _add_config_options(p)
    p.add_argument("--results", type=Path, default=Path("results"))
    p.add_argument("--histories", type=Path, nargs="+", required=True, help="history.csv per fold")
    p.set_defaults(func=cmd_report_files)

    p = sub.add_parser("predict", help="stage new patients with trained fold models")
    p.add_argument(
        "inputs",
        nargs="*",
        type=Path,
        metavar="INPUT",
        help="scan file, patient folder, folder of patients, labelled raw_dir or manifest CSV",
    )
    p.add_argument("--models", type=Path, default=Path("results/models"))
    _add_config_options(p)
    p.add_argument("--out", type=Path, default=Path("predictions.csv"))
    p.add_argument(
        "--work-dir",
        type=Path,
        help="the prediction's volumes, QC montages, metrics (default: OUT without .csv)",
    )
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument(
        "--saliency", action="store_true", help="Grad-CAM maps (NIfTI + PNG) under WORK_DIR"
    )
    p.add_argument("--no-qc", action="store_true", help="skip the QC montages (faster)")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("summary", help="headline numbers with intervals from metrics.json")
    p.add_argument("--metrics", type=Path, default=Path("results/metrics.json"))
    p.set_defaults(func=cmd_summary)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.captureWarnings(True)  # warnings go through the (redacting) log handlers
    out = Output()
    try:
        args.func(args, out)
    except ReportedError as err:
        out.print(f"spectstage {args.command}: error: {err}", err=True)
        return 2
    except Exception:
        # A bug, not bad input: print the traceback, redacted like every other line.
        import traceback

        out.print(traceback.format_exc(), err=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
