"""Errors the command line turns into one clear message and an exit status.

:class:`InputError` (exit 2) is for bad usage or bad input: the message names the file,
line, column or key at fault and says what to do. :class:`RnnlabError` (exit 1) is for
everything else that rnnlab can explain (a diverging run, say).
"""

from __future__ import annotations


class RnnlabError(Exception):
    """An error with a message meant for the user; the CLI exits with status 1."""

    exit_code = 1


class InputError(RnnlabError, ValueError):
    """Bad usage or bad input (file, data, config, checkpoint); the CLI exits with status 2."""

    exit_code = 2


class TrainingDiverged(RnnlabError):
    """The loss or the gradient became NaN or infinite."""


class RunWriteError(RnnlabError):
    """A run's files could not be written (disk full, read-only directory); what was
    written before is intact. Exit status 1."""


class TrainingInterrupted(RnnlabError):
    """Training stopped on SIGINT (exit 130) or SIGTERM (exit 143) after checkpointing."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code
