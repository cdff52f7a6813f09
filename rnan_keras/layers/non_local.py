"""Embedded-Gaussian non-local block, dense or chunked (official ``NonLocalBlock2D``).

For a feature map ``x`` of shape ``(B, H, W, F)`` with ``N = H * W`` positions (flattened
row-major) and ``C = F // 2`` inner channels::

    theta, phi, g = conv1x1(x)            # each (B, N, C)
    f = theta @ phi^T                     # (B, N_query, N_key), no 1/sqrt(C) scaling
    P = softmax(f, axis=...)              # see ``softmax_axis``
    y = P @ g                             # (B, N, C)
    out = x + W(y)                        # W: conv1x1 C -> F

``softmax_axis="query"`` (default) normalises over the query index ``i`` so that every
key's column sums to one: this is what the official RNAN code computes and what its
checkpoints were trained with. ``softmax_axis="key"`` is the formula of the paper (and of
Wang et al.'s non-local networks): every query's row sums to one.

Memory: the dense path materialises the ``N x N`` matrix (``4 * B * N^2`` bytes, e.g.
1 GiB for one 128x128 feature map). The chunked path never does: it processes ``chunk_size``
query rows at a time (memory ``O(N * chunk_size)``). For the query-axis softmax it first
computes the per-key log-normaliser ``lse_j = logsumexp_i f_ij`` chunk by chunk over keys,
then a second pass forms ``exp(f_ij - lse_j)`` for a chunk of queries. Both paths agree
to float32 round-off. ``mode="auto"`` uses the dense path up to ``max_dense_positions``
positions and the chunked one above.

The attention itself is always computed in float32 (also under mixed precision).
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

SOFTMAX_AXES = ("query", "key")
MODES = ("auto", "dense", "chunked")


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def dense_attention(theta: tf.Tensor, phi: tf.Tensor, g: tf.Tensor, softmax_axis: str):
    """Dense non-local attention. ``theta, phi, g``: (B, N, C) float32 -> (B, N, C)."""
    f = tf.matmul(theta, phi, transpose_b=True)  # (B, N_query, N_key)
    p = tf.nn.softmax(f, axis=1 if softmax_axis == "query" else 2)
    return tf.matmul(p, g)


def _split_chunks(x: tf.Tensor, chunk: int) -> tf.Tensor:
    """(B, N, C) -> (K, B, chunk, C), zero-padding N up to a multiple of ``chunk``."""
    n = tf.shape(x)[1]
    pad = (-n) % chunk
    x = tf.pad(x, [[0, 0], [0, pad], [0, 0]])
    b, c = tf.shape(x)[0], tf.shape(x)[2]
    x = tf.reshape(x, [b, -1, chunk, c])
    return tf.transpose(x, [1, 0, 2, 3])


def _merge_chunks(x: tf.Tensor, n: tf.Tensor) -> tf.Tensor:
    """(K, B, chunk, C) -> (B, N, C), dropping the padding."""
    x = tf.transpose(x, [1, 0, 2, 3])
    b, c = tf.shape(x)[0], tf.shape(x)[3]
    return tf.reshape(x, [b, -1, c])[:, :n]


def chunked_attention(
    theta: tf.Tensor, phi: tf.Tensor, g: tf.Tensor, softmax_axis: str, chunk_size: int
):
    """Exact non-local attention in O(N * chunk_size) memory. Same contract as dense."""
    n = tf.shape(theta)[1]
    if softmax_axis == "query":
        # Pass 1: per-key log-normaliser over all queries, a chunk of keys at a time.
        def key_lse(phi_chunk):
            f = tf.matmul(theta, phi_chunk, transpose_b=True)  # (B, N, chunk)
            return tf.reduce_logsumexp(f, axis=1)  # (B, chunk)

        lse = tf.map_fn(
            key_lse,
            _split_chunks(phi, chunk_size),
            fn_output_signature=tf.TensorSpec([None, chunk_size], tf.float32),
            parallel_iterations=1,
        )  # (K, B, chunk)
        lse = tf.reshape(tf.transpose(lse, [1, 0, 2]), [tf.shape(theta)[0], -1])[:, :n]
        lse = lse[:, tf.newaxis, :]  # (B, 1, N)

        def query_rows(theta_chunk):
            f = tf.matmul(theta_chunk, phi, transpose_b=True)  # (B, chunk, N)
            return tf.matmul(tf.exp(f - lse), g)
    else:

        def query_rows(theta_chunk):
            f = tf.matmul(theta_chunk, phi, transpose_b=True)
            return tf.matmul(tf.nn.softmax(f, axis=-1), g)

    out = tf.map_fn(
        query_rows,
        _split_chunks(theta, chunk_size),
        fn_output_signature=tf.TensorSpec([None, chunk_size, None], tf.float32),
        parallel_iterations=1,
    )
    return _merge_chunks(out, n)


@keras.saving.register_keras_serializable(package="rnan_keras")
class NonLocalBlock(keras.layers.Layer):
    """Non-local block ``out = x + W(softmax(theta(x) phi(x)^T) g(x))``.

    Args:
        filters: channels ``F`` of the input and output.
        inter_channels: inner channels ``C`` (default ``F // 2``, as official).
        softmax_axis: ``"query"`` (official code, default) or ``"key"`` (paper formula).
        mode: ``"auto"``, ``"dense"`` or ``"chunked"`` (see module docstring).
        chunk_size: query / key rows per chunk for the chunked path.
        max_dense_positions: ``auto`` uses the dense path while ``H * W`` is at most this.

    Shapes: ``(B, H, W, F) -> (B, H, W, F)``; any H and W.
    """

    def __init__(
        self,
        filters: int,
        inter_channels: int | None = None,
        softmax_axis: str = "query",
        mode: str = "auto",
        chunk_size: int = 1024,
        max_dense_positions: int = 96 * 96,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.inter_channels = int(inter_channels or max(self.filters // 2, 1))
        self.softmax_axis = _check_choice("softmax_axis", softmax_axis, SOFTMAX_AXES)
        self.mode = _check_choice("mode", mode, MODES)
        self.chunk_size = int(chunk_size)
        self.max_dense_positions = int(max_dense_positions)
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        c = self.inter_channels
        self.g = keras.layers.Conv2D(c, 1, name="g")
        self.theta = keras.layers.Conv2D(c, 1, name="theta")
        self.phi = keras.layers.Conv2D(c, 1, name="phi")
        # Zero-initialised like the official code: the block starts as an identity.
        self.w = keras.layers.Conv2D(
            self.filters, 1, kernel_initializer="zeros", bias_initializer="zeros", name="w"
        )

    def build(self, input_shape: tuple) -> None:
        for conv in (self.g, self.theta, self.phi):
            conv.build(input_shape)
        self.w.build(tuple(input_shape)[:-1] + (self.inter_channels,))
        super().build(input_shape)

    def _attention(self, theta, phi, g):
        n_static = theta.shape[1]
        if self.mode == "dense":
            return dense_attention(theta, phi, g, self.softmax_axis)
        if self.mode == "chunked":
            return chunked_attention(theta, phi, g, self.softmax_axis, self.chunk_size)
        if n_static is not None:
            if n_static <= self.max_dense_positions:
                return dense_attention(theta, phi, g, self.softmax_axis)
            return chunked_attention(theta, phi, g, self.softmax_axis, self.chunk_size)
        return tf.cond(
            tf.shape(theta)[1] <= self.max_dense_positions,
            lambda: dense_attention(theta, phi, g, self.softmax_axis),
            lambda: chunked_attention(theta, phi, g, self.softmax_axis, self.chunk_size),
        )

    def call(self, x):
        shape = tf.shape(x)
        b, h, w = shape[0], shape[1], shape[2]
        c = self.inter_channels

        def flat(t):
            return tf.reshape(tf.cast(t, tf.float32), [b, h * w, c])

        y = self._attention(flat(self.theta(x)), flat(self.phi(x)), flat(self.g(x)))
        y = tf.cast(tf.reshape(y, [b, h, w, c]), self.compute_dtype)
        return x + self.w(y)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "inter_channels": self.inter_channels,
            "softmax_axis": self.softmax_axis,
            "mode": self.mode,
            "chunk_size": self.chunk_size,
            "max_dense_positions": self.max_dense_positions,
        }
