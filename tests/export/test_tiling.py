"""Tests of rnan_keras/export/tiling.py: tile placement, blending, odd sizes, SR scale."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from rnan_keras.export.tiling import (
    blend_weights,
    check_tiling,
    coverage,
    pad_to_even,
    tile_starts,
    tiled_forward,
)


def _image(h, w, c=3, b=1, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (b, h, w, c)).astype(np.float32)


def _reference_tiled(core, x, tile, overlap, scale):
    """Numpy re-implementation of the tiling (loops, explicit weights) for comparison."""
    b, h, w, c = x.shape
    xe = np.pad(x, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    he, we = xe.shape[1:3]
    th, tw = min(he, tile), min(we, tile)
    stride = tile - overlap

    def starts(n, t):
        out, s = [], 0
        while True:
            out.append(min(s, n - t))
            if s >= n - t:
                return out
            s += stride

    def weights(n):
        i = np.arange(n)
        return np.minimum(np.minimum(i + 1, n - i), max(overlap * scale, 1)) / max(
            overlap * scale, 1
        )

    acc = np.zeros((b, he * scale, we * scale, c))
    norm = np.zeros((he * scale, we * scale))
    wgt = np.outer(weights(th * scale), weights(tw * scale))
    for y0 in starts(he, th):
        for x0 in starts(we, tw):
            out = np.asarray(core(xe[:, y0 : y0 + th, x0 : x0 + tw]))
            ys, xs = y0 * scale, x0 * scale
            acc[:, ys : ys + th * scale, xs : xs + tw * scale] += out * wgt[None, :, :, None]
            norm[ys : ys + th * scale, xs : xs + tw * scale] += wgt
    return (acc / norm[None, :, :, None])[:, : h * scale, : w * scale]


def test_tile_starts_cover_and_align_last_tile():
    starts = tile_starts(tf.constant(50), tf.constant(24), 20).numpy()
    np.testing.assert_array_equal(starts, [0, 20, 26])
    assert tile_starts(tf.constant(24), tf.constant(24), 20).numpy().tolist() == [0]
    assert tile_starts(tf.constant(44), tf.constant(24), 20).numpy().tolist() == [0, 20]


def test_blend_weights_positive_tent():
    w = blend_weights(tf.constant(10), 4).numpy()
    np.testing.assert_allclose(w, [0.25, 0.5, 0.75, 1, 1, 1, 1, 0.75, 0.5, 0.25])
    assert (blend_weights(tf.constant(3), 0).numpy() == 1).all()


def test_coverage_sums_tile_weights():
    w = blend_weights(tf.constant(4), 2)
    got = coverage(tf.constant(6), tf.constant([0, 2]), w).numpy()
    np.testing.assert_allclose(got, [0.5, 1, 1.5, 1.5, 1, 0.5])


def test_pad_to_even_repeats_last_row_and_column():
    x = _image(3, 5, c=2)
    got = pad_to_even(tf.constant(x)).numpy()
    assert got.shape == (1, 4, 6, 2)
    want = np.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)), mode="symmetric")
    np.testing.assert_array_equal(got, want)
    one = pad_to_even(tf.constant(_image(1, 1))).numpy()
    assert one.shape == (1, 2, 2, 3) and (one == one[:, :1, :1]).all()


@pytest.mark.parametrize("shape", [(17, 23), (24, 32), (50, 61), (1, 7)])
def test_identity_core_is_reproduced_exactly(shape):
    x = _image(*shape, b=2)
    got = tiled_forward(tf.identity, tf.constant(x), tile=16, overlap=4).numpy()
    np.testing.assert_allclose(got, x, rtol=1e-6, atol=1e-4)


def test_tiles_are_even_and_bounded():
    seen = []

    def core(t):
        seen.append(tuple(t.shape[1:3]))
        return t

    tiled_forward(core, tf.constant(_image(41, 27)), tile=16, overlap=4)
    assert seen and all(h <= 16 and w <= 16 and h % 2 == 0 and w % 2 == 0 for h, w in seen)
    # eager while_loop calls the core once per tile: 42x28 padded, stride 12 ->
    # 1 + ceil(26/12) = 4 rows and 1 + ceil(12/12) = 2 columns.
    assert len(seen) == 8


@pytest.mark.parametrize("scale", [1, 2, 3])
def test_matches_numpy_reference_with_a_position_dependent_core(scale):
    """A core whose output depends on where it is in the tile shows any blending error."""

    def core(t):
        t = tf.convert_to_tensor(t, tf.float32)
        h, w = tf.shape(t)[1], tf.shape(t)[2]
        ramp = tf.cast(tf.range(h), tf.float32)[None, :, None, None] * 3.0
        ramp += tf.cast(tf.range(w), tf.float32)[None, None, :, None]
        y = tf.sqrt(t + 1.0) * 10.0 + ramp
        return tf.repeat(tf.repeat(y, scale, axis=1), scale, axis=2)

    x = _image(29, 45, b=2)
    got = tiled_forward(core, tf.constant(x), tile=16, overlap=6, scale=scale).numpy()
    want = _reference_tiled(core, x, 16, 6, scale)
    assert got.shape == (2, 29 * scale, 45 * scale, 3)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-3)


def test_single_tile_equals_whole_image_and_tile_none():
    def core(t):
        return tf.reduce_mean(t, axis=[1, 2], keepdims=True) + t  # global context

    x = _image(13, 15)
    whole = core(pad_to_even(tf.constant(x)))[:, :13, :15].numpy()
    np.testing.assert_allclose(
        tiled_forward(core, tf.constant(x), tile=16, overlap=4).numpy(), whole, atol=1e-4
    )
    np.testing.assert_allclose(tiled_forward(core, tf.constant(x), tile=None).numpy(), whole)


@pytest.mark.parametrize("tile,overlap", [(15, 4), (0, 0), (16, 3), (16, 16), (16, -2)])
def test_check_tiling_rejects_bad_settings(tile, overlap):
    with pytest.raises(ValueError):
        check_tiling(tile, overlap)


def test_check_tiling_accepts_none():
    assert check_tiling(None, 8) == (None, 0)
