"""Self-ensemble x8 (and x2 / x4): transforms, inverses, and averaging."""

from __future__ import annotations

import importlib
import warnings

import keras
import numpy as np
import pytest

from rnan_keras import build_model
from rnan_keras.errors import ConfigError
from rnan_keras.inference import restore
from rnan_keras.inference.ensemble import (
    TRANSFORMS,
    VIEW_ORDER,
    bayer_self_ensemble,
    bayer_shift,
    bayer_views,
    ensemble_views,
    forward_transform,
    inverse_transform,
    self_ensemble,
)


def test_eight_distinct_invertible_transforms():
    x = np.arange(3 * 5 * 2, dtype=np.float32).reshape(3, 5, 2)
    seen = set()
    for k, flip in TRANSFORMS:
        t = forward_transform(x, k, flip)
        seen.add(t.tobytes() + bytes(t.shape))
        np.testing.assert_array_equal(inverse_transform(t, k, flip), x)
    assert len(TRANSFORMS) == 8 and len(seen) == 8


def test_equivariant_function_is_unchanged():
    x = np.random.default_rng(0).uniform(0, 255, (7, 9, 3)).astype(np.float32)
    np.testing.assert_allclose(self_ensemble(lambda v: v * 0.5 + 3, x), x * 0.5 + 3, atol=1e-4)


def test_ensemble_averages_the_views():
    # f adds a ramp along the width: a flip/rotation-dependent bias. The 8-view average of
    # the inverse-transformed ramps is the mean of the ramp over the symmetry group.
    x = np.zeros((4, 4, 1), np.float32)
    ramp = np.arange(4, dtype=np.float32)[None, :, None]

    def f(v):
        return v + ramp

    out = self_ensemble(f, x)
    expected = np.mean(
        [inverse_transform(forward_transform(x, k, fl) + ramp, k, fl) for k, fl in TRANSFORMS],
        axis=0,
    )
    np.testing.assert_allclose(out, expected, atol=1e-6)
    np.testing.assert_allclose(out, 1.5, atol=1e-6)  # every pixel sees every ramp value


def test_sr_shapes():
    x = np.random.default_rng(0).uniform(0, 255, (5, 8, 3)).astype(np.float32)
    out = self_ensemble(lambda v: np.kron(v, np.ones((2, 2, 1), np.float32)), x)
    assert out.shape == (10, 16, 3)


def test_restore_with_ensemble_differs_from_plain(tiny_rnan):
    x = np.random.default_rng(1).integers(0, 256, (24, 30, 3)).astype(np.uint8)
    plain = restore(x, tiny_rnan, tile="none").astype(int)
    ens = restore(x, tiny_rnan, tile="none", ensemble=True).astype(int)
    assert ens.shape == plain.shape == x.shape
    assert np.abs(ens - plain).max() > 0


# --- fewer views: ensemble=2 / 4 --------------------------------------------------------

def _key(t: np.ndarray) -> bytes:
    return t.tobytes() + bytes(t.shape)


@pytest.mark.parametrize("n", [1, 2, 4, 8])
def test_view_prefixes_are_subgroups(n):
    # Composing any two views of the set gives a view of the set, so the n-view average is
    # itself symmetric under those views.
    x = np.arange(3 * 5, dtype=np.float32).reshape(3, 5, 1)
    views = ensemble_views(n)
    assert len(views) == n and len(set(views)) == n and views[0] == (0, False)
    inside = {_key(forward_transform(x, k, f)) for k, f in views}
    for k1, f1 in views:
        for k2, f2 in views:
            assert _key(forward_transform(forward_transform(x, k1, f1), k2, f2)) in inside
    assert set(ensemble_views(True)) == set(TRANSFORMS) == set(VIEW_ORDER)
    assert ensemble_views(False) == ensemble_views(1) == ((0, False),)


@pytest.mark.parametrize("bad", [0, 3, 5, 16, 2.0, "4"])
def test_other_view_counts_are_refused(bad):
    with pytest.raises(ConfigError, match="view count"):
        ensemble_views(bad)


@pytest.mark.parametrize("n", [2, 4])
def test_restore_with_n_views_averages_those_views(tiny_rnan, n):
    x = np.random.default_rng(3).uniform(0, 255, (12, 16, 3)).astype(np.float32)
    from rnan_keras.inference.restore import restore_array

    def plain(v):
        return restore_array(tiny_rnan, v, tile="none")

    outs = [inverse_transform(plain(np.ascontiguousarray(forward_transform(x, k, f))), k, f)
            for k, f in VIEW_ORDER[:n]]
    expected = sum(outs[1:], outs[0]) / np.float32(n)
    out = restore_array(tiny_rnan, x, tile="none", ensemble=n)
    # the same model calls summed in the same order: equal up to a few float32 ulps
    np.testing.assert_allclose(out, expected, rtol=0,
                               atol=n * np.spacing(np.float32(np.abs(expected).max())))
    others = restore_array(tiny_rnan, x, tile="none", ensemble=8 if n == 4 else 4)
    assert np.abs(out - others).max() > 1e-2  # a different set of views is another result


