"""Matlab rgb2gray / rgb2ycbcr / ycbcr2rgb on the 0-255 scale."""

from __future__ import annotations

import numpy as np
import pytest

from rnan_keras.data.color import rgb_to_gray, rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb
from rnan_keras.errors import InvalidImageError

# Matlab: rgb2ycbcr(uint8(...)) for white, black, red, green, blue (documented BT.601 values).
MATLAB_YCBCR = {
    (255, 255, 255): (235, 128, 128),
    (0, 0, 0): (16, 128, 128),
    (255, 0, 0): (81, 90, 240),
    (0, 255, 0): (145, 54, 34),
    (0, 0, 255): (41, 240, 110),
}


def test_rgb_to_ycbcr_known_values():
    rgb = np.array([list(k) for k in MATLAB_YCBCR], np.float32)[None]  # [1, 5, 3]
    got = np.floor(rgb_to_ycbcr(rgb).numpy() + 0.5)[0]
    np.testing.assert_array_equal(got, np.array(list(MATLAB_YCBCR.values()), np.float32))
    y = rgb_to_y(rgb).numpy()
    np.testing.assert_allclose(y[..., 0], rgb_to_ycbcr(rgb).numpy()[..., 0], atol=1e-4)


def test_ycbcr_round_trip_batch():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (2, 9, 7, 3)).astype(np.float32)
    np.testing.assert_allclose(ycbcr_to_rgb(rgb_to_ycbcr(x)).numpy(), x, atol=1e-3)


def test_rgb_to_gray_matlab_coefficients():
    # Matlab rgb2gray(uint8([255 0 0])) = 76, green -> 150, blue -> 29, gray stays gray
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [77, 77, 77]]], np.float32)
    got = np.floor(rgb_to_gray(rgb).numpy() + 0.5)[..., 0]
    np.testing.assert_array_equal(got, [[76, 150, 29, 77]])


def test_wrong_channel_count():
    with pytest.raises(InvalidImageError):
        rgb_to_gray(np.zeros((4, 4, 1), np.float32))
