"""The one way benchmarks report: a printed table, and the same rows as JSON with machine info."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import pandas as pd


def machine() -> dict:
    """Where a figure was measured: these machines are shared, so figures are quoted as
    ratios against a reference measured in the same run, and the machine said beside them."""
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": device,
    }


def report(
    title: str,
    table: pd.DataFrame,
    out: Path,
    shown: int = 2,
    stored: int = 3,
    extra: dict | None = None,
) -> None:
    """Print `table` under `title` (rounded to `shown` digits) and write it to `out` as
    {"title", "machine", "rows", **extra}."""
    print(title)
    print(table.round(shown).to_string())
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = table.round(stored).reset_index().to_dict("records")
    doc = {"title": title, "machine": machine(), "rows": rows, **(extra or {})}
    out.write_text(json.dumps(doc, indent=1, default=float) + "\n")
    print(f"wrote {out}")
