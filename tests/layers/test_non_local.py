"""Non-local block: softmax axes, dense vs chunked equality, and the formula itself.

Values and gradients of both attention paths are compared with a float64 reference (the
plain formula differentiated by TensorFlow in float64). Tolerances follow from float32
round-off, not from what the code happens to reach: every output is a chain of a few
float32 sums (length C for the logits, N for the softmax normaliser and for ``P g``, N
again in the backward), and random round-off in a sum of length N grows like
``sqrt(N) * eps``; :func:`_float32_tol` allows 8 such ``sqrt(N) * eps`` terms.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from rnan_keras.layers.non_local import NonLocalBlock, chunked_attention, dense_attention


def _qkv(n=37, c=4, seed=0):
    rng = np.random.default_rng(seed)
    return [tf.constant(rng.normal(size=(2, n, c)).astype("float32")) for _ in range(3)]


def _numpy_attention(theta, phi, g, axis):
    f = np.einsum("bic,bjc->bij", theta, phi).astype("float64")
    ax = 1 if axis == "query" else 2
    p = np.exp(f - f.max(axis=ax, keepdims=True))
    p /= p.sum(axis=ax, keepdims=True)
    return np.einsum("bij,bjc->bic", p, g)


@pytest.mark.parametrize("axis", ["query", "key"])
def test_dense_matches_formula(axis):
    theta, phi, g = _qkv()
    got = dense_attention(theta, phi, g, axis).numpy()
    want = _numpy_attention(theta.numpy(), phi.numpy(), g.numpy(), axis)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_query_and_key_axes_differ():
    theta, phi, g = _qkv()
    a = dense_attention(theta, phi, g, "query").numpy()
    b = dense_attention(theta, phi, g, "key").numpy()
    assert np.abs(a - b).max() > 1e-2


@pytest.mark.parametrize("axis", ["query", "key"])
@pytest.mark.parametrize("chunk", [1, 5, 16, 37, 64])
def test_chunked_equals_dense(axis, chunk):
    theta, phi, g = _qkv(n=37)
    # Larger logits make the normaliser matter (and test the log-sum-exp stabilisation).
    theta = theta * 3.0
    dense = dense_attention(theta, phi, g, axis).numpy()
    chunked = chunked_attention(theta, phi, g, axis, chunk).numpy()
    scale = np.abs(dense).max()
    assert np.abs(chunked - dense).max() <= 1e-4 * scale


@pytest.mark.parametrize("axis", ["query", "key"])
def test_layer_modes_agree_in_graph_with_dynamic_shape(axis):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1, 10, 14, 8)).astype("float32")
    weights = None
    outs = {}
    for mode in ("dense", "chunked", "auto"):
        layer = NonLocalBlock(8, softmax_axis=axis, mode=mode, chunk_size=16, max_dense_positions=50)
        layer.build(x.shape)
        if weights is None:  # random weights, including the zero-initialised output conv
            weights = [rng.normal(0, 0.5, w.shape).astype("float32") for w in layer.get_weights()]
        layer.set_weights(weights)
        fn = tf.function(layer, input_signature=[tf.TensorSpec([None, None, None, 8])])
        outs[mode] = fn(x).numpy()
    assert np.abs(outs["dense"] - x).max() > 1e-2  # the attention path is exercised
    np.testing.assert_allclose(outs["chunked"], outs["dense"], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(outs["auto"], outs["dense"], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("axis", ["query", "key"])
def test_auto_mode_gradient_through_cond_with_dynamic_shape(axis):
    # Unknown H, W: "auto" picks dense or chunked at run time (tf.cond); both branches
    # carry their own custom gradient.
    rng = np.random.default_rng(2)
    layer = NonLocalBlock(8, softmax_axis=axis, mode="auto", chunk_size=16, max_dense_positions=50)
    layer.build((None, None, None, 8))
    layer.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in layer.get_weights()])
    dense = NonLocalBlock(8, softmax_axis=axis, mode="dense")
    dense.build((None, None, None, 8))
    dense.set_weights(layer.get_weights())

    def grads(block):
        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 8])])
        def fn(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_sum(block(x) ** 2)
            return tape.gradient(loss, [x, *block.trainable_weights])

        return fn

    # The softmax cancels a bias on the side it normalises over (theta for "query", phi
    # for "key"): that gradient is 0 and both paths give round-off, compared on the scale
    # of all the gradients.
    cancelled = 1 + [w.path for w in layer.trainable_weights].index(
        (layer.theta if axis == "query" else layer.phi).bias.path
    )
    auto_fn, dense_fn = grads(layer), grads(dense)
    for shape in ((1, 5, 6, 8), (1, 10, 14, 8)):  # N = 30 (dense branch), 140 (chunked)
        x = rng.normal(size=shape).astype("float32")
        auto, want = [t.numpy() for t in auto_fn(x)], [t.numpy() for t in dense_fn(x)]
        scale = max(np.abs(t).max() for t in want)
        assert np.abs(auto[cancelled]).max() <= 1e-5 * scale
        for a, d in zip(auto, want):
            np.testing.assert_allclose(a, d, rtol=1e-4, atol=1e-5 * scale)


def test_output_conv_starts_at_zero_like_official():
    layer = NonLocalBlock(8)
    x = np.random.default_rng(0).normal(size=(1, 6, 6, 8)).astype("float32")
    np.testing.assert_array_equal(np.asarray(layer(x)), x)


def test_bad_options_raise():
    with pytest.raises(ValueError, match="softmax_axis"):
        NonLocalBlock(8, softmax_axis="rows")
    with pytest.raises(ValueError, match="mode"):
        NonLocalBlock(8, mode="sparse")


# ------------------------------------------------------------- gradients vs float64


EPS32 = float(np.finfo(np.float32).eps)


def _float32_tol(n: int) -> float:
    """Relative (to the largest magnitude) error float32 round-off allows at N positions."""
    return 8 * EPS32 * np.sqrt(n)


def _trained_range(b=2, n=150, c=8, seed=0):
    """theta, phi, g and an upstream gradient dy ~ N(0, 0.5), as in a trained model."""
    rng = np.random.default_rng(seed)
    return [rng.normal(0.0, 0.5, size=(b, n, c)) for _ in range(4)]


def _reference64(theta, phi, g, dy, axis):
    """Plain formula in float64: y and d(sum(y * dy)) / d(theta, phi, g)."""
    t, p, v, d = (tf.constant(a, tf.float64) for a in (theta, phi, g, dy))
    with tf.GradientTape() as tape:
        tape.watch([t, p, v])
        f = tf.matmul(t, p, transpose_b=True)
        y = tf.matmul(tf.nn.softmax(f, axis=1 if axis == "query" else 2), v)
        loss = tf.reduce_sum(y * d)
    return [y.numpy()] + [x.numpy() for x in tape.gradient(loss, [t, p, v])]


def _value_and_grads(attention, theta, phi, g, dy):
    t, p, v, d = (tf.constant(a, tf.float32) for a in (theta, phi, g, dy))
    with tf.GradientTape() as tape:
        tape.watch([t, p, v])
        y = attention(t, p, v)
        loss = tf.reduce_sum(y * d)
    return [y] + tape.gradient(loss, [t, p, v])


def _rel_err(got, want) -> float:
    return float(np.abs(np.asarray(got, np.float64) - want).max() / np.abs(want).max())


NAMES = ("y", "dtheta", "dphi", "dg")


@pytest.mark.parametrize("axis", ["query", "key"])
def test_reference64_matches_numpy_formula(axis):
    theta, phi, g, dy = _trained_range(n=37)
    want = _numpy_attention(theta, phi, g, axis)
    assert _rel_err(_reference64(theta, phi, g, dy, axis)[0], want) < 1e-12


@pytest.mark.parametrize("axis", ["query", "key"])
@pytest.mark.parametrize("chunk", [7, 32, 256])
def test_dense_and_chunked_values_and_gradients_match_float64(axis, chunk):
    theta, phi, g, dy = _trained_range(n=150)  # 150 is no multiple of 7 or 32; 256 > N
    want = _reference64(theta, phi, g, dy, axis)
    dense = _value_and_grads(lambda t, p, v: dense_attention(t, p, v, axis), theta, phi, g, dy)
    chunked = _value_and_grads(
        lambda t, p, v: chunked_attention(t, p, v, axis, chunk), theta, phi, g, dy
    )
    tol = _float32_tol(150)
    for name, d, c, w in zip(NAMES, dense, chunked, want):
        assert _rel_err(d, w) <= tol, (name, "dense", _rel_err(d, w), tol)
        assert _rel_err(c, w) <= tol, (name, "chunked", _rel_err(c, w), tol)
        assert _rel_err(c, np.asarray(d, np.float64)) <= 1e-4, (name, "chunked vs dense")


@pytest.mark.parametrize("axis", ["query", "key"])
def test_large_logits_gradients_match_float64(axis):
    # |f| up to ~20: the softmax is nearly one-hot and its normaliser must be stabilised.
    theta, phi, g, dy = _trained_range(n=150)
    theta = theta * 4.0
    want = _reference64(theta, phi, g, dy, axis)
    got = _value_and_grads(
        lambda t, p, v: chunked_attention(t, p, v, axis, 32), theta, phi, g, dy
    )
    logit_scale = np.abs(np.einsum("bic,bjc->bij", theta, phi)).max()
    tol = _float32_tol(150) * max(1.0, logit_scale)  # exp turns |f| eps into relative error
    for name, c, w in zip(NAMES, got, want):
        assert _rel_err(c, w) <= tol, (name, _rel_err(c, w), tol)


@pytest.mark.parametrize("jit", [False, True], ids=["graph", "xla"])
@pytest.mark.parametrize("axis", ["query", "key"])
def test_chunked_gradient_in_tf_function_with_dynamic_shapes(axis, jit):
    spec = tf.TensorSpec([None, None, None], tf.float32)

    @tf.function(input_signature=[spec] * 4, jit_compile=jit)
    def value_and_grads(t, p, v, d):
        with tf.GradientTape() as tape:
            tape.watch([t, p, v])
            loss = tf.reduce_sum(chunked_attention(t, p, v, axis, 32) * d)
        return tape.gradient(loss, [t, p, v])

    for b, n in ((2, 150), (1, 37), (1, 64)):
        theta, phi, g, dy = _trained_range(b=b, n=n, seed=n)
        want = _reference64(theta, phi, g, dy, axis)[1:]
        got = value_and_grads(*(tf.constant(a, tf.float32) for a in (theta, phi, g, dy)))
        for name, c, w in zip(NAMES[1:], got, want):
            assert _rel_err(c, w) <= _float32_tol(n), (name, b, n)
    if not jit:
        assert value_and_grads.experimental_get_tracing_count() == 1


@pytest.mark.parametrize("axis", ["query", "key"])
def test_chunked_trains_like_dense_in_model_fit(axis):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 9, 11, 8)).astype("float32")  # N = 99, chunk 16
    target = rng.normal(size=x.shape).astype("float32")
    weights, trained = None, {}
    for mode in ("dense", "chunked"):
        keras.utils.set_random_seed(0)
        inputs = keras.Input((None, None, 8))
        block = NonLocalBlock(8, softmax_axis=axis, mode=mode, chunk_size=16)
        model = keras.Model(inputs, block(inputs))
        if weights is None:  # non-zero output conv, so the attention gets gradients
            weights = [rng.normal(0, 0.5, w.shape).astype("float32") for w in model.get_weights()]
        model.set_weights(weights)
        model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
        model.fit(x, target, batch_size=2, epochs=2, shuffle=False, verbose=0)
        trained[mode] = model.get_weights()
    theta_kernel = [w.path for w in model.weights].index(block.theta.kernel.path)
    assert np.abs(trained["chunked"][theta_kernel] - weights[theta_kernel]).max() > 1e-4
    for d, c in zip(trained["dense"], trained["chunked"]):
        np.testing.assert_allclose(c, d, rtol=1e-4, atol=1e-5)


_PEAK_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np, tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from rnan_keras.layers.non_local import chunked_attention, dense_attention

    def peak():  # VmHWM: peak RSS of this address space (ru_maxrss would include the
        # parent's, inherited through fork and exec)
        with open("/proc/self/status") as status:
            line = next(x for x in status if x.startswith("VmHWM:"))
        return int(line.split()[1]) * 1024

    def fwd_bwd(attention, n):
        rng = np.random.default_rng(0)
        args = [tf.constant(rng.normal(0, .5, (1, n, 8)).astype("float32")) for _ in range(4)]

        @tf.function
        def f(t, p, v, d):
            with tf.GradientTape() as tape:
                tape.watch([t, p, v])
                loss = tf.reduce_sum(attention(t, p, v) * d)
            return [loss, *tape.gradient(loss, [t, p, v])]  # loss: keep the forward in

        return [x.numpy() for x in f(*args)]

    axis, n = sys.argv[1], int(sys.argv[2])
    chunked = lambda t, p, v: chunked_attention(t, p, v, axis, 128)
    dense = lambda t, p, v: dense_attention(t, p, v, axis)
    fwd_bwd(chunked, 1024)  # warm up kernels and the allocator at a small size
    fwd_bwd(dense, 1024)
    base = peak()
    fwd_bwd(chunked, n)
    after_chunked = peak()
    fwd_bwd(dense, n)
    print(json.dumps({"chunked": after_chunked - base, "dense": peak() - after_chunked}))
    """
)


