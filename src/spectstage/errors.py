"""Errors the CLI reports as a message (no traceback) with a non-zero exit code."""


class InputError(ValueError):
    """Input the pipeline cannot use; the message names the file and what is wrong."""


class OutputError(InputError):
    """An output could not be written (disk full, read-only, no permission); nothing
    partial was left. Reported like bad input: the message names the file."""
