"""Tests of validation helpers: PSNR protocol, tiled prediction, image strips."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from rnan_keras.training.validation import (
    comparison_strip,
    image_psnr,
    predict_in_tiles,
    psnr_protocol,
)


def test_protocol_per_task():
    assert psnr_protocol("dn_rgb") == psnr_protocol("demosaic") == psnr_protocol("car")
    assert not psnr_protocol("dn_gray").y_channel and psnr_protocol("car").crop_border == 0
    p = psnr_protocol("sr_x3")
    assert p.y_channel and p.crop_border == 3


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

    def double(t):
        return t * 2.0

    def up2(t):
        return tf.repeat(tf.repeat(t, 2, axis=1), 2, axis=2)

    np.testing.assert_allclose(predict_in_tiles(double, x, 16, 4, batch=3), x * 2, rtol=1e-6)
    want = np.repeat(np.repeat(x, 2, 0), 2, 1)
    np.testing.assert_allclose(predict_in_tiles(up2, x, 16, 4), want, rtol=1e-6)
    np.testing.assert_allclose(predict_in_tiles(double, x, 64), x * 2, rtol=1e-6)


def test_comparison_strip_shape_and_range():
    lr = np.full((4, 5, 3), 255.0)
    strip = comparison_strip(lr, np.full((8, 10, 3), 400.0), np.zeros((8, 10, 3)))
    assert strip.shape == (1, 8, 30, 3)
    assert strip.min() == 0.0 and strip.max() == 1.0
