"""Trunk branch of an attention module: ``t`` residual blocks in sequence."""

from __future__ import annotations

from typing import Any

import keras

from rnan_keras.layers.residual_block import ResidualBlock


@keras.saving.register_keras_serializable(package="rnan_keras")
class TrunkBranch(keras.layers.Layer):
    """``num_blocks`` :class:`ResidualBlock` s (official ``RA_TB``; ``t = 2`` in the paper).

    Shapes: ``(B, H, W, F) -> (B, H, W, F)``.
    """

    def __init__(self, filters: int, num_blocks: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.num_blocks = int(num_blocks)
        self.blocks = [ResidualBlock(self.filters, name=f"rb{i}") for i in range(self.num_blocks)]

    def build(self, input_shape: tuple) -> None:
        for block in self.blocks:
            block.build(input_shape)
        super().build(input_shape)

    def call(self, x):
        for block in self.blocks:
            x = block(x)
        return x

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters, "num_blocks": self.num_blocks}
