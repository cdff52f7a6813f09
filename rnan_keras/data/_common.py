"""Small helpers shared by the degradation modules (not public API)."""

from __future__ import annotations

import tensorflow as tf

from rnan_keras.errors import ConfigError, InvalidImageError


def as_float_image(x, name: str = "image") -> tf.Tensor:
    """Convert ``x`` to a float32 tensor of rank 3 (HWC) or 4 (NHWC); raise otherwise."""
    x = tf.convert_to_tensor(x)
    if x.dtype != tf.float32:
        x = tf.cast(x, tf.float32)
    if x.shape.rank is not None and x.shape.rank not in (3, 4):
        raise InvalidImageError(
            f"{name} must have shape [H, W, C] or [B, H, W, C], got shape {x.shape}"
        )
    return x


def check_jpeg_quality(quality) -> None:
    """Refuse a Python-number JPEG quality outside 1..100 (tensors are not checked)."""
    if isinstance(quality, int | float) and not 1 <= quality <= 100:
        raise ConfigError(f"JPEG quality must be in 1..100, got {quality}")


def round_half_away(x: tf.Tensor) -> tf.Tensor:
    """Round like Matlab's ``round`` (halves away from zero), unlike ``tf.round`` (to even)."""
    return tf.sign(x) * tf.floor(tf.abs(x) + 0.5)


def to_uint8_values(x: tf.Tensor) -> tf.Tensor:
    """Clip to [0, 255] and round halves up, as Matlab does when casting double to uint8."""
    return tf.floor(tf.clip_by_value(x, 0.0, 255.0) + 0.5)


def as_seed(seed) -> tf.Tensor:
    """Turn an int or a shape-[2] integer tensor into a stateless-RNG seed (int32 [2])."""
    if isinstance(seed, int):
        return tf.constant([seed & 0x7FFFFFFF, (seed >> 31) & 0x7FFFFFFF], tf.int32)
    seed = tf.convert_to_tensor(seed)
    if seed.shape.rank == 0:
        return tf.stack([tf.cast(seed, tf.int32), tf.constant(0, tf.int32)])
    return tf.cast(seed, tf.int32)