def test_restore_refuses_a_bad_view_count_before_any_work(tiny_rnan):
    with pytest.raises(ConfigError, match="view count"):
        restore(np.zeros((8, 8, 3), np.uint8), tiny_rnan, ensemble=3)


# --- demosaicing: every view is a GRBG mosaic -------------------------------------------

def _mosaic(rgb: np.ndarray, pattern: str = "GRBG") -> np.ndarray:
    from rnan_keras.data.mosaic import bayer_mosaic

    return np.asarray(bayer_mosaic(rgb, pattern), np.float32)


@pytest.mark.parametrize("pattern", ["GRBG", "RGGB", "BGGR", "GBRG"])
@pytest.mark.parametrize("h,w", [(6, 8), (7, 8), (6, 9), (7, 9)])
def test_every_bayer_view_is_a_mosaic_of_the_pattern(pattern, h, w):
    # An image whose three channels are all non-zero: a view is a true ``pattern`` mosaic
    # exactly when it equals bayer_mosaic(its own channel sums spread over RGB, pattern).
    rgb = np.random.default_rng(0).uniform(1, 255, (h, w, 3)).astype(np.float32)
    x = _mosaic(rgb, pattern)
    seen = []

    def is_mosaic(view):
        full = np.repeat(view.sum(axis=2, keepdims=True), 3, axis=2)
        return (view != 0).sum(axis=2).max() == 1 and np.array_equal(_mosaic(full, pattern),
                                                                    view)

    def fn(view):
        assert is_mosaic(view)
        seen.append(view.shape)
        return view

    out = bayer_self_ensemble(fn, x, pattern)
    np.testing.assert_allclose(out, x, atol=1e-4)  # identity model: the mosaic back
    assert len(seen) == 8
    assert {s[:2] for s in seen} == {
        (vh, vw) for *_, vh, vw in bayer_views(h, w, pattern)}
    # a view is shifted exactly when, unshifted, it has another layout
    for k, f in TRANSFORMS:
        plain = is_mosaic(forward_transform(x, k, f))
        assert (bayer_shift(h, w, k, f, pattern) == (0, 0)) == plain, (k, f)
    if pattern == "GRBG":  # the model's layout: half the views need a shift at every size
        assert sum(bayer_shift(h, w, k, f) != (0, 0) for k, f in TRANSFORMS) >= 4


def test_bayer_ensemble_averages_the_restored_views():
    # fn adds a ramp along the view's width: the output is the mean of the eight ramps
    # mapped back, each view cropped to the image after its mirrored row / column.
    x = _mosaic(np.full((4, 6, 3), 100, np.float32))

    def f(v):
        return v + np.arange(v.shape[1], dtype=np.float32)[None, :, None]

    expected = []
    for k, fl, dy, dx, _, _ in bayer_views(4, 6):
        view = np.pad(forward_transform(x, k, fl), ((dy, 0), (dx, 0), (0, 0)), mode="reflect")
        expected.append(inverse_transform(f(view)[dy:, dx:], k, fl))
    np.testing.assert_allclose(bayer_self_ensemble(f, x), np.mean(expected, axis=0),
                               atol=1e-5)


def test_bayer_shift_rejects_a_too_small_mosaic():
    with pytest.raises(ValueError, match="at least 2x2"):
        bayer_shift(1, 5, 0, False)


def test_restore_demosaic_ensemble_feeds_grbg_views(monkeypatch):
    # A demosaic model that records the colour layout of every input it is given.
    from rnan_keras.data.mosaic import bayer_masks
    restore_mod = importlib.import_module("rnan_keras.inference.restore")  # the module

    keras.utils.set_random_seed(0)
    model = build_model("demosaic", n_feats=4, n_resgroups=2)
    seen = []
    real = restore_mod.model_function

    def spy(runner):
        predict = real(runner)

        def run(batch):
            b = np.asarray(batch)
            seen.append([(b[0, i, j] != 0).astype(np.float32) for i, j in
                         ((0, 0), (0, 1), (1, 0), (1, 1))])
            return predict(batch)
        return run

    monkeypatch.setattr(restore_mod, "model_function", spy)
    rgb = np.random.default_rng(2).integers(1, 256, (21, 30, 3)).astype(np.uint8)
    mosaic = _mosaic(rgb.astype(np.float32)).astype(np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no Bayer-layout warning any more
        out = restore(mosaic, model, tile="none", ensemble=True)
    assert out.shape == rgb.shape
    grbg = bayer_masks("GRBG").reshape(4, 3)
    assert len(seen) == 8
    for corner in seen:
        np.testing.assert_array_equal(np.asarray(corner), grbg)
