"""PixelShuffle reproduces PyTorch's channel order (checked against a numpy definition)."""

from __future__ import annotations

import numpy as np
import pytest

from rnan_keras.layers.pixel_shuffle import PixelShuffle


def _torch_pixel_shuffle_nhwc(x, r):
    # PyTorch: out[c, h*r+i, w*r+j] = in[c*r*r + i*r + j, h, w]
    b, h, w, cr2 = x.shape
    c = cr2 // (r * r)
    out = np.zeros((b, h * r, w * r, c), x.dtype)
    for ch in range(c):
        for i in range(r):
            for j in range(r):
                out[:, i::r, j::r, ch] = x[..., ch * r * r + i * r + j]
    return out


@pytest.mark.parametrize("r,c", [(2, 3), (3, 2), (2, 8)])
def test_matches_torch_order(r, c):
    x = np.random.default_rng(0).normal(size=(2, 5, 4, c * r * r)).astype("float32")
    got = np.asarray(PixelShuffle(r)(x))
    np.testing.assert_array_equal(got, _torch_pixel_shuffle_nhwc(x, r))
