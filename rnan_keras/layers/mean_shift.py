"""Mean shift (SR only): a trainable 1x1 conv that subtracts / adds the dataset mean.

Official ``MeanShift``: weight = identity / std, bias = sign * rgb_range * mean / std. Its
parameters are ordinary trainable parameters in the official checkpoints (they may hold
trained values), so they are weights here too and the converter loads them.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

DIV2K_MEAN = (0.4488, 0.4371, 0.4040)


@keras.saving.register_keras_serializable(package="rnan_keras")
class MeanShift(keras.layers.Layer):
    """``y = x @ W + b`` per pixel over channels, initialised to ``x + sign * 255 * mean``.

    Args:
        sign: ``-1`` (``sub_mean``) or ``+1`` (``add_mean``).
        mean, std: per-channel statistics on the 0-1 scale.
        rgb_range: value range of the data (255).

    Shapes: ``(B, H, W, 3) -> (B, H, W, 3)``, 0-255 scale.
    """

    def __init__(
        self,
        sign: int = -1,
        mean: tuple[float, ...] = DIV2K_MEAN,
        std: tuple[float, ...] = (1.0, 1.0, 1.0),
        rgb_range: float = 255.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if sign not in (-1, 1):
            raise ValueError(f"sign must be -1 or +1, got {sign}")
        self.sign = int(sign)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.rgb_range = float(rgb_range)

    def build(self, input_shape: tuple) -> None:
        c = len(self.mean)
        std = np.asarray(self.std, dtype="float32")
        kernel = np.eye(c, dtype="float32") / std[None, :]
        bias = self.sign * self.rgb_range * np.asarray(self.mean, dtype="float32") / std
        self.kernel = self.add_weight(
            name="kernel", shape=(c, c), initializer=keras.initializers.Constant(kernel)
        )
        self.bias = self.add_weight(
            name="bias", shape=(c,), initializer=keras.initializers.Constant(bias)
        )
        super().build(input_shape)

    def call(self, x):
        return keras.ops.matmul(x, keras.ops.cast(self.kernel, x.dtype)) + keras.ops.cast(
            self.bias, x.dtype
        )

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "sign": self.sign,
            "mean": list(self.mean),
            "std": list(self.std),
            "rgb_range": self.rgb_range,
        }
