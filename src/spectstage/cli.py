"""`spectstage` command line: one sub-command per pipeline stage.

Heavy libraries are imported inside each command, so `spectstage --help` is instant and
ingest never imports torch. Bad input (InputError) or an unwritable output (OutputError)
is printed as a message, exit code 2. With pseudonymisation on, every line a command
prints or logs goes through one redactor.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

from spectstage import cli_inputs, cli_models
from spectstage.cli_common import Output
from spectstage.errors import ReportedError
from spectstage.memory import keep_freed_memory


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="spectstage", description=__doc__.splitlines()[0])
    ap.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = ap.add_subparsers(dest="command", required=True)
    cli_inputs.add_commands(sub)
    cli_models.add_commands(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    keep_freed_memory()  # before the first large allocation; see spectstage.memory
    args = parser().parse_args(argv)
    try:
        return run(args)
    finally:
        from spectstage import cpu_log

        labels = {k: getattr(args, k, None) for k in ("batch", "fold")}
        cpu_log.record(args.command, labels, started)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.captureWarnings(True)  # warnings go through the (redacting) log handlers
    out = Output()
    try:
        args.func(args, out)
    except ReportedError as err:
        out.print(f"spectstage {args.command}: error: {err}", err=True)
        return 2
    except Exception:
        # A bug, not bad input: print the traceback, redacted like every other line.
        import traceback

        out.print(traceback.format_exc(), err=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
