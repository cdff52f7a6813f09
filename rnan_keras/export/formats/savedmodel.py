"""SavedModel export: a directory loadable with ``tf.saved_model.load`` and TF Serving.

The ``serving_default`` signature takes ``image`` (NHWC, dynamic B/H/W) and returns
``{"output": ...}``; see :mod:`rnan_keras.export.serving`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from rnan_keras.export.serving import INPUT_NAME, OUTPUT_NAME, SIGNATURE_KEY, ServingModule


def write(serving: ServingModule, path: Path, **options: Any) -> dict[str, Any]:
    """Save ``serving`` as a SavedModel directory at ``path``."""
    tf.saved_model.save(serving, str(path), signatures={SIGNATURE_KEY: serving.serve})
    return {"tensorflow": tf.__version__}


class Runner:
    """``tf.saved_model.load`` + the ``serving_default`` signature."""

    def __init__(self, path: str | Path, num_threads: int | None = None) -> None:
        self.loaded = tf.saved_model.load(str(path))
        self.fn = self.loaded.signatures[SIGNATURE_KEY]
        spec = self.fn.structured_input_signature[1][INPUT_NAME]
        self.input_dtype = np.dtype(spec.dtype.as_numpy_dtype)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        out = self.fn(**{INPUT_NAME: tf.constant(image, dtype=self.input_dtype)})
        return out[OUTPUT_NAME].numpy()


def load(path: str | Path, num_threads: int | None = None) -> Runner:
    """Open the SavedModel at ``path``."""
    return Runner(path, num_threads)
