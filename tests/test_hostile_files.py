"""Hostile files for every reader (slice images, DICOM, NIfTI): truncated, zero-size, wrong
magic, huge declared sizes, compressed data that inflates far beyond its size. Each ends in
InputError naming the file, within a time limit and with bounded memory, measured in a
separate process (peak resident memory, resource.getrusage)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hostile_files import CASE_SECONDS, all_cases

HERE = Path(__file__).parent
# What the worker may use beyond its imports: ~5 x a 256^3 float32 volume.
MEMORY_BUDGET_MB = 400


def test_every_hostile_file_is_refused_naming_it_in_bounded_time_and_memory(tmp_path):
    cases = {name: str(path) for name, path in all_cases(tmp_path).items()}
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    proc = subprocess.run(
        [sys.executable, str(HERE / "hostile_files.py"), str(tmp_path / "cases.json")],
        capture_output=True,
        text=True,
        timeout=CASE_SECONDS * 2 * len(cases) + 60,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    baseline = lines[0]["peak_rss_mb"]
    results = lines[1:]
    assert [r["case"] for r in results] == list(cases)
    peak = max(step["peak_rss_mb"] for r in results for step in (r["check"], r["read"]))
    slowest = max(step["seconds"] for r in results for step in (r["check"], r["read"]))
    print(f"\n{len(results)} hostile-file kinds, 2 readers each (check, load_scan)")
    for r in results:
        check, read = r["check"], r["read"]
        print(
            f"  {r['case']:<58} check {check['outcome']:<10} read {read['outcome']:<10} "
            f"{read['seconds']:5.2f} s {read['peak_rss_mb']:6.0f} MB  "
            f"{read['message'][len(r['path']) :][:60]}"
        )
    print(f"peak RSS {peak:.0f} MB (imports alone {baseline:.0f} MB); slowest step {slowest:.2f} s")
    # The pre-flight check reads headers only: it may pass a file whose pixels are damaged
    # (the reader then refuses it), but it must never fail any other way.
    wrong = [
        (r["case"], step, r[step]["outcome"], r[step]["message"])
        for r in results
        for step in ("check", "read")
        if not (r[step]["outcome"] == "InputError" and r["path"] in r[step]["message"])
        and not (step == "check" and r[step]["outcome"] == "read")
    ]
    assert wrong == []
    assert peak - baseline < MEMORY_BUDGET_MB
