"""Local mask branch (official ``MaskBranchDownUp``): a sigmoid attention map.

    a   = RB(x)
    d   = RB(RB(conv3x3_stride2(pad1(a))))     # half resolution
    u   = convT6x6_stride2(d) + a              # back to full resolution
    out = sigmoid(conv1x1(RB(u)))

The down-sampling conv pads one zero row/column on every side (PyTorch style; Keras
``"same"`` would pad asymmetrically); the transposed conv (kernel 6, stride 2, cropping 2
on each side) exactly doubles H and W. H and W must therefore be even; the model pads
odd-sized images before they get here.
"""

from __future__ import annotations

from typing import Any

import keras

from rnan_keras.layers.residual_block import ResidualBlock


@keras.saving.register_keras_serializable(package="rnan_keras")
class MaskBranch(keras.layers.Layer):
    """Local mask branch. Shapes: ``(B, H, W, F) -> (B, H, W, F)`` in (0, 1); H, W even.

    Args:
        filters: feature channels ``F``.
        num_down_blocks: residual blocks at half resolution (2 in the official code).
    """

    def __init__(self, filters: int, num_down_blocks: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.num_down_blocks = int(num_down_blocks)
        f = self.filters
        self.rb1 = ResidualBlock(f, name="rb1")
        self.down_pad = keras.layers.ZeroPadding2D(1, name="down_pad")
        self.down = keras.layers.Conv2D(f, 3, strides=2, padding="valid", name="down")
        self.rb2 = [ResidualBlock(f, name=f"rb2_{i}") for i in range(self.num_down_blocks)]
        self.up = keras.layers.Conv2DTranspose(f, 6, strides=2, padding="same", name="up")
        self.rb3 = ResidualBlock(f, name="rb3")
        self.conv1x1 = keras.layers.Conv2D(f, 1, name="conv1x1")

    def build(self, input_shape: tuple) -> None:
        b = input_shape[0]
        full = (b, None, None, self.filters)
        self.rb1.build(full)
        self.down.build(full)
        for block in self.rb2:
            block.build(full)
        self.up.build(full)
        self.rb3.build(full)
        self.conv1x1.build(full)
        super().build(input_shape)

    def pre(self, x):
        """Hook for subclasses: what runs before the first residual block."""
        return x

    def call(self, x):
        a = self.rb1(self.pre(x))
        d = self.down(self.down_pad(a))
        for block in self.rb2:
            d = block(d)
        u = self.up(d) + a
        return keras.ops.sigmoid(self.conv1x1(self.rb3(u)))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "num_down_blocks": self.num_down_blocks,
        }
