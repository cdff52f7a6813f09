"""Non-local mask branch (official ``NLMaskBranchDownUp``): a non-local block, then the
local mask branch. Used by the first and last groups of RNAN."""

from __future__ import annotations

from typing import Any

import keras

from rnan_keras.layers.mask_branch import MaskBranch
from rnan_keras.layers.non_local import NonLocalBlock


@keras.saving.register_keras_serializable(package="rnan_keras")
class NonLocalMaskBranch(MaskBranch):
    """``MaskBranch(NonLocalBlock(x))``. Shapes: ``(B, H, W, F) -> (B, H, W, F)`` in (0, 1).

    Args:
        filters: feature channels ``F``.
        num_down_blocks: residual blocks at half resolution.
        softmax_axis, non_local_mode, chunk_size, max_dense_positions, non_local_window:
            passed to :class:`NonLocalBlock` (see there; ``non_local_window`` is its
            ``window``).
    """

    def __init__(
        self,
        filters: int,
        num_down_blocks: int = 2,
        softmax_axis: str = "query",
        non_local_mode: str = "auto",
        chunk_size: int = 1024,
        max_dense_positions: int = 96 * 96,
        non_local_window: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(filters, num_down_blocks=num_down_blocks, **kwargs)
        self.non_local = NonLocalBlock(
            self.filters,
            softmax_axis=softmax_axis,
            mode=non_local_mode,
            chunk_size=chunk_size,
            max_dense_positions=max_dense_positions,
            window=non_local_window,
            name="non_local",
        )

    def build(self, input_shape: tuple) -> None:
        self.non_local.build((input_shape[0], None, None, self.filters))
        super().build(input_shape)

    def pre(self, x):
        return self.non_local(x)

    def get_config(self) -> dict[str, Any]:
        nl = self.non_local
        return {
            **super().get_config(),
            "softmax_axis": nl.softmax_axis,
            "non_local_mode": nl.mode,
            "chunk_size": nl.chunk_size,
            "max_dense_positions": nl.max_dense_positions,
            "non_local_window": nl.window,
        }
