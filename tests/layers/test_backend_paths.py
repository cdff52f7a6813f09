"""The layers' ``keras.ops`` paths (other Keras backends) against their TensorFlow paths.

Under a backend other than TensorFlow (JAX, PyTorch) the layers run ``keras.ops`` code with
static shapes (:mod:`rnan_keras.backend`). Here that code runs under TensorFlow itself, on
eager tensors, by making each layer module's ``is_tensorflow`` answer ``False``; both paths
compute the same sums in float32, so they agree to float32 round-off of 0-255 values.
Whether the code runs on JAX without TensorFlow is ``tests/scripts/test_train_jax.py``'s.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from rnan_keras import backend, load_preset
from rnan_keras.layers import (
    BicubicUpsample,
    BilinearDemosaic,
    CropToReference,
    NonLocalBlock,
    PadToMultiple,
    PixelShuffle,
    bicubic_upsample,
    bilinear_demosaic,
    non_local,
    padding,
    pixel_shuffle,
)

MODULES = (bicubic_upsample, bilinear_demosaic, non_local, padding, pixel_shuffle)
# float32 round-off of sums of O(100) terms of 0-255 values: 255 * 100 * 2**-24 ~ 2e-3 at
# worst; the tolerances below are that bound, not a fitted value.
ATOL, RTOL = 2e-3, 1e-5


@pytest.fixture
def ops_path(monkeypatch):
    """Run the layers' keras.ops path (as on JAX) while TensorFlow is the backend."""

    def use(ops: bool) -> None:
        for module in MODULES:
            monkeypatch.setattr(module, "is_tensorflow", lambda: not ops)

    return use


def both(layer, x, ops_path):
    ops_path(False)
    want = np.asarray(layer(x))
    ops_path(True)
    got = np.asarray(layer(x))
    return got, want


def images(shape, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, shape).astype("float32")


def test_depth_to_space_matches_tf():
    x = images((2, 3, 5, 36))
    for r in (2, 3):
        np.testing.assert_array_equal(np.asarray(backend.depth_to_space(x, r)),
                                      tf.nn.depth_to_space(x, r).numpy())


def test_is_tensorflow_under_the_suite():
    assert backend.is_tensorflow() and backend.tf is tf


@pytest.mark.parametrize("mode", ["SYMMETRIC", "REFLECT"])
@pytest.mark.parametrize("multiple,size", [(2, (5, 7)), (4, (1, 1)), (4, (6, 9)), (8, (3, 2))])
def test_pad_to_multiple(ops_path, mode, multiple, size):
    if mode == "REFLECT" and min(size) < multiple:
        pytest.skip("REFLECT needs H, W >= multiple")
    got, want = both(PadToMultiple(multiple, mode), images((2, *size, 3)), ops_path)
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def test_crop_to_reference(ops_path):
    layer = CropToReference(scale=2)
    x, ref = images((1, 12, 14, 3)), images((1, 5, 6, 1))
    ops_path(False)
    want = np.asarray(layer([x, ref]))
    ops_path(True)
    np.testing.assert_array_equal(np.asarray(layer([x, ref])), want)
    assert want.shape == (1, 10, 12, 3)


@pytest.mark.parametrize("r", [2, 3])
def test_pixel_shuffle(ops_path, r):
    got, want = both(PixelShuffle(r), images((2, 4, 5, 3 * r * r)), ops_path)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_upsample(ops_path, scale):
    got, want = both(BicubicUpsample(scale), images((1, 7, 6, 3)), ops_path)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def test_bilinear_demosaic(ops_path):
    got, want = both(BilinearDemosaic(), images((2, 6, 8, 3)), ops_path)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("window", [0, 4])
@pytest.mark.parametrize("softmax_axis", ["query", "key"])
def test_non_local_block(ops_path, softmax_axis, window):
    """Global attention, and 4-pixel windows on a 6 x 5 map (partial windows, masked)."""
    tf.random.set_seed(0)
    layer = NonLocalBlock(8, softmax_axis=softmax_axis, window=window)
    x = images((2, 6, 5, 8)) / 255.0
    layer.build(x.shape)
    rng = np.random.default_rng(1)
    layer.set_weights([rng.normal(0, 0.3, w.shape).astype("float32")
                       for w in layer.get_weights()])  # w is zero-initialised: make it count
    got, want = both(layer, x, ops_path)
    assert np.abs(want - x).max() > 0.1  # the attention changed the input
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-5)


@pytest.mark.parametrize("preset", ["dn_rgb_small", "demosaic_small", "sr_x2_small"])
def test_whole_model(ops_path, preset):
    """A trained preset (non-local blocks, mask branches, and the demosaic / SR skips) on an
    odd-sized input (padding and cropping)."""
    model = load_preset(preset)
    x = images((1, 37, 45, model.input_shape[-1]))
    got, want = both(model, x, ops_path)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
