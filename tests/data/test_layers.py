"""Degradation layers: .keras round trips and behaviour."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from rnan_keras.data.degradations import bayer_mosaic, imresize, jpeg_compress, rgb_to_y
from rnan_keras.data.layers import (
    AddGaussianNoise,
    BayerMosaic,
    ColorConversion,
    JpegCompression,
    MatlabBicubicResize,
)
from tests.conftest import assert_layer_roundtrip

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (2, 12, 10, 3)).astype(np.float32)


@pytest.mark.parametrize(
    "layer,inputs,reference",
    [
        (BayerMosaic("GBRG"), RGB, lambda x: bayer_mosaic(x, "GBRG")),
        (BayerMosaic(packed=True), RGB, lambda x: bayer_mosaic(x, "GRBG", packed=True)),
        (MatlabBicubicResize(0.5, quantize=True), RGB,
         lambda x: imresize(x, 0.5, quantize=True)),
        (MatlabBicubicResize(2.0), RGB, lambda x: imresize(x, 2.0)),
        (JpegCompression(30), RGB, lambda x: jpeg_compress(x, 30)),
        (ColorConversion("rgb_to_y"), RGB, rgb_to_y),
    ],
)
def test_deterministic_layers_roundtrip(layer, inputs, reference, tmp_path):
    assert_layer_roundtrip(layer, inputs, tmp_path, atol=1e-3)
    np.testing.assert_allclose(layer(inputs).numpy(), reference(inputs).numpy(), atol=1e-3)


def _roundtrip_random(layer, x, tmp_path):
    inp = keras.Input((None, None, x.shape[-1]))
    model = keras.Model(inp, layer(inp))
    clone = layer.__class__.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    path = tmp_path / "random.keras"
    model.save(path)
    reloaded = keras.models.load_model(path, safe_mode=True)
    rlayer = reloaded.layers[-1]
    assert rlayer.get_config() == layer.get_config()
    # same generator state -> same output
    state = np.array([123, 0], dtype="int64")
    layer.seed_generator.state.assign(state)
    rlayer.seed_generator.state.assign(state)
    np.testing.assert_allclose(reloaded(x).numpy(), model(x).numpy(), atol=1e-4)
    return model


def test_noise_layer_roundtrip_and_statistics(tmp_path):
    x = np.full((4, 64, 64, 1), 128.0, np.float32)
    layer = AddGaussianNoise(sigma=[10.0, 30.0], seed=5)
    model = _roundtrip_random(layer, x, tmp_path)
    a = model(x).numpy()
    b = model(x).numpy()
    assert not np.array_equal(a, b)  # new noise on every call
    stds = (a - 128.0).reshape(4, -1).std(axis=1)
    assert stds.min() > 9.0 and stds.max() < 31.0


def test_jpeg_range_layer_roundtrip(tmp_path):
    x = RGB[:, :, :, :1]
    out = _roundtrip_random(JpegCompression([10, 40], seed=1), x, tmp_path)(x).numpy()
    np.testing.assert_array_equal(out, np.round(out))


def test_training_only():
    layer = AddGaussianNoise(25.0, training_only=True)
    np.testing.assert_array_equal(layer(RGB, training=False).numpy(), RGB)
    assert np.abs(layer(RGB, training=True).numpy() - RGB).mean() > 5.0
