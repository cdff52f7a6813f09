"""Attention group: one residual attention module followed by a 3x3 conv.

Official ``_ResGroup`` / ``_NLResGroup``. There is no group-level skip connection in the
official code (the line adding the group input is commented out), so none here.
"""

from __future__ import annotations

from typing import Any

import keras

from rnan_keras.layers.attention_module import ResidualAttentionModule


@keras.saving.register_keras_serializable(package="rnan_keras")
class AttentionGroup(keras.layers.Layer):
    """``conv3x3(ResidualAttentionModule(x))``. Shapes: ``(B, H, W, F) -> (B, H, W, F)``.

    Args:
        filters: feature channels ``F``.
        module_kwargs: options of :class:`ResidualAttentionModule` (``mask``, block
            counts, non-local options).
    """

    def __init__(self, filters: int, module_kwargs: dict | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.module_kwargs = dict(module_kwargs or {})
        self.module = ResidualAttentionModule(self.filters, name="module", **self.module_kwargs)
        self.conv = keras.layers.Conv2D(self.filters, 3, padding="same", name="conv")

    @property
    def is_non_local(self) -> bool:
        return self.module.mask == "non_local"

    def build(self, input_shape: tuple) -> None:
        shape = (input_shape[0], None, None, self.filters)
        self.module.build(shape)
        self.conv.build(shape)
        super().build(input_shape)

    def call(self, x):
        return self.conv(self.module(x))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "module_kwargs": dict(self.module_kwargs),
        }
