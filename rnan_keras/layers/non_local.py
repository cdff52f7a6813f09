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
1 GiB for one 128x128 feature map; its backward keeps it). The chunked path never does,
forward or backward: it works on ``chunk_size`` complete rows of the softmax at a time
(memory ``O(N * chunk_size)``) and its gradient (``tf.custom_gradient``) recomputes each
chunk's probabilities instead of storing them, as memory-efficient / flash attention does.
For the key-axis softmax a chunk is a block of queries (rows of ``P``); for the query-axis
softmax it is a block of keys, i.e. complete columns of ``P``, so no separate
normalisation pass is needed and ``y`` is summed over key chunks. Both paths agree to
float32 round-off; ``mode="auto"`` uses the dense path up to ``max_dense_positions``
positions and the chunked one above.

Speed: every softmax runs over the last, contiguous axis (the query-axis logits are formed
transposed, ``phi theta^T``), sums over all ``N`` positions are formed as ``(C, N)``
products, and the backward passes are written out (``sum_j P_ij dP_ij`` comes from an
``N x C`` product, not an ``N x N`` one). The chunk loops are ``tf.while_loop`` s (one
chunk in flight), so both paths run under ``tf.function`` with unknown ``H, W`` and under
XLA. ``scripts/bench_attention.py`` times them (``scripts/results/bench_attention.json``):
on one CPU core at 96x96, chunks of 64-128 rows (a 128 x 9216 block is 4.7 MB and stays in
cache) are 20-40% faster than chunks of 1024; they beat the dense path in the forward pass
and are on par with it forward+backward (which recomputes the probabilities).

The attention itself is always computed in float32 (also under mixed precision).

Windowed attention (``window=w``, not in the paper or the official code): the map is cut
into non-overlapping ``w x w`` windows and each attends within itself (dense, ``w^2``
logits per position; positions beyond a partial window's part of the map get the logit bias
:data:`MASKED`, so a partial window computes exactly what the block computes on that crop).
Time and memory become linear in ``H * W``: on this project's 2-core CPU a 16-feature gray
model restores a 512x512 image in one pass with 48-pixel windows in 0.55 s, against 1.6 s
for the default tiles of global attention, at the same PSNR.

Other Keras backends (JAX, PyTorch; :mod:`rnan_keras.backend`) run :func:`ops_dense_attention`
in ``keras.ops`` with static shapes and the backend's autodiff: dense at any size (``mode``
and ``chunk_size`` apply to TensorFlow only), which suits training patches.
"""

from __future__ import annotations

from typing import Any

import keras

from rnan_keras.backend import is_tensorflow, tf

SOFTMAX_AXES = ("query", "key")
MODES = ("auto", "dense", "chunked")
#: Chunks of the chunked path in flight at once (memory grows with it).
_PARALLEL_ITERATIONS = 1


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def _t(x: tf.Tensor) -> tf.Tensor:
    """Swap the last two axes."""
    return tf.linalg.matrix_transpose(x)


def _logits(a, b, bias):
    """``a b^T (+ bias)``: (B, N, C) x (B, M, C) -> (B, N, M); ``bias`` (B, 1, M) or None."""
    f = tf.matmul(a, b, transpose_b=True)
    return f if bias is None else f + bias


def _rows_dense(theta, phi, g, bias=None):
    """Key-axis softmax, dense: ``P = softmax(theta phi^T)`` over keys, ``y = P g``."""

    @tf.custom_gradient
    def attend(theta, phi, g):
        p = tf.nn.softmax(_logits(theta, phi, bias))  # (B, N_query, N_key)
        y = tf.matmul(p, g)

        def grad(dy):
            d = tf.reduce_sum(dy * y, axis=-1, keepdims=True)  # = sum_j P_ij dP_ij
            ds = p * (tf.matmul(dy, g, transpose_b=True) - d)
            # The N-wide reductions as (C, N) products: faster than transpose_a on P.
            dphi = _t(tf.matmul(theta, ds, transpose_a=True))
            dg = _t(tf.matmul(dy, p, transpose_a=True))
            return tf.matmul(ds, phi), dphi, dg

        return y, grad

    return attend(theta, phi, g)


def _columns_dense(theta, phi, g, bias=None):
    """Query-axis softmax, dense, computed transposed: ``P^T = softmax(phi theta^T)``."""

    @tf.custom_gradient
    def attend(theta, phi, g):
        p_t = tf.nn.softmax(_logits(phi, theta, bias))  # (B, N_key, N_query)
        y = _t(tf.matmul(g, p_t, transpose_a=True))

        def grad(dy):
            dg = tf.matmul(p_t, dy)
            d = tf.reduce_sum(g * dg, axis=-1, keepdims=True)  # = sum_i P_ij dP_ij
            ds_t = p_t * (tf.matmul(g, dy, transpose_b=True) - d)
            dtheta = _t(tf.matmul(phi, ds_t, transpose_a=True))
            return dtheta, tf.matmul(ds_t, theta), dg

        return y, grad

    return attend(theta, phi, g)


def dense_attention(
    theta: tf.Tensor, phi: tf.Tensor, g: tf.Tensor, softmax_axis: str, bias: tf.Tensor | None = None
):
    """Dense non-local attention. ``theta, phi, g``: (B, N, C) float32 -> (B, N, C).

    The softmax always runs over the last (contiguous) axis: for ``"query"`` the logits are
    formed transposed, ``f^T = phi theta^T`` (B, N_key, N_query). The backward pass is
    written out (see :func:`_rows_attention` for the formulas); it keeps ``P``.
    ``bias`` (B, 1, N), optional, is added to the logits along the softmax axis (queries
    for ``"query"``, keys for ``"key"``): :data:`MASKED` there removes a position.
    """
    if softmax_axis == "query":
        return _columns_dense(theta, phi, g, bias)
    return _rows_dense(theta, phi, g, bias)


def ops_dense_attention(theta, phi, g, softmax_axis: str, bias=None):
    """:func:`dense_attention` in ``keras.ops`` for other Keras backends (JAX, PyTorch):
    same contract and logits layout, gradient by the backend's autodiff."""
    a, b = (phi, theta) if softmax_axis == "query" else (theta, phi)
    f = keras.ops.matmul(a, keras.ops.transpose(b, (0, 2, 1)))
    p = keras.ops.softmax(f if bias is None else f + bias)
    if softmax_axis == "query":
        return keras.ops.matmul(keras.ops.transpose(p, (0, 2, 1)), g)
    return keras.ops.matmul(p, g)


