"""Matlab-compatible bicubic ``imresize`` written with TensorFlow ops.

Follows Matlab's ``imresize(A, scale, 'bicubic')``: cubic kernel with a = -0.5, antialiasing
when down-scaling (the kernel is stretched by 1/scale), Matlab's 1-based pixel-centre mapping
``u = x/scale + 0.5*(1 - 1/scale)``, symmetric (mirror) padding at the borders, output size
``ceil(in*scale)``, and the two passes done in Matlab's order (the dimension with the smaller
scale first; rows first when equal).

Each pass builds a dense [out, in] weight matrix from the (dynamic) sizes with TF ops and
applies it with ``einsum``, so the function works in ``tf.data`` and in a ``tf.function`` on
any device, with unknown H and W.

``quantize=True`` emulates Matlab on a *uint8* image: after each pass the result is clipped
to [0, 255] and rounded (halves up), which is how the standard benchmark LR images (e.g.
``Set5/LR_bicubic``) were made. With ``quantize=False`` everything stays in float, as
Matlab does for double input.
"""

from __future__ import annotations

import math

import tensorflow as tf

from rnan_keras.data._common import as_float_image, to_uint8_values
from rnan_keras.errors import ConfigError


def _cubic(x: tf.Tensor) -> tf.Tensor:
    ax = tf.abs(x)
    ax2 = ax * ax
    ax3 = ax2 * ax
    near = (1.5 * ax3 - 2.5 * ax2 + 1.0) * tf.cast(ax <= 1.0, x.dtype)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * tf.cast((ax > 1.0) & (ax <= 2.0),
                                                             x.dtype)
    return near + far


def symmetric_index(index: tf.Tensor, length) -> tf.Tensor:
    """0-based ``index`` (any int, in or out of range) folded into ``[0, length)`` by
    symmetric (mirror) padding, as Matlab's ``imresize`` pads: ``-1 -> 0``, ``length ->
    length - 1``, periodic with period ``2 * length``."""
    period = 2 * length
    m = tf.math.floormod(index, period)
    return tf.where(m < length, m, period - 1 - m)


def resize_weights(in_len, out_len, scale: float, antialias: bool = True) -> tf.Tensor:
    """Matlab ``contributions`` as a dense float64 matrix W of shape [out_len, in_len].

    ``out = W @ in`` along one axis. ``in_len``/``out_len`` may be tensors; ``scale`` is a
    Python float (it fixes the kernel support).
    """
    in_len = tf.cast(in_len, tf.int32)
    out_len = tf.cast(out_len, tf.int32)
    kernel_width = 4.0
    stretch = scale < 1.0 and antialias
    if stretch:
        kernel_width = kernel_width / scale
    taps = math.ceil(kernel_width) + 2
    x = tf.range(1, out_len + 1, dtype=tf.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = tf.floor(u - kernel_width / 2.0)
    indices = left[:, None] + tf.range(taps, dtype=tf.float64)[None, :]  # 1-based
    dist = u[:, None] - indices
    weights = scale * _cubic(scale * dist) if stretch else _cubic(dist)
    weights = weights / tf.reduce_sum(weights, axis=1, keepdims=True)
    # Symmetric padding: aux = [1..in, in..1]; index = aux(mod(index - 1, 2*in) + 1).
    idx0 = symmetric_index(tf.cast(indices, tf.int32) - 1, in_len)
    rows = tf.broadcast_to(tf.range(out_len)[:, None], tf.shape(idx0))
    coords = tf.stack([tf.reshape(rows, [-1]), tf.reshape(idx0, [-1])], axis=1)
    # scatter_nd sums the weights of taps that mirror onto the same input pixel
    return tf.scatter_nd(coords, tf.reshape(weights, [-1]), tf.stack([out_len, in_len]))


def _resize_axis(x: tf.Tensor, axis: int, out_len, scale: float, antialias: bool,
                 compute_dtype: tf.DType) -> tf.Tensor:
    in_len = tf.shape(x)[axis]
    w = tf.cast(resize_weights(in_len, out_len, scale, antialias), compute_dtype)
    xc = tf.cast(x, compute_dtype)
    if axis == 1:
        y = tf.einsum("oh,bhwc->bowc", w, xc)
    else:
        y = tf.einsum("ow,bhwc->bhoc", w, xc)
    return tf.cast(y, tf.float32)


def imresize(x, scale: float | tuple[float, float] | None = None, *,
             size: tuple | None = None, antialias: bool = True, quantize: bool = False,
             compute_dtype: tf.DType = tf.float32) -> tf.Tensor:
    """Resize like Matlab ``imresize(x, scale, 'bicubic')``.

    Args:
        x: [H, W, C] or [B, H, W, C] float image, 0-255.
        scale: factor (or (scale_h, scale_w)); < 1 down-scales (antialiased), > 1 up-scales.
            The output size is ``ceil(in * scale)``, as in Matlab.
        size: output (height, width) instead of ``scale`` (ints or scalar tensors); the
            per-axis scale is then ``out / in`` as in Matlab ``imresize(A, [h w])``, and
            must be given as Python numbers via ``scale`` when the sizes are tensors.
        antialias: stretch the kernel when down-scaling (Matlab default ``true``).
        quantize: emulate Matlab on uint8 input (clip + round after each pass).
        compute_dtype: dtype of the matrix products; the weights are always computed in
            float64. float32 (default) already reproduces the Set5 LR files exactly.

    Returns:
        Float32 tensor [..., H', W', C].
    """
    x = as_float_image(x)
    single = x.shape.rank == 3
    if single:
        x = x[None]
    h, w = tf.shape(x)[1], tf.shape(x)[2]
    if scale is None and size is None:
        raise ConfigError("imresize needs scale or size")
    if scale is None:
        if not all(isinstance(s, int) for s in size) or x.shape[1] is None or x.shape[2] is None:
            raise ConfigError("imresize(size=...) with dynamic input needs scale= too")
        scale = (size[0] / x.shape[1], size[1] / x.shape[2])
    sh, sw = (scale, scale) if isinstance(scale, int | float) else scale
    sh, sw = float(sh), float(sw)
    if sh <= 0 or sw <= 0:
        raise ConfigError(f"imresize scale must be positive, got {scale}")
    if size is None:
        oh = tf.cast(tf.math.ceil(tf.cast(h, tf.float64) * sh), tf.int32)
        ow = tf.cast(tf.math.ceil(tf.cast(w, tf.float64) * sw), tf.int32)
    else:
        oh, ow = size
    passes = [(1, oh, sh), (2, ow, sw)]
    if sw < sh:  # Matlab resizes the dimension with the smallest scale first
        passes.reverse()
    for axis, out_len, s in passes:
        x = _resize_axis(x, axis, out_len, s, antialias, compute_dtype)
        if quantize:
            x = to_uint8_values(x)
    return x[0] if single else x
