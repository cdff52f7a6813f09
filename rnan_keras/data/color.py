"""Matlab-compatible colour conversions on float32 images (0-255 scale, channels last).

- :func:`rgb_to_gray` uses Matlab ``rgb2gray`` coefficients (0.2989, 0.5870, 0.1140).
- :func:`rgb_to_ycbcr` / :func:`ycbcr_to_rgb` follow Matlab ``rgb2ycbcr`` / ``ycbcr2rgb``
  (ITU-R BT.601, Y in 16-235, Cb/Cr in 16-240), expressed on the 0-255 scale.

The results are *not* rounded: Matlab rounds when the input is uint8, so callers that
emulate a uint8 Matlab pipeline round with :func:`rnan_keras.data.degradations.quantize`.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from rnan_keras.data._common import as_float_image
from rnan_keras.data.color_coeffs import GRAY_COEFFS, YCBCR_MATRIX, YCBCR_OFFSET
from rnan_keras.errors import InvalidImageError

_YCBCR_INV = np.linalg.inv(YCBCR_MATRIX)


def _check_channels(x: tf.Tensor, n: int, fn: str) -> None:
    c = x.shape[-1]
    if c is not None and c != n:
        raise InvalidImageError(f"{fn} expects {n} channels, got {c} (shape {x.shape})")


def _apply_matrix(x: tf.Tensor, matrix: np.ndarray) -> tf.Tensor:
    # out[..., i] = sum_j x[..., j] * matrix[i, j]; done in float64 then cast, for accuracy.
    m = tf.constant(matrix.T, tf.float64)
    return tf.cast(tf.tensordot(tf.cast(x, tf.float64), m, axes=[[-1], [0]]), tf.float32)


def rgb_to_gray(x) -> tf.Tensor:
    """Matlab ``rgb2gray``: [..., H, W, 3] float 0-255 -> [..., H, W, 1] float (unrounded)."""
    x = as_float_image(x)
    _check_channels(x, 3, "rgb_to_gray")
    return _apply_matrix(x, GRAY_COEFFS[None, :])


def rgb_to_ycbcr(x) -> tf.Tensor:
    """Matlab ``rgb2ycbcr`` (BT.601): [..., 3] RGB 0-255 -> [..., 3] YCbCr (Y in 16-235)."""
    x = as_float_image(x)
    _check_channels(x, 3, "rgb_to_ycbcr")
    return _apply_matrix(x, YCBCR_MATRIX) + tf.constant(YCBCR_OFFSET, tf.float32)


def ycbcr_to_rgb(x) -> tf.Tensor:
    """Matlab ``ycbcr2rgb`` (BT.601): [..., 3] YCbCr -> [..., 3] RGB 0-255 (unclipped)."""
    x = as_float_image(x)
    _check_channels(x, 3, "ycbcr_to_rgb")
    return _apply_matrix(x - tf.constant(YCBCR_OFFSET, tf.float32), _YCBCR_INV)


def rgb_to_y(x) -> tf.Tensor:
    """Luma of Matlab ``rgb2ycbcr``: [..., H, W, 3] RGB 0-255 -> [..., H, W, 1] Y (16-235)."""
    x = as_float_image(x)
    _check_channels(x, 3, "rgb_to_y")
    return _apply_matrix(x, YCBCR_MATRIX[:1]) + 16.0