@pytest.mark.parametrize("axis", ["query", "key"])
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_chunked_forward_and_backward_never_hold_n_by_n(axis):
    """Peak memory of fwd+bwd at N = 96^2, where one N x N float32 matrix is 340 MB.

    Measured as growth of the peak RSS (``VmHWM``) in a fresh process. The dense path, run
    afterwards in the same process, must show at least one N x N (so the measurement can
    see it); the chunked path (chunk 128: 4.7 MB blocks) must stay below a quarter of one.
    Keeping every chunk's probabilities for the backward pass, as a differentiated loop
    would, adds up to a whole N x N and fails this.
    """
    n = 96 * 96
    nxn = 4 * n * n
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = subprocess.run(
        [sys.executable, "-c", _PEAK_SCRIPT, axis, str(n)],
        capture_output=True, text=True, env=env, timeout=600, check=True,
    )
    growth = json.loads(out.stdout.strip().splitlines()[-1])
    assert growth["dense"] >= nxn, growth
    assert growth["chunked"] < nxn / 4, growth


# ------------------------------------------------------------------ windowed attention


def _random_block(axis, window, seed=1):
    """A block on 8 features with random weights (``w`` starts at zero: made to count)."""
    layer = NonLocalBlock(8, softmax_axis=axis, window=window)
    layer.build((None, None, None, 8))
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.normal(0, 0.5, w.shape).astype("float32")
                       for w in layer.get_weights()])
    return layer


