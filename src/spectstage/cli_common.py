"""What every `spectstage` command shares: its output (redacted when pseudonymising),
its config, and the options that several commands take."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from spectstage import config


@dataclass
class Output:
    """What a command prints goes through `redact`: the identity until pseudonymisation
    is on, then a Redactor over the original IDs (also installed on every log handler)."""

    redact: Callable[[str], str] = str

    def print(self, text: str, err: bool = False) -> None:
        print(self.redact(text), file=sys.stderr if err else sys.stdout)

    def redact_ids(self, identifiers: list[str]) -> None:
        """From now on, print and log these IDs (and any given before) as pseudonyms."""
        from spectstage.deid import Redactor

        before = self.redact if isinstance(self.redact, Redactor) else None
        redactor = Redactor([*(before.mapping if before else []), *identifiers])
        for handler in logging.getLogger().handlers:
            if before is not None:
                handler.removeFilter(before)
            handler.addFilter(redactor)
        self.redact = redactor


def command_config(args: argparse.Namespace, out: Output):
    """The validated config; with pseudonymise on, every log line and error is redacted
    of the original IDs of every scan the input lists (even unusable ones)."""
    cfg = config.load(args.config, args.settings)
    if cfg["pseudonymise"]:
        from spectstage.inputs import discover_all

        kept, excluded = discover_all(cfg, problems=[], pseudonymise=False)
        originals = kept + [scan for scan, _ in excluded]
        out.redact_ids([s.patient_id for s in originals] + [s.scan_id for s in originals])
    return cfg


def add_config_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="YAML config (default: built-in defaults)")
    p.add_argument(
        "--settings", help="JSON object overriding config keys (what workflow rules pass)"
    )


def add_tables(p: argparse.ArgumentParser) -> None:
    p.add_argument("--folds", type=Path, default=Path("results/folds.csv"))
    p.add_argument("--cohort", type=Path, default=Path("results/cohort.csv"))


def add_fold_options(p: argparse.ArgumentParser) -> None:
    add_config_options(p)
    p.add_argument("--fold", type=int, required=True)
    add_tables(p)
