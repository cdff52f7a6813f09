"""SR up-sampler (official ``Upsampler``, no activation, no batch norm).

x2: conv3x3 F->4F + PixelShuffle(2); x3: conv3x3 F->9F + PixelShuffle(3);
x4 (and any power of two): repeated [conv3x3 F->4F + PixelShuffle(2)].
"""

from __future__ import annotations

import math
from typing import Any

import keras

from rnan_keras.layers.pixel_shuffle import PixelShuffle


def upsampler_stages(scale: int) -> list[int]:
    """Sub-pixel factors applied in sequence for ``scale`` (e.g. 4 -> [2, 2])."""
    if scale >= 2 and (scale & (scale - 1)) == 0:
        return [2] * int(math.log2(scale))
    if scale == 3:
        return [3]
    raise ValueError(f"unsupported SR scale {scale}: use 3 or a power of two")


@keras.saving.register_keras_serializable(package="rnan_keras")
class Upsampler(keras.layers.Layer):
    """``(B, H, W, F) -> (B, s*H, s*W, F)`` with sub-pixel convolutions.

    Args:
        filters: feature channels ``F``.
        scale: up-scaling factor ``s`` (2, 3, 4, 8, ...).
    """

    def __init__(self, filters: int, scale: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.scale = int(scale)
        self.stages = upsampler_stages(self.scale)
        self.convs = [
            keras.layers.Conv2D(r * r * self.filters, 3, padding="same", name=f"conv{i}")
            for i, r in enumerate(self.stages)
        ]
        self.shuffles = [PixelShuffle(r, name=f"shuffle{i}") for i, r in enumerate(self.stages)]

    def build(self, input_shape: tuple) -> None:
        for conv in self.convs:
            conv.build((input_shape[0], None, None, self.filters))
        super().build(input_shape)

    def call(self, x):
        for conv, shuffle in zip(self.convs, self.shuffles, strict=True):
            x = shuffle(conv(x))
        return x

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        b, h, w, _ = input_shape
        s = self.scale
        return (b, None if h is None else h * s, None if w is None else w * s, self.filters)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters, "scale": self.scale}
