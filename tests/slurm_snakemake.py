"""Snakemake, as the SLURM tests run it: the installed Snakemake and executor plugin, with
the plugin's status polling held at `--seconds-between-status-checks`.

The plugin adds 10 s to its wait after every status check that finds no job finished (up
to 3 min): kind to a busy cluster's controller, but on the tests' one-node SLURM it makes
each job wait up to half its run time again after it finished (a 35 s job was seen 64 s
after its submission). Only how often the submitting Snakemake asks squeue changes: the
jobs, the profile and Snakemake itself are the users'.

Usage: python tests/slurm_snakemake.py <snakemake arguments>
"""

from __future__ import annotations

import sys

import snakemake_executor_plugin_slurm as slurm_plugin
from snakemake.cli import main


def _fixed_interval(executor) -> float:
    return executor.workflow.remote_execution_settings.seconds_between_status_checks


def _ignore_backoff(executor, seconds) -> None:
    """The plugin's own next interval (its back-off) is not used."""


slurm_plugin.Executor.next_seconds_between_status_checks = property(
    _fixed_interval, _ignore_backoff
)

if __name__ == "__main__":
    sys.exit(main())
