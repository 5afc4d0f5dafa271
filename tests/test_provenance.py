"""Code hashes follow the code: each stage's hash covers its module's import closure."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest

import spectstage
from spectstage import provenance

ROOT = Path(spectstage.__file__).parent


def write(root: Path, name: str, text: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_closure_of_a_known_package(tmp_path):
    root = tmp_path / "spectstage"
    write(root, "__init__.py", "")
    write(root, "entry.py", "from spectstage.helper import f\n")
    # a function-level import, and a submodule named through `from package import name`
    write(root, "helper.py", "def f():\n    from spectstage.sub import leaf\n")
    write(root, "sub/__init__.py", "")
    write(root, "sub/leaf.py", "import numpy\nTABLE = 'table.json'\n")
    write(root, "data/table.json", "{}")
    write(root, "data/unused.json", "{}")
    write(root, "data/tables/table.json", "{}")  # same name in a subfolder: named too
    write(root, "unrelated.py", "import spectstage.entry\n")
    closure = {f.relative_to(root).as_posix() for f in provenance.import_closure(root, "entry")}
    assert closure == {
        "__init__.py",
        "entry.py",
        "helper.py",
        "sub/__init__.py",
        "sub/leaf.py",
        "data/table.json",
        "data/tables/table.json",
    }
    write(root, "helper.py", "from . import sub\n")
    with pytest.raises(ValueError, match=r"helper\.py: relative import"):
        provenance.import_closure(root, "entry")


def test_evaluate_hash_covers_the_provenance_it_writes():
    modules = provenance.STAGE_MODULES["evaluate"]
    files = set().union(*(provenance.import_closure(ROOT, m) for m in modules))
    assert {"evaluate.py", "provenance.py"} <= {f.name for f in files}


def test_stage_hashes_cover_the_files_a_hand_kept_list_missed():
    train = {f.name for f in provenance.import_closure(ROOT, "train")}
    assert {"train.py", "inputs.py", "crop.py", "models.py", "config.schema.yaml"} <= train
    ingest = {f.name for f in provenance.import_closure(ROOT, "ingest")}
    assert "models.py" not in ingest and "train.py" not in ingest


def test_stage_hashes_are_remembered_by_the_package_contents(tmp_path, monkeypatch):
    """The on-disk memo skips the parse, never a change: an edited file gives new hashes."""
    monkeypatch.setenv("SPECTSTAGE_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "spectstage"
    shutil.copytree(ROOT, root, ignore=shutil.ignore_patterns("__pycache__"))
    parsed = {s: provenance._closure_hash(root, m) for s, m in provenance.STAGE_MODULES.items()}
    assert provenance.stage_hashes(root) == parsed  # computed, then remembered
    (memo,) = (tmp_path / "cache" / "code_hashes").iterdir()
    memo.write_text(json.dumps(dict.fromkeys(parsed, "remembered")))
    provenance.stage_hashes.cache_clear()
    assert set(provenance.stage_hashes(root).values()) == {"remembered"}  # read, not parsed
    memo.write_text("[]")  # not a memo: parsed again
    provenance.stage_hashes.cache_clear()
    assert provenance.stage_hashes(root) == parsed
    with open(root / "train.py", "a") as f:
        f.write("# an edit\n")
    provenance.stage_hashes.cache_clear()
    edited = provenance.stage_hashes(root)
    assert edited["train"] != parsed["train"] and edited["ingest"] == parsed["ingest"]
    assert [p.name for p in memo.parent.iterdir()] != [memo.name]  # the old state's memo gone
    assert len(list(memo.parent.iterdir())) == 1
    provenance.stage_hashes.cache_clear()


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_import_cycle_function_level_imports_included():
    graph = {}
    for path in ROOT.rglob("*.py"):
        tree = ast.parse(path.read_text())
        imported = provenance._imported_modules(tree, ROOT, path)
        # a module importing from its own package's __init__ is not a cycle of concern
        graph[_module_name(path)] = {m for m in imported if m and m != _module_name(path)}
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                raise AssertionError(" -> ".join([*trail, node, nxt]))
            if nxt not in state:
                visit(nxt, [*trail, node])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
