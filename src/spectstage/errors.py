"""Errors the CLI reports as a message (no traceback) with a non-zero exit code."""


class ReportedError(Exception):
    """A problem the user can fix; the message names the file and what is wrong."""


class InputError(ReportedError, ValueError):
    """Input the pipeline cannot use."""


class OutputError(ReportedError, OSError):
    """An output could not be written (disk full, read-only, no permission); nothing
    partial was left."""
