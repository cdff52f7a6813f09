"""Tests of rnan_keras/export/tiling.py: the in-graph tiling reproduces ``predict_tiled``
(rnan_keras/inference/tiling.py, what ``rnan restore`` runs), odd sizes, SR scale."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from rnan_keras.export.tiling import (
    _axis_weights,
    check_tiling,
    coverage,
    pad_to_even,
    span_weights,
    tile_spans,
    tiled_forward,
)
from rnan_keras.inference import tiling as keras_tiling


def _image(h, w, c=3, b=1, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (b, h, w, c)).astype(np.float32)


def _position_core(scale):
    """A core whose output depends on the position inside the tile (shows blending errors)
    and on the whole tile (a global mean, like non-local attention)."""

    def core(t):
        t = tf.convert_to_tensor(t, tf.float32)
        h, w = tf.shape(t)[1], tf.shape(t)[2]
        ramp = tf.cast(tf.range(h), tf.float32)[None, :, None, None] * 3.0
        ramp += tf.cast(tf.range(w), tf.float32)[None, None, :, None]
        y = tf.sqrt(t + 1.0) * 10.0 + ramp + tf.reduce_mean(t, axis=[1, 2], keepdims=True)
        return tf.repeat(tf.repeat(y, scale, axis=1), scale, axis=2)

    return core


def _model_like(core):
    """``core`` wrapped like the RNAN model: pads odd sizes itself and crops back."""

    def predict(x):
        x = tf.convert_to_tensor(x, tf.float32)
        h, w = x.shape[1], x.shape[2]
        y = core(pad_to_even(x))
        s = y.shape[1] // (h + h % 2)
        return y[:, : h * s, : w * s].numpy()

    return predict


@pytest.mark.parametrize("length", [1, 7, 16, 17, 30, 41, 50, 97, 100, 193, 1024])
@pytest.mark.parametrize("tile,overlap", [(16, 4), (16, 8), (96, 16), (8, 0)])
def test_spans_match_predict_tiled(length, tile, overlap):
    starts, stops = tile_spans(tf.constant(length), tile, overlap)
    want = keras_tiling.tile_spans(length, tile, overlap)
    assert list(zip(starts.numpy().tolist(), stops.numpy().tolist(), strict=True)) == [
        (s.start, s.stop) for s in want
    ]


@pytest.mark.parametrize("length,tile,overlap,scale", [(41, 16, 4, 1), (50, 16, 8, 3),
                                                        (193, 96, 16, 2)])
def test_span_weights_match_predict_tiled(length, tile, overlap, scale):
    spans = keras_tiling.tile_spans(length, tile, overlap)
    want = keras_tiling.axis_weights(spans, scale)
    starts, stops = tile_spans(tf.constant(length), tile, overlap)
    start, size, before, after = _axis_weights(starts, stops, scale)
    for i, w in enumerate(want):
        got = span_weights(tf.range(size[i]), size[i], before[i], after[i]).numpy()
        np.testing.assert_allclose(got, w, atol=1e-6)
    total, count = coverage(tf.constant(length * scale), start, size, before, after)
    np.testing.assert_allclose(total.numpy(), 1.0, atol=1e-6)  # neighbours sum to one
    assert count.numpy().min() >= 1


def test_pad_to_even_repeats_last_row_and_column():
    x = _image(3, 5, c=2)
    got = pad_to_even(tf.constant(x)).numpy()
    want = np.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)), mode="symmetric")
    np.testing.assert_array_equal(got, want)
    one = pad_to_even(tf.constant(_image(1, 1))).numpy()
    assert one.shape == (1, 2, 2, 3) and (one == one[:, :1, :1]).all()


@pytest.mark.parametrize("shape", [(17, 23), (24, 32), (50, 61), (1, 7)])
def test_identity_core_is_reproduced(shape):
    x = _image(*shape, b=2)
    got = tiled_forward(tf.identity, tf.constant(x), tile=16, overlap=4).numpy()
    np.testing.assert_allclose(got, x, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("scale", [1, 2, 3])
@pytest.mark.parametrize("shape", [(29, 45), (16, 41), (13, 15)])
def test_matches_predict_tiled(scale, shape):
    core = _position_core(scale)
    x = _image(*shape, b=2)
    got = tiled_forward(core, tf.constant(x), tile=16, overlap=6, scale=scale).numpy()
    want = keras_tiling.predict_tiled(None, x, 16, 6, scale=scale, predict=_model_like(core))
    assert got.shape == want.shape == (2, shape[0] * scale, shape[1] * scale, 3)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-3)


def test_tiles_are_bounded_and_even():
    seen = []

    def core(t):
        seen.append(tuple(t.shape[1:3]))
        return t

    tiled_forward(core, tf.constant(_image(41, 27)), tile=16, overlap=4)
    # An odd length ends with a tile+1 span, padded to tile+2 for the core.
    assert seen and all(h <= 18 and w <= 18 and h % 2 == 0 and w % 2 == 0 for h, w in seen)
    assert len(seen) == keras_tiling.count_tiles(41, 27, 16, 4)


def test_single_tile_and_tile_none_equal_whole_image():
    core = _position_core(1)
    x = _image(13, 15)
    whole = core(pad_to_even(tf.constant(x)))[:, :13, :15].numpy()
    np.testing.assert_allclose(
        tiled_forward(core, tf.constant(x), tile=16, overlap=4).numpy(), whole, rtol=1e-6
    )
    np.testing.assert_allclose(tiled_forward(core, tf.constant(x), tile=None).numpy(), whole)


@pytest.mark.parametrize("tile,overlap", [(15, 4), (2, 0), (16, 9), (16, -2)])
def test_check_tiling_rejects_bad_settings(tile, overlap):
    with pytest.raises(ValueError):
        check_tiling(tile, overlap)


def test_check_tiling_accepts_none():
    assert check_tiling(None, 8) == (None, 0)


def test_pad_to_even_reflect_mirrors_the_row_before_the_last():
    x = _image(3, 5, c=2)
    got = pad_to_even(tf.constant(x), "REFLECT").numpy()
    np.testing.assert_array_equal(got, np.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)),
                                              mode="reflect"))
    even = _image(4, 6)
    np.testing.assert_array_equal(pad_to_even(tf.constant(even), "REFLECT").numpy(), even)


@pytest.mark.parametrize("tile", [None, 8])
def test_demosaic_serving_keeps_the_bayer_phase_at_odd_sizes(tile):
    # as tests/layers/test_padding.py for the Keras model: with a zero tail the network is
    # the bilinear demosaic, exact on a one-colour mosaic only if the padding keeps the CFA
    import keras

    from rnan_keras import build_model
    from rnan_keras.data.mosaic import bayer_mosaic
    from rnan_keras.export.serving import ServingModule, ServingSpec

    keras.utils.set_random_seed(0)
    model = build_model("demosaic", n_feats=4, n_resgroups=2, demosaic_bilinear_skip=True,
                        zero_init_tail=True)
    flat = np.broadcast_to(np.array([100.0, 150.0, 200.0], np.float32), (1, 13, 15, 3))
    module = ServingModule(model, ServingSpec(tile=tile, overlap=2 if tile else 0))
    assert module.pad_mode == "REFLECT"
    out = module(np.asarray(bayer_mosaic(flat)))
    np.testing.assert_allclose(out, flat, atol=1e-3)  # 9-tap float32 sums: ~1e-4
