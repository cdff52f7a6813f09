"""Fixed bilinear demosaicing of a zero-filled Bayer mosaic as one depthwise convolution.

In the 3-channel zero-filled mosaic every pixel keeps one colour and the other two are 0.
Bilinear interpolation then needs no knowledge of the CFA pattern: green is sampled on a
quincunx, so ``[[0,1,0],[1,4,1],[0,1,0]] / 4`` fills its holes; red and blue are sampled
once per 2x2 cell, so ``[[1,2,1],[2,4,2],[1,2,1]] / 4`` fills theirs. Borders are mirrored
about the edge pixel (``REFLECT``), which keeps the CFA's 2x2 phase. No trainable weights;
only ops that TFLite and ONNX support.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from rnan_keras.backend import is_tensorflow, tf

_GREEN = np.array([[0, 1, 0], [1, 4, 1], [0, 1, 0]], np.float32) / 4.0
_RED_BLUE = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], np.float32) / 4.0


def bilinear_kernel() -> np.ndarray:
    """Depthwise kernel ``(3, 3, 3, 1)`` for R, G, B of a zero-filled mosaic."""
    return np.stack([_RED_BLUE, _GREEN, _RED_BLUE], axis=-1)[..., None]


@keras.saving.register_keras_serializable(package="rnan_keras")
class BilinearDemosaic(keras.layers.Layer):
    """``(B, H, W, 3)`` zero-filled Bayer mosaic, 0-255 -> ``(B, H, W, 3)`` bilinear RGB.

    Any of the four Bayer patterns; needs H, W >= 2. Known samples pass through unchanged.
    """

    def call(self, x):
        if not is_tensorflow():
            kernel = keras.ops.convert_to_tensor(bilinear_kernel(), x.dtype)
            padded = keras.ops.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
            return keras.ops.depthwise_conv(padded, kernel, strides=1, padding="valid")
        kernel = tf.constant(bilinear_kernel(), dtype=x.dtype)
        padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="REFLECT")
        return tf.nn.depthwise_conv2d(padded, kernel, strides=[1, 1, 1, 1], padding="VALID")

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return super().get_config()
