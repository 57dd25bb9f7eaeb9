"""Every exception pocket-recs raises, under one base class."""

from __future__ import annotations


class PocketRecsError(Exception):
    """Base class of every error pocket-recs raises on purpose."""


class DataValidationError(PocketRecsError, ValueError):
    """Input data (a file, a column, a value) is not what pocket-recs expects."""


class ConfigError(PocketRecsError, ValueError):
    """A configuration value or file is invalid."""


class ArtifactError(PocketRecsError):
    """An artifact folder is missing, incomplete, corrupt or of an unsupported version."""


class NotFittedError(PocketRecsError):
    """A model was used before ``fit`` was called."""


class UnknownIdError(PocketRecsError, KeyError):
    """A user or item id is not known to the id map."""

    def __str__(self) -> str:
        # KeyError quotes its argument; show the message as written instead.
        return str(self.args[0]) if self.args else ""


class DataWarning(UserWarning):
    """A recoverable oddity in the input data that pocket-recs worked around."""
