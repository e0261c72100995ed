"""User-facing errors: the runner prints their message and exits non-zero, no traceback."""


class SemcomError(Exception):
    """Base class for errors whose message tells the user what is wrong and what to do."""


class ConfigError(SemcomError):
    """A config value is invalid; the message names the key."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"config key '{key}': {message}")


class DataError(SemcomError):
    """A data set on disk is missing, incomplete or corrupt; the message names the file."""
