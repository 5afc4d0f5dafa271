"""The one way benchmarks report: a printed table, and the same rows as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd


def report(title: str, table: pd.DataFrame, out: Path, shown: int = 2, stored: int = 3) -> None:
    """Print `table` under `title` (rounded to `shown` digits) and write it to `out`."""
    print(title)
    print(table.round(shown).to_string())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(table.round(stored).reset_index().to_dict("records"), indent=1) + "\n"
    )
    print(f"wrote {out}")
