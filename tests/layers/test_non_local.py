"""Non-local block: softmax axes, dense vs chunked equality, and the formula itself."""

from __future__ import annotations

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


def test_output_conv_starts_at_zero_like_official():
    layer = NonLocalBlock(8)
    x = np.random.default_rng(0).normal(size=(1, 6, 6, 8)).astype("float32")
    np.testing.assert_array_equal(np.asarray(layer(x)), x)


def test_bad_options_raise():
    with pytest.raises(ValueError, match="softmax_axis"):
        NonLocalBlock(8, softmax_axis="rows")
    with pytest.raises(ValueError, match="mode"):
        NonLocalBlock(8, mode="sparse")