def _crops(h, w, window):
    return [(i, j) for i in range(0, h, window) for j in range(0, w, window)]


@pytest.mark.parametrize("axis", ["query", "key"])
@pytest.mark.parametrize("hw", [(13, 11), (10, 15), (4, 3)])
def test_windowed_block_is_the_global_block_on_each_window(axis, hw):
    """The 1x1 convs are per position, so a window's output must be the global block run
    on that crop alone; partial windows (13 = 5 + 5 + 3) test the padding mask, and a map
    smaller than the window (4 x 3) is one window, i.e. the global block itself."""
    win, (h, w) = 5, hw
    x = np.random.default_rng(0).normal(size=(2, h, w, 8)).astype("float32")
    glob, windowed = _random_block(axis, 0), _random_block(axis, win)
    graph = tf.function(windowed, input_signature=[tf.TensorSpec([None, None, None, 8])])
    y, y_graph = np.asarray(windowed(x)), graph(x).numpy()
    want = np.zeros_like(y)
    for i, j in _crops(h, w, win):
        want[:, i:i + win, j:j + win] = np.asarray(glob(x[:, i:i + win, j:j + win]))
    scale = np.abs(want).max()
    tol = _float32_tol(win * win) * scale
    np.testing.assert_allclose(y, want, rtol=0, atol=tol)
    np.testing.assert_allclose(y_graph, want, rtol=0, atol=tol)
    if h > win or w > win:  # windows differ from global attention (the test can fail)
        assert np.abs(np.asarray(glob(x)) - y).max() > 100 * tol


