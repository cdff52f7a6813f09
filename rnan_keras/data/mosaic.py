"""Bayer colour-filter-array (CFA) sampling of RGB images.

A pattern names the colours of the top-left 2x2 block in row-major order: ``GRBG`` (the RNAN
protocol) means pixel (0, 0) keeps G, (0, 1) keeps R, (1, 0) keeps B and (1, 1) keeps G.
"""

from __future__ import annotations

import numpy as np

from rnan_keras.backend import tf  # None without TensorFlow: bayer_masks still works
from rnan_keras.errors import ConfigError, InvalidImageError

BAYER_PATTERNS = ("RGGB", "BGGR", "GRBG", "GBRG")
_CHANNEL = {"R": 0, "G": 1, "B": 2}


def bayer_masks(pattern: str = "GRBG") -> np.ndarray:
    """The 2x2x3 0/1 mask of ``pattern``: ``mask[i, j, c] == 1`` where pixel (i, j) keeps c."""
    pattern = pattern.upper()
    if pattern not in BAYER_PATTERNS:
        raise ConfigError(f"unknown Bayer pattern {pattern!r}; expected one of {BAYER_PATTERNS}")
    mask = np.zeros((2, 2, 3), np.float32)
    for k, colour in enumerate(pattern):
        mask[k // 2, k % 2, _CHANNEL[colour]] = 1.0
    return mask


def bayer_mosaic(x, pattern: str = "GRBG", packed: bool = False) -> tf.Tensor:
    """Sample an RGB image through a Bayer CFA.

    Args:
        x: [H, W, 3] or [B, H, W, 3] float RGB image, 0-255 (any H, W; odd sizes are fine).
        pattern: one of ``RGGB``, ``BGGR``, ``GRBG`` (default, RNAN's protocol), ``GBRG``.
        packed: ``False`` returns the 3-channel zero-filled mosaic the official RNAN
            demosaicking model takes (each pixel keeps one channel, the other two are 0);
            ``True`` returns the 1-channel raw CFA image [..., H, W, 1].
    """
    from rnan_keras.data._common import as_float_image  # imports TensorFlow

    x = as_float_image(x)
    if x.shape[-1] is not None and x.shape[-1] != 3:
        raise InvalidImageError(f"bayer_mosaic expects 3 channels, got shape {x.shape}")
    mask2 = tf.constant(bayer_masks(pattern))
    h, w = tf.shape(x)[-3], tf.shape(x)[-2]
    reps = [(h + 1) // 2, (w + 1) // 2, 1]
    mask = tf.tile(mask2, reps)[:h, :w, :]
    mosaic = x * mask
    if packed:
        return tf.reduce_sum(mosaic, axis=-1, keepdims=True)
    return mosaic


def bayer_from_raw(raw: np.ndarray, pattern: str = "GRBG") -> np.ndarray:
    """A 1-channel raw CFA image ``(H, W, 1)`` -> the zero-filled ``(H, W, 3)`` mosaic.

    The inverse of ``bayer_mosaic(x, pattern, packed=True)`` up to the zero-filled
    channels: each pixel's value goes to the channel ``pattern`` gives it.
    """
    h, w = raw.shape[:2]
    mask = np.tile(bayer_masks(pattern), ((h + 1) // 2, (w + 1) // 2, 1))[:h, :w]
    return (np.asarray(raw, np.float32)[:, :, :1] * mask).astype(np.float32)
