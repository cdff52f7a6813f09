"""TFLite (LiteRT) export, builtin ops only, with three weight precisions.

``quantization``:
    ``float32``       -- weights and compute in float32 (default).
    ``float16``       -- weights stored as float16 (half the size), dequantised at load.
    ``dynamic_int8``  -- dynamic-range quantisation: int8 weights, activations quantised
                         on the fly (smallest file; the lowest fidelity).

Input and output stay float32 (or uint8 with the uint8 serving option). The model has a
dynamic input shape: call ``interpreter.resize_tensor_input`` before ``allocate_tensors``.
The tile loop becomes a TFLite ``WHILE``; the weights are frozen to constants first
(resource variables read inside a ``WHILE`` body are not frozen by the converter).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from rnan_keras.errors import ConfigError
from rnan_keras.export.serving import ServingModule

QUANTIZATIONS: tuple[str, ...] = ("float32", "float16", "dynamic_int8")


def check_quantization(quantization: str) -> str:
    if quantization not in QUANTIZATIONS:
        raise ConfigError(
            f"unknown TFLite quantization {quantization!r}; choose one of: "
            f"{', '.join(QUANTIZATIONS)}"
        )
    return quantization


def convert(serving: ServingModule, quantization: str = "float32") -> bytes:
    """The ``.tflite`` flatbuffer of ``serving.serve`` (TFLite builtin ops only)."""
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    check_quantization(quantization)
    frozen = convert_variables_to_constants_v2(
        serving.serve.get_concrete_function(), lower_control_flow=False
    )
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen], serving)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantization != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    return converter.convert()


def write(
    serving: ServingModule, path: Path, *, quantization: str = "float32", **options: Any
) -> dict[str, Any]:
    """Convert ``serving`` and write the flatbuffer to ``path``."""
    path.write_bytes(convert(serving, quantization))
    return {"tensorflow": tf.__version__, "quantization": quantization}


class Runner:
    """A LiteRT ``Interpreter`` that resizes its input to each batch's shape."""

    def __init__(self, path: str | Path, num_threads: int | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(
            model_path=str(path), num_threads=num_threads or os.cpu_count() or 1
        )
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.input_dtype = np.dtype(self.input["dtype"])
        self._shape: tuple[int, ...] | None = None

    def __call__(self, image: np.ndarray) -> np.ndarray:
        image = np.ascontiguousarray(image, dtype=self.input_dtype)
        if image.shape != self._shape:
            self.interpreter.resize_tensor_input(self.input["index"], image.shape, strict=False)
            self.interpreter.allocate_tensors()
            self._shape = image.shape
        self.interpreter.set_tensor(self.input["index"], image)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output["index"]).copy()


def load(path: str | Path, num_threads: int | None = None) -> Runner:
    """Open the ``.tflite`` file at ``path`` (default: one thread per CPU core)."""
    return Runner(path, num_threads)