@pytest.mark.parametrize("axis", ["query", "key"])
def test_windowed_gradients_are_the_global_blocks_on_each_window(axis):
    """Gradients (input and weights) through the masked custom gradient equal the sum of
    the global block's gradients over the crops.

    One bias has a gradient that is zero in exact arithmetic: adding a constant to theta
    (query softmax) or phi (key softmax) shifts each softmax's logits by one constant. Its
    computed value is round-off of a sum of terms of the size of the kernel's gradient, so
    that is the scale its tolerance is relative to."""
    win, h, w = 5, 12, 9
    x = tf.constant(np.random.default_rng(2).normal(size=(1, h, w, 8)).astype("float32"))
    dy = np.random.default_rng(3).normal(size=(1, h, w, 8)).astype("float32")
    glob, windowed = _random_block(axis, 0), _random_block(axis, win)

    def grads(layer, fn):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = fn(layer)
        return [g.numpy() for g in tape.gradient(loss, [x, *layer.trainable_weights])]

    got = grads(windowed, lambda layer: tf.reduce_sum(layer(x) * dy))
    want = grads(glob, lambda layer: tf.add_n([
        tf.reduce_sum(layer(x[:, i:i + win, j:j + win]) * dy[:, i:i + win, j:j + win])
        for i, j in _crops(h, w, win)
    ]))
    names = ["x"] + [v.path.split("/", 1)[1] for v in windowed.trainable_weights]
    invariant = "theta/bias" if axis == "query" else "phi/bias"
    for name, g_got, g_want in zip(names, got, want, strict=True):
        ref = want[names.index(invariant.replace("bias", "kernel"))] if name == invariant else g_want
        tol = _float32_tol(h * w) * np.abs(ref).max()
        np.testing.assert_allclose(g_got, g_want, rtol=0, atol=tol, err_msg=name)


def test_window_must_not_be_negative():
    with pytest.raises(ValueError, match="window"):
        NonLocalBlock(8, window=-1)
