"""Run `spectstage` commands in forked children and SIGKILL them at chosen points.

The worker imports the package and its heavy libraries once; each request (one JSON line
on stdin) forks a child that runs `spectstage.cli.main(argv)` in `cwd`, and is answered
with one JSON line: how the child ended (exit code, or the signal that killed it) and how
many seconds it took. Kill points:

- {"at": "replace" | "fsync", "n": k, "when": "before" | "after"}: the child kills itself
  with SIGKILL just before or after its k-th call of os.replace (the rename that makes an
  output final) or os.fsync (the temporary file is written, not yet synced or renamed);
- {"after_s": t}: the worker kills the child t seconds after it started (anywhere);
- null: run to the end.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time


def _install(kill: dict | None) -> None:
    if not kill or "at" not in kill:
        return
    real = getattr(os, kill["at"])
    calls = [0]

    def hooked(*args, **kwargs):
        calls[0] += 1
        hit = calls[0] == kill["n"]
        if hit and kill["when"] == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        result = real(*args, **kwargs)
        if hit and kill["when"] == "after":
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(os, kill["at"], hooked)


def _child(request: dict) -> None:
    from spectstage import cli

    os.chdir(request["cwd"])
    log = os.open("command.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(log, 1)
    os.dup2(log, 2)
    _install(request.get("kill"))
    try:
        code = cli.main(request["argv"]) or 0
    except SystemExit as err:
        code = err.code if isinstance(err.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 99
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _wait(pid: int, after_s: float | None) -> int:
    deadline = None if after_s is None else time.monotonic() + after_s
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if deadline is not None and time.monotonic() >= deadline:
            os.kill(pid, signal.SIGKILL)
            deadline = None
        time.sleep(0.01)


def serve() -> None:
    # Everything the commands import, once, before any fork (no torch threads started yet).
    import spectstage.augment
    import spectstage.check
    import spectstage.cli
    import spectstage.evaluate
    import spectstage.folds
    import spectstage.ingest
    import spectstage.train  # noqa: F401

    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:
            _child(request)
        status = _wait(pid, (request.get("kill") or {}).get("after_s"))
        answer = {
            "exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            "seconds": round(time.monotonic() - start, 2),
        }
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    serve()
