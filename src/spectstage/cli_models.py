"""The commands from the cohort table to the metrics, and predict: folds, augment,
train, evaluate, report-files, predict, summary."""

from __future__ import annotations

import argparse
from pathlib import Path

from spectstage.cli_common import (
    Output,
    add_config_options,
    add_fold_options,
    add_tables,
    command_config,
)
from spectstage.errors import InputError


def cmd_folds(args: argparse.Namespace, out: Output) -> None:
    from spectstage.folds import write_folds

    folds = write_folds(args.cohort, args.out, command_config(args, out))
    out.print(
        f"{args.out}: {folds['fold'].nunique()} folds, {folds['patient_id'].nunique()} patients"
    )


def cmd_augment(args: argparse.Namespace, out: Output) -> None:
    from spectstage.augment import write_shard

    n = write_shard(args.folds, args.cohort, args.fold, args.out_dir, command_config(args, out))
    out.print(f"fold {args.fold}: {n} training samples in {args.out_dir}")


def cmd_train(args: argparse.Namespace, out: Output) -> None:
    from spectstage.train import train_fold

    cfg = command_config(args, out)
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

    cfg = command_config(args, out)
    metrics, _ = evaluate(
        args.predictions, args.folds, args.cohort, args.out_dir, cfg, args.validation
    )
    write_provenance(args.out_dir / "provenance.json", cfg)
    out.print(summary_lines(metrics))


def cmd_predict(args: argparse.Namespace, out: Output) -> None:
    from contextlib import nullcontext

    from spectstage.qc import Montages

    # The montages' process starts first: its plotting imports overlap torch's below.
    with Montages() if not args.no_qc else nullcontext() as montages:
        table, metrics, work_dir = _predict(args, out, montages)
    from spectstage.predict import console_table, metrics_lines

    labels = [c[2:] for c in table.columns if c.startswith("p_")]
    out.print(console_table(table, labels))
    if metrics is not None:
        out.print(metrics_lines(metrics))
    out.print(f"{args.out}: {len(table)} scan(s); volumes and QC montages in {work_dir}")


def _predict(args: argparse.Namespace, out: Output, montages):
    from spectstage.predict import predict

    user_cfg = command_config(args, out) if (args.config or args.settings) else None
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
        inputs,
        args.models,
        args.out,
        work_dir,
        user_cfg,
        args.saliency,
        montages=montages,
        redact_ids=out.redact_ids,
    )
    return table, metrics, work_dir


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
    write_report_files(sources, results, command_config(args, out))
    out.print(f"tables, plots and report pages written under {results}")


def add_commands(sub) -> None:
    """folds, augment, train, evaluate, report-files, predict, summary."""
    for add in (
        add_folds,
        add_augment,
        add_train,
        add_evaluate,
        add_report_files,
        add_predict,
        add_summary,
    ):
        add(sub)


def add_folds(sub) -> None:
    p = sub.add_parser("folds", help="patient-grouped stratified folds -> results/folds.csv")
    add_config_options(p)
    p.add_argument("--cohort", type=Path, default=Path("results/cohort.csv"))
    p.add_argument("--out", type=Path, default=Path("results/folds.csv"))
    p.set_defaults(func=cmd_folds)


def add_augment(sub) -> None:
    p = sub.add_parser("augment", help="one fold's augmented, oversampled training shard")
    add_fold_options(p)
    p.add_argument("--out-dir", type=Path, required=True)
    p.set_defaults(func=cmd_augment)


def add_train(sub) -> None:
    p = sub.add_parser("train", help="train one fold's CNN (resumes from its checkpoint)")
    add_fold_options(p)
    p.add_argument("--shard", type=Path, required=True)
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument(
        "--checkpoint-dir", type=Path, required=True, help="kept outside the rule's outputs"
    )
    p.add_argument("--threads", type=int, default=None, help="default: train.threads")
    p.set_defaults(func=cmd_train)


def add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="pool out-of-fold predictions into metrics")
    add_config_options(p)
    p.add_argument("--predictions", type=Path, nargs="+", required=True)
    add_tables(p)
    p.add_argument(
        "--validation", type=Path, nargs="*", default=[], help="val_predictions.csv per fold"
    )
    p.add_argument("--out-dir", type=Path, default=Path("results"))
    p.set_defaults(func=cmd_evaluate)


def add_report_files(sub) -> None:
    p = sub.add_parser("report-files", help="tables, plots and pages for the HTML report")
    add_config_options(p)
    p.add_argument("--results", type=Path, default=Path("results"))
    p.add_argument("--histories", type=Path, nargs="+", required=True, help="history.csv per fold")
    p.set_defaults(func=cmd_report_files)


def add_predict(sub) -> None:
    p = sub.add_parser("predict", help="stage new patients with trained fold models")
    p.add_argument(
        "inputs",
        nargs="*",
        type=Path,
        metavar="INPUT",
        help="scan file, patient folder, folder of patients, labelled raw_dir or manifest CSV",
    )
    p.add_argument("--models", type=Path, default=Path("results/models"))
    add_config_options(p)
    p.add_argument("--out", type=Path, default=Path("predictions.csv"))
    p.add_argument(
        "--work-dir",
        type=Path,
        help="the prediction's volumes, QC montages, metrics (default: OUT without .csv)",
    )
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument(
        "--saliency", action="store_true", help="saliency maps (NIfTI + PNG) under WORK_DIR"
    )
    p.add_argument("--no-qc", action="store_true", help="skip the QC montages (faster)")
    p.set_defaults(func=cmd_predict)


def add_summary(sub) -> None:
    p = sub.add_parser("summary", help="headline numbers with intervals from metrics.json")
    p.add_argument("--metrics", type=Path, default=Path("results/metrics.json"))
    p.set_defaults(func=cmd_summary)
