"""PHI, everywhere: no string of the input's DICOM headers in any artefact of the plain run
(volumes, sidecars, tables, logs, plots and their text chunks, models and shards, the HTML
report with everything it embeds). The pseudonymised run: test_deid.py."""

from __future__ import annotations

import base64
import gzip
import io
import zipfile
from pathlib import Path

from phi_scan import blobs, dicom_phi, scan
from PIL import Image, PngImagePlugin

from conftest import snakemake, tiny_config


def _png_with_text(text: str) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", text, zip=True)  # a compressed zTXt chunk
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def test_the_scanner_finds_phi_hidden_inside_payloads():
    """A PNG text chunk, base64 in an HTML page, gzipped, in a zip: all found."""
    png = _png_with_text("Testperson^Jane0001")
    html = b'<img src="data:image/png;base64,' + base64.b64encode(png) + b'">'
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("data.pkl", gzip.compress(html))
    found = [b"Testperson^Jane0001" in blob for blob in blobs(archive.getvalue())]
    assert any(found) and b"Testperson^Jane0001" not in archive.getvalue()


def report_of(work: Path) -> None:
    """The HTML report of a run (test_report.py may have written it already)."""
    if not (work / "results" / "report.html").exists():
        snakemake(work, *tiny_config(Path("raw"), work), "--report", "results/report.html")


def test_no_dicom_phi_in_any_artefact_of_the_plain_run(workflow_run):
    phi = dicom_phi(workflow_run / "raw")
    report_of(workflow_run)
    files, payloads, hits = scan(workflow_run, phi)
    logs, log_payloads, log_hits = scan(workflow_run, phi, where="snakemake logs")
    files, payloads, hits = files + logs, payloads + log_payloads, hits + log_hits
    kinds = sorted({p.suffix for p in (workflow_run / "results").rglob("*") if p.is_file()})
    print(f"\nplain run: {len(phi)} PHI strings, {files} files ({', '.join(kinds)}), "
          f"{payloads} payloads scanned, {len(hits)} found")  # fmt: skip
    assert len(phi) > 40 and files > 100
    assert hits == []
