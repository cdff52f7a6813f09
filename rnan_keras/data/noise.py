"""Additive white Gaussian noise (AWGN) on float32 images, 0-255 scale.

Protocol note. DnCNN and RNAN build their test inputs in Matlab as ``clean + sigma*randn``
in floating point, with *no* rounding and *no* clipping, and train the same way; that is the
default here (``clip=False, round_values=False``). ``clip=True`` clips to [0, 255] and
``round_values=True`` rounds to integers (halves away from zero, like Matlab's uint8 cast),
which together mimic noisy images saved as 8-bit files.
"""

from __future__ import annotations

import tensorflow as tf

from rnan_keras.data._common import as_float_image, as_seed, round_half_away


def sample_per_image(batch: tf.Tensor | int, low: float, high: float, seed=None,
                     dtype: tf.DType = tf.float32) -> tf.Tensor:
    """Draw ``batch`` values uniformly from [low, high] (ints: inclusive range) -> shape [B].

    Stateless and deterministic when ``seed`` (int or int tensor of shape [2]) is given.
    """
    shape = tf.reshape(tf.cast(batch, tf.int32), [1])
    if dtype.is_integer:
        if seed is None:
            return tf.random.uniform(shape, int(low), int(high) + 1, dtype=dtype)
        return tf.random.stateless_uniform(shape, as_seed(seed), int(low), int(high) + 1,
                                           dtype=dtype)
    if seed is None:
        return tf.random.uniform(shape, low, high, dtype=dtype)
    return tf.random.stateless_uniform(shape, as_seed(seed), low, high, dtype=dtype)


def add_gaussian_noise(x, sigma, seed=None, clip: bool = False,
                       round_values: bool = False) -> tf.Tensor:
    """Add i.i.d. N(0, sigma^2) noise to every pixel and channel.

    Args:
        x: [H, W, C] or [B, H, W, C] float image on the 0-255 scale.
        sigma: noise standard deviation on the 0-255 scale: a number, a scalar tensor, or a
            [B] tensor with one sigma per image of a batch (blind training).
        seed: ``None`` for the global (stateful) RNG, or an int / int tensor of shape [2] for
            stateless, reproducible noise.
        clip: clip the result to [0, 255].
        round_values: round the result to integers (Matlab-style, halves away from zero).

    Returns:
        Float32 tensor with the shape of ``x``.
    """
    x = as_float_image(x)
    sigma = tf.cast(tf.convert_to_tensor(sigma), tf.float32)
    if sigma.shape.rank == 1:  # one sigma per image of the batch
        sigma = tf.reshape(sigma, [-1, 1, 1, 1])
    shape = tf.shape(x)
    if seed is None:
        noise = tf.random.normal(shape, dtype=tf.float32)
    else:
        noise = tf.random.stateless_normal(shape, as_seed(seed), dtype=tf.float32)
    y = x + sigma * noise
    if round_values:
        y = round_half_away(y)
    if clip:
        y = tf.clip_by_value(y, 0.0, 255.0)
    return y
