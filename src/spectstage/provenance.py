"""Fingerprints of the package code each workflow stage runs.

Snakemake does not see changes inside an installed package, so each rule gets a hash of
the sources it depends on as a param: editing registration re-runs ingest, editing
training code does not. (Not the git commit: every commit would re-run everything.)
What a stage depends on is read from the code itself - the import closure of its module -
so no hand-kept list can fall behind.
"""

from __future__ import annotations

import ast
import hashlib
import json
from functools import cache
from importlib import resources
from pathlib import Path

from spectstage.config import plain

#: The modules each workflow command runs (what its `cmd_<stage>` in cli_*.py imports); the
#: stage's hash covers them, everything they import from the package (function-level
#: imports included) and the data files their code names. The cli modules are wiring (options
#: to arguments) and left out, so that a new command does not re-run every stage.
STAGE_MODULES: dict[str, tuple[str, ...]] = {
    "check": ("check",),
    "ingest": ("ingest",),
    "cohort": ("cohort",),
    "folds": ("folds",),
    "augment": ("augment",),
    "train": ("train",),
    "evaluate": ("evaluate", "provenance"),
    "report_files": ("report_files",),
    "predict": ("predict",),
}
PACKAGE = "spectstage"
DATA_FOLDERS = ("data", "schema")


def source_hash(stage: str) -> str:
    """Short sha256 over the files of the stage's import closure (names and contents)."""
    return stage_hashes(Path(str(resources.files(PACKAGE))))[stage]


@cache
def stage_hashes(root: Path) -> dict[str, str]:
    """Every stage's source hash for the package at `root`, remembered on disk under a key
    of the package's files.

    Reading the import closures parses the whole package (~0.3 s), and the Snakefile does
    it at every parse: each `snakemake` run, dry run and cluster job. The files themselves
    are read each time (milliseconds) to form the key, so an edited file still changes the
    hashes; only the parse is skipped."""
    from spectstage.template import cache_dir

    key = _package_key(root)
    try:
        memo = cache_dir() / "code_hashes" / f"{key}.json"
        hashes = json.loads(memo.read_text())
        if _is_memo(hashes):
            return hashes
    except (OSError, ValueError, RuntimeError):  # RuntimeError: no home folder
        pass
    hashes = {stage: _closure_hash(root, modules) for stage, modules in STAGE_MODULES.items()}
    if _package_key(root) == key:  # else a file changed while it was hashed: no memo
        _remember(key, hashes)
    return hashes


def _remember(key: str, hashes: dict[str, str]) -> None:
    """Write the memo of this package state, and drop those of earlier states."""
    from spectstage.atomic import write_text
    from spectstage.errors import OutputError
    from spectstage.template import cache_dir

    try:
        folder = cache_dir() / "code_hashes"
        folder.mkdir(parents=True, exist_ok=True)
        write_text(folder / f"{key}.json", json.dumps(hashes, sort_keys=True))
        for old in folder.glob("*.json"):
            if old.stem != key:
                old.unlink(missing_ok=True)
    except (OSError, OutputError, RuntimeError):  # a read-only cache: only slower
        pass


def _is_memo(obj) -> bool:
    return (
        isinstance(obj, dict)
        and set(obj) == set(STAGE_MODULES)
        and all(isinstance(v, str) for v in obj.values())
    )


