"""Residual block: conv3x3 -> ReLU -> conv3x3, plus identity (official ``ResBlock``)."""

from __future__ import annotations

from typing import Any

import keras


@keras.saving.register_keras_serializable(package="rnan_keras")
class ResidualBlock(keras.layers.Layer):
    """``y = x + conv(relu(conv(x)))`` with 3x3 convolutions, stride 1, zero padding 1.

    Args:
        filters: number of feature channels ``F`` (input and output).

    Shapes: ``(B, H, W, F) -> (B, H, W, F)``; any H and W.
    """

    def __init__(self, filters: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.conv1 = keras.layers.Conv2D(self.filters, 3, padding="same", name="conv1")
        self.conv2 = keras.layers.Conv2D(self.filters, 3, padding="same", name="conv2")

    def build(self, input_shape: tuple) -> None:
        self.conv1.build(input_shape)
        self.conv2.build(tuple(input_shape)[:-1] + (self.filters,))
        super().build(input_shape)

    def call(self, x):
        return x + self.conv2(keras.ops.relu(self.conv1(x)))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters}
