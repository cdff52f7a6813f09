"""Tiled inference: tile layout, blending weights, tiled == untiled."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from rnan_keras.errors import ConfigError
from rnan_keras.inference.tiling import (
    axis_weights,
    count_tiles,
    predict_tiled,
    tile_spans,
)
from rnan_keras.metrics import psnr


@pytest.mark.parametrize("length", [1, 7, 32, 33, 64, 65, 100, 257, 1000])
@pytest.mark.parametrize("tile,overlap", [(32, 8), (48, 16), (64, 32), (31, 10)])
def test_spans_cover_with_overlap_and_even_starts(length, tile, overlap):
    spans = tile_spans(length, tile, overlap)
    assert spans[0].start == 0 and spans[-1].stop == length
    for a, b in itertools.pairwise(spans):
        assert b.start > a.start
        assert a.stop - b.start >= min(overlap, tile // 2)  # overlap kept
    for s in spans:
        assert s.start % 2 == 0
        assert s.stop - s.start <= max(tile + 1, 1) and s.stop - s.start >= min(tile, length)


@pytest.mark.parametrize("length,tile,overlap,scale", [(100, 32, 8, 1), (257, 64, 16, 1),
                                                       (90, 40, 20, 3), (300, 48, 16, 2)])
def test_blend_weights_partition_unity(length, tile, overlap, scale):
    spans = tile_spans(length, tile, overlap)
    total = np.zeros(length * scale)
    for span, w in zip(spans, axis_weights(spans, scale), strict=True):
        assert w.shape == ((span.stop - span.start) * scale,)
        assert np.all(w >= 0) and np.all(w <= 1)
        total[span.start * scale : span.stop * scale] += w
    # Where at most two tiles overlap, the cos^2 ramps sum to exactly one.
    cover = np.zeros(length)
    for span in spans:
        cover[span.start : span.stop] += 1
    pairwise = np.repeat(cover <= 2, scale)
    np.testing.assert_allclose(total[pairwise], 1.0, atol=1e-12)
    assert total.min() > 0


def test_weights_are_smooth_and_discard_tile_borders():
    spans = tile_spans(200, 64, 32)
    w = axis_weights(spans)
    first = w[0]
    ov = spans[0].stop - spans[1].start
    assert np.all(first[-(ov // 4) :] == 0)  # outer quarter of the overlap discarded
    assert np.max(np.abs(np.diff(first))) < 0.15  # no jump: a smooth ramp


@pytest.mark.parametrize("shape", [(77, 53, 3), (64, 64, 3), (40, 130, 3), (5, 90, 3)])
def test_tiled_equals_untiled_for_a_local_model(local_rgb, shape):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    smooth = 128 + 60 * np.sin(xx / 9.0)[..., None] * np.cos(yy / 13.0)[..., None]
    for image in (np.repeat(smooth, 3, 2), rng.uniform(0, 255, shape), np.full(shape, 77.0)):
        x = image.astype(np.float32)
        whole = predict_tiled(local_rgb, x, None)
        # overlap 16 discards 4 pixels at each tile border >= the receptive-field radius 3.
        tiled = predict_tiled(local_rgb, x, 24, 16)
        np.testing.assert_allclose(tiled, whole, atol=2e-3, rtol=0)


def test_tiled_equals_untiled_gray_and_batched(local_gray):
    x = np.random.default_rng(1).uniform(0, 255, (2, 50, 61, 1)).astype(np.float32)
    np.testing.assert_allclose(
        predict_tiled(local_gray, x, 32, 16), predict_tiled(local_gray, x, None), atol=2e-3
    )


def test_sr_tiles_are_placed_in_output_space(local_sr2):
    x = np.random.default_rng(2).uniform(0, 255, (45, 38, 3)).astype(np.float32)
    whole = predict_tiled(local_sr2, x, None)
    assert whole.shape == (90, 76, 3)
    tiled = predict_tiled(local_sr2, x, 32, 16)
    np.testing.assert_allclose(tiled, whole, atol=2e-3)


def test_progress_counts_tiles(local_rgb):
    x = np.zeros((70, 50, 3), np.float32)
    calls = []
    predict_tiled(local_rgb, x, 32, 8, progress=calls.append)
    assert len(calls) == count_tiles(70, 50, 32, 8) == 3 * 2


@pytest.mark.parametrize("shape,tile,scale", [((77, 53, 3), 24, 1), ((2, 5, 90, 3), 24, 1),
                                               ((45, 38, 3), 32, 2)])
def test_tiles_per_call_stacks_tiles_and_blends_the_same(shape, tile, scale):
    # A per-tile function that depends on the whole tile (its mean), so a tile mixed up with
    # another, misplaced or dropped changes the result.
    def predict(t):
        calls.append(t.shape[0])
        out = np.sqrt(t) * 3 + t.mean(axis=(1, 2, 3), keepdims=True)
        return np.repeat(np.repeat(out, scale, 1), scale, 2).astype(np.float32)

    x = np.random.default_rng(3).uniform(0, 255, shape).astype(np.float32)
    b = shape[0] if len(shape) == 4 else 1
    n = count_tiles(shape[-3], shape[-2], tile, 16)
    calls: list[int] = []
    one = predict_tiled(None, x, tile, 16, scale=scale, predict=predict)
    assert calls == [b] * n
    for k in (2, 5, n + 3):
        calls, done = [], []
        stacked = predict_tiled(None, x, tile, 16, scale=scale, predict=predict,
                                tiles_per_call=k, progress=done.append)
        assert sum(calls) == n * b and max(calls) <= k * b and len(calls) < n
        assert sum(done) == n and len(done) == len(calls)
        # Same per-tile outputs and weights, summed in another order when the tiles have two
        # shapes: float32 rounding of ~1e3 values over <= 4 overlapping tiles.
        np.testing.assert_allclose(stacked, one, rtol=0, atol=4 * 1e3 * np.finfo(np.float32).eps)
    with pytest.raises(ConfigError, match="tiles_per_call"):
        predict_tiled(None, x, tile, 16, scale=scale, predict=predict, tiles_per_call=0)


def test_bad_tile_size(local_rgb):
    with pytest.raises(ConfigError):
        predict_tiled(local_rgb, np.zeros((20, 20, 3), np.float32), 2, 0)


def test_small_input_is_one_pass(tiny_rnan):
    x = np.random.default_rng(3).uniform(0, 255, (30, 42, 3)).astype(np.float32)
    np.testing.assert_array_equal(predict_tiled(tiny_rnan, x, 64), predict_tiled(tiny_rnan, x, None))


def test_rnan_tiled_vs_untiled_on_real_image(official_dn_rgb, kodim_crop):
    """Non-local attention sees one tile, so outputs differ slightly; PSNR must not."""
    clean = kodim_crop.astype(np.float32)
    noisy = clean + np.random.default_rng(0).normal(0, 25, clean.shape).astype(np.float32)

    def q(z):
        return np.floor(np.clip(z, 0, 255) + 0.5)

    whole = predict_tiled(official_dn_rgb, noisy, None)  # 96 x 96: one dense pass
    tiled = predict_tiled(official_dn_rgb, noisy, 48, 16)  # 3 x 3 tiles
    delta = abs(psnr(q(tiled), clean) - psnr(q(whole), clean))
    assert delta < 0.05
    assert psnr(q(tiled), q(whole)) > 45.0  # the two outputs agree closely everywhere
    assert np.abs(whole - noisy).mean() > 2.0  # the model does change the image