def _package_key(root: Path) -> str:
    """sha256 over every file an import closure can hold: the sources and data files."""
    files = [*root.rglob("*.py")]
    for folder in DATA_FOLDERS:
        files += [f for f in (root / folder).rglob("*") if f.is_file()]
    h = hashlib.sha256()
    for f in sorted(files):
        h.update(f.relative_to(root).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()[:32]


def _closure_hash(root: Path, modules: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    for f in sorted(set().union(*(import_closure(root, m) for m in modules))):
        h.update(f.relative_to(root).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def import_closure(root: Path, module: str) -> set[Path]:
    """Source files of `module` (dotted, inside the package at `root`) and of every package
    module it imports, transitively, plus the package data files their code names.

    Imports are read from the code, so they must be absolute (`ruff` bans relative ones)
    and static (no importlib by name)."""
    data: dict[str, set[Path]] = {}
    for folder in DATA_FOLDERS:
        for f in (root / folder).rglob("*") if (root / folder).is_dir() else ():
            if f.is_file():
                data.setdefault(f.name, set()).add(f)
    seen: set[Path] = set()
    todo = [module]
    while todo:
        for f in _module_files(root, todo.pop()):
            if f in seen:
                continue
            seen.add(f)
            imported, strings = _read_module(root, f, f.read_text())
            todo += imported
            seen = seen.union(*(data[s] for s in strings if s in data))
    return seen


@cache
def _read_module(root: Path, f: Path, source: str) -> tuple[list[str], set[str]]:
    """(package modules it imports, string constants) of one source file, parsed once per
    process and content: every stage's closure shares most files, and the workflow hashes
    them each time it is parsed."""
    tree = ast.parse(source, str(f))
    return _imported_modules(tree, root, f), _strings(tree)


def _module_files(root: Path, dotted: str) -> list[Path]:
    """The file of a module and the __init__.py of each package above it (run on import)."""
    parts = dotted.split(".") if dotted else []
    files = [root / Path(*parts[:i]) / "__init__.py" for i in range(len(parts))]
    target = root.joinpath(*parts)
    files.append(target / "__init__.py" if target.is_dir() else target.with_suffix(".py"))
    return [f for f in files if f.is_file()]


def _imported_modules(tree: ast.AST, root: Path, where: Path) -> list[str]:
    """Package-relative dotted names of the package modules a module imports anywhere."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                raise ValueError(f"{where}: relative import; the code hash reads absolute ones")
            # `from spectstage.io import slices` may name a submodule as well as a symbol
            names += [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
    inside = (n.removeprefix(PACKAGE).lstrip(".") for n in names if n.split(".")[0] == PACKAGE)
    return [n for n in inside if _is_module(root, n)]


def _is_module(root: Path, dotted: str) -> bool:
    target = root.joinpath(*dotted.split(".")) if dotted else root
    return (target / "__init__.py").is_file() or target.with_suffix(".py").is_file()


def _strings(tree: ast.AST) -> set[str]:
    return {
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }


def preprocessing_hash(cfg: dict) -> str:
    """What turns a raw scan into the model's input: ingest code, the slice and ingest
    settings that shape the volume, and the crop. A model applies only to scans made alike."""
    settings = {
        "slices": cfg["slices"],
        "ingest": {k: v for k, v in cfg["ingest"].items() if k != "batches"},  # jobs, not data
        "crop": cfg["train"]["crop"],
    }
    from spectstage.template import identity

    h = hashlib.sha256(source_hash("ingest").encode())
    h.update(json.dumps(plain(settings), sort_keys=True).encode())
    h.update(identity(cfg["ingest"]).encode())  # the template's and atlas's checksums
    return h.hexdigest()[:16]


PROVENANCE_PACKAGES = (
    "torch",
    "monai",
    "numpy",
    "scipy",
    "scikit-learn",
    "nibabel",
    "pydicom",
    "snakemake",
    "spectstage",
)


def _git_state(package: Path) -> tuple[str | None, bool | None]:
    """(commit, uncommitted changes?) of the checkout the package runs from, if any."""
    import subprocess

    repo = package.parents[1]  # src/spectstage -> the repository of an editable install
    if not (repo / ".git").exists():
        return None, None
    try:
        head = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True
        )
        status = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain"], capture_output=True, text=True
        )
    except OSError:  # no git on this machine
        return None, None
    if head.returncode != 0:
        return None, None
    return head.stdout.strip(), bool(status.stdout.strip())


def _public_exclusions(cfg) -> list[dict]:
    """The exclusions with the IDs results/ uses (pseudonyms when pseudonymisation is on)."""
    from spectstage.inputs import discover_all

    return [{"id": s.scan_id, "reason": r} for s, r in discover_all(cfg, problems=[])[1]]


def write_provenance(path, cfg: dict) -> None:
    """Versions, config and git commit beside a result (kept out of the metrics themselves)."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    from spectstage.atomic import write_text

    versions = {}
    for name in PROVENANCE_PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    commit, dirty = _git_state(Path(str(resources.files("spectstage"))))
    record = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "git_commit": commit,
        "git_dirty": dirty,
        "source_hashes": {stage: source_hash(stage) for stage in STAGE_MODULES},
        "config": {**plain(cfg), "exclude": _public_exclusions(cfg)},
    }
    write_text(path, json.dumps(record, indent=1, sort_keys=True) + "\n")
