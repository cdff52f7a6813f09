"""Pixel shuffle with PyTorch's channel order.

PyTorch ``PixelShuffle(r)`` builds output channel ``c`` at sub-pixel ``(i, j)`` from input
channel ``c * r * r + i * r + j``; TensorFlow ``depth_to_space`` (NHWC) reads channel
``(i * r + j) * C + c``. This layer permutes channels with a constant gather and then calls
``depth_to_space``, so weights trained in PyTorch work unchanged and the graph stays made of
ops that TFLite and ONNX support.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from rnan_keras.backend import depth_to_space, is_tensorflow, tf


def torch_to_tf_channel_order(channels: int, r: int) -> np.ndarray:
    """Index ``idx`` with ``tf_input[..., k] = torch_input[..., idx[k]]``."""
    c_out = channels // (r * r)
    idx = np.empty(channels, dtype="int32")
    for c in range(c_out):
        for i in range(r):
            for j in range(r):
                idx[(i * r + j) * c_out + c] = c * r * r + i * r + j
    return idx


@keras.saving.register_keras_serializable(package="rnan_keras")
class PixelShuffle(keras.layers.Layer):
    """``(B, H, W, C * r^2) -> (B, H * r, W * r, C)`` in PyTorch's channel order.

    Args:
        upscale_factor: ``r``.
    """

    def __init__(self, upscale_factor: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.upscale_factor = int(upscale_factor)

    def call(self, x):
        channels = x.shape[-1]
        r = self.upscale_factor
        if channels is None or channels % (r * r):
            raise ValueError(f"channels ({channels}) must be a known multiple of {r * r}")
        idx = torch_to_tf_channel_order(channels, r)
        if not is_tensorflow():
            return depth_to_space(keras.ops.take(x, idx, axis=-1), r)
        return tf.nn.depth_to_space(tf.gather(x, tf.constant(idx), axis=-1), r)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        b, h, w, c = input_shape
        r = self.upscale_factor
        return (b, None if h is None else h * r, None if w is None else w * r, c // (r * r))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "upscale_factor": self.upscale_factor}
