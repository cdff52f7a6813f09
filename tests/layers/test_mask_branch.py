"""Mask branch geometry: symmetric stride-2 padding and exact 2x transposed conv."""

from __future__ import annotations

import numpy as np

from rnan_keras.layers.mask_branch import MaskBranch


def test_output_in_unit_interval_and_same_shape():
    x = np.random.default_rng(0).normal(size=(1, 6, 10, 4)).astype("float32")
    layer = MaskBranch(4)
    y = np.asarray(layer(x))
    assert y.shape == x.shape
    assert (y > 0).all() and (y < 1).all()


def test_down_conv_pads_one_on_every_side():
    # A 3x3 stride-2 conv on a 4x4 input with 1 zero on each side sees rows -1..1 and 1..3.
    layer = MaskBranch(1)
    layer.build((1, 4, 4, 1))
    kernel = np.zeros((3, 3, 1, 1), "float32")
    kernel[0, 0] = 1.0  # picks the top-left tap of every window
    layer.down.set_weights([kernel, np.zeros(1, "float32")])
    x = np.arange(16, dtype="float32").reshape(1, 4, 4, 1) + 1
    d = np.asarray(layer.down(layer.down_pad(x)))[0, :, :, 0]
    # Window (0,0) top-left tap is the zero pad; window (1,1) starts at input (1,1) = 6.
    np.testing.assert_array_equal(d, [[0, 0], [0, 6]])


def test_transposed_conv_doubles_size():
    layer = MaskBranch(2)
    layer.build((1, 8, 6, 2))
    y = layer.up(np.zeros((1, 4, 3, 2), "float32"))
    assert tuple(y.shape) == (1, 8, 6, 2)
