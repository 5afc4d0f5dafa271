"""Per-command CPU accounting ($SPECTSTAGE_CPU_LOG, benchmarks/make_demo.py) and the
glibc memory setting every command makes (spectstage.memory)."""

from __future__ import annotations

import json
import platform
import resource

import pytest

from spectstage import cpu_log
from spectstage.cli import main
from spectstage.memory import keep_freed_memory


def _own_cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def test_a_command_appends_its_cpu_seconds_even_when_it_fails(tmp_path, monkeypatch):
    log = tmp_path / "cpu.jsonl"
    monkeypatch.setenv(cpu_log.VARIABLE, str(log))
    missing = tmp_path / "no" / "metrics.json"
    assert main(["summary", "--metrics", str(missing)]) != 0  # an error, still recorded
    assert main(["summary", "--metrics", str(missing)]) != 0
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [line["command"] for line in lines] == ["summary", "summary"]
    # the kernel's count for this (test) process, read after, bounds what a command in it
    # reported (to the 1 ms that rounding each of user and system may add)
    bound = _own_cpu() + 0.001
    assert all(0 < line["user_s"] + line["sys_s"] <= bound for line in lines)
    assert lines[1]["user_s"] + lines[1]["sys_s"] >= lines[0]["user_s"] + lines[0]["sys_s"] - 0.001
    assert all("batch" not in line and "fold" not in line for line in lines)


def test_nothing_is_written_without_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv(cpu_log.VARIABLE, raising=False)
    monkeypatch.chdir(tmp_path)
    main(["summary", "--metrics", str(tmp_path / "metrics.json")])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_glibc_accepts_the_memory_setting():
    assert keep_freed_memory() is True


def test_an_unwritable_log_never_fails_the_command(tmp_path, monkeypatch, caplog):
    """The variable may be inherited where its folder does not exist (a cluster node)."""
    monkeypatch.setenv(cpu_log.VARIABLE, str(tmp_path / "no" / "such" / "cpu.jsonl"))
    (tmp_path / "metrics.json").write_text(json.dumps({}))
    ok = main(["summary", "--metrics", str(tmp_path / "metrics.json")])
    monkeypatch.delenv(cpu_log.VARIABLE)
    assert ok == main(["summary", "--metrics", str(tmp_path / "metrics.json")])
    assert f"{cpu_log.VARIABLE}=" in caplog.text and "not written" in caplog.text
