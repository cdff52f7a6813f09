"""The RNAN network as a functional Keras model, and ``build_model``.

Data flow (official ``RNAN.forward``)::

    DN / CAR / demosaic:  y = x + tail(body_nl_high(body(body_nl_low(head(x)))))
    SR:                   s = sub_mean(x); h = head(s)
                          y = add_mean(tail(upsample(body_nl_high(body(body_nl_low(h))) + h)))
                          [+ bicubic(s) inside add_mean when ``sr_bicubic_skip``]
    demosaic with ``demosaic_bilinear_skip``: x in the global skip is bilinear(x)

``body`` is ``n_resgroups - 2`` local attention groups followed by a 3x3 conv; with
``non_local_groups=1`` the group ``body_nl_high`` has a local mask instead. Inputs and
outputs are NHWC float32 on the 0-255 scale (the model never divides by 255). Any H and W
work: odd sizes are padded internally and the output is cropped back. SR outputs are
``scale`` times larger. Under a mixed-precision policy the output stays float32.
"""

from __future__ import annotations

from typing import Any

import keras

from rnan_keras.layers import (
    AttentionGroup,
    BicubicUpsample,
    BilinearDemosaic,
    CropToReference,
    MeanShift,
    PadToMultiple,
    Upsampler,
)
from rnan_keras.models.config import RNANConfig, get_variant_spec, make_config
from rnan_keras.tasks import DEFAULT_TASK


def _module_kwargs(cfg: RNANConfig, mask: str) -> dict[str, Any]:
    return {
        "mask": mask if cfg.use_mask else "none",
        "residual_attention": cfg.residual_attention,
        "pre_blocks": cfg.pre_blocks,
        "trunk_blocks": cfg.trunk_blocks,
        "post_blocks": cfg.post_blocks,
        "mask_down_blocks": cfg.mask_down_blocks,
        "softmax_axis": cfg.softmax_axis,
        "non_local_mode": cfg.non_local_mode,
        "chunk_size": cfg.chunk_size,
        "max_dense_positions": cfg.max_dense_positions,
        "non_local_window": cfg.non_local_window,
    }


