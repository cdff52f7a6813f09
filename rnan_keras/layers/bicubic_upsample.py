"""Fixed bicubic up-sampling (Matlab ``imresize`` for integer factors) as builtin ops.

For an integer factor ``s`` each output phase ``p`` in ``0..s-1`` reads the input at
offset ``d_p = (p + 0.5) / s - 0.5`` with Keys' cubic kernel (a = -0.5), i.e. a 5-tap
filter. The 2-D filters of all ``s * s`` phases form one fixed 5x5 convolution with
``C * s * s`` outputs, followed by ``depth_to_space``; borders use symmetric padding like
Matlab's index mirroring. No trainable weights; only ops that TFLite and ONNX support.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from rnan_keras.backend import depth_to_space, is_tensorflow, tf


def _cubic(x: np.ndarray, a: float = -0.5) -> np.ndarray:
    x = np.abs(x)
    return np.where(
        x <= 1,
        (a + 2) * x**3 - (a + 3) * x**2 + 1,
        np.where(x < 2, a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a, 0.0),
    )


def phase_filters(scale: int) -> np.ndarray:
    """(scale, 5) taps for input offsets -2..2 of every output phase (rows sum to 1)."""
    taps = np.arange(-2, 3)
    rows = []
    for p in range(scale):
        d = (p + 0.5) / scale - 0.5
        w = _cubic(d - taps)
        rows.append(w / w.sum())
    return np.asarray(rows, dtype="float64")


def bicubic_kernel(scale: int, channels: int) -> np.ndarray:
    """Conv kernel (5, 5, C, C * s * s) in depth_to_space order ``(p * s + q) * C + c``."""
    f = phase_filters(scale)
    k = np.zeros((5, 5, channels, channels * scale * scale), dtype="float32")
    for p in range(scale):
        for q in range(scale):
            for c in range(channels):
                k[:, :, c, (p * scale + q) * channels + c] = np.outer(f[p], f[q])
    return k


@keras.saving.register_keras_serializable(package="rnan_keras")
class BicubicUpsample(keras.layers.Layer):
    """``(B, H, W, C) -> (B, s*H, s*W, C)`` bicubic (Matlab-compatible for integer s).

    Needs H, W >= 2 (the RNAN model pads inputs to even sizes first).
    """

    def __init__(self, scale: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scale = int(scale)

    def call(self, x):
        channels = x.shape[-1]
        if not is_tensorflow():
            kernel = keras.ops.convert_to_tensor(bicubic_kernel(self.scale, channels), x.dtype)
            padded = keras.ops.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)), mode="symmetric")
            y = keras.ops.conv(padded, kernel, strides=1, padding="valid")
            return depth_to_space(y, self.scale)
        kernel = tf.constant(bicubic_kernel(self.scale, channels), dtype=x.dtype)
        padded = tf.pad(x, [[0, 0], [2, 2], [2, 2], [0, 0]], mode="SYMMETRIC")
        y = tf.nn.conv2d(padded, kernel, strides=1, padding="VALID")
        return tf.nn.depth_to_space(y, self.scale)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        b, h, w, c = input_shape
        s = self.scale
        return (b, None if h is None else h * s, None if w is None else w * s, c)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "scale": self.scale}
