"""Exact Bayer sampling positions for the four CFA patterns."""

from __future__ import annotations

import numpy as np
import pytest

from rnan_keras.data.mosaic import bayer_mosaic
from rnan_keras.errors import ConfigError

CH = {"R": 0, "G": 1, "B": 2}


def _image(h, w):
    # distinct, non-zero values per position and channel
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([1 + y * w + x + 1000 * c for c in range(3)], axis=-1).astype(np.float32)


@pytest.mark.parametrize("pattern", ["RGGB", "BGGR", "GRBG", "GBRG"])
def test_positions(pattern):
    h, w = 5, 7  # odd sizes
    img = _image(h, w)
    out = bayer_mosaic(img, pattern).numpy()
    packed = bayer_mosaic(img, pattern, packed=True).numpy()
    assert out.shape == (h, w, 3) and packed.shape == (h, w, 1)
    for i in range(h):
        for j in range(w):
            keep = CH[pattern[2 * (i % 2) + (j % 2)]]
            for c in range(3):
                want = img[i, j, c] if c == keep else 0.0
                assert out[i, j, c] == want, (pattern, i, j, c)
            assert packed[i, j, 0] == img[i, j, keep]


def test_grbg_top_left_block_and_batch():
    img = np.stack([_image(4, 4), _image(4, 4) * 2])
    out = bayer_mosaic(img, "GRBG").numpy()
    assert out.shape == (2, 4, 4, 3)
    # G R / B G
    assert out[1, 0, 0, 1] == img[1, 0, 0, 1] and out[1, 0, 1, 0] == img[1, 0, 1, 0]
    assert out[1, 1, 0, 2] == img[1, 1, 0, 2] and out[1, 1, 1, 1] == img[1, 1, 1, 1]
    assert (out != 0).sum(axis=-1).max() == 1


def test_unknown_pattern():
    with pytest.raises(ConfigError):
        bayer_mosaic(np.zeros((2, 2, 3), np.float32), "RGBG")
