"""Exceptions with messages a user can act on: they name the file or config key at fault."""


class DistortionBenchError(Exception):
    """Base class of the project's own errors."""


class ConfigError(DistortionBenchError, ValueError):
    """A configuration value is missing or invalid; the message names the key."""


class AudioFileError(DistortionBenchError, ValueError):
    """An audio file cannot be used; the message names the file and what was expected."""
