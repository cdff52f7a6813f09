"""Additive white Gaussian noise (AWGN) on float32 images, 0-255 scale.

Protocol note. DnCNN and RNAN build their test inputs in Matlab as ``clean + sigma*randn``
in floating point, with *no* rounding and *no* clipping, and train the same way; that is the
default here (``clip=False, round_values=False``). ``clip=True`` clips to [0, 255] and
``round_values=True`` rounds to integers (halves away from zero, like Matlab's uint8 cast),
which together mimic noisy images saved as 8-bit files.

Two generators. A single seed (an int or a ``[2]`` tensor) draws with TensorFlow's stateless
RNG, as evaluation always has. A ``[B, 2]`` tensor gives every image of a batch its own seed
and draws with :func:`stateless_normal_per_image`: Threefry-2x32 counters in plain ``uint32``
ops and a Box-Muller transform. That is the training generator: TensorFlow's own stateless
ops give *other* numbers under XLA than without it, whereas these integer ops give the same
bits on the host, in a ``tf.data`` map, and in a train step compiled with XLA on any device;
only ``log`` / ``cos`` / ``sin`` may round their last bit differently there.
"""

from __future__ import annotations

import math

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


_ROTATIONS = (13, 15, 26, 6, 17, 29, 16, 24)  # Threefry-2x32 (Random123, Skein)
_PARITY = 0x1BD11BDA


def _rotl(x: tf.Tensor, r: int) -> tf.Tensor:
    return tf.bitwise.bitwise_or(tf.bitwise.left_shift(x, tf.constant(r, tf.uint32)),
                                 tf.bitwise.right_shift(x, tf.constant(32 - r, tf.uint32)))


def threefry2x32(key: tuple[tf.Tensor, tf.Tensor], counter: tuple[tf.Tensor, tf.Tensor],
                 rounds: int = 20) -> tuple[tf.Tensor, tf.Tensor]:
    """Threefry-2x32 (Salmon et al. 2011, Random123): two ``uint32`` words per counter.

    ``key`` and ``counter`` are pairs of broadcastable ``uint32`` tensors; every output word
    depends on all of them. Plain integer ops: the same bits on every device, with or
    without XLA (JAX's default generator is this function).
    """
    k0, k1 = (tf.cast(k, tf.uint32) for k in key)
    ks = (k0, k1, tf.bitwise.bitwise_xor(tf.bitwise.bitwise_xor(k0, k1),
                                         tf.constant(_PARITY, tf.uint32)))
    x0, x1 = counter[0] + ks[0], counter[1] + ks[1]
    for r in range(rounds):
        x0 = x0 + x1
        x1 = tf.bitwise.bitwise_xor(_rotl(x1, _ROTATIONS[r % 8]), x0)
        if r % 4 == 3:  # key injection
            s = (r + 1) // 4
            x0 = x0 + ks[s % 3]
            x1 = x1 + ks[(s + 1) % 3] + tf.constant(s, tf.uint32)
    return x0, x1


def stateless_normal_per_image(shape, seeds) -> tf.Tensor:
    """Standard normal noise of ``shape`` ``[B, ...]``, image ``b`` drawn from ``seeds[b]``.

    ``seeds`` is an int ``[B, 2]`` tensor; image ``b`` is a function of ``seeds[b]`` alone
    (not of the batch it sits in). Threefry-2x32 of the counters ``(0, j)`` under the key
    ``seeds[b]`` gives two 24-bit uniforms ``u1`` in (0, 1] and ``u2`` in [0, 1); Box-Muller
    turns them into the pair ``r cos t``, ``r sin t`` (``r = sqrt(-2 ln u1)``,
    ``t = 2 pi u2``) at flat positions ``2j`` and ``2j + 1``. ``|z| <= sqrt(48 ln 2)``
    (5.77), beyond which a Gaussian has probability 8e-9.
    """
    shape = tf.cast(tf.convert_to_tensor(shape), tf.int32)
    seeds = tf.cast(tf.convert_to_tensor(seeds), tf.int32)
    n = tf.reduce_prod(shape[1:])
    pairs = (n + 1) // 2
    key = tf.bitcast(seeds, tf.uint32)  # [B, 2]
    j = tf.range(pairs, dtype=tf.int32)[None, :]
    b0, b1 = threefry2x32((key[:, :1], key[:, 1:]),
                          (tf.zeros_like(tf.bitcast(j, tf.uint32)), tf.bitcast(j, tf.uint32)))
    eight = tf.constant(8, tf.uint32)
    scale = 2.0 ** -24  # exact: a 24-bit integer times a power of two
    u1 = (tf.cast(tf.bitwise.right_shift(b0, eight), tf.float32) + 1.0) * scale
    u2 = tf.cast(tf.bitwise.right_shift(b1, eight), tf.float32) * scale
    r = tf.sqrt(-2.0 * tf.math.log(u1))
    t = (2.0 * math.pi) * u2
    z = tf.reshape(tf.stack([r * tf.cos(t), r * tf.sin(t)], axis=-1), [shape[0], -1])
    return tf.reshape(z[:, :n], shape)


def add_gaussian_noise(x, sigma, seed=None, clip: bool = False,
                       round_values: bool = False) -> tf.Tensor:
    """Add i.i.d. N(0, sigma^2) noise to every pixel and channel.

    Args:
        x: [H, W, C] or [B, H, W, C] float image on the 0-255 scale.
        sigma: noise standard deviation on the 0-255 scale: a number, a scalar tensor, or a
            [B] tensor with one sigma per image of a batch (blind training).
        seed: ``None`` for the global (stateful) RNG, an int / int tensor of shape [2] for
            stateless, reproducible noise, or an int tensor of shape [B, 2] with one seed
            per image of a batch (:func:`stateless_normal_per_image`: the same numbers on
            any device and under XLA).
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
    elif tf.convert_to_tensor(seed).shape.rank == 2:
        noise = stateless_normal_per_image(shape, seed)
    else:
        noise = tf.random.stateless_normal(shape, as_seed(seed), dtype=tf.float32)
    y = x + sigma * noise
    if round_values:
        y = round_half_away(y)
    if clip:
        y = tf.clip_by_value(y, 0.0, 255.0)
    return y