# ------------------------------------------------------------------ windowed attention

#: Logit bias of a position outside the image in a partial window (its softmax weight is 0).
MASKED = -1e30


def _pad_to_window(size, window: int):
    """Pixels that make ``size`` a multiple of ``window``. Written without the modulo of a
    negative number, which ONNX (tf2onnx) computes with C's sign, not Python's."""
    return (window - size % window) % window


def window_partition(t, height, width, window: int, xp=tf):
    """(B, H, W, C) -> (B * nH * nW, window^2, C): non-overlapping ``window x window``
    windows from the top-left corner, row-major, the image zero-padded at the bottom and
    right to whole windows. ``xp``: ``tf`` (dynamic H, W) or ``keras.ops`` (static)."""
    ph, pw = _pad_to_window(height, window), _pad_to_window(width, window)
    t = xp.pad(t, [[0, 0], [0, ph], [0, pw], [0, 0]])
    c = t.shape[-1]
    t = xp.reshape(t, [-1, (height + ph) // window, window, (width + pw) // window, window * c])
    t = xp.transpose(t, [0, 1, 3, 2, 4])
    return xp.reshape(t, [-1, window * window, c])


def window_merge(y, batch, height, width, window: int, xp=tf):
    """Inverse of :func:`window_partition`: (B * nH * nW, window^2, C) -> (B, H, W, C)."""
    nh = (height + _pad_to_window(height, window)) // window
    nw = (width + _pad_to_window(width, window)) // window
    c = y.shape[-1]
    y = xp.reshape(y, [batch, nh, nw, window, window * c])
    y = xp.transpose(y, [0, 1, 3, 2, 4])
    return xp.reshape(y, [batch, nh * window, nw * window, c])[:, :height, :width]


def window_bias(batch, height, width, window: int, xp=tf):
    """(B * nH * nW, 1, window^2) logit bias: 0 inside the image, :data:`MASKED` in the
    padding of partial windows."""
    inside = window_partition(xp.ones([1, height, width, 1]), height, width, window, xp)
    bias = xp.transpose((1.0 - inside) * MASKED, [0, 2, 1])
    return xp.tile(bias, [batch, 1, 1])


def _split_chunks(x: tf.Tensor, chunk: int) -> tf.Tensor:
    """(B, N, C) -> (K, B, chunk, C), zero-padding N up to a multiple of ``chunk``."""
    n = tf.shape(x)[1]
    x = tf.pad(x, [[0, 0], [0, (-n) % chunk], [0, 0]])
    b, c = tf.shape(x)[0], tf.shape(x)[2]
    x = tf.reshape(x, [b, -1, chunk, c])
    return tf.transpose(x, [1, 0, 2, 3])


def _merge_chunks(x: tf.Tensor, n: tf.Tensor) -> tf.Tensor:
    """(K, B, chunk, C) -> (B, N, C), dropping the padding."""
    x = tf.transpose(x, [1, 0, 2, 3])
    b, c = tf.shape(x)[0], tf.shape(x)[3]
    return tf.reshape(x, [b, -1, c])[:, :n]


def _chunk_loop(n_chunks, body, loop_vars):
    """``for k in range(n_chunks): loop_vars = body(k, *loop_vars)`` as one graph loop."""
    out = tf.while_loop(
        lambda k, *_: k < n_chunks,
        lambda k, *v: (k + 1, *body(k, *v)),
        (tf.constant(0), *loop_vars),
        parallel_iterations=_PARALLEL_ITERATIONS,
    )
    return out[1:]


def _array(n_chunks, like):
    return tf.TensorArray(tf.float32, size=n_chunks, element_shape=like.shape[1:])


def _zeros_t(x):
    """Zeros shaped like ``x`` with the last two axes swapped: (B, C, N)."""
    return tf.zeros_like(_t(x))


def _rows_attention(theta, phi, g, chunk):
    """Key-axis softmax (each query's row sums to one), chunked over queries.

    Forward: rows ``i`` of a query chunk ``I`` are complete, ``y_I = softmax(theta_I phi^T) g``.
    Backward, recomputing ``P_I`` per chunk (nothing ``N x N`` is kept)::

        dP_I = dy_I g^T        D_i = dy_i . y_i  (= sum_j P_ij dP_ij)
        dS_I = P_I * (dP_I - D_I)
        dtheta_I = dS_I phi    dphi += dS_I^T theta_I    dg += P_I^T dy_I

    The ``N``-wide sums are accumulated transposed, as (B, C, N).
    """

    @tf.custom_gradient
    def attend(theta, phi, g):
        n = tf.shape(theta)[1]
        theta_k = _split_chunks(theta, chunk)  # (K, B, chunk, C); padded queries dropped
        n_chunks = tf.shape(theta_k)[0]

        def probs(k):
            return tf.nn.softmax(tf.matmul(theta_k[k], phi, transpose_b=True))  # (B, c, N)

        def forward(k, ys):
            return (ys.write(k, tf.matmul(probs(k), g)),)

        (ys,) = _chunk_loop(n_chunks, forward, (_array(n_chunks, theta_k),))
        y_k = ys.stack()  # (K, B, chunk, C)
        y = _merge_chunks(y_k, n)

        def grad(dy):
            dy_k = _split_chunks(dy, chunk)  # padded rows have dy = 0: they contribute 0
            d_k = tf.reduce_sum(dy_k * y_k, axis=-1, keepdims=True)  # (K, B, chunk, 1)

            def backward(k, dthetas, dphi_t, dg_t):
                p = probs(k)
                ds = p * (tf.matmul(dy_k[k], g, transpose_b=True) - d_k[k])
                dphi_t += tf.matmul(theta_k[k], ds, transpose_a=True)
                dg_t += tf.matmul(dy_k[k], p, transpose_a=True)
                return dthetas.write(k, tf.matmul(ds, phi)), dphi_t, dg_t

            dthetas, dphi_t, dg_t = _chunk_loop(
                n_chunks, backward, (_array(n_chunks, theta_k), _zeros_t(phi), _zeros_t(g))
            )
            return _merge_chunks(dthetas.stack(), n), _t(dphi_t), _t(dg_t)

        return y, grad

    return attend(theta, phi, g)


def _columns_attention(theta, phi, g, chunk):
    """Query-axis softmax (each key's column sums to one), chunked over keys.

    A chunk ``J`` of keys holds complete columns of ``P``, so the column softmax needs no
    separate normalisation pass: ``P_J^T = softmax(phi_J theta^T)`` (rows = keys, softmax
    over the contiguous query axis) and ``y = sum_J P_{:,J} g_J``. Backward, recomputing
    ``P_J^T`` per chunk::

        dg_J = P_J^T dy        dP_J^T = g_J dy^T        D_j = g_j . dg_j  (= sum_i P_ij dP_ij)
        dS_J^T = P_J^T * (dP_J^T - D_J)
        dphi_J = dS_J^T theta  dtheta += dS_{:,J} phi_J

    ``y`` and ``dtheta`` are accumulated transposed, as (B, C, N).
    """

    @tf.custom_gradient
    def attend(theta, phi, g):
        n = tf.shape(phi)[1]
        phi_k = _split_chunks(phi, chunk)  # padded keys have g = 0: they contribute 0
        g_k = _split_chunks(g, chunk)
        n_chunks = tf.shape(phi_k)[0]

        def probs_t(k):
            return tf.nn.softmax(tf.matmul(phi_k[k], theta, transpose_b=True))  # (B, c, N)

        def forward(k, y_t):
            return (y_t + tf.matmul(g_k[k], probs_t(k), transpose_a=True),)

        (y_t,) = _chunk_loop(n_chunks, forward, (_zeros_t(g),))

        def grad(dy):
            def backward(k, dphis, dgs, dtheta_t):
                p_t = probs_t(k)
                dg = tf.matmul(p_t, dy)  # (B, c, C)
                d = tf.reduce_sum(g_k[k] * dg, axis=-1, keepdims=True)
                ds_t = p_t * (tf.matmul(g_k[k], dy, transpose_b=True) - d)
                dtheta_t += tf.matmul(phi_k[k], ds_t, transpose_a=True)
                return dphis.write(k, tf.matmul(ds_t, theta)), dgs.write(k, dg), dtheta_t

            dphis, dgs, dtheta_t = _chunk_loop(
                n_chunks,
                backward,
                (_array(n_chunks, phi_k), _array(n_chunks, g_k), _zeros_t(theta)),
            )
            return _t(dtheta_t), _merge_chunks(dphis.stack(), n), _merge_chunks(dgs.stack(), n)

        return _t(y_t), grad

    return attend(theta, phi, g)


def chunked_attention(
    theta: tf.Tensor, phi: tf.Tensor, g: tf.Tensor, softmax_axis: str, chunk_size: int
):
    """Exact non-local attention in O(N * chunk_size) memory, forward and backward.

    Same contract as :func:`dense_attention`.
    """
    chunk = int(chunk_size)
    if softmax_axis == "query":
        return _columns_attention(theta, phi, g, chunk)
    return _rows_attention(theta, phi, g, chunk)


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
        window: 0 (default, official) attends over the whole feature map; ``w > 0`` attends
            within each non-overlapping ``w x w`` window (from the top-left corner; a partial
            window at the bottom / right attends over its pixels inside the map only). Not in
            the paper: it makes the cost linear in ``H * W`` (``w^2`` logits per position,
            always the dense path) instead of quadratic. A map no larger than ``w x w`` is
            one window, so training on patches of at most ``w`` pixels is the same with
            and without it.

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
        window: int = 0,
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
        self.window = int(window)
        if self.window < 0:
            raise ValueError(f"window must be >= 0 (0 = the whole feature map), got {window}")
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

    def _windowed(self, x, b, h, w, xp, attention):
        """``W(y)`` of windowed attention (see ``window``), with ``xp`` = ``tf`` / ``keras.ops``."""
        win = self.window

        def part(t):
            return window_partition(xp.cast(t, "float32"), h, w, win, xp)

        y = attention(part(self.theta(x)), part(self.phi(x)), part(self.g(x)),
                      self.softmax_axis, window_bias(b, h, w, win, xp))
        return self.w(xp.cast(window_merge(y, b, h, w, win, xp), self.compute_dtype))

    def _call_ops(self, x):
        """The block on a backend other than TensorFlow: dense attention, static shapes."""
        b, h, w, _ = keras.ops.shape(x)
        if self.window:
            return x + self._windowed(x, b, h, w, keras.ops, ops_dense_attention)
        c = self.inter_channels

        def flat(t):
            return keras.ops.reshape(keras.ops.cast(t, "float32"), (b, h * w, c))

        y = ops_dense_attention(flat(self.theta(x)), flat(self.phi(x)), flat(self.g(x)),
                                self.softmax_axis)
        y = keras.ops.cast(keras.ops.reshape(y, (b, h, w, c)), self.compute_dtype)
        return x + self.w(y)

    def call(self, x):
        if not is_tensorflow():
            return self._call_ops(x)
        shape = tf.shape(x)
        b, h, w = shape[0], shape[1], shape[2]
        if self.window:
            return x + self._windowed(x, b, h, w, tf, dense_attention)
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
            "window": self.window,
        }
