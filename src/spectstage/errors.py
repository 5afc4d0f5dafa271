"""The one exception type for bad input: the CLI prints it and exits non-zero."""


class InputError(ValueError):
    """Input the pipeline cannot use; the message names the file and what is wrong."""
