"""`make demo` after set-up, demo generation included (issue 17 §3, goal <= 5 min wall, 2 cores).

Usage: python benchmarks/make_demo.py [--cores 2] [--work DIR] [--keep]
Runs, in a temporary work folder (never the repository's results/), what `make demo` runs:
`spectstage demo-data --out data/demo`, `snakemake --cores N --configfile config/demo.yaml`,
the HTML report and `spectstage summary`. Reports wall time and CPU seconds (user + system
of every finished child process, from the kernel's rusage) per step, CPU seconds per
`spectstage` command (each process's own rusage at exit, $SPECTSTAGE_CPU_LOG), wall time and
peak RSS per rule (the rules' Snakemake `benchmark:` files, results/benchmarks/), and sha256
digests of results/metrics.json and the volumes, so that two runs can be shown to produce
the same files. Writes benchmarks/results/make_demo.json. Never asserts.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from report import report

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def cpu_of_children() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime, usage.ru_stime


def run_step(cmd: list[str], cwd: Path, log: Path) -> dict:
    """Run one step; its CPU is the rusage of the children it left behind (all waited for)."""
    user0, sys0 = cpu_of_children()
    start = time.perf_counter()
    env = {**os.environ, "SPECTSTAGE_CPU_LOG": str(cwd / "cpu_log.jsonl")}
    with log.open("w") as out:
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - start
    user1, sys1 = cpu_of_children()
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed (log {log}):\n{log.read_text()[-3000:]}")
    return {"wall_s": wall, "user_s": user1 - user0, "sys_s": sys1 - sys0}


def rule_name(path: Path, root: Path) -> str:
    """results/benchmarks/ingest/batch_3.tsv -> ingest (one row per rule, batches summed)."""
    return path.relative_to(root).parts[0].removesuffix(".tsv")


def per_command(cpu_log: Path) -> pd.DataFrame:
    """CPU seconds per `spectstage` command, exact: each process's getrusage at exit
    (spectstage.cpu_log), itself and its helper processes; jobs of a rule summed."""
    frame = pd.read_json(cpu_log, lines=True)
    frame["cpu_s"] = frame["user_s"] + frame["sys_s"]
    table = frame.groupby("command").agg(
        jobs=("cpu_s", "size"), cpu_s=("cpu_s", "sum"), job_wall_s=("wall_s", "sum")
    )
    table["cpu_share"] = table["cpu_s"] / table["cpu_s"].sum()
    return table.sort_values("cpu_s", ascending=False)


def per_rule(work: Path) -> pd.DataFrame:
    """Wall seconds and peak memory per rule from Snakemake's benchmark files. Their
    cpu_time is left out: psutil samples it every 30 s after a job's first 15 s."""
    root = work / "results" / "benchmarks"
    rows = [
        {
            "rule": rule_name(tsv, root),
            "wall_s": float(frame["s"].iloc[0]),
            "max_rss_mb": float(frame["max_rss"].iloc[0]),
        }
        for tsv in sorted(root.rglob("*.tsv"))
        for frame in [pd.read_csv(tsv, sep="\t")]
    ]
    if not rows:
        return pd.DataFrame(columns=["jobs", "wall_s", "max_rss_mb"])
    return (
        pd.DataFrame(rows)
        .groupby("rule")
        .agg(jobs=("wall_s", "size"), wall_s=("wall_s", "sum"), max_rss_mb=("max_rss_mb", "max"))
        .sort_values("wall_s", ascending=False)
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def digests(work: Path) -> dict:
    """metrics.json, three volumes by name, and one digest over every volume (name + bytes)."""
    results = work / "results"
    volumes = sorted((results / "volumes").glob("*.nii.gz"))
    whole = hashlib.sha256()
    for v in volumes:
        whole.update(v.name.encode() + b"\0" + v.read_bytes())
    picked = volumes[:: max(1, len(volumes) // 3)][:3]
    return {
        "metrics.json": sha256(results / "metrics.json"),
        "oof_predictions.csv": sha256(results / "oof_predictions.csv"),
        "volumes_all": whole.hexdigest(),
        "volumes_count": len(volumes),
        **{f"volumes/{v.name}": sha256(v) for v in picked},
    }


def steps(cores: int) -> list[tuple[str, list[str]]]:
    snakefile = str(REPO / "Snakefile")
    config = str(REPO / "config" / "demo.yaml")
    snakemake = [str(BIN / "snakemake"), "-s", snakefile, "--configfile", config]
    return [
        ("demo-data", [str(BIN / "spectstage"), "demo-data", "--out", "data/demo"]),
        ("snakemake", [*snakemake, "--cores", str(cores)]),
        ("report", [*snakemake, "--report", "results/report.html"]),
        ("summary", [str(BIN / "spectstage"), "summary"]),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--work", type=Path, help="work folder (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary work folder")
    ap.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "make_demo.json"
    )
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="make_demo_"))
    work.mkdir(parents=True, exist_ok=True)
    rows = {}
    for name, cmd in steps(args.cores):
        rows[name] = run_step(cmd, work, work / f"{name}.log")
        print(f"{name}: {rows[name]['wall_s']:.1f} s wall", flush=True)
    table = pd.DataFrame(rows).T
    table.loc["total"] = table.sum()
    table["cpu_s"] = table["user_s"] + table["sys_s"]
    commands = per_command(work / "cpu_log.jsonl")
    print("CPU seconds per spectstage command (getrusage at exit, jobs summed):")
    print(commands.round(2).to_string())
    rules = per_rule(work)
    print("Wall seconds and peak RSS per rule (Snakemake benchmark files):")
    print(rules.round(1).to_string())
    total = table.loc["total"]
    # Snakemake's own CPU (parsing, DAG, scheduling, job start-up shells) in the workflow step
    in_workflow = commands.drop(index=["demo-data", "summary"], errors="ignore")["cpu_s"].sum()
    overhead = float(table.loc["snakemake", "cpu_s"] - in_workflow)
    print(f"Snakemake itself in the workflow step: {overhead:.1f} CPU s")
    summary = re.sub(r"\s+", " ", (work / "summary.log").read_text()).strip()[:400]
    report(
        f"make demo ({args.cores} cores): {total['wall_s']:.0f} s wall, {total['cpu_s']:.0f} CPU s",
        table,
        args.out,
        extra={
            "cores": args.cores,
            "snakemake_own_cpu_s": round(overhead, 3),
            "per_command": commands.round(3).reset_index().to_dict("records"),
            "per_rule": rules.round(3).reset_index().to_dict("records"),
            "digests": digests(work),
            "summary": summary,
            "work": str(work) if (args.keep or args.work) else None,
        },
    )
    if not (args.keep or args.work):
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