@keras.saving.register_keras_serializable(package="rnan_keras")
class RNAN(keras.Model):
    """Residual Non-local Attention Network (Zhang et al., ICLR 2019).

    Build it with :func:`build_model`; ``RNAN(**config_dict)`` also works. The config is
    available as ``model.rnan_config`` (an :class:`RNANConfig`).

    Input ``(B, H, W, n_colors)`` float32 0-255 -> output ``(B, s*H, s*W, n_colors)``
    float32 0-255 (``s = scale``; values are not clipped).
    """

    def __init__(self, name: str | None = None, **config: Any) -> None:
        for key in ("trainable", "dtype"):
            config.pop(key, None)
        cfg = RNANConfig(**config).validate()
        f = cfg.n_feats
        inputs = keras.Input(shape=(None, None, cfg.n_colors), name="image")
        spec = get_variant_spec(cfg.variant)
        # a Bayer mosaic is mirrored about its edge pixel, which keeps its CFA phase
        x = PadToMultiple(2, mode="REFLECT" if spec.bayer_input else "SYMMETRIC",
                          name="pad")(inputs)
        # The network computes on [0, rgb_range] (official: 255, the API's own scale).
        to_range = cfg.rgb_range / 255.0
        if to_range != 1.0:
            x = keras.layers.Rescaling(to_range, name="to_rgb_range", dtype="float32")(x)
        if spec.is_sr:
            x = MeanShift(-1, rgb_range=cfg.rgb_range, name="sub_mean", dtype="float32")(x)
            skip = BicubicUpsample(cfg.scale, name="bicubic")(x) if cfg.sr_bicubic_skip else None
        head = keras.layers.Conv2D(f, 3, padding="same", name="head")(x)

        nl_mask = "non_local" if cfg.use_non_local else "local"
        local_mask = "local" if cfg.use_local_mask else "none"
        h = AttentionGroup(f, _module_kwargs(cfg, nl_mask), name="body_nl_low")(head)
        for i in range(cfg.n_resgroups - 2):
            h = AttentionGroup(f, _module_kwargs(cfg, local_mask), name=f"body_{i}")(h)
        h = keras.layers.Conv2D(f, 3, padding="same", name="body_conv")(h)
        # non_local_groups=1 (paper Table 7's 1LB+1NLB): the last group is a local one; it
        # keeps its name (its slot in the official layout).
        high_mask = nl_mask if cfg.non_local_groups == 2 else local_mask
        h = AttentionGroup(f, _module_kwargs(cfg, high_mask), name="body_nl_high")(h)

        tail_init = "zeros" if cfg.zero_init_tail else "glorot_uniform"
        tail = keras.layers.Conv2D(
            cfg.n_colors, 3, padding="same", kernel_initializer=tail_init, name="tail"
        )
        if spec.is_sr:
            h = keras.layers.Add(name="long_skip")([h, head])
            h = Upsampler(f, cfg.scale, name="upsampler")(h)
            h = tail(h)
            if skip is not None:
                h = keras.layers.Add(name="bicubic_skip", dtype="float32")([h, skip])
            y = MeanShift(+1, rgb_range=cfg.rgb_range, name="add_mean", dtype="float32")(h)
        else:
            h = tail(h)
            if cfg.demosaic_bilinear_skip:
                x = BilinearDemosaic(name="bilinear")(x)
            y = keras.layers.Add(name="global_skip", dtype="float32")([x, h])
        if to_range != 1.0:
            y = keras.layers.Rescaling(1.0 / to_range, name="from_rgb_range", dtype="float32")(y)
        outputs = CropToReference(cfg.scale, name="crop", dtype="float32")([y, inputs])
        super().__init__(inputs=inputs, outputs=outputs, name=name or f"rnan_{cfg.variant}")
        self.rnan_config = cfg

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, **self.rnan_config.to_dict()}

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects=None) -> RNAN:
        return cls(**config)

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> RNAN:
        """A shipped, trained preset by name (keras-hub style), e.g.
        ``RNAN.from_preset("dn_rgb_small")``; same as :func:`rnan_keras.load_preset`.

        ``overrides`` are options that do not change the weights (``non_local_mode=...``).
        """
        from rnan_keras.presets.registry import load_preset

        return load_preset(name, **overrides)


def build_model(variant: str = DEFAULT_TASK, *, name: str | None = None, **overrides: Any) -> RNAN:
    """Build an RNAN model.

    Args:
        variant: ``dn_gray``, ``dn_rgb``, ``demosaic``, ``car``, ``sr_x2``, ``sr_x3`` or
            ``sr_x4``.
        name: Keras model name (default ``rnan_<variant>``).
        **overrides: any :class:`RNANConfig` field (``n_feats``, ``n_resgroups``,
            ``use_mask``, ``use_non_local``, ``non_local_groups``, ``softmax_axis``,
            ``non_local_mode``, ...) or
            ``ablation=`` a key of :data:`rnan_keras.models.config.ABLATIONS`.

    Returns:
        An :class:`RNAN` (functional ``keras.Model``) taking ``(B, H, W, C)`` float32 on
        0-255. With default arguments it has the official parameter count (e.g. 8,959,555
        for ``dn_rgb``).
    """
    cfg = make_config(variant, **overrides)
    return RNAN(name=name, **cfg.to_dict())


def with_non_local_mode(
    model: RNAN, mode: str | None = None, chunk_size: int | None = None,
    max_dense_positions: int | None = None, window: int | None = None,
) -> RNAN:
    """A copy of ``model`` whose non-local blocks use ``mode`` / ``window`` (same weights).

    ``mode="chunked"`` gives whole-image attention in O(HW * chunk) memory; ``window=w``
    attention within ``w x w`` windows (``non_local_window``), 0 over the whole map.
    """
    changes: dict[str, Any] = {} if mode is None else {"non_local_mode": mode}
    if window is not None:
        changes["non_local_window"] = int(window)
    if chunk_size is not None:
        changes["chunk_size"] = int(chunk_size)
    if max_dense_positions is not None:
        changes["max_dense_positions"] = int(max_dense_positions)
    cfg = {**model.rnan_config.to_dict(), **changes}
    clone = RNAN(name=model.name, **cfg)
    clone.set_weights(model.get_weights())
    return clone
