"""Exception classes raised by rnan_keras.

Every user-facing failure raises a subclass of :class:`RNANError`, so callers can catch
one base class and the CLI can print a one-line message instead of a traceback.
"""

from __future__ import annotations


class RNANError(Exception):
    """Base class of all rnan_keras errors."""


class ConfigError(RNANError, ValueError):
    """An unknown variant / task / preset name or an invalid configuration value."""


class ImageReadError(RNANError, OSError):
    """An image file could not be read or decoded (missing, truncated, not an image)."""


class ImageTooLargeError(ImageReadError):
    """An image declares more pixels than the configured limit (decompression bomb guard)."""


class InvalidImageError(RNANError, ValueError):
    """An in-memory image has an unsupported dtype, shape or non-finite values."""


class CheckpointError(RNANError, ValueError):
    """A checkpoint / state_dict has unknown or missing keys or mismatched shapes."""


class ModelLoadError(RNANError, OSError):
    """A model file (``.keras``, export) is corrupt or not a model."""


class ExportError(RNANError, RuntimeError):
    """An export failed verification against the Keras model; nothing was written."""


class TrainingDivergedError(RNANError, RuntimeError):
    """The training loss became NaN or infinite; the run stopped (checkpoints stay valid)."""
