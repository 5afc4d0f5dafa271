"""Scan every artefact of a run for PHI: the bytes of each file and of what it holds —
gzip members, zip members (torch files), PNG text chunks (zTXt/iTXt compressed), data:
URIs embedded in HTML (the Snakemake report embeds every file as base64), recursively."""

from __future__ import annotations

import base64
import gzip
import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pydicom

NAME_KEYS = ("PatientName", "ReferringPhysicianName")
DATA_URI = re.compile(rb"data:[\w/+.-]+;(?:[\w-]+=[\w-]+;)*base64,([A-Za-z0-9+/=]+)")


def dicom_phi(raw: Path) -> set[str]:
    """The PHI the input's DICOM headers carry: names (and their parts), patient IDs,
    birth and study dates (both spellings), institution, referring physician."""
    phi: set[str] = set()
    for f in raw.rglob("*"):
        if not f.is_file():
            continue
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=True)
        except Exception:  # not DICOM
            continue
        patient, physician = (
            str(ds.get(k, "") or "") for k in ("PatientName", "ReferringPhysicianName")
        )
        phi |= {patient, *patient.split("^"), patient.replace("^", " ")} - {""}
        # the physician in full only: the generator's "Doctor^Example" is two common words
        phi |= {physician, physician.replace("^", " ")} - {""}
        for key in ("PatientBirthDate", "StudyDate"):
            date = str(ds.get(key, "") or "")
            if len(date) == 8:
                phi |= {date, f"{date[:4]}-{date[4:6]}-{date[6:]}"}
        phi |= {str(ds.get(k, "") or "") for k in ("PatientID", "InstitutionName")} - {""}
    return phi


def blobs(data: bytes, depth: int = 0) -> Iterator[bytes]:
    """`data` and every payload inside it."""
    yield data
    if depth > 3:
        return
    inner: list[bytes] = []
    if data[:2] == b"\x1f\x8b":
        inner.append(gzip.decompress(data))
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for name in archive.namelist():
                inner += [name.encode(), archive.read(name)]
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        inner += _png_text(data)
    if b"base64," in data:
        inner += [base64.b64decode(m.group(1)) for m in DATA_URI.finditer(data)]
    for payload in inner:
        yield from blobs(payload, depth + 1)


def _png_text(data: bytes) -> list[bytes]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        img.load()
        return [f"{k}={v}".encode() for k, v in {**img.info, **getattr(img, "text", {})}.items()]


def artefacts(work: Path, where: str = "results") -> list[Path]:
    """Every file a run wrote in `where`: "results" (the report included), "snakemake
    logs" (.snakemake/log) or "snakemake", all of Snakemake's own records (.snakemake/: its
    logs, and the metadata of every output: input paths, parameters, shell commands)."""
    folders = {"results": "results", "snakemake logs": ".snakemake/log", "snakemake": ".snakemake"}
    folder = work / folders[where]
    return [p for p in folder.rglob("*") if p.is_file()]


def names(path: Path, work: Path) -> list[str]:
    """A file's name as written, and as meant: .snakemake/metadata/ names each record by
    its output path in base64."""
    name = str(path.relative_to(work))
    if path.parent.name == "metadata":
        return [name, base64.urlsafe_b64decode(path.name).decode(errors="replace")]
    return [name]


def scan(
    work: Path, phi: set[str], where: str = "results"
) -> tuple[int, int, list[tuple[str, str]]]:
    """(files scanned, payloads scanned, hits as (file, string)) in contents and in names
    (as UTF-8 and UTF-16, which Windows tools and some metadata use)."""
    forms = {form: p for p in phi for form in (p.encode(), p.encode("utf-16-le"))}
    pattern = re.compile(b"|".join(map(re.escape, sorted(forms, key=len, reverse=True))))

    def found(data: bytes) -> list[str]:
        return [forms[m.group(0)] for m in pattern.finditer(data) if not _inside_a_number(m)]

    hits, payloads = [], 0
    files = artefacts(work, where)
    for path in files:
        name = str(path.relative_to(work))
        hits += [(name, p) for n in names(path, work) for p in found(n.encode())]
        for blob in blobs(path.read_bytes()):
            payloads += 1
            hits += [(name, p) for p in found(blob)]
    return len(files), payloads, hits


def _inside_a_number(match: re.Match) -> bool:
    """A number among the PHI (a date, a numeric ID) found after a digit: chance, as a
    file's mtime_ns in the input lists once held a study date's eight digits. Where a
    number starts, as in a DICOM DateTime, it counts."""
    found, data, at = match.group(0), match.string, match.start()
    width = 2 if found[1:2] == b"\x00" else 1  # UTF-16 or UTF-8
    return found.replace(b"\x00", b"").isdigit() and data[max(at - width, 0) : at][:1].isdigit()
