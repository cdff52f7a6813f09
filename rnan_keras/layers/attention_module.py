"""Residual (non-)local attention module: the building block of every RNAN group.

Official ``ResAttModuleDownUpPlus`` / ``NLResAttModuleDownUpPlus``::

    x1  = RB^p(x)                        # p = 1 pre residual block
    h   = trunk(x1) * mask(x1) + x1      # residual attention learning
    out = RB^q(h)                        # q = 2 post residual blocks

Note the attention residual is added to ``x1``, not to the module input ``x``.
Ablation switches: ``mask="none"`` drops the mask branch (``h = trunk(x1)``), and
``residual_attention=False`` drops the ``+ x1`` (``h = trunk * mask``).
"""

from __future__ import annotations

from typing import Any

import keras

from rnan_keras.layers.mask_branch import MaskBranch
from rnan_keras.layers.non_local_mask_branch import NonLocalMaskBranch
from rnan_keras.layers.residual_block import ResidualBlock
from rnan_keras.layers.trunk_branch import TrunkBranch

MASKS = ("local", "non_local", "none")


@keras.saving.register_keras_serializable(package="rnan_keras")
class ResidualAttentionModule(keras.layers.Layer):
    """Shapes: ``(B, H, W, F) -> (B, H, W, F)``; H and W even when a mask branch is used.

    Args:
        filters: feature channels ``F``.
        mask: ``"local"``, ``"non_local"`` or ``"none"``.
        residual_attention: add ``x1`` after the trunk * mask product.
        pre_blocks, trunk_blocks, post_blocks: residual block counts (official 1, 2, 2).
        mask_down_blocks: residual blocks at half resolution in the mask branch (2).
        softmax_axis, non_local_mode, chunk_size, max_dense_positions, non_local_window:
            non-local options (see :class:`NonLocalMaskBranch`).
    """

    def __init__(
        self,
        filters: int,
        mask: str = "local",
        residual_attention: bool = True,
        pre_blocks: int = 1,
        trunk_blocks: int = 2,
        post_blocks: int = 2,
        mask_down_blocks: int = 2,
        softmax_axis: str = "query",
        non_local_mode: str = "auto",
        chunk_size: int = 1024,
        max_dense_positions: int = 96 * 96,
        non_local_window: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if mask not in MASKS:
            raise ValueError(f"mask must be one of {MASKS}, got {mask!r}")
        self.filters = int(filters)
        self.mask = mask
        self.residual_attention = bool(residual_attention)
        self.pre_blocks = int(pre_blocks)
        self.trunk_blocks = int(trunk_blocks)
        self.post_blocks = int(post_blocks)
        self.mask_down_blocks = int(mask_down_blocks)
        self.non_local_options = {
            "softmax_axis": softmax_axis,
            "non_local_mode": non_local_mode,
            "chunk_size": int(chunk_size),
            "max_dense_positions": int(max_dense_positions),
            "non_local_window": int(non_local_window),
        }
        f = self.filters
        self.pre = [ResidualBlock(f, name=f"pre{i}") for i in range(self.pre_blocks)]
        self.trunk = TrunkBranch(f, self.trunk_blocks, name="trunk")
        if mask == "local":
            self.mask_branch = MaskBranch(f, self.mask_down_blocks, name="mask")
        elif mask == "non_local":
            self.mask_branch = NonLocalMaskBranch(
                f, self.mask_down_blocks, name="mask", **self.non_local_options
            )
        else:
            self.mask_branch = None
        self.post = [ResidualBlock(f, name=f"post{i}") for i in range(self.post_blocks)]

    def build(self, input_shape: tuple) -> None:
        shape = (input_shape[0], None, None, self.filters)
        for layer in [*self.pre, self.trunk, *self.post]:
            layer.build(shape)
        if self.mask_branch is not None:
            self.mask_branch.build(shape)
        super().build(input_shape)

    def call(self, x):
        for block in self.pre:
            x = block(x)
        h = self.trunk(x)
        if self.mask_branch is not None:
            h = h * self.mask_branch(x)
            if self.residual_attention:
                h = h + x
        for block in self.post:
            h = block(h)
        return h

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "mask": self.mask,
            "residual_attention": self.residual_attention,
            "pre_blocks": self.pre_blocks,
            "trunk_blocks": self.trunk_blocks,
            "post_blocks": self.post_blocks,
            "mask_down_blocks": self.mask_down_blocks,
            **self.non_local_options,
        }
