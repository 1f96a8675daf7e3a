"""Errors that mean "the user's input or usage is wrong".

The CLI turns an :class:`InputError` into one line on stderr and exit code 2, with no traceback.
Library callers get an ordinary ``ValueError`` subclass they can catch.
"""


class InputError(ValueError):
    """Bad input or usage. The message names the problem and the fix, in one line."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training: the message says where the last checkpoint is and how to resume."""
