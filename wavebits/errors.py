"""Errors a user can cause and fix; the CLI prints them on one line, never as a traceback."""

from __future__ import annotations

from pathlib import Path


class WavebitsError(Exception):
    """A problem with the user's input or environment, with a message fit to print as is.

    ``detail`` is supporting text (a tool's log) that the CLI prints, indented, above the error line.
    """

    def __init__(self, *args: object, detail: str | None = None) -> None:
        super().__init__(*args)
        self.detail = detail


class BankError(WavebitsError):
    """A weight bank that is malformed, inconsistent or unreadable.

    The message names the file and the first bad field, e.g.
    ``model.wbank: layers[2] 'conv2': requant[4].shift: expected an integer in 0..62, got -3``.
    """

    def __init__(self, path: str | Path | None, field: str, problem: str) -> None:
        self.path = str(path) if path is not None else "<bank>"
        self.field = field
        self.problem = problem
        super().__init__(f"{self.path}: {field}: {problem}")


class BuildError(WavebitsError):
    """Float parameters that cannot be turned into a bank (NaN, inf, a step that is no power of two)."""


class DataError(WavebitsError):
    """A data set that is missing, malformed, or does not fit the bank."""


class WidthError(WavebitsError):
    """A bit-width that the bank was not trained for."""


class VerificationFailed(WavebitsError):
    """A level differs from the golden model, or a build misses its target: the CLI exits with code 1
    (a user error exits with 2)."""
