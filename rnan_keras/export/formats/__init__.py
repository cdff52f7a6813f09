"""One module per export format, each with the same two functions:

- ``write(serving, path, **options) -> dict``: convert a
  :class:`~rnan_keras.export.serving.ServingModule` into the artefact at ``path`` (which
  does not exist yet) and return facts for the manifest (versions, opset, ...).
- ``load(path, num_threads=None) -> Runner``: open the artefact in its own runtime; the
  runner maps an NHWC numpy batch to the ``output`` batch.

Formats: ``savedmodel`` (a directory, TensorFlow / TF Serving), ``tflite`` (LiteRT, a
``.tflite`` file) and ``onnx`` (a ``.onnx`` file, onnxruntime and others).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from rnan_keras.errors import ConfigError

FORMATS: tuple[str, ...] = ("savedmodel", "tflite", "onnx")

#: File suffix suggested for each format (SavedModel is a directory).
SUFFIXES: dict[str, str] = {"savedmodel": "", "tflite": ".tflite", "onnx": ".onnx"}


def get_format(name: str) -> ModuleType:
    """The module implementing format ``name``; :class:`ConfigError` if unknown."""
    if name not in FORMATS:
        raise ConfigError(f"unknown export format {name!r}; choose one of: {', '.join(FORMATS)}")
    return importlib.import_module(f"rnan_keras.export.formats.{name}")
