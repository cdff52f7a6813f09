"""Tests of validation helpers: PSNR protocol, tiled prediction, image strips."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from rnan_keras.inference import evaluate
from rnan_keras.inference.evaluate import protocol_for
from rnan_keras.training import validation
from rnan_keras.training.validation import comparison_strip, image_psnr, make_predictor


def test_protocol_per_task():
    assert protocol_for("dn_rgb") == protocol_for("demosaic") == protocol_for("car")
    assert not protocol_for("dn_gray").y_channel and protocol_for("car").crop_border == 0
    p = protocol_for("sr_x3")
    assert p.y_channel and p.crop_border == 3
    # Validation measures with the evaluation protocol of ``rnan eval``, not a copy of it.
    assert image_psnr is evaluate.image_psnr


def test_image_psnr_values():
    clean = np.full((10, 10, 3), 100.0)
    # Constant error of 5 -> 10*log10(255^2/25); the output is rounded before measuring.
    assert image_psnr(clean + 5.2, clean, "dn_rgb") == pytest.approx(
        10 * np.log10(255**2 / 25), abs=1e-9)
    # Values are clipped to [0, 255] first: 300 vs 255 is a perfect match.
    assert image_psnr(np.full((4, 4, 1), 300.0), np.full((4, 4, 1), 255.0), "car") == np.inf
    # SR: errors inside the cropped border are ignored, and PSNR is on Y.
    restored = clean.copy()
    restored[:2] = 0
    assert image_psnr(restored, clean, "sr_x2") == np.inf
    assert image_psnr(restored, clean, "dn_rgb") < 20


def test_tiles_match_whole_image_for_pointwise_and_upscaling_functions():
    x = np.random.default_rng(0).uniform(0, 255, (37, 50, 3)).astype("float32")
    inp = keras.Input((None, None, 3))
    double = keras.Model(inp, keras.layers.Rescaling(2.0)(inp))
    up2 = keras.Model(inp, keras.layers.UpSampling2D(2)(inp))

    np.testing.assert_allclose(make_predictor(double, 16)(x), x * 2, rtol=1e-6)
    want = np.repeat(np.repeat(x, 2, 0), 2, 1)
    np.testing.assert_allclose(make_predictor(up2, 16)(x), want, rtol=1e-6)
    np.testing.assert_allclose(make_predictor(double, 64)(x), x * 2, rtol=1e-6)


def test_predictor_tiles_large_images_with_the_one_tiler(monkeypatch):
    calls = []

    def spy(model, x, tile, overlap, *, scale):
        calls.append((x.shape[:2], tile, overlap, scale))
        return x

    monkeypatch.setattr(validation, "predict_tiled", spy)
    inp = keras.Input((None, None, 1))
    predict = make_predictor(keras.Model(inp, inp))
    for shape in ((96, 96), (97, 96), (40, 300)):
        predict(np.zeros((*shape, 1), np.float32))
    assert calls == [((96, 96), None, 0, 1), ((97, 96), 64, 8, 1), ((40, 300), 64, 8, 1)]
    calls.clear()
    make_predictor(keras.Model(inp, inp), tile=32)(np.zeros((40, 40, 1), np.float32))
    assert calls == [((40, 40), 32, 4, 1)]


def test_comparison_strip_shape_and_range():
    lr = np.full((4, 5, 3), 255.0)
    strip = comparison_strip(lr, np.full((8, 10, 3), 400.0), np.zeros((8, 10, 3)))
    assert strip.shape == (1, 8, 30, 3)
    assert strip.min() == 0.0 and strip.max() == 1.0
